// io_uring for coap-bench's core engine and --observe: a multishot receive on every endpoint's
// socket into one ring of provided buffers, and sends from a fixed pool of slots. The sockets
// are registered with the ring (when the kernel allows), which spares a file lookup per
// operation. One io_uring_enter per
// turn of the event loop submits every queued send and collects the completions, instead of an
// epoll_wait plus a recvmmsg and a sendmmsg per ready socket.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "coap/bytes.hpp"

namespace coap::bench {

class UringIo {
  public:
    struct Event {
        enum class Kind : std::uint8_t { datagram, truncated, refused, send_failed };
        Kind kind;
        std::uint32_t socket;  // index into the descriptors given to open()
        Bytes datagram;        // for `datagram`: valid until release()
    };

    UringIo();
    ~UringIo();
    UringIo(const UringIo&) = delete;
    UringIo& operator=(const UringIo&) = delete;

    /// Sets up the ring, the receive buffers and `send_slots` slots of `slot_size` bytes, and
    /// starts receiving on every socket; an error message or "".
    std::string open(std::span<const int> sockets, std::size_t slot_size, std::size_t send_slots);
    /// Queues a copy of `datagram` for socket `index`; false when every send slot is in use
    /// (the caller keeps the datagram and tries again after the next poll).
    bool send(std::uint32_t socket, Bytes datagram) noexcept;
    /// Submits what is queued and waits for a completion until `deadline_ns` at the latest.
    void wait(std::uint64_t now_ns, std::uint64_t deadline_ns) noexcept;
    /// The completions that arrived (send successes free their slot and are not listed).
    std::span<const Event> poll() noexcept;
    /// Gives the receive buffers of the last poll back and restarts receives that ended.
    void release() noexcept;

  private:
    struct State;
    std::unique_ptr<State> state_;
};

}  // namespace coap::bench
