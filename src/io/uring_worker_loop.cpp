// The io_uring worker's run loop: one batch of completions per wait (multishot recvmsg from the
// provided-buffer ring, sendmsg completions, wake-ups), the replies queued into send slots and
// submitted with one io_uring_submit.
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "coap/log.hpp"
#include "io/uring_worker_impl.hpp"

namespace coap::io {

using namespace uring_detail;

bool UringWorker::Impl::run_once(Duration timeout) noexcept {
    if (stopping_.load(std::memory_order_acquire)) {
        if (started_) reap();  // count the sends that completed, without processing datagrams
        return false;
    }
    if (!started_) {
        started_ = true;
        pin_thread();
    }
    io_uring* ring = &ring_.ring;

    // Submits what is still queued (the first arms, or SQEs a failed submit left) and waits.
    __kernel_timespec ts = to_timespec(timeout);
    io_uring_cqe* first = nullptr;
    int rc = io_uring_submit_and_wait_timeout(ring, &first, 1, &ts, nullptr);
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
        ++stats_.recv_errors;
        if (worth_logging(stats_.recv_errors))
            log(LogLevel::error, "io: waiting for completions failed: %s", std::strerror(-rc));
    }

    // One batch: one clock read, every completion present, the CQ advanced once.
    const TimePoint now = std::chrono::steady_clock::now();
    ++stats_.batches;
    unsigned head;
    unsigned seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(ring, head, cqe) {
        handle(*cqe, now);
        if (++seen == batch_limit_) break;
    }
    io_uring_cq_advance(ring, seen);
    if (buffers_returned_ > 0) {
        io_uring_buf_ring_advance(buffer_ring_, buffers_returned_);
        buffers_returned_ = 0;
    }

    const bool stopping = stopping_.load(std::memory_order_acquire);
    if (!receive_armed_ && !stopping) {
        arm_receive();
        if (receive_armed_) ++stats_.rearmed;
    }
    if (!wake_armed_ && !stopping) arm_wake();

    if (kernel_drops_changed_) {
        kernel_drops_changed_ = false;
        processor_.on_kernel_drops(stats_.kernel_drops);
    }
    processor_.on_batch_end(now, *this);

    if (io_uring_sq_ready(ring) > 0) {
        rc = io_uring_submit(ring);
        if (rc < 0 && rc != -EAGAIN && rc != -EBUSY && rc != -EINTR) {
            ++stats_.send_errors;
            if (worth_logging(stats_.send_errors))
                log(LogLevel::error, "io: io_uring_submit failed: %s", std::strerror(-rc));
        }
    }
    if (stopping_.load(std::memory_order_acquire)) {
        reap();  // sends completed during that submit are counted before run() returns
        return false;
    }
    return true;
}

void UringWorker::Impl::handle(const io_uring_cqe& cqe, TimePoint now) noexcept {
    switch (op_of(cqe.user_data)) {
        case Op::recv:
            on_receive(cqe, now);
            break;
        case Op::send:
            on_sent(cqe);
            break;
        case Op::wake:
            on_wake();
            break;
        case Op::cancel:
            break;
    }
}

