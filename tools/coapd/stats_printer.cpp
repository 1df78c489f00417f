// The counters are read without stopping the workers, so a line may be slightly inconsistent
// (ServerStats says so); that is fine for watching a running server.
#include "stats_printer.hpp"

#include <cstdio>

namespace coapd {

namespace {

unsigned long long n(std::uint64_t value) {
    return static_cast<unsigned long long>(value);
}

const char* level_text(std::uint8_t level) {
    return level == 0 ? "normal" : level == 1 ? "throttled" : "shedding";
}

}  // namespace

StatsPrinter::StatsPrinter(const coap::Server& server, std::chrono::seconds interval)
    : server_(server), interval_(interval) {
    if (interval_.count() > 0) thread_ = std::thread([this] { run(); });
}

StatsPrinter::~StatsPrinter() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void StatsPrinter::run() {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, interval_, [this] { return stopping_; }))
        print(server_.stats());
}

void StatsPrinter::print(const coap::ServerStats& s) {
    std::printf(
        "coapd stats: received %llu sent %llu requests %llu duplicates %llu | rejected: "
        "rate-limited %llu shed %llu bad-option %llu echo %llu | dropped: malformed %llu "
        "ignored %llu truncated %llu kernel-queue-full %llu no-send-slot %llu send-error %llu | "
        "observers %llu "
        "notifications %llu (+%llu retransmitted) | block2 %llu block1 %llu block-errors %llu | "
        "in use: exchanges %llu deferred %llu block-transfers %llu dtls-handshakes %llu | "
        "handler failures %llu slow %llu time %llu us | dtls sessions %llu "
        "handshakes %llu (%llu resumed, %llu failed) records-dropped %llu | load %s\n",
        n(s.received), n(s.sent), n(s.requests), n(s.duplicates), n(s.rate_limited), n(s.shed),
        n(s.bad_options), n(s.echo_challenges), n(s.format_errors), n(s.ignored), n(s.truncated),
        n(s.kernel_drops), n(s.send_dropped), n(s.send_errors), n(s.observers), n(s.notifications),
        n(s.notification_retransmissions), n(s.block2_served), n(s.block1_continues),
        n(s.block_errors), n(s.cached_exchanges), n(s.deferred_in_use), n(s.block_transfers_in_use),
        n(s.dtls_handshakes_in_progress), n(s.handler_failures), n(s.slow_handlers),
        n(s.handler_ns / 1000), n(s.dtls_sessions), n(s.dtls_handshakes), n(s.dtls_resumptions),
        n(s.dtls_handshake_failures), n(s.dtls_records_dropped), level_text(s.load_level));
    std::fflush(stdout);
}

}  // namespace coapd
