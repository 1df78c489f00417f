// Internal: what the io_uring worker's set-up and teardown (uring_worker_setup.cpp) and its run
// loop (uring_worker_loop.cpp) share: limits, completion tags, owners of the kernel resources,
// and UringWorker::Impl. Only src/io/ includes this (it pulls in liburing.h).
#pragma once

#include <liburing.h>
#include <netinet/in.h>

#include <atomic>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "coap/endpoint.hpp"
#include "coap/time.hpp"
#include "io/udp_socket.hpp"
#include "io/uring_worker.hpp"

namespace coap::io::uring_detail {

inline constexpr std::uint32_t max_ring_buffers = 32768;  // IORING_REGISTER_PBUF_RING limit
inline constexpr std::uint32_t max_send_slots = 16384;
inline constexpr std::uint32_t min_buffer_size = 64;
inline constexpr std::uint32_t max_buffer_size = 65536;
inline constexpr std::uint16_t buffer_group = 0;  // each worker has its own ring: one group
inline constexpr std::size_t buffer_alignment = 64;
// Room for the peer address in each receive buffer (enough for AF_INET and AF_INET6).
// Rounded up to 8 bytes: the control message the kernel puts right after it must be aligned
// for cmsghdr.
inline constexpr std::uint32_t name_capacity = (sizeof(sockaddr_in6) + 7) / 8 * 8;
// Room for one control message: the socket's drop counter (SO_RXQ_OVFL, a 32-bit count).
inline constexpr std::uint32_t control_capacity = CMSG_SPACE(sizeof(std::uint32_t));
// Bytes in front of the payload in a multishot recvmsg buffer.
inline constexpr std::uint32_t recv_header =
    sizeof(io_uring_recvmsg_out) + name_capacity + control_capacity;
inline constexpr auto drain_timeout = std::chrono::seconds(2);

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

/// Logs the 1st, 2nd, 4th, 8th, ... occurrence of a hot-path error, so a storm stays readable.
constexpr bool worth_logging(std::uint64_t count) noexcept {
    return std::has_single_bit(count);
}

inline __kernel_timespec to_timespec(Duration timeout) noexcept {
    if (timeout < Duration::zero()) timeout = Duration::zero();
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(timeout);
    __kernel_timespec ts{};
    ts.tv_sec = seconds.count();
    ts.tv_nsec = (timeout - seconds).count();
    return ts;
}

/// An anonymous private mapping, page aligned, pre-faulted; unmapped on destruction unless leaked.
class Mapping {
  public:
    Mapping() noexcept = default;
    ~Mapping();
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;

    void map(std::size_t size, const char* what);
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
    ~FileDescriptor();
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

inline constexpr std::uint32_t no_slot = std::numeric_limits<std::uint32_t>::max();

}  // namespace coap::io::uring_detail

namespace coap::io {

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
    // Set-up (uring_worker_setup.cpp), in the order the constructor calls them.
    void plan_buffers(std::uint32_t requested);
    void open_event_fd();
    void open_ring(std::uint32_t send_slots);
    void register_buffer_ring();
    void allocate_send_slots(std::uint32_t send_slots);

    // The run loop (uring_worker_loop.cpp).
    void handle(const io_uring_cqe& cqe, TimePoint now) noexcept;
    void on_receive(const io_uring_cqe& cqe, TimePoint now) noexcept;
    void on_datagram(std::uint8_t* buffer, int length, TimePoint now) noexcept;
    void note_kernel_drops(io_uring_recvmsg_out& out) noexcept;
    void on_sent(const io_uring_cqe& cqe) noexcept;
    void on_wake() noexcept;
    void recycle(std::uint16_t buffer_id) noexcept;
    void arm_receive() noexcept;
    void arm_wake() noexcept;
    bool queue_send(std::uint32_t slot, const Endpoint& peer, std::size_t length) noexcept;
    std::uint32_t acquire_slot() noexcept;
    void release_slot(std::uint32_t slot) noexcept;
    void pin_thread() noexcept;

    // Teardown (uring_worker_setup.cpp).
    void settle(const io_uring_cqe& cqe) noexcept;
    void reap() noexcept;
    bool drain() noexcept;

    // Declaration order is teardown order reversed: the ring exits first, then the socket and
    // eventfd close, then the memory the kernel wrote into is unmapped.
    uring_detail::Mapping buffer_memory_;
    uring_detail::Mapping ring_memory_;
    uring_detail::Mapping send_memory_;
    std::vector<uring_detail::SendSlot> slots_;
    std::vector<std::uint32_t> free_slots_;
    uring_detail::FileDescriptor event_fd_;
    UdpSocket socket_;
    uring_detail::Ring ring_;

    DatagramProcessor& processor_;
    io_uring_buf_ring* buffer_ring_ = nullptr;
    msghdr recv_message_{};
    WorkerStats stats_{};
    Duration idle_timeout_;
    std::size_t stride_ = 0;
    std::uint8_t* scratch_reply_ = nullptr;
    std::uint32_t kernel_drop_count_ = 0;  // the socket's SO_RXQ_OVFL counter, last seen
    bool kernel_drops_changed_ = false;    // in this batch
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

}  // namespace coap::io
