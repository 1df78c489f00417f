#include "bench/bench_report.hpp"

#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <optional>
#include <string_view>

namespace coap::bench {

namespace {

// The figures derived from a result, for both outputs.
struct Summary {
    double rate = 0;  // completed requests per second
    double p50_us = 0, p99_us = 0, p999_us = 0, max_us = 0, mean_us = 0;
    double client_cpu_pct = 0;
    std::optional<double> client_cpu_us;  // the load generator's CPU per completed request
    std::optional<double> server_cpu_pct;
    std::optional<double> server_cpu_us;  // per completed request
};

Summary summarize(const RunResult& result) {
    Summary s;
    const double seconds = result.measured_s;
    const Counters& c = result.counters;
    if (seconds > 0) s.rate = static_cast<double>(c.completed) / seconds;
    s.p50_us = result.latency.quantile(0.50) / 1e3;
    s.p99_us = result.latency.quantile(0.99) / 1e3;
    s.p999_us = result.latency.quantile(0.999) / 1e3;
    s.max_us = static_cast<double>(result.latency.max()) / 1e3;
    s.mean_us = result.latency.mean() / 1e3;
    if (seconds > 0) s.client_cpu_pct = 100.0 * result.own_cpu_s / seconds;
    if (c.completed > 0)
        s.client_cpu_us = result.own_cpu_s * 1e6 / static_cast<double>(c.completed);
    if (result.server_ticks) {
        const double cpu =
            static_cast<double>(*result.server_ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
        if (c.completed > 0) s.server_cpu_us = cpu * 1e6 / static_cast<double>(c.completed);
        if (seconds > 0) s.server_cpu_pct = 100.0 * cpu / seconds;
    }
    return s;
}

const char* engine_name(Engine engine) {
    return engine == Engine::raw ? "raw" : "core";
}

const char* io_name(const RunResult& result) {
    return result.io == IoMode::uring ? "io_uring" : "epoll";
}

std::string method_name(Code method) {
    switch (method) {
        case Code::post:
            return "POST";
        case Code::put:
            return "PUT";
        default:
            return "GET";
    }
}

std::string json_escape(std::string_view text) {
    std::string out;
    for (char c : text) {
        if (c == '"' || c == '\\') out += '\\';
        if (static_cast<unsigned char>(c) < 0x20) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
            out += escaped;
            continue;
        }
        out += c;
    }
    return out;
}

// Builds one JSON object; keys are unique, as compare_servers.sh's awk expects.
class JsonObject {
  public:
    JsonObject& text(const char* key, std::string_view value) {
        std::string quoted(1, '"');
        quoted.append(json_escape(value));
        quoted.push_back('"');
        return raw(key, quoted);
    }
    JsonObject& count(const char* key, std::uint64_t value) {
        return raw(key, std::to_string(value));
    }
    JsonObject& number(const char* key, std::optional<double> value, const char* format = "%.3f") {
        if (!value) return raw(key, "null");
        char buffer[48];
        std::snprintf(buffer, sizeof buffer, format, *value);
        return raw(key, buffer);
    }
    JsonObject& raw(const char* key, const std::string& value) {
        if (body_.size() > 1) body_ += ',';
        body_ += '"';
        body_ += key;
        body_ += "\":";
        body_ += value;
        return *this;
    }
    std::string close() const {
        std::string closed = body_;
        closed.push_back('}');
        return closed;
    }

