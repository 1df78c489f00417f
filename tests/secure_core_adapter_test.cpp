// coaps:// without sockets: the client engine behind a DtlsClient, and the server core behind
// the SecureCoreAdapter a coaps:// worker runs, joined by a simulated link that can lose,
// duplicate and reorder datagrams. Time jumps from event to event; nothing sleeps.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "client/client_core.hpp"
#include "coap/router.hpp"
#include "dtls/dtls_client.hpp"
#include "server/secure_core_adapter.hpp"
#include "support/random.hpp"

namespace coap::detail {
namespace {

using namespace std::chrono_literals;
using ByteVector = std::vector<std::uint8_t>;

const std::string device_identity = "device-7";
const ByteVector device_key{'s', 'e', 's', 'a', 'm', 'e'};

// Datagrams in flight with 1-20 ms latency; each is lost with `loss` and duplicated with
// `duplication`, seeded.
class Link {
  public:
    struct Datagram {
        TimePoint at;
        bool to_server;
        ByteVector bytes;
    };
    Link(std::uint64_t seed, double loss, double duplication)
        : random_{seed}, loss_(loss), duplication_(duplication) {}

    void send(bool to_server, Bytes datagram, TimePoint now) {
        if (random_.chance(loss_)) return;
        const int copies = random_.chance(duplication_) ? 2 : 1;
        for (int i = 0; i < copies; ++i)
            queue_.push_back({now + 1ms + std::chrono::microseconds(random_.below(19000)),
                              to_server, ByteVector(datagram.begin(), datagram.end())});
    }
    std::optional<TimePoint> next() const {
        std::optional<TimePoint> earliest;
        for (const Datagram& d : queue_)
            if (!earliest || d.at < *earliest) earliest = d.at;
        return earliest;
    }
    std::vector<Datagram> take_due(TimePoint now) {
        auto split = std::stable_partition(queue_.begin(), queue_.end(),
                                           [now](const Datagram& d) { return d.at > now; });
        std::vector<Datagram> due(std::make_move_iterator(split),
                                  std::make_move_iterator(queue_.end()));
        queue_.erase(split, queue_.end());
        return due;
    }

  private:
    test::Random random_;
    double loss_, duplication_;
    std::vector<Datagram> queue_;
};

ServerConfig server_config() {
    ServerConfig config;
    config.exchange_count = 1024;
    config.exchange_cache_bytes = 1024 * 1024;
    config.max_arena_size = 4096;
    config.dtls.enabled = true;
    config.dtls.keys.push_back({device_identity, device_key});
    config.dtls.session_count = 16;
    config.dtls.handshake_count = 4;
    return config;
}

dtls::DtlsClientConfig client_dtls_config() {
    dtls::DtlsClientConfig config;
    config.handshake.identity = device_identity;
    config.handshake.key = dtls::PskKey(Bytes(device_key));
    return config;
}

class SecureSimulation final : private dtls::DtlsEvents {
  public:
    SecureSimulation(Handler handler, double loss, std::uint64_t seed)
        : config_(server_config()),
          handler_(std::move(handler)),
          core_(config_, handler_, true, seed * 3 + 1),
          adapter_(core_, dtls_server_config(config_.dtls, 1280), config_.buffer_size),
          client_(ClientConfig{}, seed * 5 + 2),
          dtls_(client_dtls_config(), server_endpoint_),
          link_(seed * 7 + 3, loss, loss > 0 ? 0.05 : 0.0) {
        adapter_.attach(outbox_);
    }

    ClientCore& client() { return client_; }
    ServerCore& server() { return core_; }
    dtls::DtlsClient& dtls() { return dtls_; }
    TimePoint now() const { return now_; }

    // Connects (again after a failed attempt) until established; false if every attempt failed.
    bool connect(int attempts) {
        for (int i = 0; i < attempts; ++i) {
            dtls_.connect(now_, *this);
            while (dtls_.state() == dtls::ClientState::handshaking && step()) {
            }
            if (dtls_.state() == dtls::ClientState::established) return true;
        }
        return false;
    }

    void close_session() { dtls_.close(*this); }

    ClientResult run(const RequestSpec& spec) {
        auto handle = client_.submit(spec, now_);
        if (!handle) return unexpected(handle.error());
        for (;;) {
            if (auto result = client_.take_completion(*handle)) return std::move(*result);
            if (!step()) return unexpected(ClientError::cancelled);  // must not happen
        }
    }

