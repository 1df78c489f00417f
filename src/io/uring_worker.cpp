// The io_uring worker loop: provided-buffer ring, multishot recvmsg, batched sendmsg.
#include "io/uring_worker.hpp"

#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

#include "coap/log.hpp"
#include "io/udp_socket.hpp"

namespace coap::io {

namespace {

constexpr std::uint32_t max_ring_buffers = 32768;  // IORING_REGISTER_PBUF_RING limit
constexpr std::uint32_t max_send_slots = 16384;
constexpr std::uint32_t min_buffer_size = 64;
constexpr std::uint32_t max_buffer_size = 65536;
constexpr std::uint16_t buffer_group = 0;  // each worker has its own ring, so one group is enough
constexpr std::size_t buffer_alignment = 64;
// Room for the peer address in each receive buffer (enough for AF_INET and AF_INET6).
constexpr std::uint32_t name_capacity = sizeof(sockaddr_in6);
// Bytes in front of the payload in a multishot recvmsg buffer.
constexpr std::uint32_t recv_header = sizeof(io_uring_recvmsg_out) + name_capacity;
constexpr auto drain_timeout = std::chrono::seconds(2);

// What a completion belongs to: the operation in the high 32 bits of user_data, a send slot in
// the low 32.
enum class Op : std::uint32_t { recv = 1, send = 2, wake = 3, cancel = 4 };

constexpr std::uint64_t tag(Op op, std::uint32_t index = 0) noexcept {
    return std::uint64_t{static_cast<std::uint32_t>(op)} << 32 | index;
}
constexpr Op op_of(std::uint64_t user_data) noexcept {
    return static_cast<Op>(static_cast<std::uint32_t>(user_data >> 32));
}
constexpr std::uint32_t index_of(std::uint64_t user_data) noexcept {
    return static_cast<std::uint32_t>(user_data);
}

constexpr std::size_t round_up(std::size_t value, std::size_t alignment) noexcept {
    return (value + alignment - 1) / alignment * alignment;
}

/// Distance between receive buffers: header, address and payload, cache-line aligned.
constexpr std::size_t buffer_stride(std::uint32_t buffer_size) noexcept {
    return round_up(std::size_t{recv_header} + buffer_size, buffer_alignment);
}

std::size_t page_size() noexcept {
    long size = sysconf(_SC_PAGESIZE);
    return size > 0 ? static_cast<std::size_t>(size) : 4096;
}

/// Logs the 1st, 2nd, 4th, 8th, ... occurrence of a hot-path error, so a storm stays readable.
constexpr bool worth_logging(std::uint64_t count) noexcept {
    return std::has_single_bit(count);
}

__kernel_timespec to_timespec(Duration timeout) noexcept {
    if (timeout < Duration::zero()) timeout = Duration::zero();
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(timeout);
    __kernel_timespec ts{};
    ts.tv_sec = seconds.count();
    ts.tv_nsec = (timeout - seconds).count();
    return ts;
}

[[noreturn]] void throw_errno(int error, const std::string& what) {
    throw std::system_error(error, std::system_category(), "coap: " + what);
}

/// An anonymous private mapping, page aligned, pre-faulted; unmapped on destruction unless leaked.
class Mapping {
  public:
    Mapping() noexcept = default;
    ~Mapping() {
        if (address_ != nullptr) munmap(address_, size_);
    }
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;

    void map(std::size_t size, const char* what) {
        size = round_up(size, page_size());
        void* address = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (address == MAP_FAILED)
            throw_errno(errno,
                        std::string("cannot map ") + std::to_string(size) + " bytes for " + what);
        address_ = address;
        size_ = size;
    }
    std::uint8_t* data() const noexcept { return static_cast<std::uint8_t*>(address_); }
    /// Forgets the memory without unmapping it (when the kernel may still write into it).
    void leak() noexcept { address_ = nullptr; }

  private:
    void* address_ = nullptr;
    std::size_t size_ = 0;
};

class FileDescriptor {
  public:
    FileDescriptor() noexcept = default;
    ~FileDescriptor() {
        if (fd_ >= 0) ::close(fd_);
    }
    FileDescriptor(const FileDescriptor&) = delete;
    FileDescriptor& operator=(const FileDescriptor&) = delete;
    void reset(int fd) noexcept { fd_ = fd; }
    int get() const noexcept { return fd_; }