  private:
    std::string body_ = "{";
};

std::string latency_json(const Summary& s) {
    JsonObject latency;
    latency.number("p50", s.p50_us, "%.1f")
        .number("p99", s.p99_us, "%.1f")
        .number("p999", s.p999_us, "%.1f")
        .number("max", s.max_us, "%.1f")
        .number("mean", s.mean_us, "%.1f");
    return latency.close();
}

void row(const char* label, std::uint64_t value) {
    std::printf("  %-26s %14" PRIu64 "\n", label, value);
}
void row(const char* label, double value, const char* format = "%14.1f") {
    std::printf("  %-26s ", label);
    std::printf(format, value);
    std::printf("\n");
}

}  // namespace

void print_warnings(const BenchOptions& options, const RunResult& result) {
    const Counters& c = result.counters;
    if (result.exhausted_endpoints > 0)
        std::fprintf(stderr,
                     "coap-bench: note: %zu of %u endpoints ran out of Message IDs (the first "
                     "after %.2f s) and stopped sending rather than reuse one within "
                     "EXCHANGE_LIFETIME; use more --endpoints\n",
                     result.exhausted_endpoints, options.endpoints, result.first_exhaustion_s);
    if (c.non_success > 0 && result.first_non_success)
        std::fprintf(
            stderr, "coap-bench: warning: %" PRIu64 " responses were not 2.xx (first: %s)\n",
            c.non_success, std::string(code_text(*result.first_non_success).view()).c_str());
    if (result.first_handshake_failure)
        std::fprintf(stderr, "coap-bench: warning: %" PRIu64 " handshakes failed (first: %s)\n",
                     c.errors, describe(*result.first_handshake_failure).c_str());
    if (c.errors > 0 && result.first_error) {
        std::string_view what = describe(*result.first_error);
        std::fprintf(stderr, "coap-bench: warning: %" PRIu64 " requests failed (first: %.*s)\n",
                     c.errors, static_cast<int>(what.size()), what.data());
    }
    if (c.not_sent > 0)
        std::fprintf(stderr,
                     "coap-bench: warning: %" PRIu64
                     " requests due were not sent: their "
                     "endpoint's window was full (raise --window or --endpoints)\n",
                     c.not_sent);
}

void print_table(const BenchOptions& options, const RunResult& result) {
    const Counters& c = result.counters;
    const Summary s = summarize(result);
    std::printf("coap-bench %s: %s %s, %u endpoints x window %u, payload %zu B, engine %s (%s)",
                options.uri.c_str(), options.non ? "NON" : "CON",
                method_name(options.method).c_str(), options.endpoints, options.window,
                options.payload_size, engine_name(options.engine), io_name(result));
    if (options.open_loop()) std::printf(", offered %.0f req/s", options.rate);
    std::printf("\n  %.2f s measured after %.2f s warm-up\n", result.measured_s, options.warmup);
    row("requests/s", s.rate, "%14.0f");
    row("sent", c.sent);
    row("completed", c.completed);
    if (options.open_loop()) row("not sent (window full)", c.not_sent);
    row("retransmissions", c.retransmissions);
    row("timeouts", c.timeouts);
    if (c.rst) row("rst", c.rst);
    if (c.errors) row("other errors", c.errors);
    if (c.non_success) row("not 2.xx", c.non_success);
    if (options.engine == Engine::raw) {
        row("unexpected", c.unexpected);
        row("mismatched", c.mismatched);
        if (c.empty_acks) row("empty ACKs", c.empty_acks);
    }
    if (c.malformed) row("malformed", c.malformed);
    if (c.send_errors) row("send errors", c.send_errors);
    if (c.refused) row("port unreachable", c.refused);
    if (result.udp_drops && *result.udp_drops > 0)
        row("UDP rcvbuf drops (host)", *result.udp_drops);
    row("in flight at end", std::uint64_t{result.in_flight_at_end});
    row("latency p50 (us)", s.p50_us);
    row("latency p99 (us)", s.p99_us);
    row("latency p99.9 (us)", s.p999_us);
    row("latency max (us)", s.max_us);
    row("load generator CPU %", s.client_cpu_pct);
    if (s.client_cpu_us) row("load generator CPU us/req", *s.client_cpu_us, "%14.2f");
    if (result.bytes_per_endpoint > 0)
        row("engine bytes per endpoint", std::uint64_t{result.bytes_per_endpoint});
    if (s.server_cpu_pct) row("server CPU %", *s.server_cpu_pct);
    if (s.server_cpu_us) row("server CPU us/request", *s.server_cpu_us, "%14.2f");
}

void print_json(const BenchOptions& options, const std::string& target, const RunResult& result) {
    const Counters& c = result.counters;
    const Summary s = summarize(result);
    JsonObject json;
    json.text("uri", options.uri)
        .text("target", target)
        .text("scheme", options.dtls ? "coaps" : "coap")
        .text("engine", engine_name(options.engine))
        .text("io", io_name(result))
        .text("type", options.non ? "NON" : "CON")
        .text("method", method_name(options.method))
        .count("endpoints", options.endpoints)
        .count("window", options.window)
        .number("rate", options.open_loop() ? std::optional(options.rate) : std::nullopt, "%.1f")
        .count("payload", options.payload_size)
        .number("warmup_s", options.warmup)
        .number("duration_s", options.duration)
        .number("measured_s", result.measured_s, "%.4f")
        .number("requests_per_s", s.rate, "%.1f")
        .count("sent", c.sent)
        .count("completed", c.completed)
        .count("not_sent", c.not_sent)
        .count("retransmissions", c.retransmissions)
        .count("timeouts", c.timeouts)
        .count("rst", c.rst)
        .count("errors", c.errors)
        .count("non_success", c.non_success);
    if (options.engine == Engine::raw)
        json.count("unexpected", c.unexpected)
            .count("mismatched", c.mismatched)
            .count("empty_acks", c.empty_acks);
    json.count("received", c.received)
        .count("malformed", c.malformed)
        .count("send_errors", c.send_errors)
        .count("refused", c.refused)
        .count("in_flight_at_end", result.in_flight_at_end)
        .count("mid_exhausted_endpoints", result.exhausted_endpoints)
        .raw("engine_bytes_per_endpoint", result.bytes_per_endpoint > 0
                                              ? std::to_string(result.bytes_per_endpoint)
                                              : std::string("null"))
        .raw("latency_us", latency_json(s))
        .number("client_cpu_pct", s.client_cpu_pct, "%.1f")
        .number("client_cpu_us_per_request", s.client_cpu_us)
        .number("server_cpu_pct", s.server_cpu_pct)
        .number("server_cpu_us_per_request", s.server_cpu_us)
        .raw("udp_rcvbuf_drops_host",
             result.udp_drops ? std::to_string(*result.udp_drops) : std::string("null"));
    std::printf("%s\n", json.close().c_str());
}

void print_handshake_table(const BenchOptions& options, const RunResult& result) {
    const Counters& c = result.counters;
    const Summary s = summarize(result);
    std::printf("coap-bench %s: DTLS handshakes only (%s), %u endpoints\n", options.uri.c_str(),
                options.dtls->resume ? "abbreviated, --resume" : "full", options.endpoints);
    std::printf("  %.2f s measured after %.2f s warm-up\n", result.measured_s, options.warmup);
    row("handshakes/s", s.rate, "%14.0f");
    row("started", c.sent);
    row("completed", c.completed);
    row("resumed", c.resumed);
    row("timed out", c.timeouts);
    if (c.errors) row("failed (alert)", c.errors);
    if (c.send_errors) row("send errors", c.send_errors);
    if (c.refused) row("port unreachable", c.refused);
    row("handshake p50 (us)", s.p50_us);
    row("handshake p99 (us)", s.p99_us);
    row("handshake max (us)", s.max_us);
    row("load generator CPU %", s.client_cpu_pct);
    if (s.client_cpu_us) row("load generator CPU us/hs", *s.client_cpu_us, "%14.2f");
    if (s.server_cpu_pct) row("server CPU %", *s.server_cpu_pct);
    if (s.server_cpu_us) row("server CPU us/handshake", *s.server_cpu_us, "%14.2f");
}

void print_handshake_json(const BenchOptions& options, const std::string& target,
                          const RunResult& result) {
    const Counters& c = result.counters;
    const Summary s = summarize(result);
    JsonObject json;
    json.text("uri", options.uri)
        .text("target", target)
        .text("mode", "handshakes")
        .raw("resume", options.dtls->resume ? "true" : "false")
        .count("endpoints", options.endpoints)
        .number("warmup_s", options.warmup)
        .number("duration_s", options.duration)
        .number("measured_s", result.measured_s, "%.4f")
        .number("handshakes_per_s", s.rate, "%.1f")
        .count("started", c.sent)
        .count("completed", c.completed)
        .count("resumed", c.resumed)
        .count("timeouts", c.timeouts)
        .count("errors", c.errors)
        .count("received", c.received)
        .count("send_errors", c.send_errors)
        .count("refused", c.refused)
        .raw("latency_us", latency_json(s))
        .number("client_cpu_pct", s.client_cpu_pct, "%.1f")
        .number("client_cpu_us_per_handshake", s.client_cpu_us)
        .number("server_cpu_pct", s.server_cpu_pct)
        .number("server_cpu_us_per_handshake", s.server_cpu_us);
    std::printf("%s\n", json.close().c_str());
}

namespace {

void print_observe_table(const BenchOptions& options, const RunResult& result) {
    const Counters& c = result.counters;
    const Summary s = summarize(result);
    std::printf("coap-bench %s: Observe, %u endpoints with one observation each (%s)\n",
                options.uri.c_str(), options.endpoints, io_name(result));
    std::printf("  %.2f s measured after %.2f s warm-up\n", result.measured_s, options.warmup);
    row("notifications/s", s.rate, "%14.0f");
    row("notifications", c.completed);
    row("  CON", c.con_notifications);
    row("  NON", c.non_notifications);
    row("ACKs sent", c.acks_sent);
    row("observers at start", std::uint64_t{result.observers_at_start});
    row("observers at end", std::uint64_t{result.observers_at_end});
    row("observers notified", std::uint64_t{result.observers_notified});
    std::printf(
        "  %-26s %14s\n", "per observer min/med/max",
        (std::to_string(result.per_observer_min) + "/" +
         std::to_string(result.per_observer_median) + "/" + std::to_string(result.per_observer_max))
            .c_str());
    row("registered (warm-up)", result.warmup.registered);
    row("registered (window)", c.registered);
    row("registration retrans.", result.warmup.retransmissions + c.retransmissions);
    row("not registered at end", c.timeouts);
    if (c.non_success) row("ended or refused", c.non_success);
    if (c.duplicates) row("duplicates", c.duplicates);
    if (c.reused_message_ids) row("reused Message IDs", c.reused_message_ids);
    if (c.rst_sent) row("RSTs sent", c.rst_sent);
    if (c.unexpected) row("unexpected", c.unexpected);
    if (c.malformed) row("malformed", c.malformed);
    if (c.send_errors) row("send errors", c.send_errors);
    if (c.refused) row("port unreachable", c.refused);
    if (result.udp_drops && *result.udp_drops > 0)
        row("UDP rcvbuf drops (host)", *result.udp_drops);
    row("load generator CPU %", s.client_cpu_pct);
    if (s.client_cpu_us) row("load generator CPU us/ntf", *s.client_cpu_us, "%14.3f");
    if (s.server_cpu_pct) row("server CPU %", *s.server_cpu_pct);
    if (s.server_cpu_us) row("server CPU us/notification", *s.server_cpu_us, "%14.3f");
}

void print_observe_json(const BenchOptions& options, const std::string& target,
                        const RunResult& result) {
    const Counters& c = result.counters;
    const Summary s = summarize(result);
    JsonObject json;
    json.text("uri", options.uri)
        .text("target", target)
        .text("mode", "observe")
        .text("io", io_name(result))
        .count("endpoints", options.endpoints)
        .number("warmup_s", options.warmup)
        .number("duration_s", options.duration)
        .number("measured_s", result.measured_s, "%.4f")
        .number("requests_per_s", s.rate, "%.1f")
        .number("notifications_per_s", s.rate, "%.1f")
        .count("notifications", c.completed)
        .count("con_notifications", c.con_notifications)
        .count("non_notifications", c.non_notifications)
        .count("acks_sent", c.acks_sent)
        .count("observers", result.observers_at_end)
        .count("observers_at_start", result.observers_at_start)
        .count("observers_notified", result.observers_notified)
        .count("per_observer_min", result.per_observer_min)
        .count("per_observer_median", result.per_observer_median)
        .count("per_observer_max", result.per_observer_max)
        .count("registered_warmup", result.warmup.registered)
        .count("registered", c.registered)
        .count("registrations_sent", result.warmup.sent + c.sent)
        .count("retransmissions", result.warmup.retransmissions + c.retransmissions)
        .count("non_success", c.non_success)
        .count("without_observe", c.without_observe)
        .count("timeouts", c.timeouts)
        .count("duplicates", c.duplicates)
        .count("reused_message_ids", c.reused_message_ids)
        .count("rst_sent", c.rst_sent)
        .count("unexpected", c.unexpected)
        .count("received", c.received)
        .count("malformed", c.malformed)
        .count("send_errors", c.send_errors)
        .count("refused", c.refused)
        .number("client_cpu_pct", s.client_cpu_pct, "%.1f")
        .number("client_cpu_us_per_notification", s.client_cpu_us)
        .number("server_cpu_pct", s.server_cpu_pct)
        .number("server_cpu_us_per_request", s.server_cpu_us)
        .number("server_cpu_us_per_notification", s.server_cpu_us)
        .raw("udp_rcvbuf_drops_host",
             result.udp_drops ? std::to_string(*result.udp_drops) : std::string("null"));
    std::printf("%s\n", json.close().c_str());
}

}  // namespace

void print_observe(const BenchOptions& options, const std::string& target,
                   const RunResult& result) {
    const Counters& c = result.counters;
    if (c.timeouts > 0)
        std::fprintf(stderr,
                     "coap-bench: warning: %" PRIu64
                     " of %u endpoints had no observation at the end\n",
                     c.timeouts, options.endpoints);
    // Refusals happen mostly while registering, in the warm-up.
    const std::uint64_t ended = result.warmup.non_success + c.non_success;
    std::string first =
        result.first_non_success
            ? "; first other code: " + std::string(code_text(*result.first_non_success).view())
            : std::string();
    if (ended > 0)
        std::fprintf(
            stderr,
            "coap-bench: warning: %" PRIu64
            " answers or notifications (warm-up included) refused or ended an observation (%" PRIu64
            " 2.xx without Observe%s)\n",
            ended, result.warmup.without_observe + c.without_observe, first.c_str());
    if (options.json)
        print_observe_json(options, target, result);
    else
        print_observe_table(options, result);
}

}  // namespace coap::bench
