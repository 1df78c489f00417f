// libFuzzer target for the server side of Observe (RFC 7641) through ServerCore: registrations
// and deregistrations from three endpoints with fuzzed tokens, methods (GET, FETCH), Observe and
// Block2 values, ACK and RST to what was sent, raw datagrams, publishes of small, block-wise
// (RFC 7959 §2.6) and error representations through core.hub(), and timers at fuzzed times with
// a sink whose budget (available()) and acceptance are fuzzed.
//
// Input: records of [op 1B][fields], see the `Op` enum (written by make_observe_corpus.py).
// The harness keeps a model of each (endpoint, token): registered when a reply carried Observe,
// dead after a deregistration or error the core counted, an RST the core matched (the RST's
// Message ID names the notification and so the observer), or a non-2.xx notification.
// Invariants (trap on violation): observers() <= max_observers; every reply and every sent
// datagram parses; a notification goes to a registered, live (endpoint, token), or is the
// retransmission of its final non-2.xx CON; 2.xx notifications carry Observe and the values
// each observer sees increase (24-bit serial arithmetic, §4.4; a retransmission may repeat the
// value); a block-wise notification is its first block with M set and a full block (§2.6);
// a registration is refused (answered without Observe) only when every record is in use.
#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string_view>
#include <vector>

#include "coap/coap.hpp"
#include "coap/router.hpp"
#include "fuzz_input.hpp"
#include "server/server_core.hpp"

namespace {

using namespace coap;
using coap::fuzz::check;

constexpr std::uint32_t buffer_size = 256;
constexpr std::uint32_t max_observers = 4;
constexpr std::uint32_t resource_count = 3;
constexpr std::size_t peer_count = 3;

ServerConfig make_config() {
    ServerConfig config;
    config.buffer_size = buffer_size;
    config.exchange_count = 16;
    config.exchange_cache_bytes = 4096;
    config.max_arena_size = 2048;
    config.max_block_transfers = 2;
    config.max_block_payload = 512;
    config.max_block_size = 64;
    config.max_observers = max_observers;
    config.max_observe_resources = resource_count;
    config.max_notification_bytes = 200;
    config.observe_con_interval = 3;
    config.max_retransmit = 2;
    return config;
}

// The configuration a real server would accept (checked once).
const ServerConfig& config() {
    static const ServerConfig checked = [] {
        ServerConfig made = make_config();
        check(made.validate().empty());
        return made;
    }();
    return checked;
}

const std::array<std::uint8_t, 150> large_body = [] {
    std::array<std::uint8_t, 150> body{};
    for (std::size_t i = 0; i < body.size(); ++i)
        body[i] = static_cast<std::uint8_t>(i);
    return body;
}();

// /r0, /r1, /r2 and /r3 (no such resource) are observable; /big is resource 0 with a body served
// block-wise; /err makes resource 1 observable but answers 4.04; /plain is not observable.
Handler make_handler() {
    Router router;
    auto resource = [](Request& request) -> HandlerResult {
        std::string_view path = (*request.path().begin()).as_string();
        request.observe(ResourceId{static_cast<std::uint32_t>(path[1] - '0')});
        return Response::ok(as_bytes("state"));
    };
    auto big = [](Request& request) -> HandlerResult {
        request.observe(ResourceId{0});
        return Response::ok(Bytes(large_body.data(), large_body.size()));
    };
    auto error = [](Request& request) -> HandlerResult {
        request.observe(ResourceId{1});
        return Response::not_found();
    };
    auto plain = [](Request&) -> HandlerResult { return Response::ok(as_bytes("plain")); };
    for (std::string_view path : {"/r0", "/r1", "/r2", "/r3"})
        router.get(path, resource).fetch(path, resource);
    router.get("/big", big).fetch("/big", big).get("/err", error).get("/plain", plain);
    return Handler(std::move(router));
}

enum Op : std::uint8_t { request_op, ack_op, reset_op, raw_op, publish_op, timers_op, op_count };

bool serial_newer(std::uint32_t newer, std::uint32_t older) {  // RFC 7641 §4.4, 24 bits
    return newer != older && ((newer - older) & 0xffffff) < (1u << 23);
}

struct ObserverKey {
    std::size_t peer;
    std::array<std::uint8_t, 8> token{};
    std::size_t token_length = 0;
    friend bool operator<(const ObserverKey& a, const ObserverKey& b) {
        if (a.peer != b.peer) return a.peer < b.peer;
        if (a.token_length != b.token_length) return a.token_length < b.token_length;
        return a.token < b.token;
    }
};

// What the harness knows of one (endpoint, token).
struct Model {
    bool live = false;     // registered and not known to be removed
    bool closing = false;  // its final non-2.xx CON may be retransmitted
    std::uint16_t final_mid = 0;
    bool has_sequence = false;
    std::uint32_t sequence = 0;
    std::uint16_t last_mid = 0;
};

class Harness;

class Sink final : public detail::DatagramSink {
  public:
    explicit Sink(Harness& harness) : harness_(harness) {}
    bool send(const Endpoint& peer, Bytes datagram) noexcept override;
    std::size_t available() const noexcept override { return budget; }
    std::size_t budget = 0;
    std::size_t accept = 0;  // sends accepted before refusing

