// Shared by the two halves of coap-flood (bench/flood.cpp, bench/flood_probe.cpp): options,
// the target address, hand-encoded GET requests and UDP sockets.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace flood {

using Clock = std::chrono::steady_clock;
using Bytes = std::vector<std::uint8_t>;

struct Options {
    std::string mode, target = "127.0.0.1:5683", path = "test", mix = "con:1,non:1,garbage:1";
    unsigned sources = 4096, ports = 16, interval_ms = 50;
    double rate = 0, duration = 10, grace = 5;
};

inline sockaddr_in parse_target(const std::string& text) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    std::size_t colon = text.rfind(':');
    if (colon == std::string::npos ||
        inet_pton(AF_INET, text.substr(0, colon).c_str(), &address.sin_addr) != 1)
        throw std::runtime_error("--target wants IPv4:PORT, got " + text);
    address.sin_port = htons(static_cast<std::uint16_t>(std::stoul(text.substr(colon + 1))));
    return address;
}

// A request: CON or NON GET with a 4-byte token and the path as one Uri-Path (RFC 7252 §3).
inline Bytes get_request(bool confirmable, std::uint16_t mid, std::uint32_t token,
                         const std::string& path) {
    Bytes out{static_cast<std::uint8_t>(confirmable ? 0x44 : 0x54), 0x01,
              static_cast<std::uint8_t>(mid >> 8), static_cast<std::uint8_t>(mid)};
    for (int shift = 24; shift >= 0; shift -= 8)
        out.push_back(static_cast<std::uint8_t>(token >> shift));
    if (path.size() < 13) {
        out.push_back(static_cast<std::uint8_t>(0xb0 | path.size()));
    } else {
        out.push_back(0xbd);
        out.push_back(static_cast<std::uint8_t>(path.size() - 13));
    }
    out.insert(out.end(), path.begin(), path.end());
    return out;
}

inline int udp_socket(bool nonblocking) {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    int size = 4 << 20;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    return fd;
}

/// The probe half: prints its summary line, returns the exit code.
int run_probe(const Options& options);

}  // namespace flood
