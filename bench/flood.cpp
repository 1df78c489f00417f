// coap-flood: the two halves of bench/flood_test.sh.
//
//   coap-flood flood --target 127.0.0.1:5683 [--sources 4096] [--ports 16] [--rate 0]
//                    [--mix con:1,non:1,garbage:1] [--duration 10]
//   coap-flood probe --target 127.0.0.1:5683 [--interval-ms 50] [--duration 10] [--grace 5]
//
// flood: sends as fast as it can (or --rate datagrams per second) from --ports sockets, each
// datagram from one of --sources IPv4 addresses 127.1.x.y (IP_PKTINFO picks the source, which
// loopback accepts for all of 127/8), so the server sees sources x ports distinct endpoints.
// The mix: CON GET /test, NON GET /test and garbage (malformed datagrams of several kinds).
// Answers are drained and counted. Message IDs are never reused per endpoint within 65536.
//
// probe: one well-behaved client from 127.0.0.1: a CON GET every --interval-ms, retransmitted
// as RFC 7252 §4.2 says (ACK_TIMEOUT 2 s, ACK_RANDOM_FACTOR 1.5, MAX_RETRANSMIT 4); a 4.29 is
// asked again after its Max-Age (RFC 8516 §4). It stops asking --grace seconds after the last
// new request. Latency runs from a request's first transmission to its 2.xx answer.
//
// Each prints one line of key=value pairs. Standalone (libc and the standard library only):
// the script compiles it with the system compiler. The probe is in flood_probe.cpp.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <random>

#include "flood_common.hpp"

