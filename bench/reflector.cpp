// coap-reflector: the fastest "CoAP server" this machine can run, as a ceiling for benchmarks.
//
// One thread, one UDP socket, recvmmsg and sendmmsg in batches of 64. Each request is answered
// by rewriting its header in place: CON becomes ACK (NON stays NON), the code becomes 2.05, the
// Message ID and token are kept, options and payload are dropped (reply = 4 bytes + token).
// Nothing is parsed beyond the header and token length, nothing is remembered, nothing is
// checked for duplicates: it is not a CoAP server, only the cost of the socket calls.
// With --echo the reply also carries the request's payload (the options are skipped to find
// it), so that it is the ceiling of an echo server: same bytes back as coapd's /echo.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace {

constexpr unsigned batch = 64;
constexpr std::size_t buffer_size = 2048;

void usage(std::FILE* out) {
    std::fprintf(out,
                 "usage: coap-reflector [--bind ADDRESS] [--port PORT] [--echo]\n"
                 "  --bind ADDRESS  local IPv4 or IPv6 address (default 127.0.0.1)\n"
                 "  --port PORT     UDP port, 0 picks a free one (default 5683)\n"
                 "  --echo          send the request's payload back (options skipped)\n");
}

// Where the payload marker of a request starts (RFC 7252 §3.1), or `length` when it has none or
// its options do not parse. Only the option lengths are read.
std::size_t payload_marker_at(const std::uint8_t* datagram, std::size_t length, std::size_t at) {
    while (at < length && datagram[at] != 0xff) {
        const unsigned delta = datagram[at] >> 4;
        unsigned value_length = datagram[at] & 0xfu;
        ++at;
        if (delta == 15 || value_length == 15) return length;
        at += delta == 13 ? 1 : delta == 14 ? 2 : 0;
        if (value_length == 13 || value_length == 14) {
            const std::size_t extension = value_length == 13 ? 1 : 2;
            if (at + extension > length) return length;
            value_length = value_length == 13 ? datagram[at] + 13u
                                              : ((datagram[at] << 8u) | datagram[at + 1]) + 269u;
            at += extension;
        }
        at += value_length;
    }
    return at < length ? at : length;
}

// Rewrites a request into its minimal reply in place; returns the reply length, or 0 to drop.
// With `echo`, the payload (marker included) is moved up behind the token.
std::size_t reflect(std::uint8_t* datagram, std::size_t length, bool echo) {
    if (length < 4) return 0;
    const unsigned version = datagram[0] >> 6;
    const unsigned type = (datagram[0] >> 4) & 0x3u;
    const unsigned token_length = datagram[0] & 0xfu;
    const unsigned code = datagram[1];
    if (version != 1 || token_length > 8 || length < 4 + token_length) return 0;
    if (code == 0 || (code >> 5) != 0) return 0;  // only requests (class 0, detail 1-31)
    if (type != 0 && type != 1) return 0;         // only CON and NON
    const unsigned reply_type = type == 0 ? 2u : 1u;
    datagram[0] = static_cast<std::uint8_t>(0x40u | (reply_type << 4) | token_length);
    datagram[1] = 0x45;  // 2.05 Content
    const std::size_t header_and_token = 4 + token_length;
    if (!echo) return header_and_token;
    const std::size_t marker = payload_marker_at(datagram, length, header_and_token);
    if (marker + 1 >= length) return header_and_token;  // no payload
    std::memmove(datagram + header_and_token, datagram + marker, length - marker);
    return header_and_token + (length - marker);
}

}  // namespace