    // Runs the server's timers (separate responses, notifications) and delivers what follows.
    void settle(Duration span) {
        const TimePoint end = now_ + span;
        adapter_.on_batch_end(now_, outbox_);  // what became ready since the last step
        while (now_ < end)
            step(end);
    }

    // A datagram from the client's address that did not come through its DTLS client; returns
    // the count of datagrams the server sent in reply.
    std::size_t inject_to_server(Bytes datagram) {
        const std::size_t before = server_sent_;
        adapter_.on_datagram(client_endpoint_, datagram, now_, scratch_);
        return server_sent_ - before;
    }

    // Advances to the next event (at most to `limit`, running the timers there) and handles
    // it; false when nothing is left to happen.
    bool step(std::optional<TimePoint> limit = std::nullopt) {
        flush_client();
        std::optional<TimePoint> next = link_.next();
        for (auto deadline :
             {client_.next_deadline(), dtls_.next_deadline(), adapter_.dtls().next_deadline()})
            if (deadline && (!next || *deadline < *next)) next = deadline;
        if (limit && (!next || *next > *limit)) next = limit;
        if (!next) return false;
        now_ = std::max(now_, *next);
        for (Link::Datagram& d : link_.take_due(now_)) {
            if (d.to_server)
                adapter_.on_datagram(client_endpoint_, d.bytes, now_, scratch_);
            else
                dtls_.on_datagram(server_endpoint_, d.bytes, now_, *this);
        }
        adapter_.on_batch_end(now_, outbox_);
        if (auto deadline = dtls_.next_deadline(); deadline && *deadline <= now_)
            dtls_.on_timer(now_, *this);
        client_.on_timer(now_);
        flush_client();
        return true;
    }

  private:
    void flush_client() {
        while (dtls_.state() == dtls::ClientState::established && client_.has_outgoing()) {
            (void)dtls_.seal(client_.front_outgoing(), *this);
            client_.pop_outgoing();
        }
    }
    // The server's outbox.
    class ServerOutbox final : public io::Outbox {
      public:
        explicit ServerOutbox(SecureSimulation& sim) : sim_(sim) {}
        bool send(const Endpoint&, Bytes datagram) noexcept override {
            ++sim_.server_sent_;
            sim_.link_.send(false, datagram, sim_.now_);
            return true;
        }
        std::size_t available() const noexcept override { return 256; }

      private:
        SecureSimulation& sim_;
    };
    // The client's DTLS events.
    void send(const Endpoint&, Bytes datagram) noexcept override {
        link_.send(true, datagram, now_);
    }
    void received(const Endpoint&, Bytes data) noexcept override {
        client_.on_datagram(data, now_);
    }