namespace flood {

namespace {

// Malformed datagrams of the kinds a server must survive: reserved TKL, option nibble 15,
// an empty payload after the marker, a truncated option, another version, random bytes.
Bytes garbage(std::uint64_t n, std::uint16_t mid, std::mt19937_64& random) {
    auto hi = static_cast<std::uint8_t>(mid >> 8), lo = static_cast<std::uint8_t>(mid);
    switch (n % 6) {
        case 0:
            return {0x4c, 0x01, hi, lo, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};  // TKL 12
        case 1:
            return {0x50, 0x01, hi, lo, 0xbf, 't', 'e', 's', 't'};  // length nibble 15
        case 2:
            return {0x40, 0x02, hi, lo, 0xb4, 't', 'e', 's', 't', 0xff};  // empty payload
        case 3:
            return {0x40, 0x01, hi, lo, 0xbd, 0x40, 't', 'e'};  // truncated option
        case 4:
            return {0x84, 0x01, hi, lo, 1, 2, 3, 4};  // version 2
        default: {
            Bytes out(4 + random() % 40);
            for (auto& byte : out)
                byte = static_cast<std::uint8_t>(random());
            return out;
        }
    }
}

struct Mix {
    unsigned con = 1, non = 1, garbage = 1;
    unsigned total() const { return con + non + garbage; }
};

Mix parse_mix(const std::string& text) {
    Mix mix{0, 0, 0};
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = std::min(text.find(',', start), text.size());
        std::string item = text.substr(start, end - start);
        std::size_t colon = item.find(':');
        unsigned weight = colon == std::string::npos ? 1 : std::stoul(item.substr(colon + 1));
        std::string kind = item.substr(0, colon);
        if (kind == "con")
            mix.con = weight;
        else if (kind == "non")
            mix.non = weight;
        else if (kind == "garbage")
            mix.garbage = weight;
        else
            throw std::runtime_error("--mix: unknown kind " + kind);
        start = end + 1;
    }
    if (mix.total() == 0) throw std::runtime_error("--mix: all weights are 0");
    return mix;
}

// Replies to the flood, by kind.
struct ReplyCounts {
    std::uint64_t total = 0, success = 0, too_many = 0, reset = 0, other = 0;
    void count(const std::uint8_t* data, std::size_t size) {
        ++total;
        if (size < 4) return void(++other);
        std::uint8_t type = (data[0] >> 4) & 3, code = data[1];
        if (type == 3)
            ++reset;
        else if (code >> 5 == 2)
            ++success;
        else if (code == 0x9d)
            ++too_many;  // 4.29 (RFC 8516)
        else
            ++other;
    }
};

void drain(int fd, ReplyCounts& replies) {
    static std::uint8_t buffers[64][1500];
    mmsghdr messages[64];
    iovec vectors[64];
    for (;;) {
        for (int i = 0; i < 64; ++i) {
            vectors[i] = {buffers[i], sizeof buffers[i]};
            messages[i] = {};
            messages[i].msg_hdr.msg_iov = &vectors[i];
            messages[i].msg_hdr.msg_iovlen = 1;
        }
        int n = ::recvmmsg(fd, messages, 64, MSG_DONTWAIT, nullptr);
        if (n <= 0) return;
        for (int i = 0; i < n; ++i)
            replies.count(buffers[i], messages[i].msg_len);
    }
}

constexpr unsigned batch = 64;

int run_flood(const Options& options) {
    sockaddr_in target = parse_target(options.target);
    Mix mix = parse_mix(options.mix);
    std::vector<int> sockets;
    for (unsigned i = 0; i < options.ports; ++i)
        sockets.push_back(udp_socket(true));
    std::vector<std::uint16_t> mids(std::size_t{options.ports} * options.sources);
    std::mt19937_64 random{42};
    for (auto& mid : mids)
        mid = static_cast<std::uint16_t>(random());

    std::vector<Bytes> payloads(batch);
    std::vector<iovec> vectors(batch);
    std::vector<mmsghdr> messages(batch);
    std::vector<std::array<char, CMSG_SPACE(sizeof(in_pktinfo))>> controls(batch);
    ReplyCounts replies;
    std::uint64_t sent = 0, send_failures = 0, kinds[3] = {0, 0, 0}, n = 0;
    auto start = Clock::now();
    auto end = start + std::chrono::duration<double>(options.duration);
    for (Clock::time_point now = start; now < end; now = Clock::now()) {
        double elapsed = std::chrono::duration<double>(now - start).count();
        if (options.rate > 0 && static_cast<double>(sent) > options.rate * elapsed) {
            for (int fd : sockets)
                drain(fd, replies);
            continue;
        }
        unsigned port = static_cast<unsigned>(n / batch % options.ports);
        for (unsigned i = 0; i < batch; ++i, ++n) {
            unsigned source = static_cast<unsigned>(n % options.sources);
            std::uint16_t mid = mids[std::size_t{port} * options.sources + source]++;
            unsigned pick = static_cast<unsigned>(n % mix.total());
            unsigned kind = pick < mix.con ? 0 : pick < mix.con + mix.non ? 1 : 2;
            ++kinds[kind];
            payloads[i] = kind == 2 ? garbage(n / mix.total(), mid, random)
                                    : get_request(kind == 0, mid, static_cast<std::uint32_t>(n),
                                                  options.path);
            vectors[i] = {payloads[i].data(), payloads[i].size()};
            messages[i] = {};
            msghdr& header = messages[i].msg_hdr;
            header.msg_name = &target;
            header.msg_namelen = sizeof target;
            header.msg_iov = &vectors[i];
            header.msg_iovlen = 1;
            header.msg_control = controls[i].data();
            header.msg_controllen = controls[i].size();
            cmsghdr* control = CMSG_FIRSTHDR(&header);
            control->cmsg_level = IPPROTO_IP;
            control->cmsg_type = IP_PKTINFO;
            control->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
            in_pktinfo info{};
            info.ipi_spec_dst.s_addr = htonl(0x7f010001u + source);  // 127.1.0.1 + source
            std::memcpy(CMSG_DATA(control), &info, sizeof info);
        }
        int done = ::sendmmsg(sockets[port], messages.data(), batch, 0);
        if (done < 0) {
            if (errno != EAGAIN && errno != ENOBUFS) {
                std::fprintf(stderr, "coap-flood: sendmmsg: %s\n", std::strerror(errno));
                return 1;
            }
            done = 0;
        }
        sent += static_cast<unsigned>(done);
        send_failures += batch - static_cast<unsigned>(done);
        drain(sockets[port], replies);
    }
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    for (int fd : sockets)
        drain(fd, replies), ::close(fd);
    std::printf(
        "sent=%llu rate=%.0f send_failures=%llu con=%llu non=%llu garbage=%llu "
        "replies=%llu success=%llu too_many=%llu rst=%llu other=%llu seconds=%.2f\n",
        (unsigned long long)sent, sent / seconds, (unsigned long long)send_failures,
        (unsigned long long)kinds[0], (unsigned long long)kinds[1], (unsigned long long)kinds[2],
        (unsigned long long)replies.total, (unsigned long long)replies.success,
        (unsigned long long)replies.too_many, (unsigned long long)replies.reset,
        (unsigned long long)replies.other, seconds);
    return 0;
}

flood::Options parse(int argc, char** argv) {
    if (argc < 2) throw std::runtime_error("usage: coap-flood flood|probe [--option value]...");
    flood::Options options;
    options.mode = argv[1];
    for (int i = 2; i + 1 < argc; i += 2) {
        std::string key = argv[i], value = argv[i + 1];
        if (key == "--target")
            options.target = value;
        else if (key == "--path")
            options.path = value;
        else if (key == "--mix")
            options.mix = value;
        else if (key == "--sources")
            options.sources = std::max(1ul, std::stoul(value));
        else if (key == "--ports")
            options.ports = std::max(1ul, std::stoul(value));
        else if (key == "--interval-ms")
            options.interval_ms = std::max(1ul, std::stoul(value));
        else if (key == "--rate")
            options.rate = std::stod(value);
        else if (key == "--duration")
            options.duration = std::stod(value);
        else if (key == "--grace")
            options.grace = std::stod(value);
        else
            throw std::runtime_error("unknown option " + key);
    }
    if (options.sources > 65000) throw std::runtime_error("--sources: at most 65000");
    return options;
}

}  // namespace

}  // namespace flood

int main(int argc, char** argv) {
    try {
        flood::Options options = flood::parse(argc, argv);
        if (options.mode == "flood") return flood::run_flood(options);
        if (options.mode == "probe") return flood::run_probe(options);
        throw std::runtime_error("mode must be flood or probe");
    } catch (const std::exception& error) {
        std::fprintf(stderr, "coap-flood: %s\n", error.what());
        return 2;
    }
}
