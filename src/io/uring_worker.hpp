// One worker's I/O loop on io_uring: receive datagrams, hand them to the protocol core, send the
// replies. The only code in the project that touches io_uring; the core sees datagrams, peers
// and times, never sockets or rings.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "coap/bytes.hpp"
#include "coap/endpoint.hpp"
#include "coap/time.hpp"

namespace coap::io {

/// Queues datagrams the core sends on its own (retransmissions, notifications).
class Outbox {
  public:
    virtual ~Outbox() = default;
    /// Copies `datagram` into a free send slot, to go out with this batch. False when every slot
    /// is in flight (counted in WorkerStats::send_dropped), or when the datagram is larger than
    /// buffer_size or the socket cannot reach `peer` (counted in send_errors).
    virtual bool send(const Endpoint& peer, Bytes datagram) noexcept = 0;
    /// Send slots free right now.
    virtual std::size_t available() const noexcept = 0;
};

/// Implemented by the protocol core; one per worker thread. Called only from the thread that runs
/// the worker, never concurrently.
class DatagramProcessor {
  public:
    virtual ~DatagramProcessor() = default;
    /// One datagram in; write the reply (if any) into `reply` (buffer_size bytes) and return its
    /// length, 0 for none. `datagram` is valid only during the call.
    virtual std::size_t on_datagram(const Endpoint& peer, Bytes datagram, TimePoint now,
                                    MutableBytes reply) noexcept = 0;
    /// Before on_batch_end, when the kernel dropped datagrams on this worker's socket since the
    /// last batch (its receive queue was full); `total` counts every drop so far.
    virtual void on_kernel_drops([[maybe_unused]] std::uint64_t total) noexcept {}
    /// Called once by the worker's constructor with the outbox of that worker, for processors
    /// that send more than one datagram per datagram received (a DTLS handshake flight). Sends
    /// through it from on_datagram go out with the batch.
    virtual void attach([[maybe_unused]] Outbox& out) noexcept {}
    /// After each batch of completions, and after a wait that timed out; the core may queue
    /// spontaneous datagrams through `out`.
    virtual void on_batch_end([[maybe_unused]] TimePoint now,
                              [[maybe_unused]] Outbox& out) noexcept {}
};

struct WorkerConfig {
    /// An IP literal: "0.0.0.0", "::" (dual stack), "127.0.0.1", "::1", ...
    std::string bind_address = "0.0.0.0";
    /// 0 picks a free port (tests); read it back with UringWorker::local_port().
    std::uint16_t port = 5683;
    /// Receive buffers in the provided-buffer ring: rounded up to a power of two, at most 32768,
    /// and clamped so the buffers fit in RLIMIT_MEMLOCK (with a log line).
    std::uint32_t buffer_count = 512;
    /// Largest datagram received (larger ones are counted as truncated and dropped) and largest
    /// reply sent, in bytes; at least 64.
    std::uint32_t buffer_size = 1280;
    /// Replies and spontaneous datagrams in flight at once (1..16384); a full pool drops the
    /// datagram and counts it.
    std::uint32_t send_slots = 256;
    /// CPU the thread calling run_once()/run() is pinned to on its first call; -1 for none.
    int cpu = -1;
    /// Longest wait in run() before on_batch_end is called without traffic (for the core's timers).
    Duration idle_timeout = std::chrono::milliseconds(100);
};

/// Counters of one worker. Written only by the thread running the worker: read them from that
/// thread or after run() has returned.
struct WorkerStats {
    std::uint64_t received = 0;      ///< Datagrams handed to the processor.
    std::uint64_t sent = 0;          ///< Datagrams the kernel accepted for sending.
    std::uint64_t truncated = 0;     ///< Datagrams larger than buffer_size: dropped.
    std::uint64_t send_dropped = 0;  ///< Replies or outbox datagrams dropped: no free send slot.
    std::uint64_t send_errors = 0;   ///< Sends that failed in the kernel or had no usable address.
    std::uint64_t rearmed = 0;       ///< Multishot receives re-armed after they ended.
    std::uint64_t no_buffers = 0;    ///< Times the receive ended because every buffer was in use.
    std::uint64_t recv_errors = 0;   ///< Other failed receives and malformed completions.
    std::uint64_t batches = 0;       ///< Calls of run_once that processed completions or timed out.
    /// Datagrams the kernel dropped because the socket's receive queue was full (SO_RXQ_OVFL).
    std::uint64_t kernel_drops = 0;
};

/// The receive-buffer count actually used for a request: rounded up to a power of two, capped at
/// 32768, then halved until count * (per-buffer bytes) fits in `memlock_limit` (at least 1).
/// `memlock_limit` of UINT64_MAX means unlimited.
std::uint32_t plan_buffer_count(std::uint32_t requested, std::uint32_t buffer_size,
                                std::uint64_t memlock_limit) noexcept;

/// A UDP socket, an io_uring with a registered provided-buffer ring and a multishot recvmsg, and
/// a fixed pool of send slots. Everything is allocated in the constructor; run_once allocates
/// nothing and throws nothing.
///
/// Threads: construct anywhere; run it (run_once/run) from one thread at a time; stop() from any
/// thread or a signal handler; destroy after run() returned (best from the thread that ran it,
/// or after that thread exited).
class UringWorker {
  public:
    /// Opens the socket and the ring. Throws std::system_error (io_uring_queue_init failing with
    /// ENOSYS or EPERM means io_uring is unavailable or forbidden) or std::runtime_error, with a
    /// message naming what failed.
    UringWorker(const WorkerConfig& config, DatagramProcessor& processor);
    ~UringWorker();
    UringWorker(const UringWorker&) = delete;
    UringWorker& operator=(const UringWorker&) = delete;

    std::uint16_t local_port() const noexcept;
    /// Receive buffers in use after rounding and the RLIMIT_MEMLOCK clamp.
    std::uint32_t buffer_count() const noexcept;

    /// Waits up to `timeout` for completions, processes one batch (the clock is read once), calls
    /// on_batch_end and submits the replies with one io_uring_submit. Returns false after stop().
    bool run_once(Duration timeout) noexcept;
    /// Loops run_once(config.idle_timeout) until stop().
    void run() noexcept;
    /// Makes run()/run_once() return promptly, waking a blocked wait. Async-signal-safe; callable
    /// from any thread. Final: the worker does not run again.
    void stop() noexcept;

    /// Makes a blocked run_once() return after calling on_batch_end, so that work queued by
    /// other threads (a deferred answer) goes out at once. Callable from any thread.
    void wake() noexcept;

    const WorkerStats& stats() const noexcept;

  private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace coap::io
