// libFuzzer target for the sans-I/O server core: any sequence of datagrams from several
// endpoints, at fuzzed times, through deduplication, routing, separate responses and timers.
//
// Input: records of [endpoint 1B][time step ms 2B][action 1B][length 2B][datagram].
// Action bit 0 answers one pending deferral; bit 1 runs the timers; bit 2 publishes a new
// representation of the observable /obs (notifications go out with the timers).
// Invariants (trap on violation): every reply parses; a reply to a CON is an ACK or RST with the
// request's Message ID; a reply to anything else is a NON or RST; replies fit buffer_size;
// separate responses parse and carry the deferred request's token length.
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "coap/coap.hpp"
#include "coap/router.hpp"
#include "server/server_core.hpp"

namespace {

void check(bool condition) {
    if (!condition) __builtin_trap();
}

std::vector<coap::DeferredResponse>& pending() {
    static std::vector<coap::DeferredResponse> handles;
    return handles;
}

coap::Handler make_handler() {
    coap::Router router;
    router
        .get("/test", [](coap::Request&) -> coap::HandlerResult { return coap::Response::ok("t"); })
        .post("/test",
              [](coap::Request& r) -> coap::HandlerResult {
                  return coap::Response::created().location_path("a").payload(r.payload());
              })
        .get("/separate",
             [](coap::Request& r) -> coap::HandlerResult {
                 if (auto handle = r.defer()) pending().push_back(*handle);
                 return std::nullopt;
             })
        .get("/silent", [](coap::Request&) -> coap::HandlerResult { return std::nullopt; })
        .put("/big",
             [](coap::Request& r) -> coap::HandlerResult {
                 auto out = r.arena().bytes(r.payload().size() * 4);
                 for (std::size_t i = 0; i < out.size(); ++i)
                     out[i] = static_cast<std::uint8_t>(i);
                 return coap::Response::ok(coap::Bytes(out.data(), out.size()));
             })
        .get("/throw", [](coap::Request&) -> coap::HandlerResult { throw 42; })
        .get("/items/:id",
             [](coap::Request& r) -> coap::HandlerResult {
                 return coap::Response::ok(*r.param("id"));
             })
        .get("/obs",
             [](coap::Request& r) -> coap::HandlerResult {
                 r.observe(coap::ResourceId{0});  // RFC 7641: Observe=0 registers
                 return coap::Response::ok("o");
             })
        .get("/large", [](coap::Request&) -> coap::HandlerResult {
            // Larger than a block: sliced with Block2, Size2 and an ETag (RFC 7959 §2.4).
            static const std::array<std::uint8_t, 600> body = [] {
                std::array<std::uint8_t, 600> b{};
                for (std::size_t i = 0; i < b.size(); ++i)
                    b[i] = static_cast<std::uint8_t>(i * 3);
                return b;
            }();
            return coap::Response::ok(coap::Bytes(body.data(), body.size()));
        });
    return coap::Handler(std::move(router));
}

class Sink final : public coap::detail::DatagramSink {
  public:
    bool send(const coap::Endpoint&, coap::Bytes datagram) noexcept override {
        auto message = coap::parse(datagram);
        check(message.has_value());
        check(message->type() == coap::MessageType::con ||
              message->type() == coap::MessageType::non);
        return true;
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const coap::Handler handler = make_handler();
    coap::ServerConfig config;
    config.buffer_size = 256;
    config.exchange_count = 8;
    config.exchange_cache_bytes = 1024;
    config.max_arena_size = 2048;
    config.max_deferred = 2;
    config.max_block_size = 128;  // validate(): buffer_size >= max_block_size + 128
    config.max_block_transfers = 4;
    config.max_block_payload = 2048;
    config.max_observers = 8;
    config.max_observe_resources = 1;
    config.max_notification_bytes = 128;
    static const bool valid = config.validate().empty();
    check(valid);
    coap::detail::ServerCore core(config, handler, false, 12345);
    pending().clear();
    Sink sink;

    std::array<coap::Endpoint, 4> peers{*coap::Endpoint::from_literal("127.0.0.1", 1000),
                                        *coap::Endpoint::from_literal("127.0.0.1", 1001),
                                        *coap::Endpoint::from_literal("::1", 1000),
                                        *coap::Endpoint::from_literal("10.0.0.1", 5683)};
    coap::TimePoint now{};
    std::array<std::uint8_t, 512> reply{};

    std::uint8_t published = 0;
    std::size_t pos = 0;
    while (size - pos >= 6) {
        const coap::Endpoint& peer = peers[data[pos] % peers.size()];
        now += std::chrono::milliseconds((data[pos + 1] << 8) | data[pos + 2]);
        std::uint8_t action = data[pos + 3];
        std::size_t length = (data[pos + 4] << 8) | data[pos + 5];
        pos += 6;
        length = std::min(length, size - pos);
        coap::Bytes datagram(data + pos, length);
        pos += length;

        std::size_t n = core.on_datagram(peer, datagram, now, reply);
        check(n <= config.buffer_size);
        if (n != 0) {
            auto answer = coap::parse(coap::Bytes(reply.data(), n));
            check(answer.has_value());
            auto header = coap::peek_header(datagram);
            check(header.has_value());
            if (answer->type() != coap::MessageType::rst) {
                if (header->type == coap::MessageType::con) {
                    check(answer->type() == coap::MessageType::ack);
                    check(answer->message_id() == header->message_id);
                } else {
                    check(answer->type() == coap::MessageType::non);
                }
            } else {
                check(answer->message_id() == header->message_id);
            }
        }
        if ((action & 1) && !pending().empty()) {
            core.complete(pending().back(), coap::Response::ok("later"));
            pending().pop_back();
        }
        if (action & 4) {
            std::array<std::uint8_t, 1> state{++published};
            core.hub().publish(coap::ResourceId{0},
                               coap::Response::ok(coap::Bytes(state.data(), state.size())));
        }
        if (action & 2) core.on_timers(now, sink);
    }
    core.on_timers(now + std::chrono::hours(1), sink);
    return 0;
}
