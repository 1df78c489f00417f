// The io_uring worker's set-up and teardown: the socket, the eventfd, the ring, the registered
// provided-buffer ring and the send slots; draining the in-flight operations at the end. Also
// the public UringWorker, which forwards to its Impl.
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>

#include "coap/log.hpp"
#include "io/uring_worker_impl.hpp"

namespace coap::io {

using namespace uring_detail;

namespace {

std::size_t page_size() noexcept {
    long size = sysconf(_SC_PAGESIZE);
    return size > 0 ? static_cast<std::size_t>(size) : 4096;
}

[[noreturn]] void throw_errno(int error, const std::string& what) {
    throw std::system_error(error, std::system_category(), "coap: " + what);
}

std::uint64_t memlock_limit() noexcept {
    rlimit limit{};
    if (getrlimit(RLIMIT_MEMLOCK, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY)
        return std::numeric_limits<std::uint64_t>::max();
    return limit.rlim_cur;
}

void check_config(const WorkerConfig& config) {
    if (config.buffer_size < min_buffer_size || config.buffer_size > max_buffer_size)
        throw std::runtime_error("coap: buffer_size " + std::to_string(config.buffer_size) +
                                 " is outside 64..65536");
    if (config.send_slots == 0 || config.send_slots > max_send_slots)
        throw std::runtime_error("coap: send_slots " + std::to_string(config.send_slots) +
                                 " is outside 1..16384");
    if (config.buffer_count == 0) throw std::runtime_error("coap: buffer_count must be at least 1");
    if (config.cpu >= CPU_SETSIZE)
        throw std::runtime_error("coap: cpu " + std::to_string(config.cpu) + " is out of range");
}

}  // namespace

namespace uring_detail {

Mapping::~Mapping() {
    if (address_ != nullptr) munmap(address_, size_);
}

void Mapping::map(std::size_t size, const char* what) {
    size = round_up(size, page_size());
    void* address = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (address == MAP_FAILED)
        throw_errno(errno,
                    std::string("cannot map ") + std::to_string(size) + " bytes for " + what);
    address_ = address;
    size_ = size;
}

FileDescriptor::~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
}

}  // namespace uring_detail

std::uint32_t plan_buffer_count(std::uint32_t requested, std::uint32_t buffer_size,
                                std::uint64_t limit) noexcept {
    std::uint32_t count = std::bit_ceil(std::clamp(requested, 1u, max_ring_buffers));
    const std::uint64_t each =
        buffer_stride(std::max(buffer_size, min_buffer_size)) + sizeof(io_uring_buf);
    while (count > 1 && std::uint64_t{count} * each > limit)
        count /= 2;
    return count;
}

// ---- Set-up ---------------------------------------------------------------------------------

UringWorker::Impl::Impl(const WorkerConfig& config, DatagramProcessor& processor)
    : processor_(processor),
      idle_timeout_(config.idle_timeout),
      buffer_size_(config.buffer_size),
      cpu_(config.cpu) {
    check_config(config);
    plan_buffers(config.buffer_count);
    socket_ = UdpSocket::bind(config.bind_address, config.port);
    open_event_fd();
    open_ring(config.send_slots);
    register_buffer_ring();
    allocate_send_slots(config.send_slots);

    // The kernel reads the name length (and that there is no control data or iovec) from here.
    recv_message_.msg_namelen = name_capacity;
    recv_message_.msg_controllen = control_capacity;

    // Prepared now, submitted by the first run_once, so the requests belong to the thread that
    // runs the worker.
    arm_receive();
    arm_wake();

    log(LogLevel::debug,
        "io: worker on %s port %u: %u receive buffers of %u bytes, %u send slots, CQ %u",
        config.bind_address.c_str(), socket_.port(), buffer_count_, buffer_size_, config.send_slots,
        batch_limit_);
}

// Receive buffers, within RLIMIT_MEMLOCK.
void UringWorker::Impl::plan_buffers(std::uint32_t requested) {
    const std::uint64_t limit = memlock_limit();
    buffer_count_ = plan_buffer_count(requested, buffer_size_, limit);
    const std::uint32_t wanted =
        plan_buffer_count(requested, buffer_size_, std::numeric_limits<std::uint64_t>::max());
    if (buffer_count_ < wanted)
        log(LogLevel::warn,
            "io: RLIMIT_MEMLOCK of %llu bytes fits only %u of the %u receive buffers of %u "
            "bytes asked for (raise it with ulimit -l or LimitMEMLOCK=)",
            static_cast<unsigned long long>(limit), buffer_count_, wanted, buffer_size_);
    stride_ = buffer_stride(buffer_size_);
}

void UringWorker::Impl::open_event_fd() {
    int event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (event_fd < 0) throw_errno(errno, "cannot create the worker's eventfd");
    event_fd_.reset(event_fd);
    event_fd_number_ = event_fd;
}

void UringWorker::Impl::open_ring(std::uint32_t send_slots) {
    // The SQ holds every send slot plus the two re-arms, so a batch never runs out of SQEs; the
    // CQ holds a completion per receive buffer and per send slot.
    const std::uint32_t sq_entries = std::bit_ceil(send_slots + 8);
    const std::uint32_t cq_entries =
        std::max(2 * sq_entries, std::bit_ceil(buffer_count_ + send_slots + 16));
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
}

// The provided-buffer ring: every receive buffer starts in it.
void UringWorker::Impl::register_buffer_ring() {
    buffer_memory_.map(stride_ * buffer_count_, "receive buffers");
    ring_memory_.map(sizeof(io_uring_buf) * buffer_count_, "the provided-buffer ring");
    buffer_ring_ = reinterpret_cast<io_uring_buf_ring*>(ring_memory_.data());
    io_uring_buf_reg registration{};
    registration.ring_addr = reinterpret_cast<std::uintptr_t>(buffer_ring_);
    registration.ring_entries = buffer_count_;
    registration.bgid = buffer_group;
    const int rc = io_uring_register_buf_ring(&ring_.ring, &registration, 0);
    if (rc < 0) throw_errno(-rc, "cannot register the provided-buffer ring (needs Linux 5.19)");
    io_uring_buf_ring_init(buffer_ring_);
    const int mask = io_uring_buf_ring_mask(buffer_count_);
    for (std::uint32_t id = 0; id < buffer_count_; ++id)
        io_uring_buf_ring_add(buffer_ring_, buffer_memory_.data() + id * stride_,
                              recv_header + buffer_size_, static_cast<std::uint16_t>(id), mask,
                              static_cast<int>(id));
    io_uring_buf_ring_advance(buffer_ring_, static_cast<int>(buffer_count_));
}

// Send slots, plus one scratch reply for when they are all in flight.
void UringWorker::Impl::allocate_send_slots(std::uint32_t send_slots) {
    send_memory_.map(std::size_t{buffer_size_} * (send_slots + 1), "send slots");
    slots_.resize(send_slots);
    free_slots_.resize(send_slots);
    for (std::uint32_t i = 0; i < send_slots; ++i) {
        slots_[i].data = send_memory_.data() + std::size_t{i} * buffer_size_;
        free_slots_[i] = send_slots - 1 - i;
    }
    free_count_ = send_slots;
    scratch_reply_ = send_memory_.data() + std::size_t{send_slots} * buffer_size_;
}

// ---- Teardown -------------------------------------------------------------------------------

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

// ---- The public class -----------------------------------------------------------------------

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
