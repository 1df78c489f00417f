// UDP socket creation and binding.
#include "io/udp_socket.hpp"

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include "coap/log.hpp"

namespace coap::io {

namespace {

/// A parsed bind address: family, socket address and whether it asks for a dual-stack socket.
struct BindAddress {
    sockaddr_storage storage{};
    socklen_t length = 0;
    int family = 0;
    bool dual_stack = false;
};

std::string describe(std::string_view address, std::uint16_t port) {
    std::string text;
    bool v6 = address.find(':') != std::string_view::npos && address.front() != '[';
    if (v6) text += '[';
    text += address;
    if (v6) text += ']';
    text += ':';
    text += std::to_string(port);
    return text;
}

/// Parses an IP literal, with optional brackets and an optional "%scope" (an interface name or
/// number) for IPv6.
bool parse_bind_address(std::string_view text, std::uint16_t port, BindAddress& out) {
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']')
        text = text.substr(1, text.size() - 2);
    if (text.empty() || text.size() > 64) return false;
    std::string host(text);
    std::string scope;
    if (auto percent = host.find('%'); percent != std::string::npos) {
        scope = host.substr(percent + 1);
        host.resize(percent);
    }

    if (scope.empty()) {
        sockaddr_in v4{};
        if (inet_pton(AF_INET, host.c_str(), &v4.sin_addr) == 1) {
            v4.sin_family = AF_INET;
            v4.sin_port = htons(port);
            std::memcpy(&out.storage, &v4, sizeof v4);
            out.length = sizeof v4;
            out.family = AF_INET;
            return true;
        }
    }

    sockaddr_in6 v6{};
    if (inet_pton(AF_INET6, host.c_str(), &v6.sin6_addr) != 1) return false;
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(port);
    if (!scope.empty()) {
        unsigned index = if_nametoindex(scope.c_str());
        if (index == 0) {
            char* end = nullptr;
            unsigned long number = std::strtoul(scope.c_str(), &end, 10);
            if (end == scope.c_str() || *end != '\0' || number == 0 || number > 0xffffffffUL)
                return false;
            index = static_cast<unsigned>(number);
        }
        v6.sin6_scope_id = index;
    }
    std::memcpy(&out.storage, &v6, sizeof v6);
    out.length = sizeof v6;
    out.family = AF_INET6;
    // "::" is dual stack; so is a v4-mapped address (which cannot be bound IPv6-only).
    out.dual_stack = IN6_IS_ADDR_UNSPECIFIED(&v6.sin6_addr) || IN6_IS_ADDR_V4MAPPED(&v6.sin6_addr);
    return true;
}

[[noreturn]] void throw_errno(int error, const std::string& what) {
    throw std::system_error(error, std::system_category(), "coap: " + what);
}

/// Raises a socket buffer as far as the kernel allows; a smaller result is only logged.
void raise_buffer(int fd, int option, const char* name, int bytes) noexcept {
    if (bytes <= 0) return;
    if (setsockopt(fd, SOL_SOCKET, option, &bytes, sizeof bytes) != 0) {
        log(LogLevel::debug, "io: setsockopt(%s, %d) failed: %s", name, bytes,
            std::strerror(errno));
        return;
    }
    int actual = 0;
    socklen_t length = sizeof actual;
    // Linux reports twice the usable size (the doubling covers bookkeeping overhead).
    if (getsockopt(fd, SOL_SOCKET, option, &actual, &length) == 0 && actual / 2 < bytes)
        log(LogLevel::debug, "io: %s is %d bytes, asked for %d (raise net.core.%s)", name,
            actual / 2, bytes, option == SO_RCVBUF ? "rmem_max" : "wmem_max");
}

}  // namespace

UdpSocket::~UdpSocket() {
    close();
}

UdpSocket::UdpSocket(UdpSocket&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), family_(other.family_), port_(other.port_) {}

UdpSocket& UdpSocket::operator=(UdpSocket&& other) noexcept {
    if (this != &other) {
        close();
        fd_ = std::exchange(other.fd_, -1);
        family_ = other.family_;
        port_ = other.port_;
    }
    return *this;
}

void UdpSocket::close() noexcept {
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
}

UdpSocket UdpSocket::bind(std::string_view address, std::uint16_t port, int buffer_bytes) {
    BindAddress parsed;
    if (!parse_bind_address(address, port, parsed))
        throw std::runtime_error("coap: bind address '" + std::string(address) +
                                 "' is not an IPv4 or IPv6 literal");
    const std::string where = describe(address, port);

    int fd = ::socket(parsed.family, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_UDP);
    if (fd < 0) throw_errno(errno, "cannot create a UDP socket for " + where);
    UdpSocket socket(fd, parsed.family, port);

    // SO_REUSEPORT before bind, except for port 0: Linux may hand a reuseport socket an
    // ephemeral port that another reuseport socket of the same user already holds (two test
    // processes would then share one). Set after binding, the port is fresh and other workers can
    // still join it by binding the port number with SO_REUSEPORT.
    const int one = 1;
    const bool reuse_after_bind = port == 0;
    if (!reuse_after_bind && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
        throw_errno(errno, "setsockopt(SO_REUSEPORT) for " + where);
    if (parsed.family == AF_INET6) {
        int v6only = parsed.dual_stack ? 0 : 1;
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) != 0)
            throw_errno(errno, "setsockopt(IPV6_V6ONLY) for " + where);
    }
    raise_buffer(fd, SO_RCVBUF, "SO_RCVBUF", buffer_bytes);
    raise_buffer(fd, SO_SNDBUF, "SO_SNDBUF", buffer_bytes);
    // The kernel's count of datagrams dropped on a full receive queue comes with each datagram
    // (recvmsg control data): the server's overload signal. Without it, load levels stay normal.
    if (setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one) != 0)
        log(LogLevel::warn, "io: setsockopt(SO_RXQ_OVFL) failed: %s", std::strerror(errno));

    if (::bind(fd, reinterpret_cast<const sockaddr*>(&parsed.storage), parsed.length) != 0)
        throw_errno(errno, "cannot bind UDP socket to " + where);
    if (reuse_after_bind && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
        throw_errno(errno, "setsockopt(SO_REUSEPORT) for " + where);

    sockaddr_storage bound{};
    socklen_t length = sizeof bound;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length) != 0)
        throw_errno(errno, "getsockname for " + where);
    if (bound.ss_family == AF_INET) {
        sockaddr_in v4;
        std::memcpy(&v4, &bound, sizeof v4);
        socket.port_ = ntohs(v4.sin_port);
    } else {
        sockaddr_in6 v6;
        std::memcpy(&v6, &bound, sizeof v6);
        socket.port_ = ntohs(v6.sin6_port);
    }
    return socket;
}

socklen_t UdpSocket::peer_address(const Endpoint& peer, sockaddr_storage& out) const noexcept {
    if (family_ == AF_INET6) {
        sockaddr_in6 v6;
        socklen_t length = peer.to_sockaddr_in6(v6);
        out = sockaddr_storage{};
        std::memcpy(&out, &v6, sizeof v6);
        return length;
    }
    if (!peer.is_ipv4()) return 0;
    return peer.to_sockaddr(out);
}

}  // namespace coap::io
