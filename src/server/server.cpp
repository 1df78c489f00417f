// The public Server: one protocol core and one io_uring worker per thread, nothing shared.
#include "coap/server.hpp"

#include <algorithm>
#include <memory>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "coap/log.hpp"
#include "coap/router.hpp"
#include "io/uring_worker.hpp"
#include "secure_core_adapter.hpp"
#include "server_core.hpp"

namespace coap {

namespace {

// Lets the core send through the worker's send slots without knowing about io_uring.
class OutboxSink final : public detail::DatagramSink {
  public:
    explicit OutboxSink(io::Outbox& outbox) : outbox_(outbox) {}
    bool send(const Endpoint& peer, Bytes datagram) noexcept override {
        return outbox_.send(peer, datagram);
    }
    std::size_t available() const noexcept override { return outbox_.available(); }

  private:
    io::Outbox& outbox_;
};

// Connects an io worker to a protocol core without either knowing the other.
class CoreAdapter final : public io::DatagramProcessor {
  public:
    explicit CoreAdapter(detail::ServerCore& core) : core_(core) {}
    std::size_t on_datagram(const Endpoint& peer, Bytes datagram, TimePoint now,
                            MutableBytes reply) noexcept override {
        return core_.on_datagram(peer, datagram, now, reply);
    }
    void on_kernel_drops(std::uint64_t total) noexcept override { core_.note_kernel_drops(total); }
    void on_batch_end(TimePoint now, io::Outbox& out) noexcept override {
        OutboxSink sink(out);
        core_.on_timers(now, sink);
    }

  private:
    detail::ServerCore& core_;
};

// ServerConfig::well_known_core: a router answers GET /.well-known/core from the static document
// (with RFC 6690 §4.1 filtering) and passes every other request to the application's handler.
Handler with_static_discovery(std::string document, Handler application) {
    auto inner = std::make_shared<Handler>(std::move(application));
    Router router;
    router.well_known_core(std::move(document));
    for (Code method :
         {Code::get, Code::post, Code::put, Code::del, Code::fetch, Code::patch, Code::ipatch})
        router.add(method, "/*", [inner](Request& request) { return (*inner)(request); });
    return Handler(std::move(router));
}

TimePoint read_clock() noexcept {
    return std::chrono::steady_clock::now();
}

std::uint64_t random_seed() {
    std::random_device device;
    return (std::uint64_t{device()} << 32) | device();
}

}  // namespace

struct Server::Impl {
    // A coap:// worker, or a coaps:// one when `dtls` is given. The index names the worker in
    // DeferredResponse handles and is its position in `workers`.
    struct Worker {
        Worker(const ServerConfig& config, const Handler& handler, std::uint32_t index,
               detail::SharedServerState shared, const dtls::DtlsServerConfig* dtls)
            : core(config, handler, dtls != nullptr, random_seed(), index, &read_clock, shared) {
            if (dtls != nullptr) {
                auto secure_adapter =
                    std::make_unique<detail::SecureCoreAdapter>(core, *dtls, config.buffer_size);
                secure = secure_adapter.get();
                adapter = std::move(secure_adapter);
            } else {
                adapter = std::make_unique<CoreAdapter>(core);
            }
        }
        detail::ServerCore core;
        std::unique_ptr<io::DatagramProcessor> adapter;
        const detail::SecureCoreAdapter* secure = nullptr;
        std::unique_ptr<io::UringWorker> io;
    };

    ServerConfig config;
    Handler handler;
    std::unique_ptr<detail::NotificationHub> hub;
    detail::EchoSecret echo_secret{};
    std::vector<std::unique_ptr<Worker>> workers;
    std::atomic<bool> stopping{false};
    std::atomic<bool> listening{false};

    io::WorkerConfig worker_config(std::size_t index, std::uint16_t port, bool secure) const {
        io::WorkerConfig out;
        out.bind_address = config.bind_address;
        out.port = port;
        out.buffer_count = config.buffer_count;
        // A sealed datagram is a record header, nonce and tag larger than the CoAP one inside.
        out.buffer_size = config.buffer_size +
                          (secure ? static_cast<std::uint32_t>(detail::dtls_record_overhead()) : 0);
        out.send_slots = std::max<std::uint32_t>(256, config.buffer_count);
        if (!config.cpu_affinity.empty())
            out.cpu = config.cpu_affinity[index % config.cpu_affinity.size()];
        return out;
    }

