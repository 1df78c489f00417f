// libFuzzer target for the sans-I/O client engine (ClientCore): a CON GET, a NON GET, a GET that
// may turn into a Block2 download, a Block1 upload and an observation in flight, then any
// sequence of server datagrams at fuzzed times, with timers run, more submissions (a second
// upload to the same resource gets a Request-Tag, RFC 9175 §3.4; FETCH observations; NON
// uploads), cancellations, fail_all and reads of completions and notifications.
//
// Input: records of [op 1B][fields]; see the `Op` enum and the reply() comment (the seed script
// make_client_datagram_corpus.py writes them). Replies are built from a datagram the client
// sent, so tokens and Message IDs can match; raw datagrams cover the rest.
// Invariants (trap on violation): every datagram the client sends parses and is a request with
// a token of token_length bytes, or an empty ACK/RST (RFC 7252 §4.2); requests in flight never
// exceed max_in_flight, nor 1 before the server answered (NSTART, §4.7); queued completions and
// active requests stay within 2 x max_in_flight (memory is bounded); every completion belongs
// to a submitted request and comes once; reassembled bodies stay within max_body_size; nothing
// follows an observation's last notification; with time run on, every request completes.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <set>
#include <span>
#include <string_view>
#include <vector>

#include "client/client_core.hpp"
#include "coap/coap.hpp"
#include "fuzz_input.hpp"

namespace {

using namespace coap;
using coap::detail::ClientCore;
using coap::fuzz::check;

// ClientCore::in_flight() is private; access checking does not apply to the names in an
// explicit instantiation ([temp.spec.general]), which lets the invariant read the engine's own
// count without changing the library.
struct InFlight {
    using type = std::size_t (ClientCore::*)() const noexcept;
    friend type member(InFlight);
};
template <class Tag, typename Tag::type Member>
struct Expose {
    friend typename Tag::type member(Tag) { return Member; }
};
template struct Expose<InFlight, &ClientCore::in_flight>;

std::size_t in_flight(const ClientCore& core) {
    return (core.*member(InFlight{}))();
}

ClientConfig make_config() {
    ClientConfig config;
    config.max_in_flight = 4;
    config.token_length = 2;
    config.block_szx = 1;  // 32-byte blocks: a 100-byte upload takes four
    config.max_body_size = 512;
    config.buffer_size = 256;
    config.max_queued_notifications = 3;
    config.response_timeout = std::chrono::seconds(20);
    return config;
}

constexpr std::size_t sent_log_size = 16;
constexpr std::size_t max_reply_size = 1200;  // of the datagrams reply() builds

enum Op : std::uint8_t {
    reply_op,         // a response built from a sent datagram, see reply()
    raw_op,           // [length 1B][bytes]
    time_op,          // [ms 2B]: time passes, timers run
    seconds_op,       // [s 1B]
    deadline_op,      // time jumps to next_deadline()
    submit_op,        // [which 1B]
    cancel_op,        // [which 1B]: cancel an observation
    completion_op,    // [which 1B]: pop_completion, or take_completion of one handle
    notification_op,  // [which 1B]: pop a notification, into a small buffer for odd values
    fail_op,          // fail_all(network)
    op_count
};

class Harness {
  public:
    Harness() : config_(make_config()), core_(config_, 0x5eed) {
        // CON, NON, a GET answered block-wise or not, a Block1 upload and an observation: one
        // goes out (NSTART 1), four wait in the queue of max_in_flight.
        for (std::uint8_t which : {0, 1, 2, 3, 5})
            submit(which);
        check_state();
    }

    void run(coap::fuzz::Input& in) {
        for (int ops = 0; !in.empty() && ops < 400; ++ops) {
            switch (in.u8() % op_count) {
                case reply_op:
                    reply(in);
                    break;
                case raw_op:
                    receive(in.bytes(in.u8()));
                    break;
                case time_op:
                    advance(std::chrono::milliseconds(in.u16()));
                    break;
                case seconds_op:
                    advance(std::chrono::seconds(in.u8()));
                    break;
                case deadline_op:
                    if (auto deadline = core_.next_deadline())
                        advance(std::max(*deadline - now_, Duration::zero()));
                    break;
                case submit_op:
                    submit(in.u8());
                    break;
                case cancel_op:
                    cancel(in.u8());
                    break;
                case completion_op:
                    take_completion(in.u8());
                    break;
                case notification_op:
                    take_notification(in.u8());
                    break;
                case fail_op:
                    core_.fail_all(ClientError::network);
                    break;
            }
            check_state();
        }
        finish();
    }

