// The I/O of coap-bench: connected UDP sockets, one per client endpoint, in one epoll set, and
// recvmmsg/sendmmsg batches with fixed buffers (no allocation per datagram).
#pragma once

#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "coap/bytes.hpp"
#include "coap/uri.hpp"

namespace coap::bench {

struct Destination {
    sockaddr_storage address{};
    socklen_t length = 0;
    std::string text;  // "127.0.0.1:5683", "[::1]:5683"
};

/// Resolves the URI's host (getaddrinfo); an error message or an empty string.
std::string resolve(const UriParts& parts, Destination& destination);
/// Pins this thread to `cpu`; an error message or an empty string.
std::string pin_to_cpu(int cpu);
/// Raises the soft limit of open files to `descriptors` if it is lower (up to the hard limit)
/// and returns the soft limit then in force.
std::size_t raise_file_limit(std::size_t descriptors);

/// N nonblocking UDP sockets connected to one destination, each with its own source port (a
/// client endpoint of its own, RFC 7252 §1.2), and the epoll set over them.
class SocketSet {
  public:
    SocketSet() = default;
    ~SocketSet();
    SocketSet(const SocketSet&) = delete;
    SocketSet& operator=(const SocketSet&) = delete;

    /// Opens and connects `count` sockets; an error message or an empty string.
    std::string open(const Destination& destination, std::size_t count);
    int fd(std::size_t index) const noexcept { return fds_[index]; }
    std::size_t size() const noexcept { return fds_.size(); }
    /// Waits for readable sockets until `deadline_ns` (CLOCK_MONOTONIC) at the latest and
    /// returns their indices (empty on timeout or EINTR).
    std::span<const std::uint32_t> wait(std::uint64_t now_ns, std::uint64_t deadline_ns);

  private:
    int epoll_fd_ = -1;
    std::vector<int> fds_;
    std::vector<epoll_event> events_;
    std::vector<std::uint32_t> ready_;
};

/// One recvmmsg at a time into fixed buffers.
class ReceiveBatch {
  public:
    static constexpr std::size_t capacity = 32;
    static constexpr std::size_t buffer_size = 4096;

    /// Receives up to `capacity` datagrams without blocking: their count, or -errno (-EAGAIN
    /// when none is waiting, -ECONNREFUSED after an ICMP port unreachable).
    int receive(int fd) noexcept;
    Bytes datagram(std::size_t index) const noexcept;
    /// True when the datagram was larger than the buffer (and cut).
    bool truncated(std::size_t index) const noexcept;

  private:
    std::array<std::array<std::uint8_t, buffer_size>, capacity> buffers_{};
    std::array<mmsghdr, capacity> messages_{};
    std::array<iovec, capacity> vectors_{};
};

/// Datagrams collected for one sendmmsg: each a copied head (up to `head_size` bytes) and an
/// optional shared tail that is not copied (it must outlive flush()).
class SendBatch {
  public:
    static constexpr std::size_t capacity = 64;

    explicit SendBatch(std::size_t head_size);
    bool full() const noexcept { return count_ == capacity; }
    bool empty() const noexcept { return count_ == 0; }
    std::size_t size() const noexcept { return count_; }
    /// False (and nothing added) when `head` is larger than the head size.
    bool add(Bytes head, Bytes tail = {}) noexcept;
    struct Outcome {
        std::size_t sent = 0;  // the first `sent` datagrams left; the others did not
        int error = 0;         // errno of the call that stopped short, or 0
    };
    /// Sends everything collected on `fd` and empties the batch.
    Outcome flush(int fd) noexcept;

  private:
    std::size_t head_size_;
    std::vector<std::uint8_t> heads_;
    std::array<std::array<iovec, 2>, capacity> vectors_{};
    std::array<mmsghdr, capacity> messages_{};
    std::size_t count_ = 0;
};

}  // namespace coap::bench
