// libFuzzer target for the server's block-wise layer (RFC 7959) through ServerCore: Block1
// uploads reassembled for a handler, Block2 slicing of large GET/FETCH bodies (stored or served
// again statelessly) and of the response to an upload (§2.7), with fuzzed Block1, Block2, Size1,
// Request-Tag (RFC 9175 §3) and Content-Format values, sequences, peers and times.
//
// Input: records of [op 1B][fields], see the `Op` enum and request() (written by
// make_block_corpus.py). Structured requests come from three peers and carry payloads of a known
// pattern (byte at body offset i is pattern(i)), so that handlers can check what was
// reassembled; raw datagrams come from a fourth peer.
// Invariants (trap on violation): every reply parses and fits buffer_size, piggybacked in the
// ACK of a CON or a NON for a NON; a 2.31 carries Block1 acknowledging the request's NUM with M
// set (§2.3) and no handler ran for it (§2.5); a final 2.xx to a Block1 request
// acknowledges its NUM; a 2.xx Block2 reply serves the byte offset the request asked for (a
// smaller SZX at the same offset is allowed, §2.4), with M, Size2, the payload size and an ETag
// matching a body the resource really had; 4.13 carries Size1 (§2.9.3); handler bodies never
// exceed max_block_payload and hold exactly the uploaded bytes; active transfers never exceed
// max_block_transfers.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "coap/coap.hpp"
#include "coap/router.hpp"
#include "fuzz_input.hpp"
#include "server/server_core.hpp"