int main(int argc, char** argv) {
    std::string bind_address = "127.0.0.1";
    long port = 5683;
    bool echo = false;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            usage(stdout);
            return 0;
        }
        if (arg == "--echo") {
            echo = true;
            continue;
        }
        if ((arg == "--bind" || arg == "--port") && i + 1 < argc) {
            const char* value = argv[++i];
            if (arg == "--bind") {
                bind_address = value;
                continue;
            }
            char* end = nullptr;
            port = std::strtol(value, &end, 10);
            if (*value == '\0' || *end != '\0' || port < 0 || port > 65535) {
                std::fprintf(stderr, "coap-reflector: bad port \"%s\"\n", value);
                return 2;
            }
            continue;
        }
        std::fprintf(stderr, "coap-reflector: unknown or incomplete argument \"%s\"\n", argv[i]);
        usage(stderr);
        return 2;
    }

    sockaddr_storage address{};
    socklen_t address_length = 0;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&address);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&address);
    if (inet_pton(AF_INET, bind_address.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(static_cast<std::uint16_t>(port));
        address_length = sizeof *v4;
    } else if (inet_pton(AF_INET6, bind_address.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(static_cast<std::uint16_t>(port));
        address_length = sizeof *v6;
    } else {
        std::fprintf(stderr, "coap-reflector: bad bind address \"%s\" (need an IP address)\n",
                     bind_address.c_str());
        return 2;
    }

    int fd = socket(address.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        std::fprintf(stderr, "coap-reflector: socket: %s\n", std::strerror(errno));
        return 1;
    }
    int size = 4 * 1024 * 1024;  // the kernel caps this at net.core.rmem_max / wmem_max
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), address_length) != 0) {
        std::fprintf(stderr, "coap-reflector: bind %s:%ld: %s\n", bind_address.c_str(), port,
                     std::strerror(errno));
        return 1;
    }
    sockaddr_storage bound{};
    socklen_t bound_length = sizeof bound;
    getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_length);
    const unsigned bound_port =
        ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                          : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
    std::printf("coap-reflector: reflecting on %s port %u%s\n", bind_address.c_str(), bound_port,
                echo ? " (echoing payloads)" : "");
    std::fflush(stdout);

    static std::array<std::array<std::uint8_t, buffer_size>, batch> buffers;
    std::array<sockaddr_storage, batch> peers{};
    std::array<iovec, batch> in_vectors{};
    std::array<mmsghdr, batch> in{};
    std::array<iovec, batch> out_vectors{};
    std::array<mmsghdr, batch> out{};
    for (unsigned i = 0; i < batch; ++i) {
        in_vectors[i] = {buffers[i].data(), buffer_size};
        in[i].msg_hdr.msg_iov = &in_vectors[i];
        in[i].msg_hdr.msg_iovlen = 1;
    }
    while (true) {
        for (unsigned i = 0; i < batch; ++i) {
            in[i].msg_hdr.msg_name = &peers[i];
            in[i].msg_hdr.msg_namelen = sizeof peers[i];
        }
        // Block for the first datagram, then take whatever else is queued (up to 64).
        int received = recvmmsg(fd, in.data(), batch, MSG_WAITFORONE, nullptr);
        if (received < 0) {
            if (errno == EINTR) continue;
            std::fprintf(stderr, "coap-reflector: recvmmsg: %s\n", std::strerror(errno));
            return 1;
        }
        unsigned replies = 0;
        for (unsigned i = 0; i < static_cast<unsigned>(received); ++i) {
            std::size_t length = reflect(buffers[i].data(), in[i].msg_len, echo);
            if (length == 0) continue;
            out_vectors[replies] = {buffers[i].data(), length};
            out[replies].msg_hdr = {};
            out[replies].msg_hdr.msg_name = &peers[i];
            out[replies].msg_hdr.msg_namelen = in[i].msg_hdr.msg_namelen;
            out[replies].msg_hdr.msg_iov = &out_vectors[replies];
            out[replies].msg_hdr.msg_iovlen = 1;
            ++replies;
        }
        unsigned done = 0;
        while (done < replies) {
            int sent = sendmmsg(fd, out.data() + done, replies - done, 0);
            if (sent < 0) {
                if (errno == EINTR) continue;
                // A full buffer or an unreachable peer: drop this reply and go on.
                ++done;
                continue;
            }
            done += static_cast<unsigned>(sent);
        }
    }
}