void UringWorker::Impl::on_receive(const io_uring_cqe& cqe, TimePoint now) noexcept {
    // Without F_MORE the multishot receive has ended (out of buffers, an error, CQ overflow):
    // it is re-armed at the end of the batch, once the buffers are back in the ring.
    if ((cqe.flags & IORING_CQE_F_MORE) == 0) receive_armed_ = false;
    const bool has_buffer = (cqe.flags & IORING_CQE_F_BUFFER) != 0;
    const auto buffer_id = static_cast<std::uint16_t>(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
    if (has_buffer && buffer_id >= buffer_count_) {
        ++stats_.recv_errors;
        return;
    }
    if (cqe.res < 0) {
        if (cqe.res == -ENOBUFS) {
            ++stats_.no_buffers;
        } else if (cqe.res != -ECANCELED) {
            ++stats_.recv_errors;
            if (worth_logging(stats_.recv_errors))
                log(LogLevel::error, "io: receive on port %u failed: %s", socket_.port(),
                    std::strerror(-cqe.res));
        }
    } else if (!has_buffer) {
        ++stats_.recv_errors;
    } else {
        on_datagram(buffer_memory_.data() + buffer_id * stride_, cqe.res, now);
    }
    if (has_buffer) recycle(buffer_id);
}

// SO_RXQ_OVFL: every datagram carries the count of datagrams the kernel has dropped on this
// socket for want of receive-buffer space, the sign that the offered load exceeds what the
// worker drains.
void UringWorker::Impl::note_kernel_drops(io_uring_recvmsg_out& out) noexcept {
    for (cmsghdr* control = io_uring_recvmsg_cmsg_firsthdr(&out, &recv_message_);
         control != nullptr;
         control = io_uring_recvmsg_cmsg_nexthdr(&out, &recv_message_, control)) {
        if (control->cmsg_level != SOL_SOCKET || control->cmsg_type != SO_RXQ_OVFL) continue;
        std::uint32_t count;
        std::memcpy(&count, CMSG_DATA(control), sizeof count);
        if (count == kernel_drop_count_) return;
        stats_.kernel_drops += count - kernel_drop_count_;  // wraps like the counter
        kernel_drop_count_ = count;
        kernel_drops_changed_ = true;
    }
}

void UringWorker::Impl::on_datagram(std::uint8_t* buffer, int length, TimePoint now) noexcept {
    io_uring_recvmsg_out* out = io_uring_recvmsg_validate(buffer, length, &recv_message_);
    if (out == nullptr || out->namelen > name_capacity) {
        ++stats_.recv_errors;
        return;
    }
    if ((out->flags & MSG_TRUNC) != 0) {
        ++stats_.truncated;
        return;
    }
    note_kernel_drops(*out);
    const auto peer = Endpoint::from_sockaddr(
        static_cast<const sockaddr*>(io_uring_recvmsg_name(out)), out->namelen);
    if (!peer) {
        ++stats_.recv_errors;
        return;
    }
    const auto* payload =
        static_cast<const std::uint8_t*>(io_uring_recvmsg_payload(out, &recv_message_));
    const std::uint32_t payload_length =
        std::min(io_uring_recvmsg_payload_length(out, length, &recv_message_), out->payloadlen);
    ++stats_.received;

    const std::uint32_t slot = acquire_slot();
    std::uint8_t* reply = slot != no_slot ? slots_[slot].data : scratch_reply_;
    const std::size_t reply_length = processor_.on_datagram(*peer, Bytes(payload, payload_length),
                                                            now, MutableBytes(reply, buffer_size_));
    if (reply_length == 0) {
        if (slot != no_slot) release_slot(slot);
    } else if (slot == no_slot) {
        ++stats_.send_dropped;
    } else if (reply_length > buffer_size_) {
        release_slot(slot);
        ++stats_.send_errors;
    } else {
        queue_send(slot, *peer, reply_length);
    }
}

void UringWorker::Impl::on_sent(const io_uring_cqe& cqe) noexcept {
    const std::uint32_t slot = index_of(cqe.user_data);
    if (slot >= slots_.size()) return;
    --sends_in_flight_;
    if (cqe.res < 0) {
        ++stats_.send_errors;
        if (cqe.res != -ECANCELED && worth_logging(stats_.send_errors))
            log(LogLevel::warn, "io: send on port %u failed: %s", socket_.port(),
                std::strerror(-cqe.res));
    } else {
        ++stats_.sent;
    }
    release_slot(slot);
}

void UringWorker::Impl::on_wake() noexcept {
    wake_armed_ = false;
    // A stray write (or a stop() racing with this batch): empty the counter so the next poll
    // waits again. stop() itself is seen through the flag.
    if (!stopping_.load(std::memory_order_acquire)) {
        std::uint64_t value;
        [[maybe_unused]] ssize_t ignored = ::read(event_fd_.get(), &value, sizeof value);
    }
}

void UringWorker::Impl::recycle(std::uint16_t buffer_id) noexcept {
    io_uring_buf_ring_add(buffer_ring_, buffer_memory_.data() + buffer_id * stride_,
                          recv_header + buffer_size_, buffer_id,
                          io_uring_buf_ring_mask(buffer_count_), buffers_returned_);
    ++buffers_returned_;
}

void UringWorker::Impl::arm_receive() noexcept {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_.ring);
    if (sqe == nullptr) return;  // tried again after the next batch
    io_uring_prep_recvmsg_multishot(sqe, socket_.fd(), &recv_message_, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = buffer_group;
    io_uring_sqe_set_data64(sqe, tag(Op::recv));
    receive_armed_ = true;
}

void UringWorker::Impl::arm_wake() noexcept {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_.ring);
    if (sqe == nullptr) return;
    io_uring_prep_poll_add(sqe, event_fd_.get(), POLLIN);
    io_uring_sqe_set_data64(sqe, tag(Op::wake));
    wake_armed_ = true;
}