    ServerConfig config_;
    Handler handler_;  // the core keeps a reference
    ServerCore core_;
    SecureCoreAdapter adapter_;
    Endpoint server_endpoint_ = *Endpoint::from_literal("127.0.0.1", 5684);
    Endpoint client_endpoint_ = *Endpoint::from_literal("127.0.0.1", 40000);
    ClientCore client_;
    dtls::DtlsClient dtls_;
    Link link_;
    ServerOutbox outbox_{*this};
    TimePoint now_ = TimePoint{} + 1000s;
    std::array<std::uint8_t, 1400> scratch_{};
    std::size_t server_sent_ = 0;
};

std::array<Option, 1> path(std::string_view segment) {
    return {Option{OptionNumber::uri_path, as_bytes(segment)}};
}

Handler who_handler() {
    Router router;
    router.get("/who", [](Request& request) {
        std::string text = std::string(request.is_secure() ? "secure:" : "plain:") +
                           std::string(request.psk_identity());
        return Response::content(ContentFormat::text_plain, request.arena().copy(text));
    });
    return Handler(std::move(router));
}

TEST(SecureCoreAdapter, HandlersSeeASecureRequestAndThePeersPskIdentity) {
    SecureSimulation sim(who_handler(), 0.0, 1);
    ASSERT_TRUE(sim.connect(1));
    auto options = path("who");
    ClientResult result = sim.run({Code::get, options});
    ASSERT_TRUE(result.has_value()) << describe(result.error());
    EXPECT_EQ(result->code(), Code::content);
    EXPECT_EQ(result->text(), "secure:" + device_identity);
}

TEST(SecureCoreAdapter, PlainCoapToTheSecurePortNeverReachesTheCore) {
    SecureSimulation sim(who_handler(), 0.0, 2);
    ASSERT_TRUE(sim.connect(1));
    // RFC 7252 §9.1: on coaps:// only DTLS records count; a plaintext CON GET /who is not one.
    const ByteVector plain{0x40, 0x01, 0x12, 0x34, 0xb3, 'w', 'h', 'o'};
    EXPECT_EQ(sim.inject_to_server(plain), 0u);
    EXPECT_EQ(sim.server().stats().requests, 0u);
    auto options = path("who");
    ClientResult result = sim.run({Code::get, options});
    ASSERT_TRUE(result.has_value());
    EXPECT_EQ(sim.server().stats().requests, 1u);
}

TEST(SecureCoreAdapter, SeparateResponsesAreSealedToo) {
    std::optional<DeferredResponse> deferred;
    Router router;
    router.get("/slow", [&deferred](Request& request) -> HandlerResult {
        deferred = request.defer();
        return std::nullopt;
    });
    SecureSimulation sim(Handler(std::move(router)), 0.0, 3);
    ASSERT_TRUE(sim.connect(1));
    auto options = path("slow");
    auto handle = sim.client().submit({Code::get, options}, sim.now());
    ASSERT_TRUE(handle.has_value());
    sim.settle(100ms);  // the empty ACK arrives
    ASSERT_TRUE(deferred.has_value());
    ASSERT_TRUE(sim.server().complete(
        *deferred, Response::content(ContentFormat::text_plain, as_bytes("later"))));
    sim.settle(200ms);
    auto result = sim.client().take_completion(*handle);
    ASSERT_TRUE(result.has_value());
    ASSERT_TRUE(result->has_value()) << describe(result->error());
    EXPECT_EQ((*result)->text(), "later");
}

TEST(SecureCoreAdapter, ObserversGoWithTheirSession) {
    Router router;
    router.get("/obs", [](Request& request) {
        request.observe(ResourceId{0});
        return Response::content(ContentFormat::text_plain, as_bytes("v0"));
    });
    SecureSimulation sim(Handler(std::move(router)), 0.0, 4);
    ASSERT_TRUE(sim.connect(1));
    auto options = path("obs");
    auto handle = sim.client().observe({Code::get, options}, sim.now());
    ASSERT_TRUE(handle.has_value());
    sim.settle(100ms);
    ASSERT_EQ(sim.server().observers().observers(), 1u);

    ASSERT_TRUE(sim.server().hub().publish(
        ResourceId{0}, Response::content(ContentFormat::text_plain, as_bytes("v1"))));
    sim.settle(100ms);
    auto notification = sim.client().pop_notification(*handle);
    while (notification && notification->result && notification->result->text() == "v0")
        notification = sim.client().pop_notification(*handle);
    ASSERT_TRUE(notification.has_value());
    ASSERT_TRUE(notification->result.has_value());
    EXPECT_EQ(notification->result->text(), "v1") << "a sealed notification";

    sim.close_session();  // close_notify: the server forgets the session
    sim.settle(100ms);
    ASSERT_TRUE(sim.server().hub().publish(
        ResourceId{0}, Response::content(ContentFormat::text_plain, as_bytes("v2"))));
    sim.settle(100ms);
    EXPECT_EQ(sim.server().observers().observers(), 0u);
    EXPECT_EQ(sim.server().observers().stats().removed_unreachable, 1u);
}

// TD_COAP_DTLS_03: a handshake and CON requests over a link losing 30% of the datagrams each
// way (and duplicating 5%): every request completes or times out as documented, and no
// duplicate runs a handler twice.
TEST(SecureCoreAdapter, HandshakeAndRequestsSurviveThirtyPercentLoss) {
    for (std::uint64_t seed = 10; seed < 16; ++seed) {
        SCOPED_TRACE("seed " + std::to_string(seed));
        int handler_runs = 0;
        Router router;
        router.post("/count", [&handler_runs](Request& request) {
            ++handler_runs;
            return Response::ok(request.payload());
        });
        SecureSimulation sim(Handler(std::move(router)), 0.30, seed);
        ASSERT_TRUE(sim.connect(3)) << "the handshake failed three times in a row";
        auto options = path("count");
        int completed = 0;
        for (int i = 0; i < 20; ++i) {
            const std::string body = "request " + std::to_string(i);
            ClientResult result = sim.run({Code::post, options, as_bytes(body)});
            if (result) {
                ++completed;
                EXPECT_EQ(result->text(), body);
            } else {
                EXPECT_EQ(result.error(), ClientError::timeout);
            }
        }
        EXPECT_GE(completed, 18) << "at 30% loss and 4 retransmissions, almost all complete";
        EXPECT_LE(handler_runs, 20);
        EXPECT_GE(handler_runs, completed);
    }
}

}  // namespace
}  // namespace coap::detail
