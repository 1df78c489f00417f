// Shared by the end-to-end tests that drive coapd with libcoap's coap-client: the coapd fixture,
// coap-client runs with their PDUs parsed from its -v 7 output, and a raw UDP peer for what
// coap-client cannot send.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "coap/codes.hpp"
#include "coap/message.hpp"
#include "coap/option.hpp"
#include "support/coapd_process.hpp"
#include "support/process.hpp"

namespace coap::e2e {

using namespace std::chrono_literals;
using coap::Code;
using coap::MessageType;
using coap::OptionNumber;
using coap::test::Process;
using coap::test::ProcessResult;
using coap::test::run_process;
using ByteVector = std::vector<std::uint8_t>;

inline constexpr const char* coap_client_path = "/usr/bin/coap-client-notls";
// How long coap-client may wait for an answer (-B), and how long the test waits for it.
inline constexpr const char* coap_client_break_seconds = "3";
inline constexpr auto coap_client_timeout = 15s;
// Only for checking that the server stays silent.
inline constexpr auto silence_timeout = 200ms;
// Any answer the server does send arrives within this on loopback.
inline constexpr auto reply_timeout = 3s;

enum class Family { ipv4, ipv6 };
enum class Mode { con, non };

inline std::string family_name(Family family) {
    return family == Family::ipv4 ? "IPv4" : "IPv6";
}
inline std::string mode_name(Mode mode) {
    return mode == Mode::con ? "CON" : "NON";
}
// How GoogleTest prints the parameters.
inline void PrintTo(Family family, std::ostream* out) {
    *out << family_name(family);
}
inline void PrintTo(Mode mode, std::ostream* out) {
    *out << mode_name(mode);
}

inline std::uint16_t random_u16() {
    static std::mt19937 generator{std::random_device{}()};
    return static_cast<std::uint16_t>(
        std::uniform_int_distribution<unsigned>(0, 0xffff)(generator));
}

inline std::string random_word() {
    char text[16];
    std::snprintf(text, sizeof text, "%04x%04x", random_u16(), random_u16());
    return text;
}

inline std::string hex(const ByteVector& bytes) {
    std::string out;
    char two[3];
    for (std::uint8_t byte : bytes) {
        std::snprintf(two, sizeof two, "%02x", byte);
        out += two;
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// coapd, started once per test suite.

class Coapd : public coap::test::CoapdProcess {
  public:
    explicit Coapd(std::vector<std::string> args = {})
        : CoapdProcess(COAPD_PATH, std::move(args)) {}
};

class CoapdE2E : public ::testing::Test {
  protected:
    static void SetUpTestSuite() { start_coapd(); }
    // Suites that need coapd flags define their own SetUpTestSuite calling this.
    static void start_coapd(std::vector<std::string> args = {}) {
        start_error_.clear();
        try {
            server_ = std::make_unique<Coapd>(std::move(args));
        } catch (const std::exception& error) {
            start_error_ = error.what();
        }
    }
    static void TearDownTestSuite() { server_.reset(); }

    void SetUp() override {
        ASSERT_NE(server_, nullptr) << "coapd did not start: " << start_error_;
        server_->process().drain();
        ASSERT_TRUE(server_->process().running()) << "coapd has exited; stderr:\n"
                                                  << server_->process().stderr_text();
    }
    void TearDown() override {
        if (!server_) return;
        server_->process().drain();  // keeps its pipes from filling up
        if (HasFailure() && !server_->process().stderr_text().empty())
            std::printf("coapd stderr:\n%s\n", server_->process().stderr_text().c_str());
    }

    static std::uint16_t port() { return server_->port(); }
    static std::uint16_t secure_port() { return server_->secure_port(); }

    static inline std::unique_ptr<Coapd> server_;
    static inline std::string start_error_;
};

// ---------------------------------------------------------------------------------------------
// coap-client and its debug output.

struct Pdu {
    std::string type;   // CON, NON, ACK, RST
    std::string code;   // a method name ("GET") or a response code ("2.05")
    unsigned mid = 0;   // Message ID
    std::string token;  // hex, as printed between braces
    std::vector<std::pair<std::string, std::string>> options;  // name, value as printed
    std::string line;

    std::vector<std::string> values(std::string_view name) const {
        std::vector<std::string> out;
        for (const auto& [option, value] : options)
            if (option == name) out.push_back(value);
        return out;
    }
    std::optional<std::string> value(std::string_view name) const {
        for (const auto& [option, value] : options)
            if (option == name) return value;
        return std::nullopt;
    }
    bool has(std::string_view name) const { return value(name).has_value(); }
};

// Parses "v:1 t:ACK c:2.05 i:150f {01} [ A:x, B:y ] :: ..." (libcoap's coap_show_pdu).
inline std::optional<Pdu> parse_pdu_line(const std::string& line) {
    if (line.rfind("v:1 t:", 0) != 0) return std::nullopt;
    Pdu pdu;
    pdu.line = line;
    std::istringstream fields(line);
    std::string version, type, code, mid, token;
    fields >> version >> type >> code >> mid >> token;
    if (type.rfind("t:", 0) != 0 || code.rfind("c:", 0) != 0 || mid.rfind("i:", 0) != 0 ||
        token.size() < 2 || token.front() != '{' || token.back() != '}')
        return std::nullopt;
    pdu.type = type.substr(2);
    pdu.code = code.substr(2);
    pdu.mid = static_cast<unsigned>(std::stoul(mid.substr(2), nullptr, 16));
    pdu.token = token.substr(1, token.size() - 2);
    std::size_t open = line.find('[');
    std::size_t close = open == std::string::npos ? open : line.find(" ]", open);
    if (open == std::string::npos || close == std::string::npos) return std::nullopt;
    std::string inner = line.substr(open + 1, close - open - 1);
    if (!inner.empty() && inner.front() == ' ') inner.erase(0, 1);
    std::size_t start = 0;
    while (start < inner.size()) {
        std::size_t end = inner.find(", ", start);
        if (end == std::string::npos) end = inner.size();
        std::string option = inner.substr(start, end - start);
        std::size_t colon = option.find(':');
        if (colon == std::string::npos) return std::nullopt;
        pdu.options.emplace_back(option.substr(0, colon), option.substr(colon + 1));
        start = end + 2;
    }
    return pdu;
}

struct ClientRun {
    ProcessResult process;
    std::vector<Pdu> sent;
    std::vector<Pdu> received;
    std::string payload;  // the response payload, byte for byte

    // The PDU lines only, for failure messages.
    std::string exchange() const {
        std::string out;
        for (const Pdu& pdu : sent)
            out += "  -> " + pdu.line + "\n";
        for (const Pdu& pdu : received)
            out += "  <- " + pdu.line + "\n";
        return out;
    }
};

inline std::atomic<unsigned> output_counter{0};

// Runs coap-client (or `program`, another libcoap coap-client variant) with `args` (the URI
// last) and collects what it sent and received.
inline ClientRun coap_client(const std::vector<std::string>& args,
                             const std::string& program = coap_client_path) {
    std::filesystem::path output =
        std::filesystem::path(::testing::TempDir()) /
        ("coapd_e2e_" + std::to_string(::getpid()) + "_" + std::to_string(output_counter++));
    std::filesystem::remove(output);
    std::vector<std::string> argv{program, "-v",           "7", "-B", coap_client_break_seconds,
                                  "-o",    output.string()};
    argv.insert(argv.end(), args.begin(), args.end());

    ClientRun run;
    run.process = run_process(argv, coap_client_timeout);
    std::istringstream lines(run.process.out);
    std::string line;
    enum class Next { none, sent, received } next = Next::none;
    while (std::getline(lines, line)) {
        if (auto pdu = parse_pdu_line(line)) {
            if (next == Next::sent) run.sent.push_back(*pdu);
            if (next == Next::received) run.received.push_back(*pdu);
        }
        next = line.find(": sent ") != std::string::npos       ? Next::sent
               : line.find(": received ") != std::string::npos ? Next::received
                                                               : Next::none;
    }
    std::ifstream file(output, std::ios::binary);
    if (file)
        run.payload.assign(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
    file.close();
    std::filesystem::remove(output);
    return run;
}

inline std::vector<std::string> with_mode(Mode mode, std::vector<std::string> args) {
    if (mode == Mode::non) args.insert(args.begin(), "-N");
    return args;
}

// The checks every TD makes on a request/response pair: one request of the expected type sent,
// one response received, the same token and, for CON, a piggybacked ACK with the same Message ID
// (for NON, a NON response: RFC 7252 §5.2.3).
inline void check_exchange_any(const ClientRun& run, Mode mode, std::string_view method,
                               const std::vector<std::string>& codes) {
    ASSERT_FALSE(run.process.timed_out) << "coap-client did not finish";
    ASSERT_EQ(run.sent.size(), 1u) << "coap-client should send exactly one request";
    ASSERT_EQ(run.received.size(), 1u) << "expected exactly one response";
    const Pdu& request = run.sent.front();
    const Pdu& response = run.received.front();
    EXPECT_EQ(request.type, mode == Mode::con ? "CON" : "NON");
    EXPECT_EQ(request.code, method);
    EXPECT_EQ(response.type, mode == Mode::con ? "ACK" : "NON");
    if (mode == Mode::con) {
        EXPECT_EQ(response.mid, request.mid) << "Message ID = CMID";
    }
    EXPECT_EQ(response.token, request.token) << "Token = CTOK";
    EXPECT_TRUE(std::find(codes.begin(), codes.end(), response.code) != codes.end())
        << "unexpected response code " << response.code;
}

inline void check_exchange(const ClientRun& run, Mode mode, std::string_view method,
                           std::string_view code) {
    check_exchange_any(run, mode, method, std::vector<std::string>{std::string(code)});
}

// "Content-format option if payload non-empty" (CFONE).
inline void check_cfone(const ClientRun& run) {
    if (!run.payload.empty()) {
        EXPECT_TRUE(run.received.front().has("Content-Format"))
            << "a non-empty payload needs a Content-Format";
    }
}

#define EXCHANGE_TRACE(run) SCOPED_TRACE("coap-client exchange:\n" + (run).exchange())

// ---------------------------------------------------------------------------------------------
// A raw UDP peer, for what coap-client cannot send.

class UdpPeer {
  public:
    UdpPeer(Family family, std::uint16_t port) {
        fd_ = ::socket(family == Family::ipv4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
        int result;
        if (family == Family::ipv4) {
            sockaddr_in address{};
            address.sin_family = AF_INET;
            address.sin_port = htons(port);
            address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            result = ::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address);
        } else {
            sockaddr_in6 address{};
            address.sin6_family = AF_INET6;
            address.sin6_port = htons(port);
            address.sin6_addr = in6addr_loopback;
            result = ::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address);
        }
        if (result != 0) {
            int error = errno;
            ::close(fd_);
            throw std::runtime_error(std::string("connect: ") + std::strerror(error));
        }
    }
    ~UdpPeer() { ::close(fd_); }
    UdpPeer(const UdpPeer&) = delete;
    UdpPeer& operator=(const UdpPeer&) = delete;

    void send(const ByteVector& datagram) {
        ssize_t sent = ::send(fd_, datagram.data(), datagram.size(), 0);
        if (sent != static_cast<ssize_t>(datagram.size()))
            throw std::runtime_error(std::string("send: ") + std::strerror(errno));
    }

    // The next datagram, or nullopt when none arrives within `timeout`.
    std::optional<ByteVector> receive(std::chrono::milliseconds timeout) {
        pollfd poll_fd{fd_, POLLIN, 0};
        int ready;
        do {
            ready = ::poll(&poll_fd, 1, static_cast<int>(timeout.count()));
        } while (ready < 0 && errno == EINTR);
        if (ready <= 0) return std::nullopt;
        ByteVector buffer(65536);
        ssize_t length = ::recv(fd_, buffer.data(), buffer.size(), 0);
        if (length < 0) return std::nullopt;  // e.g. ICMP port unreachable
        buffer.resize(static_cast<std::size_t>(length));
        return buffer;
    }

    // Message IDs for this peer: sequential from a random start, so that no two messages from
    // the same endpoint share one by accident (the server would take them for duplicates).
    std::uint16_t next_mid() { return next_mid_++; }

  private:
    int fd_ = -1;
    std::uint16_t next_mid_ = random_u16();
};

struct RawOption {
    std::uint16_t number;
    ByteVector value;
};

inline ByteVector text_value(std::string_view text) {
    return ByteVector(text.begin(), text.end());
}

inline ByteVector encode_message(MessageType type, Code code, std::uint16_t mid,
                                 const ByteVector& token, const std::vector<RawOption>& options,
                                 std::string_view payload = {}) {
    ByteVector buffer(4096);
    coap::MessageWriter writer(buffer);
    writer.header(type, code, mid, coap::Bytes(token.data(), token.size()));
    for (const RawOption& option : options)
        writer.option(static_cast<OptionNumber>(option.number),
                      coap::Bytes(option.value.data(), option.value.size()));
    writer.payload(payload);
    auto size = writer.finish();
    if (!size) throw std::runtime_error("MessageWriter failed");
    buffer.resize(*size);
    return buffer;
}

inline ByteVector token_bytes() {
    std::uint16_t a = random_u16();
    std::uint16_t b = random_u16();
    return {static_cast<std::uint8_t>(a >> 8), static_cast<std::uint8_t>(a),
            static_cast<std::uint8_t>(b >> 8), static_cast<std::uint8_t>(b)};
}

inline std::string code_string(Code code) {
    return std::string(coap::code_text(code).view());
}

inline ByteVector bytes_of(coap::Bytes bytes) {
    return ByteVector(bytes.begin(), bytes.end());
}
}  // namespace coap::e2e