  private:
    Harness& harness_;
};

class Harness {
  public:
    Harness()
        : config_(config()),
          core_(config_, handler(), false, 11, 0, nullptr, {nullptr, &echo_secret()}),
          sink_(*this),
          peers_{*Endpoint::from_literal("127.0.0.1", 1000),
                 *Endpoint::from_literal("127.0.0.1", 1001), *Endpoint::from_literal("::1", 1000)} {
    }

    void run(coap::fuzz::Input& in);
    void on_sent(const Endpoint& peer, Bytes datagram, bool accepted);

  private:
    static const Handler& handler() {
        static const Handler instance = make_handler();
        return instance;
    }
    static const detail::EchoSecret& echo_secret() {
        static const detail::EchoSecret secret{};  // no RAND_bytes per input
        return secret;
    }

    std::size_t peer_index(const Endpoint& peer) const {
        for (std::size_t i = 0; i < peers_.size(); ++i)
            if (peers_[i] == peer) return i;
        coap::fuzz::fail();
    }
    static ObserverKey key_of(std::size_t peer, Bytes token) {
        ObserverKey key{peer};
        check(token.size() <= key.token.size());
        std::copy(token.begin(), token.end(), key.token.begin());
        key.token_length = token.size();
        return key;
    }

    void request(coap::fuzz::Input& in);
    void acknowledge(coap::fuzz::Input& in, bool reset);
    void publish(coap::fuzz::Input& in);
    void timers(coap::fuzz::Input& in);
    void deliver(std::size_t peer, Bytes datagram);
    void after_request(std::size_t peer, const MessageView& request, const MessageView& reply);

    struct SentNotification {
        std::size_t peer;
        std::uint16_t message_id;
    };

