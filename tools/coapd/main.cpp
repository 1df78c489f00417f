// coapd: the demo and ETSI plugtest CoAP server.
#include <csignal>
#include <cstdio>
#include <exception>
#include <string>

#include <CLI/CLI.hpp>

#include "block_resources.hpp"
#include "coap/log.hpp"
#include "coap/router.hpp"
#include "coap/server.hpp"
#include "observe_resources.hpp"
#include "plugtest.hpp"
#include "psk_options.hpp"
#include "stats_printer.hpp"

namespace {

std::atomic<coap::Server*> running_server{nullptr};

extern "C" void on_stop_signal(int) {
    if (coap::Server* server = running_server.load()) server->stop();
}

void install_signal_handlers() {
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"coapd - CoAP server with the ETSI CoAP#4 plugtest resources"};
    coap::ServerConfig config;
    config.bind_address = "::";
    std::string log_level = "info";
    unsigned separate_delay_ms = 1000;
    unsigned observe_period_ms = 5000;
    // Deduplication for 10 s at 250,000 requests/s per thread (the peak measured in
    // BENCHMARKS.md): 2.5 M exchanges of 48 bytes plus their responses. The memory is reserved
    // at start-up and becomes resident as traffic fills it.
    config.exchange_count = 2'500'000;
    unsigned exchange_cache_mb = 128;
    app.add_option("--bind", config.bind_address,
                   "Local address: \"::\" (IPv6 and IPv4), \"0.0.0.0\", \"127.0.0.1\", \"::1\"...")
        ->capture_default_str();
    app.add_option("--port", config.port, "UDP port; 0 picks a free one (printed at start-up)")
        ->capture_default_str();
    app.add_option("--threads", config.thread_count, "Worker threads, one socket each")
        ->capture_default_str()
        ->check(CLI::Range(1, 1024));
    app.add_option("--log-level", log_level, "error, warn, info or debug")
        ->capture_default_str()
        ->check(CLI::IsMember({"error", "warn", "info", "debug"}));
    app.add_option("--exchange-count", config.exchange_count,
                   "Exchanges remembered per thread for duplicate detection (RFC 7252 §4.5)")
        ->capture_default_str();
    app.add_option("--exchange-cache-mb", exchange_cache_mb,
                   "MiB of cached responses per thread for duplicate detection")
        ->capture_default_str()
        ->check(CLI::Range(1, 4095));
    app.add_option("--separate-delay-ms", separate_delay_ms,
                   "How long /separate waits before its separate response")
        ->capture_default_str();
    app.add_option("--observe-period-ms", observe_period_ms,
                   "How often /obs and the other observable resources change")
        ->capture_default_str()
        ->check(CLI::Range(10, 3600000));
    app.add_option("--max-observers", config.max_observers,
                   "Observers per thread (RFC 7641), reserved at start-up")
        ->capture_default_str();
    app.add_flag("--echo-amplification", config.echo_amplification_limit,
                 "Answer unverified clients at most 3x their request's size, else 4.01 with Echo "
                 "(RFC 9175 §2.4)");
    app.add_flag("--echo-unsafe", config.echo_required_for_unsafe,
                 "Require a fresh Echo for POST, PUT, DELETE, PATCH and iPATCH (RFC 9175 §2.4)");
    app.add_option("--rate-limit", config.rate_limit_tokens_per_sec,
                   "Requests per second per client IP while throttled")
        ->capture_default_str();
    app.add_option("--rate-limit-burst", config.rate_limit_burst, "Burst per client IP")
        ->capture_default_str();
    app.add_option("--rate-limit-ips", config.rate_limit_ip_count,
                   "Client IPs tracked for rate limiting (0 disables it)")
        ->capture_default_str();
    std::string overload_reply = "429";
    app.add_option("--overload-reply", overload_reply,
                   "Answer to refused CON requests when overloaded: 429, rst or silence")
        ->capture_default_str()
        ->check(CLI::IsMember({"429", "rst", "silence"}));
    unsigned stats_interval = 0;
    app.add_option("--stats-interval", stats_interval,
                   "Print the server's counters every N seconds (0: only at exit)")
        ->capture_default_str();
    coapd::PskOptions psk;
    psk.add_to(app);
    CLI11_PARSE(app, argc, argv);
    config.exchange_cache_bytes = exchange_cache_mb * 1024u * 1024u;
    config.overload_reply_con = overload_reply == "rst" ? coap::OverloadReply::reset
                                : overload_reply == "silence"
                                    ? coap::OverloadReply::silence
                                    : coap::OverloadReply::too_many_requests;

    coap::LogLevel level;
    coap::parse_log_level(log_level, level);
    coap::set_log_level(level);

    try {
        psk.apply(config);
        coapd::SeparateResponder separate{std::chrono::milliseconds(separate_delay_ms)};
        coap::Router router;
        coapd::add_plugtest_resources(router, separate);
        coapd::add_block_resources(router);
        coapd::ObservableResources observables{std::chrono::milliseconds(observe_period_ms)};
        observables.add_to(router);
        coap::Server server(config, coap::Handler(std::move(router)));
        separate.attach(&server);
        observables.attach(&server);
        // Destroyed before the server: the ticker must not notify a dead server.
        struct TickerStop {
            coapd::ObservableResources& resources;
            ~TickerStop() { resources.stop(); }
        } ticker_stop{observables};
        server.listen();
        coapd::StatsPrinter stats_printer(server, std::chrono::seconds(stats_interval));
        running_server.store(&server);
        install_signal_handlers();
        std::printf("coapd: serving coap://%s%s%s:%u with %u thread(s)\n",
                    config.bind_address.find(':') != std::string::npos ? "[" : "",
                    config.bind_address.c_str(),
                    config.bind_address.find(':') != std::string::npos ? "]" : "",
                    server.local_port(), config.thread_count);
        if (config.dtls.enabled)
            std::printf("coapd: serving coaps:// on port %u (DTLS 1.2 PSK, %zu identit%s%s%s)\n",
                        server.secure_port(), config.dtls.keys.size(),
                        config.dtls.keys.size() == 1 ? "y: " : "ies",
                        config.dtls.keys.size() == 1 ? config.dtls.keys[0].identity.c_str() : "",
                        "");
        std::fflush(stdout);
        server.run();
        running_server.store(nullptr);
        coap::ServerStats stats = server.stats();
        std::printf("coapd: stopped after %llu requests (%llu duplicates, %llu malformed)\n",
                    static_cast<unsigned long long>(stats.requests),
                    static_cast<unsigned long long>(stats.duplicates),
                    static_cast<unsigned long long>(stats.format_errors));
        if (stats_interval > 0) coapd::StatsPrinter::print(stats);
    } catch (const std::exception& error) {
        std::fprintf(stderr, "coapd: %s\n", error.what());
        return 1;
    }
    return 0;
}
