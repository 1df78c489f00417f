// coap-bench: a CoAP load generator that measures a server over UDP.
//
// N client endpoints (connected UDP sockets, each its own source port) in one thread. Closed
// loop (default): each endpoint keeps --window requests outstanding and sends the next one as
// soon as one completes. Open loop (--rate N): N requests per second in total, spread over the
// endpoints in turn, latency counted from when each was due. The default engine is the client
// library's ClientCore (RFC 7252 retransmission, NSTART, token and Message ID rules), one per
// endpoint; --engine raw is the original hand-rolled sender (no retransmission), the ceiling.
// coaps:// (-u/-k): each endpoint handshakes (DTLS 1.2 PSK) and its requests go out sealed;
// --handshakes-only measures handshakes per second instead (--resume: abbreviated ones).
// --observe: every endpoint registers one observation (RFC 7641) of the URI and the run counts
// notifications per second.
// The I/O is in tools/bench/.
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "bench/bench_driver.hpp"
#include "bench/bench_report.hpp"
#include "bench/handshake_driver.hpp"
#include "bench/measure_window.hpp"
#include "bench/observe_driver.hpp"
#include "bench/raw_engine.hpp"
#include "bench/udp_endpoints.hpp"
#include "coap/content_format.hpp"
#include "coap/uri.hpp"