  private:
    struct Sent {
        std::vector<std::uint8_t> bytes;
    };

    // RFC 7252 §4.7: NSTART 1 until the server answered, then max_in_flight. Every bound below
    // is what the configuration promises the application.
    void check_state() {
        drain();
        std::size_t limit = core_.server_answered() ? config_.max_in_flight : 1;
        check(in_flight(core_) <= limit);
        check(core_.active() <= 2 * std::size_t{config_.max_in_flight});
        check(core_.queued_completions() <= 2 * std::size_t{config_.max_in_flight});
        for (RequestHandle id : ended_)
            check(!core_.observation_open(id));  // handles are never reused
    }

    void submit(std::uint8_t which) {
        static const std::array<std::uint8_t, 100> body = [] {
            std::array<std::uint8_t, 100> b{};
            for (std::size_t i = 0; i < b.size(); ++i)
                b[i] = static_cast<std::uint8_t>(i);
            return b;
        }();
        static const std::array<Option, 1> a{{{OptionNumber::uri_path, as_bytes("a")}}};
        static const std::array<Option, 1> big{{{OptionNumber::uri_path, as_bytes("big")}}};
        static const std::array<Option, 1> up{{{OptionNumber::uri_path, as_bytes("up")}}};
        static const std::array<Option, 1> obs{{{OptionNumber::uri_path, as_bytes("obs")}}};
        struct Choice {
            Code method;
            std::span<const Option> options;
            std::size_t body_size;
            bool non;
            bool observe;
        };
        static const std::array<Choice, 8> menu{{
            {Code::get, a, 0, false, false},     // CON
            {Code::get, a, 0, true, false},      // NON
            {Code::get, big, 0, false, false},   // a Block2 download if answered so
            {Code::put, up, 100, false, false},  // Block1: four blocks of 32 bytes
            {Code::put, up, 100, false, false},  // the same again: with a Request-Tag
            {Code::get, obs, 0, false, true},    // an observation
            {Code::post, up, 40, true, false},   // a NON Block1 upload
            {Code::fetch, obs, 1, false, true},  // a FETCH observation (RFC 8132)
        }};
        const Choice& choice = menu[which % menu.size()];
        RequestSpec spec{choice.method, choice.options, Bytes(body.data(), choice.body_size),
                         choice.non};
        bool observe = choice.observe;
        auto handle = observe ? core_.observe(spec, now_) : core_.submit(spec, now_);
        if (!handle) {
            check(handle.error() == ClientError::busy);
            return;
        }
        check(pending_.count(*handle) == 0 && observations_.count(*handle) == 0);
        (observe ? observations_ : pending_).insert(*handle);
    }

    void cancel(std::uint8_t which) {
        if (observations_.empty()) return;
        auto it = observations_.begin();
        std::advance(it, which % observations_.size());
        (void)core_.cancel_observation(*it, now_);
    }

    void take_completion(std::uint8_t which) {
        std::optional<Completion> done;
        if (which < 0x80 || pending_.empty()) {
            done = core_.pop_completion();
        } else {
            auto it = pending_.begin();
            std::advance(it, which % pending_.size());
            if (auto result = core_.take_completion(*it))
                done = Completion{*it, std::move(*result)};
        }
        if (!done) return;
        check(pending_.erase(done->handle) == 1);  // submitted, and completed only once
        if (done->result) {
            const ClientResponse& response = *done->result;
            check(parse(response.message().datagram()).has_value());
            // A body reassembled from blocks is bounded; a single datagram is what it is.
            if (response.payload().data() != response.message().payload().data())
                check(response.payload().size() <= config_.max_body_size);
        }
    }

    void take_notification(std::uint8_t which) {
        if (observations_.empty()) return;
        auto it = observations_.begin();
        std::advance(it, which % observations_.size());
        RequestHandle id = *it;
        bool last = false;
        if (which & 0x80) {
            std::array<std::uint8_t, 48> small{};  // a notification may not fit: too_large
            auto copy = core_.pop_notification_into(id, small);
            if (!copy) return;
            if (copy->length) check(parse(Bytes(small.data(), *copy->length)).has_value());
            last = copy->last;
        } else {
            auto notification = core_.pop_notification(id);
            if (!notification) return;
            if (notification->result) {
                check(notification->result->payload().size() <=
                      std::max<std::size_t>(config_.max_body_size, max_reply_size));
                check(parse(notification->result->message().datagram()).has_value());
            }
            last = notification->last;
        }
        if (!last) return;
        observations_.erase(it);
        check(!core_.pop_notification(id).has_value());  // nothing after the last one
        ended_.insert(id);
    }

