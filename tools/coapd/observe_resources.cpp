// Observable plugtest resources. Every resource is an RFC 7641 observable: a GET with Observe
// registers (Request::observe), and every change goes to all observers with Server::notify.
//   /obs          text, changes every period, CON notifications (TD_COAP_OBS_01, 04-12);
//                 PUT with the same Content-Format replaces the value and stops the ticker for
//                 it (OBS_09), PUT with another Content-Format ends observations with 4.06
//                 (OBS_08), DELETE ends them with 4.04 (OBS_07), an empty PUT hands it back
//                 to the ticker.
//   /obs-non      the same ticker value, notifications NON except every Nth (OBS_02).
//   /obs-large    1,500 bytes: notifications carry the first block (RFC 7959 §2.6, OBS_13).
//   /obs-pumping  alternately 100 and 1,500 bytes (OBS_14).
#include "observe_resources.hpp"

#include <array>
#include <cstdio>
#include <cstring>
#include <string>

namespace coapd {

namespace {

using coap::Code;
using coap::ContentFormat;
using coap::HandlerResult;
using coap::NotificationType;
using coap::Request;
using coap::ResourceId;
using coap::Response;

constexpr ResourceId obs_id{0};
constexpr ResourceId obs_non_id{1};
constexpr ResourceId obs_large_id{2};
constexpr ResourceId obs_pumping_id{3};

constexpr std::size_t large_size = 1500;
constexpr std::size_t small_size = 100;

struct ObsValue {
    std::array<std::uint8_t, 1024> bytes{};
    std::size_t length = 0;
    std::uint16_t format = 0;  // text/plain
    bool exists = true;
    bool manual = false;  // set by PUT: the ticker leaves it alone
};

std::mutex value_mutex;
ObsValue obs_value;
std::uint64_t ticks = 0;

// The ticker's text: a counter and the tick's wall-clock second.
std::string ticker_text(std::uint64_t count) {
    char text[64];
    int n = std::snprintf(text, sizeof text, "tick %llu", static_cast<unsigned long long>(count));
    return std::string(text, static_cast<std::size_t>(n));
}

// A body of `size` bytes starting with the ticker text, the rest numbered lines.
std::string sized_text(std::uint64_t count, std::size_t size) {
    std::string text = ticker_text(count) + "\n";
    for (int line = 1; text.size() < size; ++line)
        text += "line " + std::to_string(line) + " of an observable resource\n";
    text.resize(size);
    return text;
}

std::uint32_t max_age_seconds(std::chrono::milliseconds period) {
    // Fresh until a little after the next change (RFC 7641 §4.3.1).
    return static_cast<std::uint32_t>(period.count() / 1000 + 2);
}

std::uint64_t current_ticks() {
    std::lock_guard lock(value_mutex);
    return ticks;
}

Response text_response(coap::Bytes body, std::uint16_t format, std::uint32_t max_age) {
    return Response::content(static_cast<ContentFormat>(format), body).max_age(max_age);
}

}  // namespace

ObservableResources::ObservableResources(std::chrono::milliseconds period) : period_(period) {
    obs_value.length = 0;
    std::string initial = ticker_text(0);
    std::memcpy(obs_value.bytes.data(), initial.data(), initial.size());
    obs_value.length = initial.size();
}

ObservableResources::~ObservableResources() {
    stop();
}

void ObservableResources::stop() {
    {
        std::lock_guard lock(stop_mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    server_.store(nullptr);
}

void ObservableResources::add_to(coap::Router& router) {
    std::uint32_t max_age = max_age_seconds(period_);
    router.get(
        "/obs",
        [max_age](Request& request) -> HandlerResult {
            std::lock_guard lock(value_mutex);
            if (!obs_value.exists) return Response::not_found();
            request.observe(obs_id);
            auto body = request.arena().bytes(obs_value.length);
            if (body.size() != obs_value.length) return Response::internal_server_error();
            std::memcpy(body.data(), obs_value.bytes.data(), obs_value.length);
            return text_response(body, obs_value.format, max_age);
        },
        {.rt = "observe", .title = "Observable resource which changes periodically", .obs = true});
    router.put("/obs", [this, max_age](Request& request) -> HandlerResult {
        std::uint16_t format = static_cast<std::uint16_t>(
            request.content_format().value_or(ContentFormat::text_plain));
        if (request.payload().size() > obs_value.bytes.size())
            return Response::request_entity_too_large();
        std::lock_guard lock(value_mutex);
        bool created = !obs_value.exists;
        if (request.payload().empty()) {
            // An empty PUT gives /obs back to the ticker (the tests restore it this way).
            obs_value.exists = true;
            obs_value.manual = false;
            obs_value.format = 0;
            return created ? Response::created() : Response::changed();
        }
        bool format_changed = !created && format != obs_value.format;
        std::memcpy(obs_value.bytes.data(), request.payload().data(), request.payload().size());
        obs_value.length = request.payload().size();
        obs_value.format = format;
        obs_value.exists = true;
        obs_value.manual = true;
        if (coap::Server* server = server_.load()) {
            if (format_changed) {
                // RFC 7641 §4.2: observers asked for the old representation format.
                server->notify(obs_id, Response::not_acceptable(), NotificationType::confirmable);
            } else if (!created) {
                server->notify(obs_id, text_response(request.payload(), format, max_age),
                               NotificationType::confirmable);
            }
        }
        return created ? Response::created() : Response::changed();
    });
    router.del("/obs", [this](Request&) -> HandlerResult {
        std::lock_guard lock(value_mutex);
        obs_value.exists = false;
        // RFC 7641 §3.2: a non-2.xx notification ends every observation of the resource.
        if (coap::Server* server = server_.load())
            server->notify(obs_id, Response::not_found(), NotificationType::confirmable);
        return Response::deleted();
    });
    router.get(
        "/obs-non",
        [max_age](Request& request) -> HandlerResult {
            request.observe(obs_non_id);
            std::string_view text = request.arena().copy(ticker_text(current_ticks()));
            return Response::content(ContentFormat::text_plain, text).max_age(max_age);
        },
        {.rt = "observe", .title = "Observable resource with NON notifications", .obs = true});
    router.get("/obs-large",
               [max_age](Request& request) -> HandlerResult {
                   request.observe(obs_large_id);
                   std::string_view text =
                       request.arena().copy(sized_text(current_ticks(), large_size));
                   return Response::content(ContentFormat::text_plain, text).max_age(max_age);
               },
               {.rt = "observe", .title = "Large observable resource", .obs = true});
    router.get("/obs-pumping",
               [max_age](Request& request) -> HandlerResult {
                   std::uint64_t count = current_ticks();
                   request.observe(obs_pumping_id);
                   std::string_view text = request.arena().copy(
                       sized_text(count, count % 2 == 0 ? small_size : large_size));
                   return Response::content(ContentFormat::text_plain, text).max_age(max_age);
               },
               {.rt = "observe", .title = "Observable resource of varying size", .obs = true});
}

void ObservableResources::attach(coap::Server* server) {
    server_.store(server);
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
}

void ObservableResources::run() {
    std::unique_lock lock(stop_mutex_);
    while (!wake_.wait_for(lock, period_, [this] { return stopping_; })) {
        lock.unlock();
        tick();
        lock.lock();
    }
}

void ObservableResources::tick() {
    coap::Server* server = server_.load();
    if (server == nullptr) return;
    std::uint32_t max_age = max_age_seconds(period_);
    std::uint64_t count;
    {
        std::lock_guard lock(value_mutex);
        count = ++ticks;
        if (obs_value.exists && !obs_value.manual) {
            std::string text = ticker_text(count);
            std::memcpy(obs_value.bytes.data(), text.data(), text.size());
            obs_value.length = text.size();
            server->notify(obs_id,
                           text_response(coap::as_bytes(std::string_view(text)), 0, max_age),
                           NotificationType::confirmable);
        }
    }
    std::string text = ticker_text(count);
    server->notify(obs_non_id, Response::content(ContentFormat::text_plain, text).max_age(max_age));
    std::string large = sized_text(count, large_size);
    server->notify(obs_large_id,
                   Response::content(ContentFormat::text_plain, large).max_age(max_age),
                   NotificationType::confirmable);
    std::string pumping = sized_text(count, count % 2 == 0 ? small_size : large_size);
    server->notify(obs_pumping_id,
                   Response::content(ContentFormat::text_plain, pumping).max_age(max_age),
                   NotificationType::confirmable);
}

}  // namespace coapd
