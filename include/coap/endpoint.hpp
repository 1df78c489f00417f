// A UDP peer address (IPv4 or IPv6), usable as an exact lookup key.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "coap/export.hpp"

namespace coap {

/// An IP address and port. IPv4 addresses are held as IPv4-mapped IPv6 (\::ffff:a.b.c.d), so a
/// peer has one key whether it reached an IPv4 or a dual-stack socket.
class COAP_API Endpoint {
  public:
    /// The unspecified address `::`, port 0.
    Endpoint() noexcept = default;

    /// From a socket address (AF_INET or AF_INET6); nullopt for any other family or size.
    static std::optional<Endpoint> from_sockaddr(const sockaddr* address,
                                                 socklen_t length) noexcept;
    /// From an IP literal ("127.0.0.1", "::1", "[::1]") and a port; nullopt if not a literal.
    static std::optional<Endpoint> from_literal(std::string_view host, std::uint16_t port) noexcept;

    /// Writes the address for an AF_INET6 socket (IPv4 as mapped) and returns its length.
    socklen_t to_sockaddr_in6(sockaddr_in6& out) const noexcept;
    /// Writes the address as AF_INET when it is IPv4 (for IPv4-only sockets), else AF_INET6.
    socklen_t to_sockaddr(sockaddr_storage& out) const noexcept;

    /// True for an IPv4 (IPv4-mapped) address.
    bool is_ipv4() const noexcept;
    /// The UDP port.
    std::uint16_t port() const noexcept { return port_; }
    /// The address as 16 bytes of IPv6, network byte order.
    const std::array<std::uint8_t, 16>& address() const noexcept { return address_; }
    /// The IPv6 zone (interface index) of a link-local address, else 0.
    std::uint32_t scope_id() const noexcept { return scope_id_; }

    /// "127.0.0.1:5683" or "[::1]:5683", written into `out`; returns the characters used.
    std::string_view format(std::span<char> out) const noexcept;

    /// A well-mixed hash of the whole endpoint, for hash tables.
    std::uint64_t hash() const noexcept;

    /// Equal when address, zone and port are equal.
    friend bool operator==(const Endpoint&, const Endpoint&) noexcept = default;

  private:
    std::array<std::uint8_t, 16> address_{};
    std::uint32_t scope_id_ = 0;
    std::uint16_t port_ = 0;
};

/// Longest text `Endpoint::format` writes: "[" + 45 + "%" + 10 + "]:" + 5.
inline constexpr std::size_t endpoint_text_size = 64;

}  // namespace coap