    // Every datagram out: a request with the engine's token length, or an empty ACK/RST.
    void drain() {
        for (std::size_t count = 0; core_.has_outgoing(); ++count) {
            check(count < 256);
            Bytes datagram = core_.front_outgoing();
            check(datagram.size() <= config_.buffer_size);
            auto message = parse(datagram);
            check(message.has_value());
            if (message->is_empty_message()) {
                check(message->type() == MessageType::ack || message->type() == MessageType::rst);
            } else {
                check(message->is_request());
                check(message->type() == MessageType::con || message->type() == MessageType::non);
                check(message->token().size() == config_.token_length);
                check_blocks(*message);
                sent_.push_back(Sent{{datagram.begin(), datagram.end()}});
                if (sent_.size() > sent_log_size) sent_.erase(sent_.begin());
            }
            core_.pop_outgoing();
        }
    }

    // RFC 7959 §2.2, §2.3: a Block1 block with M set carries exactly the block size.
    void check_blocks(const MessageView& request) {
        if (auto block1 = request.find(OptionNumber::block1)) {
            auto value = decode_block(block1->value);
            check(value.has_value() && value->szx <= config_.block_szx);
            if (value->more) check(request.payload().size() == value->size());
            check(request.payload().size() <= value->size());
        }
        if (auto block2 = request.find(OptionNumber::block2)) {
            auto value = decode_block(block2->value);
            check(value.has_value() && !value->more);
        }
    }

    void receive(Bytes datagram) { core_.on_datagram(datagram, now_); }

    void advance(Duration step) {
        now_ += step;
        core_.on_timer(now_);
    }

    void reply(coap::fuzz::Input& in);

    const Sent* pick(std::uint8_t which) const {
        if (sent_.empty()) return nullptr;
        if (which < 0x80) return &sent_[sent_.size() - 1 - which % sent_.size()];
        static constexpr std::array<std::string_view, 4> paths{"a", "big", "up", "obs"};
        for (auto it = sent_.rbegin(); it != sent_.rend(); ++it) {
            auto path = parse(it->bytes)->find(OptionNumber::uri_path);
            if (path && path->as_string() == paths[which & 3]) return &*it;
        }
        return nullptr;
    }

    // With time run on (no more datagrams from the server) every request ends: CON ones after
    // MAX_RETRANSMIT, NON ones and separate responses after response_timeout (RFC 7252 §4.2).
    void finish() {
        for (int round = 0; round < 256; ++round) {
            auto deadline = core_.next_deadline();
            if (!deadline) break;
            now_ = std::max(now_, *deadline);
            core_.on_timer(now_);
            check_state();
        }
        check(!core_.next_deadline().has_value());
        while (!pending_.empty()) {
            std::size_t before = pending_.size();
            take_completion(0);
            check(pending_.size() < before);  // a request that never completes
        }
        check(core_.queued_completions() == 0);
    }

