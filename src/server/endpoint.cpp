// Endpoint conversions to and from socket addresses.
#include "coap/endpoint.hpp"

#include <arpa/inet.h>

#include <cstdio>
#include <cstring>
#include <string>

namespace coap {

namespace {

constexpr std::array<std::uint8_t, 12> v4_mapped_prefix{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

}  // namespace

std::optional<Endpoint> Endpoint::from_sockaddr(const sockaddr* address,
                                                socklen_t length) noexcept {
    Endpoint endpoint;
    if (address->sa_family == AF_INET && length >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
        sockaddr_in v4;
        std::memcpy(&v4, address, sizeof v4);
        std::memcpy(endpoint.address_.data(), v4_mapped_prefix.data(), v4_mapped_prefix.size());
        std::memcpy(endpoint.address_.data() + 12, &v4.sin_addr, 4);
        endpoint.port_ = ntohs(v4.sin_port);
        return endpoint;
    }
    if (address->sa_family == AF_INET6 && length >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
        sockaddr_in6 v6;
        std::memcpy(&v6, address, sizeof v6);
        std::memcpy(endpoint.address_.data(), &v6.sin6_addr, 16);
        endpoint.port_ = ntohs(v6.sin6_port);
        endpoint.scope_id_ = v6.sin6_scope_id;
        return endpoint;
    }
    return std::nullopt;
}

std::optional<Endpoint> Endpoint::from_literal(std::string_view host, std::uint16_t port) noexcept {
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    char text[INET6_ADDRSTRLEN + 1];
    if (host.empty() || host.size() >= sizeof text) return std::nullopt;
    std::memcpy(text, host.data(), host.size());
    text[host.size()] = '\0';
    sockaddr_in v4{};
    if (inet_pton(AF_INET, text, &v4.sin_addr) == 1) {
        v4.sin_family = AF_INET;
        v4.sin_port = htons(port);
        return from_sockaddr(reinterpret_cast<const sockaddr*>(&v4), sizeof v4);
    }
    sockaddr_in6 v6{};
    if (inet_pton(AF_INET6, text, &v6.sin6_addr) == 1) {
        v6.sin6_family = AF_INET6;
        v6.sin6_port = htons(port);
        return from_sockaddr(reinterpret_cast<const sockaddr*>(&v6), sizeof v6);
    }
    return std::nullopt;
}

bool Endpoint::is_ipv4() const noexcept {
    return std::memcmp(address_.data(), v4_mapped_prefix.data(), v4_mapped_prefix.size()) == 0;
}

socklen_t Endpoint::to_sockaddr_in6(sockaddr_in6& out) const noexcept {
    out = sockaddr_in6{};
    out.sin6_family = AF_INET6;
    out.sin6_port = htons(port_);
    out.sin6_scope_id = scope_id_;
    std::memcpy(&out.sin6_addr, address_.data(), 16);
    return sizeof out;
}

socklen_t Endpoint::to_sockaddr(sockaddr_storage& out) const noexcept {
    out = sockaddr_storage{};
    if (is_ipv4()) {
        sockaddr_in v4{};
        v4.sin_family = AF_INET;
        v4.sin_port = htons(port_);
        std::memcpy(&v4.sin_addr, address_.data() + 12, 4);
        std::memcpy(&out, &v4, sizeof v4);
        return sizeof v4;
    }
    sockaddr_in6 v6;
    socklen_t length = to_sockaddr_in6(v6);
    std::memcpy(&out, &v6, sizeof v6);
    return length;
}

std::string_view Endpoint::format(std::span<char> out) const noexcept {
    char host[INET6_ADDRSTRLEN] = "?";
    int n;
    if (is_ipv4()) {
        inet_ntop(AF_INET, address_.data() + 12, host, sizeof host);
        n = std::snprintf(out.data(), out.size(), "%s:%u", host, port_);
    } else {
        inet_ntop(AF_INET6, address_.data(), host, sizeof host);
        n = scope_id_ != 0
                ? std::snprintf(out.data(), out.size(), "[%s%%%u]:%u", host, scope_id_, port_)
                : std::snprintf(out.data(), out.size(), "[%s]:%u", host, port_);
    }
    if (n < 0 || out.empty()) return {};
    return {out.data(), std::min(static_cast<std::size_t>(n), out.size() - 1)};
}

std::uint64_t Endpoint::hash() const noexcept {
    // Two 64-bit halves of the address, mixed with port and scope (splitmix64 finaliser).
    std::uint64_t high;
    std::uint64_t low;
    std::memcpy(&high, address_.data(), 8);
    std::memcpy(&low, address_.data() + 8, 8);
    std::uint64_t x =
        high ^ (low * 0x9e3779b97f4a7c15ull) ^ (std::uint64_t{port_} << 32 | scope_id_);
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

}  // namespace coap