namespace {

using coap::bench::BenchOptions;
using coap::bench::Engine;

constexpr std::size_t max_payload = 65000;

// The coaps:// settings from the command line.
struct DtlsArguments {
    std::string identity;
    std::string key;
    bool resume = false;
    unsigned handshake_timeout_ms = 1000;
};

void add_dtls_options(CLI::App& app, BenchOptions& options, DtlsArguments& dtls) {
    app.add_option("-u", dtls.identity, "coaps://: the PSK identity")->type_name("IDENTITY");
    app.add_option("-k", dtls.key, "coaps://: the pre-shared key, as text")->type_name("KEY");
    app.add_flag("--handshakes-only", options.handshakes_only,
                 "coaps://: measure DTLS handshakes per second (each endpoint handshakes, "
                 "closes and starts again); no requests");
    app.add_flag("--resume", dtls.resume,
                 "coaps://: resume the previous session (abbreviated handshakes)");
    app.add_option("--handshake-timeout", dtls.handshake_timeout_ms,
                   "coaps://: first handshake retransmission timeout in milliseconds (doubled "
                   "on each of 5 retransmissions)")
        ->capture_default_str()
        ->check(CLI::Range(1u, 60'000u));
}

// Empty when the DTLS options fit the URI; otherwise what is wrong.
std::string apply_dtls(bool secure, const DtlsArguments& dtls, BenchOptions& options) {
    if (!secure) {
        if (!dtls.identity.empty() || !dtls.key.empty() || options.handshakes_only || dtls.resume)
            return "-u, -k, --handshakes-only and --resume need a coaps:// URI";
        return {};
    }
    if (dtls.identity.empty() || dtls.key.empty())
        return "coaps:// needs a pre-shared key: -u IDENTITY -k KEY";
    if (options.engine == Engine::raw) return "coaps:// needs the core engine";
    if (options.handshakes_only && options.open_loop())
        return "--handshakes-only runs closed loop (no --rate)";
    coap::ClientDtlsConfig config;
    config.credentials = coap::PskCredentials::from_text(dtls.identity, dtls.key);
    if (std::string problem = config.credentials.validate(); !problem.empty())
        return "pre-shared " + problem;
    config.resume = dtls.resume || !options.handshakes_only;
    config.handshake_initial_timeout = std::chrono::milliseconds(dtls.handshake_timeout_ms);
    options.dtls = config;
    return {};
}

void add_options(CLI::App& app, BenchOptions& options, std::string& method) {
    app.add_option("uri", options.uri, "Target, e.g. coap://127.0.0.1:5683/echo")->required();
    app.add_option("--engine", options.engine,
                   "core: the client library's engine per endpoint (retransmits); raw: the "
                   "hand-rolled sender (no retransmission), the machine's ceiling")
        ->transform(CLI::CheckedTransformer(
            std::map<std::string, Engine>{{"core", Engine::core}, {"raw", Engine::raw}}))
        ->default_str("core");
    app.add_option("--io", options.io,
                   "Core engine I/O: uring (multishot receives, one system call per loop turn) "
                   "or epoll (recvmmsg/sendmmsg per ready socket)")
        ->transform(CLI::CheckedTransformer(std::map<std::string, coap::bench::IoMode>{
            {"uring", coap::bench::IoMode::uring}, {"epoll", coap::bench::IoMode::epoll}}))
        ->default_str("uring");
    app.add_option("--endpoints", options.endpoints, "Client UDP sockets, each its own port")
        ->capture_default_str()
        ->check(CLI::Range(1u, 60000u));
    app.add_option("--window", options.window,
                   "Requests in flight per endpoint (closed loop); with --rate, the most each "
                   "endpoint's engine keeps in flight")
        ->capture_default_str()
        ->check(CLI::Range(1u, 4096u));
    app.add_option("--rate", options.rate,
                   "Open loop: requests per second over all endpoints (0: closed loop)")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 1e8));
    app.add_option("--duration", options.duration, "Seconds measured")
        ->capture_default_str()
        ->check(CLI::Range(0.001, 86400.0));
    app.add_option("--warmup", options.warmup, "Seconds of load before measuring")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 86400.0));
    app.add_flag("--non", options.non, "Send NON requests instead of CON");
    app.add_option("--method", method, "Request method")
        ->capture_default_str()
        ->check(CLI::IsMember({"get", "post", "put"}, CLI::ignore_case));
    app.add_option("--payload-size,--payload", options.payload_size,
                   "Request payload in bytes (larger than 1024: Block1 with the core engine)")
        ->capture_default_str()
        ->check(CLI::Range(std::size_t{0}, max_payload));
    app.add_option("--timeout", options.timeout_ms,
                   "Milliseconds to wait for a NON request's response (or a separate response); "
                   "raw engine: after which any unanswered request is written off and replaced")
        ->capture_default_str()
        ->check(CLI::Range(1u, 3'600'000u));
    app.add_option("--ack-timeout", options.ack_timeout_ms,
                   "RFC 7252 ACK_TIMEOUT in milliseconds (core engine)")
        ->capture_default_str()
        ->check(CLI::Range(1u, 600'000u));
    app.add_option("--max-retransmit", options.max_retransmit,
                   "RFC 7252 MAX_RETRANSMIT (core engine)")
        ->capture_default_str()
        ->check(CLI::Range(0u, 20u));
    app.add_flag("--observe", options.observe,
                 "Observe (RFC 7641, coap:// only): each endpoint registers one observation of "
                 "the URI (CON GET, Observe=0, retransmitted per --ack-timeout and "
                 "--max-retransmit) and acknowledges the CON notifications; measures "
                 "notifications per second (requests_per_s in --json)");
    app.add_flag("--json", options.json, "Print one JSON object on stdout");
    app.add_option("--cpu", options.cpu, "Pin the load generator to this CPU")
        ->check(CLI::Range(0, 4095));
    app.add_option("--server-pid", options.server_pid,
                   "Read this process's CPU time (utime+stime from /proc/PID/stat) at the edges "
                   "of the measured window and report server CPU per request")
        ->check(CLI::Range(1, 1 << 30));
}

coap::Code parse_method(std::string method) {
    for (char& c : method)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (method == "post") return coap::Code::post;
    if (method == "put") return coap::Code::put;
    return coap::Code::get;
}

// Empty when --observe fits the other options; otherwise what is wrong.
std::string check_observe(const CLI::App& app, const BenchOptions& options, bool secure) {
    if (!options.observe) return {};
    if (secure) return "--observe needs a coap:// URI (no coaps://)";
    for (const char* name : {"--rate", "--window", "--method", "--payload-size", "--non"})
        if (app.count(name) > 0)
            return std::string("--observe registers one CON GET per endpoint: ") + name +
                   " does not apply";
    if (options.engine == Engine::raw) return "--observe has its own engine: no --engine raw";
    return {};
}

// One descriptor per endpoint and a few more: an error message when the limit is too low.
std::string check_file_limit(std::size_t endpoints) {
    const std::size_t wanted = endpoints + 64;
    std::size_t limit = coap::bench::raise_file_limit(wanted);
    if (limit >= wanted) return {};
    return std::to_string(endpoints) + " endpoints need about " + std::to_string(wanted) +
           " open files, and the limit is " + std::to_string(limit) +
           " (raise it with ulimit -Hn, or use fewer --endpoints)";
}

void print_result(const BenchOptions& options, const std::string& target,
                  const coap::bench::RunResult& result) {
    if (options.observe) return coap::bench::print_observe(options, target, result);
    coap::bench::print_warnings(options, result);
    if (options.handshakes_only && options.json)
        coap::bench::print_handshake_json(options, target, result);
    else if (options.handshakes_only)
        coap::bench::print_handshake_table(options, result);
    else if (options.json)
        coap::bench::print_json(options, target, result);
    else
        coap::bench::print_table(options, result);
}

template <typename Driver, typename... Request>
int run(const BenchOptions& options, const coap::bench::Destination& destination,
        const Request&... request) {
    Driver driver(options, request...);
    if (std::string error = driver.open(destination); !error.empty()) {
        std::fprintf(stderr, "coap-bench: %s\n", error.c_str());
        return 1;
    }
    coap::bench::RunResult result = driver.run();
    if (!result.answered) {
        std::fprintf(stderr, "coap-bench: no response from %s%s%s\n", destination.text.c_str(),
                     options.warmup > 0 ? " during the warm-up" : "",
                     result.warmup.refused + result.counters.refused > 0
                         ? " (ICMP port unreachable: is a server listening there?)"
                         : "");
        return 1;
    }
    print_result(options, destination.text, result);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"coap-bench - CoAP load generator (one thread, N UDP endpoints)"};
    BenchOptions options;
    std::string method = "get";
    DtlsArguments dtls;
    add_options(app, options, method);
    add_dtls_options(app, options, dtls);
    CLI11_PARSE(app, argc, argv);
    options.method = parse_method(method);
    if (options.open_loop() && options.engine == Engine::raw) {
        std::fprintf(stderr, "coap-bench: --rate needs the core engine\n");
        return 2;
    }

    coap::UriOptions<> uri_options;
    auto parts = uri_options.append_uri(options.uri);
    if (!parts) {
        auto what = coap::describe(parts.error());
        std::fprintf(stderr, "coap-bench: bad URI \"%s\": %.*s\n", options.uri.c_str(),
                     static_cast<int>(what.size()), what.data());
        return 2;
    }
    if (std::string error = check_observe(app, options, parts->secure); !error.empty()) {
        std::fprintf(stderr, "coap-bench: %s\n", error.c_str());
        return 2;
    }
    if (std::string error = apply_dtls(parts->secure, dtls, options); !error.empty()) {
        std::fprintf(stderr, "coap-bench: %s\n", error.c_str());
        return 2;
    }
    coap::bench::Destination destination;
    if (std::string error = coap::bench::resolve(*parts, destination); !error.empty()) {
        std::fprintf(stderr, "coap-bench: %s\n", error.c_str());
        return 2;
    }

    // The request: the URI's options, Content-Format with a payload, and the payload.
    std::vector<coap::Option> request_options(uri_options.options().begin(),
                                              uri_options.options().end());
    coap::UintValue octet_stream(static_cast<std::uint32_t>(coap::ContentFormat::octet_stream));
    if (options.payload_size > 0)
        request_options.push_back({coap::OptionNumber::content_format, octet_stream.bytes()});
    std::vector<std::uint8_t> payload(options.payload_size, 'x');
    coap::bench::RequestShape request{options.method, request_options, payload, options.non};

    if (options.cpu >= 0) {
        if (std::string error = coap::bench::pin_to_cpu(options.cpu); !error.empty()) {
            std::fprintf(stderr, "coap-bench: %s\n", error.c_str());
            return 2;
        }
    }
    if (std::string error = check_file_limit(options.endpoints); !error.empty()) {
        std::fprintf(stderr, "coap-bench: %s\n", error.c_str());
        return 2;
    }
    if (options.server_pid > 0 && !coap::bench::process_cpu_ticks(options.server_pid)) {
        std::fprintf(stderr, "coap-bench: cannot read /proc/%d/stat\n", options.server_pid);
        return 2;
    }
    if (options.handshakes_only) return run<coap::bench::HandshakeDriver>(options, destination);
    if (options.observe) return run<coap::bench::ObserveDriver>(options, destination, request);
    if (options.engine == Engine::raw)
        return run<coap::bench::RawDriver>(options, destination, request);
    return run<coap::bench::CoreDriver>(options, destination, request);
}