    ClientConfig config_;
    ClientCore core_;
    TimePoint now_{std::chrono::hours(1)};
    std::vector<Sent> sent_;
    std::set<RequestHandle> pending_;       // submitted requests not taken yet
    std::set<RequestHandle> observations_;  // until their last notification
    std::set<RequestHandle> ended_;
    std::uint32_t observe_counter_ = 2;
    std::uint16_t next_server_mid_ = 0x8000;
};

const std::array<Code, 12> reply_codes{Code::content,
                                       Code::changed,
                                       Code::continue_,
                                       Code::created,
                                       Code::valid,
                                       Code::not_found,
                                       Code::unauthorized,
                                       Code::request_entity_incomplete,
                                       Code::request_entity_too_large,
                                       Code::service_unavailable,
                                       Code::bad_request,
                                       Code::empty};

// reply: [which 1B][kind 1B][code 1B][flags 1B], then per flag: Block2 [1B], Block1 [1B],
// Observe [1B, or 0xff + 3B], ETag [1B], Echo [2B], Size2 [2B]; then [MID 2B] unless flag 6,
// and [payload length 1B] unless flag 7 (exactly the Block2 size).
// kind % 6: 0 piggybacked ACK, 1 empty ACK, 2 CON (separate), 3 NON, 4 RST, 5 ACK with
// another token. which < 0x80: the request sent `which` datagrams ago; else the latest one to
// path a, big, up or obs (which & 3). Flags: 0 Block2, 1 Block1, 2 Observe, 3 ETag, 4 Echo, 5
// Size2, 6 fresh MID, 7 full block.
void Harness::reply(coap::fuzz::Input& in) {
    const Sent* sent = pick(in.u8());
    if (sent == nullptr) return;
    auto request = parse(sent->bytes);
    check(request.has_value());
    std::uint8_t kind = in.u8() % 6;
    std::uint8_t code_index = in.u8();
    std::uint8_t flags = in.u8();
    Code code = reply_codes[code_index % reply_codes.size()];
    if (code_index >= 0xf0) code = static_cast<Code>(in.u8());  // any code at all

    std::array<std::uint8_t, 8> token{};
    Bytes request_token = request->token();
    std::copy(request_token.begin(), request_token.end(), token.begin());
    if (kind == 5) token[0] ^= 0x5a;
    Bytes reply_token(token.data(), request_token.size());

    std::uint8_t szx = config_.block_szx;
    UintValue block2(0), block1(0), observe(0), size2(0);
    std::array<std::uint8_t, 2> echo{};
    std::array<std::uint8_t, 3> etag{0xe7, 0, 0};
    if (flags & 0x01) {
        std::uint8_t b = in.u8();
        auto asked = request->find(OptionNumber::block2);
        std::uint32_t expected = asked ? decode_block(asked->value).value_or(BlockValue{}).num : 0;
        szx = b & 7;
        std::uint32_t num = (b >> 4) == 0 ? expected : (b >> 4) - 1u;
        block2 = UintValue((num << 4) | (b & 0x0f));  // SZX 7 (reserved) included
    }
    if (flags & 0x02) {
        std::uint8_t b = in.u8();
        auto asked = request->find(OptionNumber::block1);
        if (b >= 0xfe && asked) {  // the request's own Block1, or with M set (2.31, §2.3)
            std::uint32_t value = decode_uint(asked->value).value_or(0);
            block1 = UintValue(b == 0xfe ? value | 0x08 : value);
        } else {
            block1 = UintValue(b);
        }
    }
    if (flags & 0x04) {
        std::uint8_t step = in.u8();
        observe_counter_ = step == 0xff ? in.u24() : (observe_counter_ + step) & 0xffffff;
        observe = UintValue(observe_counter_);
    }
    if (flags & 0x08) etag[1] = in.u8() & 3;
    if (flags & 0x10) echo = {in.u8(), in.u8()};
    if (flags & 0x20) size2 = UintValue(in.u16());
    std::uint16_t message_id = request->message_id();
    if (kind == 2 || kind == 3) message_id = (flags & 0x40) ? next_server_mid_++ : in.u16();
    std::size_t length = (flags & 0x80) ? (szx < 7 ? 16u << szx : 16u) : in.u8();
    std::array<std::uint8_t, 1024> payload{};
    for (std::size_t i = 0; i < length; ++i)
        payload[i] = static_cast<std::uint8_t>(i * 7 + 1);

    std::array<std::uint8_t, max_reply_size> out{};
    MessageWriter writer(out);
    if (kind == 1 || kind == 4) {  // empty ACK (§5.2.2) or RST
        writer.header(kind == 1 ? MessageType::ack : MessageType::rst, Code::empty, message_id);
    } else {
        MessageType type = kind == 2   ? MessageType::con
                           : kind == 3 ? MessageType::non
                                       : MessageType::ack;
        writer.header(type, code, message_id, reply_token);
        if (flags & 0x08) writer.option(OptionNumber::etag, Bytes(etag.data(), 2));
        if (flags & 0x04) writer.option(OptionNumber::observe, observe.bytes());
        if (flags & 0x01) writer.option(OptionNumber::block2, block2.bytes());
        if (flags & 0x02) writer.option(OptionNumber::block1, block1.bytes());
        if (flags & 0x20) writer.option(OptionNumber::size2, size2.bytes());
        if (flags & 0x10) writer.option(OptionNumber::echo, Bytes(echo.data(), echo.size()));
        writer.payload(Bytes(payload.data(), length));
    }
    auto written = writer.finish();
    if (written) receive(Bytes(out.data(), *written));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    coap::fuzz::Input in(data, size);
    Harness harness;
    harness.run(in);
    return 0;
}