    // thread_count workers on one port (SO_REUSEPORT); returns the port bound.
    std::uint16_t add_workers(std::uint16_t port, const dtls::DtlsServerConfig* dtls) {
        for (std::uint32_t i = 0; i < config.thread_count; ++i) {
            const auto index = static_cast<std::uint32_t>(workers.size());
            auto worker = std::make_unique<Worker>(
                config, handler, index, detail::SharedServerState{hub.get(), &echo_secret}, dtls);
            worker->io = std::make_unique<io::UringWorker>(
                worker_config(index, port, dtls != nullptr), *worker->adapter);
            port = worker->io->local_port();  // later workers share the first one's port
            workers.push_back(std::move(worker));
        }
        return port;
    }
};

Server::Server(ServerConfig config, Handler handler) : impl_(std::make_unique<Impl>()) {
    if (std::string problem = config.validate(); !problem.empty())
        throw std::invalid_argument(problem);
    if (!handler) throw std::invalid_argument("Server: the handler is empty");
    if (!config.well_known_core.empty())
        handler = with_static_discovery(config.well_known_core, std::move(handler));
    impl_->hub = std::make_unique<detail::NotificationHub>(config.max_observe_resources,
                                                           config.max_notification_bytes);
    impl_->echo_secret = detail::EchoAuthority::random_secret();
    impl_->config = std::move(config);
    impl_->handler = std::move(handler);
}

Server::~Server() {
    stop();
}

void Server::listen() {
    if (impl_->listening.load()) return;
    const ServerConfig& config = impl_->config;
    std::optional<dtls::DtlsServerConfig> dtls;
    if (config.dtls.enabled) dtls = detail::dtls_server_config(config.dtls, config.buffer_size);
    const std::uint16_t port = impl_->add_workers(config.port, nullptr);
    std::uint16_t secure_port = 0;
    if (dtls) secure_port = impl_->add_workers(config.dtls.port, &*dtls);
    impl_->listening.store(true);
    if (impl_->stopping.load()) stop();  // a stop() that raced with listen()
    log(LogLevel::info, "listening on %s port %u with %u thread(s)", config.bind_address.c_str(),
        port, config.thread_count);
    if (dtls)
        log(LogLevel::info, "coaps:// (DTLS 1.2 PSK) on %s port %u with %u thread(s)",
            config.bind_address.c_str(), secure_port, config.thread_count);
}

bool Server::tick(Duration timeout) {
    if (impl_->config.thread_count != 1)
        throw std::logic_error("Server::tick needs thread_count == 1; use run()");
    listen();
    if (impl_->workers.size() == 1) return impl_->workers.front()->io->run_once(timeout);
    // coap:// and coaps://: half the wait on each socket.
    const bool plain = impl_->workers[0]->io->run_once(timeout / 2);
    const bool secure = impl_->workers[1]->io->run_once(timeout / 2);
    return plain && secure;
}

void Server::run() {
    listen();
    std::vector<std::thread> threads;
    for (std::size_t i = 1; i < impl_->workers.size(); ++i)
        threads.emplace_back([worker = impl_->workers[i].get()] { worker->io->run(); });
    impl_->workers.front()->io->run();
    for (std::thread& thread : threads)
        thread.join();
}

void Server::stop() noexcept {
    impl_->stopping.store(true);
    if (!impl_->listening.load()) return;
    for (auto& worker : impl_->workers)
        worker->io->stop();
}

bool Server::respond(DeferredResponse handle, const Response& response) noexcept {
    if (handle.worker() >= impl_->workers.size()) return false;
    Impl::Worker& worker = *impl_->workers[handle.worker()];
    if (!worker.core.complete(handle, response)) return false;
    worker.io->wake();
    return true;
}

std::optional<ResourceId> Server::allocate_resource() noexcept {
    return impl_->hub->allocate();
}

bool Server::notify(ResourceId resource, const Response& response, NotificationType type) noexcept {
    if (!impl_->hub->publish(resource, response, type)) return false;
    if (impl_->listening.load())
        for (auto& worker : impl_->workers)
            worker->io->wake();
    return true;
}

std::uint16_t Server::local_port() const noexcept {
    return impl_->workers.empty() ? 0 : impl_->workers.front()->io->local_port();
}

std::uint16_t Server::secure_port() const noexcept {
    if (!impl_->config.dtls.enabled || impl_->workers.empty()) return 0;
    return impl_->workers.back()->io->local_port();
}

const ServerConfig& Server::config() const noexcept {
    return impl_->config;
}

ServerStats Server::stats() const noexcept {
    ServerStats total;
    for (const auto& worker : impl_->workers) {
        const detail::CoreStats& core = worker->core.stats();
        const io::WorkerStats& io = worker->io->stats();
        total.received += io.received;
        total.sent += io.sent;
        total.truncated += io.truncated;
        total.kernel_drops += io.kernel_drops;
        total.send_dropped += io.send_dropped;
        total.send_errors += io.send_errors;
        total.requests += core.requests;
        total.duplicates += core.duplicates;
        total.format_errors += core.format_errors;
        total.ignored += core.ignored + core.ignored_version;
        total.resets_sent += core.resets_sent;
        total.bad_options += core.bad_options;
        total.handler_failures += core.handler_failures;
        total.slow_handlers += core.slow_handlers;
        total.handler_ns += core.handler_ns;
        total.deferred_in_use += worker->core.deferred().in_use();
        total.block_transfers_in_use += worker->core.block_transfers().active();
        total.cached_exchanges += worker->core.exchanges().size();
        total.block2_served += core.block2_served;
        total.block1_continues += core.block1_continues;
        total.block_errors += core.block_incomplete + core.block_too_large + core.block_busy;
        total.echo_challenges += core.echo_challenges;
        total.rate_limited += core.rate_limited;
        total.shed += core.shed;
        total.load_level =
            std::max(total.load_level, static_cast<std::uint8_t>(worker->core.load_level()));
        total.observe_refused += core.observe_refused;
        const detail::ObserverTable& observers = worker->core.observers();
        const auto& observed = observers.stats();
        total.observers += observers.observers();
        total.notifications += observed.notifications_con + observed.notifications_non;
        total.notification_retransmissions += observed.retransmissions;
        total.observers_removed += observed.removed_by_reset + observed.removed_by_timeout +
                                   observed.removed_by_error_notification +
                                   observed.removed_unreachable;
        if (const detail::SecureCoreAdapter* secure = worker->secure) {
            const dtls::DtlsServerStats& dtls = secure->dtls().stats();
            total.dtls_sessions += secure->dtls().session_count();
            total.dtls_handshakes_in_progress += secure->dtls().handshake_count();
            total.dtls_handshakes += dtls.handshakes_completed;
            total.dtls_resumptions += dtls.handshakes_resumed;
            total.dtls_handshake_failures += dtls.handshakes_failed + dtls.handshakes_refused;
            total.dtls_records_dropped += dtls.records_dropped + dtls.records_replayed;
        }
    }
    return total;
}

}  // namespace coap