    ServerConfig config_;
    detail::ServerCore core_;
    Sink sink_;
    std::array<Endpoint, peer_count> peers_;
    TimePoint now_{std::chrono::hours(1)};
    std::map<ObserverKey, Model> observers_;
    std::map<std::uint16_t, ObserverKey> by_message_id_;  // latest notification with that MID
    std::vector<SentNotification> sent_;                  // for ACK and RST, newest last
};

bool Sink::send(const Endpoint& peer, Bytes datagram) noexcept {
    bool accepted = accept != 0;
    if (accepted) --accept;
    harness_.on_sent(peer, datagram, accepted);
    return accepted;
}

// Every datagram the core sends here is a notification (nothing is deferred in this target).
// Only an accepted send changes what the model knows: a refused one is tried again later (or,
// for a retransmission, counts as lost on the way).
void Harness::on_sent(const Endpoint& peer, Bytes datagram, bool accepted) {
    check(datagram.size() <= buffer_size);
    auto message = parse(datagram);
    check(message.has_value());
    check(message->type() == MessageType::con || message->type() == MessageType::non);
    std::size_t index = peer_index(peer);
    ObserverKey key = key_of(index, message->token());
    auto it = observers_.find(key);
    check(it != observers_.end());
    Model& model = it->second;
    by_message_id_.insert_or_assign(message->message_id(), key);
    sent_.push_back({index, message->message_id()});
    if (sent_.size() > 32) sent_.erase(sent_.begin());
    if (!model.live) {
        // Only the final error CON of a closed observation goes out again (§4.2, §4.5).
        check(model.closing && message->message_id() == model.final_mid &&
              message->type() == MessageType::con && !is_success(message->code()));
        return;
    }
    if (!is_success(message->code())) {
        // §3.2, §4.2: a non-2.xx notification carries no Observe and ends the observation.
        check(!message->has(OptionNumber::observe));
        if (accepted) {
            model.live = false;
            model.closing = message->type() == MessageType::con;
            model.final_mid = message->message_id();
        }
        return;
    }
    auto sequence = message->find_uint(OptionNumber::observe);
    check(sequence.has_value() && *sequence <= 0xffffff);
    if (model.has_sequence) {
        bool retransmission = message->message_id() == model.last_mid;
        check(serial_newer(*sequence, model.sequence) ||
              (retransmission && *sequence == model.sequence));
    }
    // RFC 7959 §2.6: a representation larger than a block goes out as its first block.
    check(message->payload().size() <= 64);
    if (auto block2 = message->find(OptionNumber::block2)) {
        auto value = decode_block(block2->value);
        check(value && value->num == 0 && value->more &&
              message->payload().size() == value->size());
    }
    if (!accepted) return;
    model.has_sequence = true;
    model.sequence = *sequence;
    model.last_mid = message->message_id();
}

void Harness::deliver(std::size_t peer, Bytes datagram) {
    std::array<std::uint8_t, buffer_size> reply{};
    std::uint64_t duplicates = core_.stats().duplicates;
    const auto before = core_.observers().stats();
    std::size_t n = core_.on_datagram(peers_[peer], datagram, now_, reply);
    check(n <= buffer_size);
    const auto& after = core_.observers().stats();
    check(after.removed_by_request - before.removed_by_request <= 1);
    check(after.removed_by_reset - before.removed_by_reset <= 1);
    if (after.removed_by_request != before.removed_by_request) {
        // A deregistration (§3.6) or an error answer to a registration (§4.1) removed this one.
        auto request = parse(datagram);
        check(request.has_value() && request->is_request());
        observers_[key_of(peer, request->token())].live = false;
    }
    if (after.removed_by_reset != before.removed_by_reset) {
        // §3.6, §4.5: an RST naming the observer's latest notification; it must get no more.
        auto reset = parse(datagram);
        check(reset.has_value() && reset->type() == MessageType::rst);
        auto it = by_message_id_.find(reset->message_id());
        check(it != by_message_id_.end() && it->second.peer == peer);
        observers_[it->second].live = false;
    }
    if (n == 0) return;
    auto answer = parse(Bytes(reply.data(), n));
    check(answer.has_value());
    auto request = parse(datagram);
    // A duplicate is answered from the cache: that reply belongs to the earlier request.
    if (request && request->is_request() && core_.stats().duplicates == duplicates)
        after_request(peer, *request, *answer);
}

// A reply with Observe registered (or re-registered) the (endpoint, token), §4.1.
void Harness::after_request(std::size_t peer, const MessageView& request,
                            const MessageView& reply) {
    auto observe = reply.find_uint(OptionNumber::observe);
    if (!observe) {
        // §4.1: answered without Observe only when no observer record was free. Records of
        // closed observations whose final CON awaits its ACK are not in observers() but in
        // in_flight(), as are live ones awaiting an ACK: the sum bounds the records in use.
        bool asked = request.find_uint(OptionNumber::observe) == 0u &&
                     (request.code() == Code::get || request.code() == Code::fetch) &&
                     !request.has(OptionNumber::block2) && !request.has(OptionNumber::block1) &&
                     is_success(reply.code());
        std::string_view path = request.has(OptionNumber::uri_path)
                                    ? (*request.options(OptionNumber::uri_path).begin()).as_string()
                                    : std::string_view{};
        bool observable = path == "r0" || path == "r1" || path == "r2" || path == "big";
        if (asked && observable && request.count(OptionNumber::uri_path) == 1)
            check(core_.observers().observers() + core_.observers().in_flight() >= max_observers);
        return;
    }
    check(is_success(reply.code()) && *observe <= 0xffffff);
    Model& model = observers_[key_of(peer, request.token())];
    if (model.has_sequence) check(serial_newer(*observe, model.sequence));
    model.live = true;
    model.closing = false;
    model.has_sequence = true;
    model.sequence = *observe;
}

// request: [peer 1B][flags 1B][MID 2B][token length 1B][token], then [Observe 1B] if flags 6-7
// are 3, [Block2 1B] if flag 5. Flag 0: NON; flags 1-3: /r0 /r1 /r2 /r3 /big /err /plain;
// flag 4: FETCH; flags 6-7: no Observe, 0 (register), 1 (deregister), any value.
void Harness::request(coap::fuzz::Input& in) {
    static constexpr std::array<std::string_view, 7> paths{"r0",  "r1",  "r2",   "r3",
                                                           "big", "err", "plain"};
    std::size_t peer = in.u8() % peer_count;
    std::uint8_t flags = in.u8();
    std::uint16_t message_id = in.u16();
    Bytes token = in.bytes(in.u8() % 9);
    std::uint8_t observe_mode = flags >> 6;
    UintValue observe(observe_mode == 3 ? in.u8() : observe_mode - 1u);
    UintValue block2(flags & 0x20 ? in.u8() : 0);
    std::array<std::uint8_t, 64> datagram{};
    MessageWriter writer(datagram);
    writer.header(flags & 1 ? MessageType::non : MessageType::con,
                  flags & 0x10 ? Code::fetch : Code::get, message_id, token);
    if (observe_mode != 0) writer.option(OptionNumber::observe, observe.bytes());
    writer.option(OptionNumber::uri_path, paths[((flags >> 1) & 7) % paths.size()]);
    if (flags & 0x20) writer.option(OptionNumber::block2, block2.bytes());
    if (auto written = writer.finish()) deliver(peer, Bytes(datagram.data(), *written));
}

// ack/reset: [which 1B]; below 0x80 the notification sent `which` datagrams ago (its peer and
// Message ID), else [peer 1B][MID 2B].
void Harness::acknowledge(coap::fuzz::Input& in, bool reset) {
    std::uint8_t which = in.u8();
    std::size_t peer;
    std::uint16_t message_id;
    if (which < 0x80) {
        if (sent_.empty()) return;
        const SentNotification& sent = sent_[sent_.size() - 1 - which % sent_.size()];
        peer = sent.peer;
        message_id = sent.message_id;
    } else {
        peer = in.u8() % peer_count;
        message_id = in.u16();
    }
    std::array<std::uint8_t, 4> datagram{};
    auto written = encode(
        Message{reset ? MessageType::rst : MessageType::ack, Code::empty, message_id}, datagram);
    deliver(peer, Bytes(datagram.data(), *written));
}

// publish: [resource 1B][kind 1B]: kind % 5 picks 2.05 small, 2.05 block-wise, 4.04, 2.05 with
// Max-Age and Content-Format, 2.05 empty; bit 7 publishes it as confirmable.
void Harness::publish(coap::fuzz::Input& in) {
    std::uint32_t resource = in.u8() % (resource_count + 1);  // one past the end: refused
    std::uint8_t kind = in.u8();
    Response response = Response::ok(as_bytes("v"));
    switch ((kind & 0x7f) % 5) {
        case 0:
            response = Response::ok(as_bytes("tick"));
            break;
        case 1:
            response = Response::ok(Bytes(large_body.data(), large_body.size()));
            break;
        case 2:
            response = Response::not_found();
            break;
        case 3:
            response = Response::content(ContentFormat::text_plain, "21.5").max_age(30);
            break;
        case 4:
            response = Response::ok();
            break;
    }
    auto type = kind & 0x80 ? NotificationType::confirmable : NotificationType::automatic;
    bool published = core_.hub().publish(ResourceId{resource}, response, type);
    check(published == (resource < resource_count));
}

// timers: [step 2B, in 4 ms units][budget 1B][accept 1B]
void Harness::timers(coap::fuzz::Input& in) {
    now_ += std::chrono::milliseconds(in.u16()) * 4;
    sink_.budget = in.u8() % 8;
    sink_.accept = in.u8() % 8;
    core_.on_timers(now_, sink_);
}

void Harness::run(coap::fuzz::Input& in) {
    for (int ops = 0; !in.empty() && ops < 400; ++ops) {
        switch (in.u8() % op_count) {
            case request_op:
                request(in);
                break;
            case ack_op:
                acknowledge(in, false);
                break;
            case reset_op:
                acknowledge(in, true);
                break;
            case raw_op: {
                std::size_t peer = in.u8() % peer_count;
                deliver(peer, in.bytes(in.u8()));
                break;
            }
            case publish_op:
                publish(in);
                break;
            case timers_op:
                timers(in);
                break;
        }
        check(core_.observers().observers() <= max_observers);
    }
    // Time runs on: CON notifications are retransmitted until they time out.
    for (int round = 0; round < 8; ++round) {
        now_ += std::chrono::seconds(30);
        sink_.budget = 64;
        sink_.accept = 64;
        core_.on_timers(now_, sink_);
    }
    check(core_.observers().in_flight() == 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    coap::fuzz::Input in(data, size);
    Harness harness;
    harness.run(in);
    return 0;
}
