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
    struct Worker {
        Worker(const ServerConfig& config, const Handler& handler, std::uint32_t index,
               detail::SharedServerState shared)
            : core(config, handler, false, random_seed(), index, &read_clock, shared),
              adapter(core) {}
        detail::ServerCore core;
        CoreAdapter adapter;
        std::unique_ptr<io::UringWorker> io;
    };

    ServerConfig config;
    Handler handler;
    std::unique_ptr<detail::NotificationHub> hub;
    detail::EchoSecret echo_secret{};
    std::vector<std::unique_ptr<Worker>> workers;
    std::atomic<bool> stopping{false};
    std::atomic<bool> listening{false};

    io::WorkerConfig worker_config(std::size_t index, std::uint16_t port) const {
        io::WorkerConfig out;
        out.bind_address = config.bind_address;
        out.port = port;
        out.buffer_count = config.buffer_count;
        out.buffer_size = config.buffer_size;
        out.send_slots = std::max<std::uint32_t>(256, config.buffer_count);
        if (!config.cpu_affinity.empty())
            out.cpu = config.cpu_affinity[index % config.cpu_affinity.size()];
        return out;
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
    std::uint16_t port = impl_->config.port;
    for (std::uint32_t i = 0; i < impl_->config.thread_count; ++i) {
        auto worker = std::make_unique<Impl::Worker>(
            impl_->config, impl_->handler, i,
            detail::SharedServerState{impl_->hub.get(), &impl_->echo_secret});
        worker->io =
            std::make_unique<io::UringWorker>(impl_->worker_config(i, port), worker->adapter);
        port = worker->io->local_port();  // later workers share the first one's port
        impl_->workers.push_back(std::move(worker));
    }
    impl_->listening.store(true);
    if (impl_->stopping.load()) stop();  // a stop() that raced with listen()
    log(LogLevel::info, "listening on %s port %u with %u thread(s)",
        impl_->config.bind_address.c_str(), port, impl_->config.thread_count);
}

bool Server::tick(Duration timeout) {
    if (impl_->config.thread_count != 1)
        throw std::logic_error("Server::tick needs thread_count == 1; use run()");
    listen();
    return impl_->workers.front()->io->run_once(timeout);
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
                                   observed.removed_by_error_notification;
    }
    return total;
}

}  // namespace coap