  private:
    int fd_ = -1;
};

/// The ring itself; exited on destruction.
struct Ring {
    io_uring ring{};
    bool open = false;
    Ring() noexcept = default;
    ~Ring() {
        if (open) io_uring_queue_exit(&ring);
    }
    Ring(const Ring&) = delete;
    Ring& operator=(const Ring&) = delete;
};

struct SendSlot {
    msghdr message{};
    iovec vector{};
    sockaddr_storage address{};
    std::uint8_t* data = nullptr;
};

constexpr std::uint32_t no_slot = std::numeric_limits<std::uint32_t>::max();

std::uint64_t memlock_limit() noexcept {
    rlimit limit{};
    if (getrlimit(RLIMIT_MEMLOCK, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
        return std::numeric_limits<std::uint64_t>::max();
    return limit.rlim_cur;
}

}  // namespace

std::uint32_t plan_buffer_count(std::uint32_t requested, std::uint32_t buffer_size,
                                std::uint64_t limit) noexcept {
    std::uint32_t count = std::bit_ceil(std::clamp(requested, 1u, max_ring_buffers));
    const std::uint64_t each =
        buffer_stride(std::max(buffer_size, min_buffer_size)) + sizeof(io_uring_buf);
    while (count > 1 && std::uint64_t{count} * each > limit)
        count /= 2;
    return count;
}

class UringWorker::Impl final : public Outbox {
  public:
    Impl(const WorkerConfig& config, DatagramProcessor& processor);
    ~Impl() override;
    Impl(const Impl&) = delete;
    Impl& operator=(const Impl&) = delete;

    bool send(const Endpoint& peer, Bytes datagram) noexcept override;
    std::size_t available() const noexcept override { return free_count_; }

    bool run_once(Duration timeout) noexcept;
    void stop() noexcept;
    void wake() noexcept;

    std::uint16_t local_port() const noexcept { return socket_.port(); }
    std::uint32_t buffer_count() const noexcept { return buffer_count_; }
    Duration idle_timeout() const noexcept { return idle_timeout_; }
    const WorkerStats& stats() const noexcept { return stats_; }

  private:
    void handle(const io_uring_cqe& cqe, TimePoint now) noexcept;
    void on_receive(const io_uring_cqe& cqe, TimePoint now) noexcept;
    void on_datagram(std::uint8_t* buffer, int length, TimePoint now) noexcept;
    void on_sent(const io_uring_cqe& cqe) noexcept;
    void on_wake() noexcept;
    void recycle(std::uint16_t buffer_id) noexcept;
    void arm_receive() noexcept;
    void arm_wake() noexcept;
    bool queue_send(std::uint32_t slot, const Endpoint& peer, std::size_t length) noexcept;
    std::uint32_t acquire_slot() noexcept;
    void release_slot(std::uint32_t slot) noexcept;
    void pin_thread() noexcept;
    void settle(const io_uring_cqe& cqe) noexcept;
    void reap() noexcept;
    bool drain() noexcept;

    // Declaration order is teardown order reversed: the ring exits first, then the socket and
    // eventfd close, then the memory the kernel wrote into is unmapped.
    Mapping buffer_memory_;
    Mapping ring_memory_;
    Mapping send_memory_;
    std::vector<SendSlot> slots_;
    std::vector<std::uint32_t> free_slots_;
    FileDescriptor event_fd_;
    UdpSocket socket_;
    Ring ring_;

    DatagramProcessor& processor_;
    io_uring_buf_ring* buffer_ring_ = nullptr;
    msghdr recv_message_{};
    WorkerStats stats_{};
    Duration idle_timeout_;
    std::size_t stride_ = 0;
    std::uint8_t* scratch_reply_ = nullptr;
    std::uint32_t buffer_size_;
    std::uint32_t buffer_count_ = 0;
    std::uint32_t batch_limit_ = 0;
    std::uint32_t free_count_ = 0;
    std::uint32_t sends_in_flight_ = 0;
    int buffers_returned_ = 0;  // recycled this batch, made visible at its end
    int cpu_;
    int event_fd_number_ = -1;  // a copy read by stop(), which may run in a signal handler
    bool started_ = false;
    bool receive_armed_ = false;
    bool wake_armed_ = false;
    std::atomic<bool> stopping_{false};
    static_assert(std::atomic<bool>::is_always_lock_free, "stop() must be async-signal-safe");
};

UringWorker::Impl::Impl(const WorkerConfig& config, DatagramProcessor& processor)
    : processor_(processor),
      idle_timeout_(config.idle_timeout),
      buffer_size_(config.buffer_size),
      cpu_(config.cpu) {
    if (config.buffer_size < min_buffer_size || config.buffer_size > max_buffer_size)
        throw std::runtime_error("coap: buffer_size " + std::to_string(config.buffer_size) +
                                 " is outside 64..65536");
    if (config.send_slots == 0 || config.send_slots > max_send_slots)
        throw std::runtime_error("coap: send_slots " + std::to_string(config.send_slots) +
                                 " is outside 1..16384");
    if (config.buffer_count == 0) throw std::runtime_error("coap: buffer_count must be at least 1");
    if (config.cpu >= CPU_SETSIZE)
        throw std::runtime_error("coap: cpu " + std::to_string(config.cpu) + " is out of range");

    // Receive buffers, within RLIMIT_MEMLOCK.
    const std::uint64_t limit = memlock_limit();
    buffer_count_ = plan_buffer_count(config.buffer_count, buffer_size_, limit);
    const std::uint32_t wanted = plan_buffer_count(config.buffer_count, buffer_size_,
                                                   std::numeric_limits<std::uint64_t>::max());
    if (buffer_count_ < wanted)
        log(LogLevel::warn,
            "io: RLIMIT_MEMLOCK of %llu bytes fits only %u of the %u receive buffers of %u "
            "bytes asked for (raise it with ulimit -l or LimitMEMLOCK=)",
            static_cast<unsigned long long>(limit), buffer_count_, wanted, buffer_size_);
    stride_ = buffer_stride(buffer_size_);

    socket_ = UdpSocket::bind(config.bind_address, config.port);

    int event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (event_fd < 0) throw_errno(errno, "cannot create the worker's eventfd");
    event_fd_.reset(event_fd);
    event_fd_number_ = event_fd;

    // The SQ holds every send slot plus the two re-arms, so a batch never runs out of SQEs; the
    // CQ holds a completion per receive buffer and per send slot.
    const std::uint32_t sq_entries = std::bit_ceil(config.send_slots + 8);
    const std::uint32_t cq_entries =
        std::max(2 * sq_entries, std::bit_ceil(buffer_count_ + config.send_slots + 16));
    io_uring_params params{};
    params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP | IORING_SETUP_COOP_TASKRUN |
                   IORING_SETUP_TASKRUN_FLAG;
    params.cq_entries = cq_entries;
    int rc = io_uring_queue_init_params(sq_entries, &ring_.ring, &params);
    if (rc == -EINVAL) {  // before Linux 5.19: no cooperative task running
        params = io_uring_params{};
        params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
        params.cq_entries = cq_entries;
        rc = io_uring_queue_init_params(sq_entries, &ring_.ring, &params);
    }
    if (rc < 0)
        throw_errno(-rc,
                    "io_uring_queue_init failed (is io_uring available and allowed? see "
                    "/proc/sys/kernel/io_uring_disabled)");
    ring_.open = true;
    batch_limit_ = params.cq_entries;

    // The provided-buffer ring: every receive buffer starts in it.
    buffer_memory_.map(stride_ * buffer_count_, "receive buffers");
    ring_memory_.map(sizeof(io_uring_buf) * buffer_count_, "the provided-buffer ring");
    buffer_ring_ = reinterpret_cast<io_uring_buf_ring*>(ring_memory_.data());
    io_uring_buf_reg registration{};
    registration.ring_addr = reinterpret_cast<std::uintptr_t>(buffer_ring_);
    registration.ring_entries = buffer_count_;
    registration.bgid = buffer_group;
    rc = io_uring_register_buf_ring(&ring_.ring, &registration, 0);
    if (rc < 0) throw_errno(-rc, "cannot register the provided-buffer ring (needs Linux 5.19)");
    io_uring_buf_ring_init(buffer_ring_);
    const int mask = io_uring_buf_ring_mask(buffer_count_);
    for (std::uint32_t id = 0; id < buffer_count_; ++id)
        io_uring_buf_ring_add(buffer_ring_, buffer_memory_.data() + id * stride_,
                              recv_header + buffer_size_, static_cast<std::uint16_t>(id), mask,
                              static_cast<int>(id));
    io_uring_buf_ring_advance(buffer_ring_, static_cast<int>(buffer_count_));

    // Send slots, plus one scratch reply for when they are all in flight.
    send_memory_.map(std::size_t{buffer_size_} * (config.send_slots + 1), "send slots");
    slots_.resize(config.send_slots);
    free_slots_.resize(config.send_slots);
    for (std::uint32_t i = 0; i < config.send_slots; ++i) {
        slots_[i].data = send_memory_.data() + std::size_t{i} * buffer_size_;
        free_slots_[i] = config.send_slots - 1 - i;
    }
    free_count_ = config.send_slots;
    scratch_reply_ = send_memory_.data() + std::size_t{config.send_slots} * buffer_size_;

    // The kernel reads the name length (and that there is no control data or iovec) from here.
    recv_message_.msg_namelen = name_capacity;

    // Prepared now, submitted by the first run_once, so the requests belong to the thread that
    // runs the worker.
    arm_receive();
    arm_wake();

    log(LogLevel::debug,
        "io: worker on %s port %u: %u receive buffers of %u bytes, %u send slots, CQ %u",
        config.bind_address.c_str(), socket_.port(), buffer_count_, buffer_size_, config.send_slots,
        params.cq_entries);
}

UringWorker::Impl::~Impl() {
    if (!drain()) {
        // The kernel may still write into these: leaking them is the only safe choice.
        log(LogLevel::error,
            "io: worker on port %u did not finish its in-flight operations; leaking its buffers",
            socket_.port());
        buffer_memory_.leak();
        send_memory_.leak();
        ring_memory_.leak();
        return;
    }
    io_uring_unregister_buf_ring(&ring_.ring, buffer_group);
}

void UringWorker::Impl::settle(const io_uring_cqe& cqe) noexcept {
    switch (op_of(cqe.user_data)) {
        case Op::recv:
            // Received after stop(): the datagram is dropped, the buffer goes back.
            if ((cqe.flags & IORING_CQE_F_MORE) == 0) receive_armed_ = false;
            if ((cqe.flags & IORING_CQE_F_BUFFER) != 0) {
                const auto id = static_cast<std::uint16_t>(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
                if (id < buffer_count_) recycle(id);
            }
            break;
        case Op::send:
            on_sent(cqe);
            break;
        case Op::wake:
            wake_armed_ = false;
            break;
        case Op::cancel:
            break;
    }
}

void UringWorker::Impl::reap() noexcept {
    io_uring* ring = &ring_.ring;
    unsigned head;
    unsigned seen = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(ring, head, cqe) {
        settle(*cqe);
        ++seen;
    }
    io_uring_cq_advance(ring, seen);
    if (buffers_returned_ > 0) {
        io_uring_buf_ring_advance(buffer_ring_, buffers_returned_);
        buffers_returned_ = 0;
    }
}

bool UringWorker::Impl::drain() noexcept {
    if (!started_) return true;  // nothing was ever submitted
    io_uring* ring = &ring_.ring;
    if (receive_armed_ || wake_armed_ || sends_in_flight_ > 0) {
        if (io_uring_sqe* sqe = io_uring_get_sqe(ring)) {
            io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
            io_uring_sqe_set_data64(sqe, tag(Op::cancel));
        }
    }
    io_uring_submit(ring);
    const auto deadline = std::chrono::steady_clock::now() + drain_timeout;
    while (receive_armed_ || wake_armed_ || sends_in_flight_ > 0) {
        const auto left = deadline - std::chrono::steady_clock::now();
        if (left <= Duration::zero()) return false;
        __kernel_timespec ts = to_timespec(left);
        io_uring_cqe* cqe = nullptr;
        io_uring_wait_cqe_timeout(ring, &cqe, &ts);
        reap();
    }
    return true;
}

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

UringWorker::UringWorker(const WorkerConfig& config, DatagramProcessor& processor)
    : impl_(std::make_unique<Impl>(config, processor)) {
    processor.attach(*impl_);
}

UringWorker::~UringWorker() = default;

std::uint16_t UringWorker::local_port() const noexcept {
    return impl_->local_port();
}
std::uint32_t UringWorker::buffer_count() const noexcept {
    return impl_->buffer_count();
}
bool UringWorker::run_once(Duration timeout) noexcept {
    return impl_->run_once(timeout);
}

void UringWorker::run() noexcept {
    const Duration timeout = impl_->idle_timeout();
    while (impl_->run_once(timeout)) {
    }
}

void UringWorker::stop() noexcept {
    impl_->stop();
}
void UringWorker::wake() noexcept {
    impl_->wake();
}
const WorkerStats& UringWorker::stats() const noexcept {
    return impl_->stats();
}

}  // namespace coap::io