namespace {

using namespace coap;
using coap::fuzz::check;

constexpr std::uint32_t buffer_size = 256;
constexpr std::uint32_t max_block_payload = 400;
constexpr std::uint32_t max_block_transfers = 3;
constexpr std::size_t max_big_length = 1600;  // above max_block_payload: served statelessly

std::uint8_t pattern(std::size_t offset) {
    return static_cast<std::uint8_t>(offset * 7 + 3);
}

std::uint8_t big_byte(std::uint32_t version, std::size_t offset) {
    return static_cast<std::uint8_t>(offset * 13 + version * 101 + 7);
}

ServerConfig make_config() {
    ServerConfig config;
    config.buffer_size = buffer_size;
    config.exchange_count = 16;
    config.exchange_cache_bytes = 4096;
    config.max_arena_size = 4096;
    config.max_block_transfers = max_block_transfers;
    config.max_block_payload = max_block_payload;
    config.max_block_size = 64;  // SZX 2: larger requested sizes are served at 64 (§2.4)
    config.block_transfer_timeout = std::chrono::seconds(10);
    config.max_observers = 4;
    config.max_observe_resources = 1;
    config.max_notification_bytes = 64;
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

// What the handlers see and serve; one per input.
struct Resource {
    std::uint32_t version = 0;
    std::array<std::uint8_t, max_big_length> body{};
    std::size_t length = 300;
    std::vector<std::size_t> lengths{300};  // of every version so far
    const Endpoint* raw_peer = nullptr;
    std::uint64_t handler_calls = 0;

    void change(std::size_t new_length) {
        ++version;
        length = new_length % (max_big_length + 1);
        lengths.push_back(length);
        fill();
    }
    void fill() {
        for (std::size_t i = 0; i < length; ++i)
            body[i] = big_byte(version, i);
    }
};

Resource& resource() {
    static Resource state;
    return state;
}

// Structured uploads hold pattern(i) at body offset i; raw ones anything.
void check_upload(const Request& request) {
    ++resource().handler_calls;
    Bytes body = request.payload();
    check(body.size() <= max_block_payload);
    if (request.peer() == *resource().raw_peer) return;
    for (std::size_t i = 0; i < body.size(); ++i)
        check(body[i] == pattern(i));
}

Handler make_handler() {
    Router router;
    auto big = [](Request&) -> HandlerResult {
        return Response::ok(Bytes(resource().body.data(), resource().length));
    };
    router.get("/big", big)
        .fetch("/big", big)
        .put("/upload",
             [](Request& request) -> HandlerResult {
                 check_upload(request);
                 return Response::changed();
             })
        .post("/echo", [](Request& request) -> HandlerResult {
            check_upload(request);
            return Response::ok(request.payload());  // views the upload: §2.7 Block2 reply
        });
    return Handler(std::move(router));
}

enum Op : std::uint8_t { request_op, raw_op, time_op, change_op, op_count };

// What the target put into a structured request, to check the reply against.
struct RequestShape {
    Code method = Code::get;
    std::string_view path = "big";
    std::optional<BlockValue> block1, block2;  // decodable values only
    std::uint32_t block1_raw = 0, block2_raw = 0;
    bool has_block1 = false, has_block2 = false;
};

class Harness {
  public:
    Harness()
        : config_(config()),
          core_(config_, handler(), false, 7, 0, nullptr, shared()),
          peers_{*Endpoint::from_literal("127.0.0.1", 1000),
                 *Endpoint::from_literal("127.0.0.1", 1001), *Endpoint::from_literal("::1", 1000),
                 *Endpoint::from_literal("10.0.0.1", 5683)} {
        resource() = Resource{};
        resource().fill();
        resource().raw_peer = &peers_[3];
    }

    void run(coap::fuzz::Input& in) {
        for (int ops = 0; !in.empty() && ops < 300; ++ops) {
            switch (in.u8() % op_count) {
                case request_op:
                    request(in);
                    break;
                case raw_op: {
                    Bytes datagram = in.bytes(in.u16() % (buffer_size + 1));
                    deliver(peers_[3], datagram, nullptr);
                    break;
                }
                case time_op:
                    now_ += std::chrono::milliseconds(in.u16()) * 4;
                    core_.on_timers(now_, sink_);
                    break;
                case change_op:
                    resource().change(in.u16());
                    break;
            }
            check(core_.block_transfers().active() <= max_block_transfers);
        }
    }

  private:
    // A fixed Echo key (no RAND_bytes per input) and a hub nobody publishes to.
    static detail::SharedServerState shared() {
        static const detail::EchoSecret secret{};
        static detail::NotificationHub hub(1, 64);
        return {&hub, &secret};
    }

    static const Handler& handler() {
        static const Handler instance = make_handler();
        return instance;
    }

    class Sink final : public detail::DatagramSink {
      public:
        bool send(const Endpoint&, Bytes datagram) noexcept override {
            check(parse(datagram).has_value());
            return true;
        }
    };

    void request(coap::fuzz::Input& in);
    void deliver(const Endpoint& peer, Bytes datagram, const RequestShape* shape);
    void check_reply(const RequestShape& shape, const MessageView& reply);
    void check_block2(const RequestShape& shape, const MessageView& reply);

    ServerConfig config_;
    detail::ServerCore core_;
    std::array<Endpoint, 4> peers_;
    Sink sink_;
    TimePoint now_{std::chrono::hours(1)};
};

void Harness::deliver(const Endpoint& peer, Bytes datagram, const RequestShape* shape) {
    std::array<std::uint8_t, buffer_size> reply{};
    std::uint64_t duplicates = core_.stats().duplicates;
    std::uint64_t calls = resource().handler_calls;
    std::size_t n = core_.on_datagram(peer, datagram, now_, reply);
    check(n <= buffer_size);
    if (n == 0) return;
    auto message = parse(Bytes(reply.data(), n));
    check(message.has_value());
    // §2.5: an atomic upload is enacted once, with its last block; 2.31 runs no handler.
    if (message->code() == Code::continue_) check(resource().handler_calls == calls);
    // A duplicate is answered from the cache: the reply belongs to the earlier request.
    if (shape == nullptr || core_.stats().duplicates != duplicates) return;
    // RFC 7252 §5.2.1, §5.2.3: piggybacked in the ACK of a CON, a NON for a NON.
    auto request = parse(datagram);
    check(message->type() == MessageType::rst ||
          message->type() ==
              (request->type() == MessageType::con ? MessageType::ack : MessageType::non));
    if (message->type() == MessageType::ack) check(message->message_id() == request->message_id());
    check_reply(*shape, *message);
}

void Harness::check_reply(const RequestShape& shape, const MessageView& reply) {
    if (reply.type() == MessageType::rst || reply.is_empty_message()) return;
    auto block1 = reply.find(OptionNumber::block1);
    if (reply.code() == Code::continue_) {
        // RFC 7959 §2.3: 2.31 acknowledges the block received, M set, at most its size.
        check(shape.block1 && shape.block1->more && block1.has_value());
        auto value = decode_block(block1->value);
        check(value && value->more && value->num == shape.block1->num);
        check(value->szx <= shape.block1->szx);
        return;
    }
    if (reply.code() == Code::request_entity_too_large) {
        check(reply.find_uint(OptionNumber::size1) == max_block_payload);  // §2.9.3
        return;
    }
    if (!is_success(reply.code())) return;
    check(!shape.has_block1 || (shape.block1 && !shape.block1->more));
    if (shape.block1) {
        // §2.3: the final response acknowledges the last block.
        check(block1.has_value());
        auto value = decode_block(block1->value);
        check(value && !value->more && value->num == shape.block1->num);
    }
    check_block2(shape, reply);
}

// RFC 7959 §2.4: the block asked for (its byte offset; the server may pick a smaller size), or
// block 0 when none was asked for; its bytes are those of a body the resource had.
void Harness::check_block2(const RequestShape& shape, const MessageView& reply) {
    check(!shape.has_block2 || shape.block2);  // SZX 7 is a 4.00 (§2.2)
    auto option = reply.find(OptionNumber::block2);
    if (!option) {
        check(!shape.block2 || shape.block2->num == 0);
        return;
    }
    auto served = decode_block(option->value);
    check(served.has_value());
    std::uint64_t asked = shape.block2 ? shape.block2->offset() : 0;
    check(served->offset() == asked);
    check(served->szx <= (shape.block2 ? shape.block2->szx : 6) && served->szx <= 2);
    Bytes payload = reply.payload();
    auto size2 = reply.find_uint(OptionNumber::size2);
    check(size2.has_value());
    check(served->more == (asked + payload.size() < *size2));
    check(served->more ? payload.size() == served->size() : payload.size() <= served->size());
    auto etag = reply.find(OptionNumber::etag);
    check(etag.has_value() && etag->value.size() == 8);
    // Which body was it? /echo returns the upload, /big one of its versions.
    auto matches = [&](auto byte_at) {
        std::vector<std::uint8_t> body(*size2);
        for (std::size_t i = 0; i < body.size(); ++i)
            body[i] = byte_at(i);
        if (asked + payload.size() > body.size()) return false;
        if (!std::equal(payload.begin(), payload.end(), body.begin() + asked)) return false;
        std::uint64_t hash = detail::body_hash(body);
        for (std::size_t i = 0; i < 8; ++i)
            if (etag->value[i] != static_cast<std::uint8_t>(hash >> (56 - 8 * i))) return false;
        return true;
    };
    if (shape.path == "echo") {
        check(matches(pattern));
        return;
    }
    const std::vector<std::size_t>& lengths = resource().lengths;
    for (std::uint32_t version = 0; version < lengths.size(); ++version) {
        if (lengths[version] != *size2) continue;
        if (matches([version](std::size_t i) { return big_byte(version, i); })) return;
    }
    coap::fuzz::fail();
}

// request: [peer 1B][flags 1B][MID 2B][token 1B], then Block1 [NUM 2B][M<<3|SZX 1B] if flag 3,
// Block2 [same] if flag 4, Size1 [2B] if flag 5, Request-Tag [length 1B][bytes] if flag 6,
// Content-Format [1B] if flag 7, then [payload length 2B] (0xffff: Block1's block size).
// Flag 0: NON; flags 1-2: GET /big, PUT /upload, POST /echo, FETCH /big.
void Harness::request(coap::fuzz::Input& in) {
    static constexpr std::array<Code, 4> methods{Code::get, Code::put, Code::post, Code::fetch};
    static constexpr std::array<std::string_view, 4> paths{"big", "upload", "echo", "big"};
    const Endpoint& peer = peers_[in.u8() % 3];
    std::uint8_t flags = in.u8();
    std::uint16_t message_id = in.u16();
    std::array<std::uint8_t, 1> token{in.u8()};
    RequestShape shape;
    shape.method = methods[(flags >> 1) & 3];
    shape.path = paths[(flags >> 1) & 3];
    auto block_field = [&](bool present, std::uint32_t& raw, std::optional<BlockValue>& value) {
        if (!present) return;
        std::uint32_t num = in.u16();
        raw = (num << 4) | (in.u8() & 0x0f);
        value = decode_block(UintValue(raw).bytes());
    };
    shape.has_block1 = flags & 0x08;
    shape.has_block2 = flags & 0x10;
    block_field(shape.has_block1, shape.block1_raw, shape.block1);
    block_field(shape.has_block2, shape.block2_raw, shape.block2);
    UintValue size1(flags & 0x20 ? in.u16() : 0);
    Bytes request_tag = flags & 0x40 ? in.bytes(in.u8() % 4) : Bytes{};
    UintValue content_format(flags & 0x80 ? in.u8() : 0);
    std::size_t length = in.u16();
    if (length == 0xffff) length = shape.block1 ? shape.block1->size() : 0;
    std::size_t offset = shape.block1 ? static_cast<std::size_t>(shape.block1->offset()) : 0;
    if (length > buffer_size) return;  // larger datagrams do not reach the core (buffer_size)
    std::array<std::uint8_t, buffer_size> payload{};
    for (std::size_t i = 0; i < length; ++i)
        payload[i] = pattern(offset + i);

    std::array<std::uint8_t, buffer_size> datagram{};
    MessageWriter writer(datagram);
    writer.header(flags & 1 ? MessageType::non : MessageType::con, shape.method, message_id,
                  Bytes(token.data(), token.size()));
    writer.option(OptionNumber::uri_path, shape.path);
    if (flags & 0x80) writer.option(OptionNumber::content_format, content_format.bytes());
    if (shape.has_block2) writer.uint_option(OptionNumber::block2, shape.block2_raw);
    if (shape.has_block1) writer.uint_option(OptionNumber::block1, shape.block1_raw);
    if (flags & 0x20) writer.option(OptionNumber::size1, size1.bytes());
    if (flags & 0x40) writer.option(OptionNumber::request_tag, request_tag);
    writer.payload(Bytes(payload.data(), length));
    auto written = writer.finish();
    if (written) deliver(peer, Bytes(datagram.data(), *written), &shape);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    coap::fuzz::Input in(data, size);
    Harness harness;
    harness.run(in);
    return 0;
}