bool UringWorker::Impl::send(const Endpoint& peer, Bytes datagram) noexcept {
    if (datagram.size() > buffer_size_) {
        ++stats_.send_errors;
        return false;
    }
    const std::uint32_t slot = acquire_slot();
    if (slot == no_slot) {
        ++stats_.send_dropped;
        return false;
    }
    if (!datagram.empty()) std::memcpy(slots_[slot].data, datagram.data(), datagram.size());
    return queue_send(slot, peer, datagram.size());
}

bool UringWorker::Impl::queue_send(std::uint32_t slot, const Endpoint& peer,
                                   std::size_t length) noexcept {
    SendSlot& entry = slots_[slot];
    const socklen_t address_length = socket_.peer_address(peer, entry.address);
    if (address_length == 0) {
        release_slot(slot);
        ++stats_.send_errors;
        return false;
    }
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_.ring);
    if (sqe == nullptr) {  // cannot happen while the SQ is sized for every slot
        release_slot(slot);
        ++stats_.send_dropped;
        return false;
    }
    entry.vector.iov_base = entry.data;
    entry.vector.iov_len = length;
    entry.message = msghdr{};
    entry.message.msg_name = &entry.address;
    entry.message.msg_namelen = address_length;
    entry.message.msg_iov = &entry.vector;
    entry.message.msg_iovlen = 1;
    io_uring_prep_sendmsg(sqe, socket_.fd(), &entry.message, 0);
    io_uring_sqe_set_data64(sqe, tag(Op::send, slot));
    ++sends_in_flight_;
    return true;
}

std::uint32_t UringWorker::Impl::acquire_slot() noexcept {
    return free_count_ > 0 ? free_slots_[--free_count_] : no_slot;
}

void UringWorker::Impl::release_slot(std::uint32_t slot) noexcept {
    free_slots_[free_count_++] = slot;
}

void UringWorker::Impl::pin_thread() noexcept {
    if (cpu_ < 0) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(static_cast<std::size_t>(cpu_), &set);
    if (int error = pthread_setaffinity_np(pthread_self(), sizeof set, &set); error != 0)
        log(LogLevel::warn, "io: cannot pin the worker on port %u to CPU %d: %s", socket_.port(),
            cpu_, std::strerror(error));
}

void UringWorker::Impl::stop() noexcept {
    stopping_.store(true, std::memory_order_release);
    wake();
}

void UringWorker::Impl::wake() noexcept {
    const int saved_errno = errno;  // stop() may run in a signal handler
    const std::uint64_t one = 1;
    [[maybe_unused]] ssize_t ignored = ::write(event_fd_number_, &one, sizeof one);
    errno = saved_errno;
}

}  // namespace coap::io
