// A malformed-input corpus sent to coapd over real UDP sockets: every truncation of valid
// requests, reserved token lengths and option nibbles, empty payloads after the marker, seeded
// random datagrams and hand-written cases, each checked against the answer RFC 7252 (§3, §4.2,
// §4.3, §5.4) and RFC 7959 require. Datagrams are encoded by hand here, not by the library.
//
// Silence is checked without a fixed wait per case: after each case the peer sends a CoAP ping
// (an Empty CON, answered with RST, §4.3) and everything that arrives before that RST is the
// answer to the case, since coapd answers one socket's datagrams in order. A final bounded poll
// makes sure nothing straggles in later.
#include <string>
#include <vector>

#include "e2e/libcoap_harness.hpp"
#include "support/random.hpp"

namespace {

using namespace coap::e2e;

// The answers a case may get. RFC 7252 often allows more than one (§4.3: rejecting a NON "MAY
// involve sending a matching Reset message").
struct Expect {
    enum Answer : unsigned { nothing = 1, reset = 2, piggybacked = 4, non_response = 8 };
    Expect(unsigned allowed_answers, std::optional<Code> response_code = {},
           std::optional<std::uint16_t> option = {})
        : allowed(allowed_answers), code(response_code), with_option(option) {}

    unsigned allowed;
    std::optional<Code> code;                  // of a piggybacked or NON response; any when empty
    std::optional<std::uint16_t> with_option;  // the response must carry it
};

Expect silent() {
    return {Expect::nothing};
}
Expect rst() {
    return {Expect::reset};
}
Expect rst_or_silent() {
    return {Expect::reset | Expect::nothing};
}
Expect ack(Code code, std::optional<std::uint16_t> option = {}) {
    return {Expect::piggybacked, code, option};
}
Expect non(Code code) {
    return {Expect::non_response, code};
}
// A format error: a CON is rejected with RST (§4.2), a NON may be (§4.3), ACK and RST are
// silently ignored (§4.2).
Expect format_error(MessageType type) {
    return type == MessageType::con ? rst() : type == MessageType::non ? rst_or_silent() : silent();
}
// A well-formed request answered with `code`: piggybacked for CON, NON for NON (§5.2.3); ACK
// and RST carrying requests are ignored (§4.2).
Expect answered(MessageType type, Code code) {
    return type == MessageType::con ? ack(code) : type == MessageType::non ? non(code) : silent();
}

struct Case {
    std::string name;
    ByteVector datagram;
    Expect expect;
};

// Hand-encodes a message (RFC 7252 §3, §3.1) and records, for every prefix that is itself a
// complete message, the code coapd answers it with.
class Wire {
  public:
    Wire(MessageType type, std::uint8_t code, std::uint16_t mid, ByteVector token = {}) {
        bytes_ = {static_cast<std::uint8_t>(0x40 | static_cast<unsigned>(type) << 4 | token.size()),
                  code, static_cast<std::uint8_t>(mid >> 8), static_cast<std::uint8_t>(mid)};
        for (std::uint8_t byte : token)  // not insert(): a gcc 12 -Warray-bounds false positive
            bytes_.push_back(byte);
    }
    Wire& option(std::uint16_t number, const ByteVector& value) {
        if (number < last_number_) throw std::logic_error("options go in ascending order");
        std::size_t head = bytes_.size();
        bytes_.push_back(0);
        unsigned delta = nibble(number - last_number_);
        unsigned length = nibble(static_cast<unsigned>(value.size()));
        bytes_[head] = static_cast<std::uint8_t>(delta << 4 | length);
        last_number_ = number;
        bytes_.insert(bytes_.end(), value.begin(), value.end());
        return *this;
    }
    Wire& option(std::uint16_t number, std::string_view text) {
        return option(number, text_value(text));
    }
    Wire& raw(ByteVector more) {
        bytes_.insert(bytes_.end(), more.begin(), more.end());
        return *this;
    }
    Wire& payload(std::string_view text) {
        bytes_.push_back(0xff);
        return raw(text_value(text));
    }
    // The message as it stands is complete and answered with `code`.
    Wire& complete(Code code) {
        complete_.emplace_back(bytes_.size(), code);
        return *this;
    }
    const ByteVector& bytes() const { return bytes_; }
    std::optional<Code> complete_at(std::size_t length) const {
        for (auto [end, code] : complete_)
            if (end == length) return code;
        return std::nullopt;
    }

  private:
    // The 4-bit field for `value`, with the extended bytes it needs appended (§3.1).
    unsigned nibble(unsigned value) {
        if (value < 13) return value;
        if (value < 269) return bytes_.push_back(static_cast<std::uint8_t>(value - 13)), 13;
        bytes_.push_back(static_cast<std::uint8_t>((value - 269) >> 8));
        bytes_.push_back(static_cast<std::uint8_t>(value - 269));
        return 14;
    }

    ByteVector bytes_;
    std::vector<std::pair<std::size_t, Code>> complete_;
    unsigned last_number_ = 0;
};

constexpr std::uint8_t get = 0x01, put = 0x03;
constexpr std::uint16_t uri_path = 11, uri_query = 15, accept = 17, block2 = 23, block1 = 27,
                        size1 = 60;

ByteVector value_of(std::size_t length, std::uint8_t fill = 'v') {
    return ByteVector(length, fill);
}

std::string type_text(MessageType type) {
    return std::string(coap::type_name(type));
}

std::vector<MessageType> all_types() {
    return {MessageType::con, MessageType::non, MessageType::ack, MessageType::rst};
}

// ---------------------------------------------------------------------------------------------
// Sending a case and judging the answer.

class MalformedCorpus : public CoapdE2E, public ::testing::WithParamInterface<Family> {
  protected:
    void SetUp() override {
        CoapdE2E::SetUp();
        if (HasFatalFailure()) return;
        peer_ = std::make_unique<UdpPeer>(GetParam(), port());
    }
    // After the corpus coapd must still be alive and serving.
    void TearDown() override {
        if (peer_ && !HasFatalFailure()) {
            run({"GET /test after the corpus",
                 Wire(MessageType::con, get, mid(), {7}).option(uri_path, "test").bytes(),
                 ack(Code::content)});
            server_->process().drain();
            EXPECT_TRUE(server_->process().running()) << "coapd exited";
        }
        CoapdE2E::TearDown();
    }

    std::uint16_t mid() { return peer_->next_mid(); }

    // Sends the case, then a ping; returns what came before the ping's RST.
    std::vector<ByteVector> exchange(const ByteVector& datagram) {
        std::uint16_t ping = mid();
        if (datagram.size() >= 4 && ping == (datagram[2] << 8 | datagram[3])) ping = mid();
        peer_->send(datagram);
        peer_->send(Wire(MessageType::con, 0, ping).bytes());
        std::vector<ByteVector> answers;
        while (auto reply = peer_->receive(reply_timeout)) {
            bool ping_answer = reply->size() == 4 && (*reply)[0] == 0x70 && (*reply)[1] == 0 &&
                               ((*reply)[2] << 8 | (*reply)[3]) == ping;
            if (ping_answer) return answers;
            answers.push_back(*reply);
        }
        ADD_FAILURE() << "coapd did not answer the ping after the case";
        return answers;
    }

    void run(const Case& test_case) {
        std::vector<ByteVector> answers = exchange(test_case.datagram);
        std::string where = test_case.name + " [" + hex(test_case.datagram) + "]";
        if (answers.size() > 1) {
            ADD_FAILURE() << where << ": " << answers.size() << " answers";
            return;
        }
        if (answers.empty()) {
            EXPECT_TRUE(test_case.expect.allowed & Expect::nothing) << where << ": no answer";
            return;
        }
        judge(test_case, answers.front(), where);
    }

    void run_all(const std::vector<Case>& cases) {
        for (const Case& test_case : cases)
            run(test_case);
        EXPECT_FALSE(peer_->receive(100ms).has_value()) << "a late answer arrived";
    }

    std::unique_ptr<UdpPeer> peer_;

  private:
    static void judge(const Case& test_case, const ByteVector& answer, const std::string& where) {
        const ByteVector& sent = test_case.datagram;
        const Expect& expect = test_case.expect;
        auto message = coap::parse(coap::Bytes(answer.data(), answer.size()));
        ASSERT_TRUE(message.has_value()) << where << ": coapd sent a malformed " << hex(answer);
        std::uint16_t sent_mid = static_cast<std::uint16_t>(sent[2] << 8 | sent[3]);
        std::size_t token_end = std::min<std::size_t>(sent.size(), 4 + (sent[0] & 0x0f));
        ByteVector sent_token(sent.begin() + 4, sent.begin() + static_cast<long>(token_end));
        std::string got = type_text(message->type()) + " " + code_string(message->code());
        switch (message->type()) {
            case MessageType::rst:  // §4.2: "MUST echo the Message ID ... and MUST be Empty"
                EXPECT_TRUE(expect.allowed & Expect::reset) << where << ": got RST";
                EXPECT_EQ(answer.size(), 4u) << where;
                EXPECT_EQ(message->message_id(), sent_mid) << where;
                return;
            case MessageType::ack:
                EXPECT_TRUE(expect.allowed & Expect::piggybacked) << where << ": got " << got;
                EXPECT_EQ(message->message_id(), sent_mid) << where;
                break;
            case MessageType::non:
                EXPECT_TRUE(expect.allowed & Expect::non_response) << where << ": got " << got;
                break;
            case MessageType::con:
                ADD_FAILURE() << where << ": got " << got;
                return;
        }
        EXPECT_EQ(bytes_of(message->token()), sent_token) << where << ": token";  // §5.3.2
        if (expect.code) {
            EXPECT_EQ(code_string(message->code()), code_string(*expect.code)) << where;
        }
        if (expect.with_option) {
            EXPECT_TRUE(message->find(static_cast<OptionNumber>(*expect.with_option)))
                << where << ": no option " << *expect.with_option << " in " << got;
        }
    }
};

// ---------------------------------------------------------------------------------------------
// Generated cases.

constexpr std::string_view rich_payload = "payload";

// A GET for /seg1/seg2/seg3 with a long query (an extended length), Accept, an unknown elective
// option with 2-byte extended delta and length, and a payload; every prefix that ends at an
// option boundary is itself a request.
Wire rich_get(MessageType type, std::uint16_t mid) {
    Wire wire(type, get, mid, {1, 2, 3, 4, 5, 6, 7, 8});
    return wire.complete(Code::not_found)
        .option(uri_path, "seg1")
        .complete(Code::not_found)
        .option(uri_path, "seg2")
        .complete(Code::not_found)
        .option(uri_path, "seg3")
        .complete(Code::content)
        .option(uri_query, "a-rather-long-query=1")
        .complete(Code::content)
        .option(accept, ByteVector{})  // text/plain
        .complete(Code::content)
        .option(65000, value_of(300))  // elective and unknown: ignored (§5.4.1)
        .complete(Code::content)
        .payload(rich_payload);
}

// Every truncation of rich_get, each with its own Message ID (coapd deduplicates, §4.5).
std::vector<Case> truncations(MessageType type, UdpPeer& peer) {
    std::vector<Case> cases;
    std::size_t full = rich_get(type, 0).bytes().size();
    std::size_t marker = full - rich_payload.size() - 1;
    for (std::size_t length = 0; length <= full; ++length) {
        Wire wire = rich_get(type, peer.next_mid());
        ByteVector datagram(wire.bytes().begin(), wire.bytes().begin() + length);
        std::optional<Code> code = wire.complete_at(length);
        if (length > marker + 1) code = Code::content;  // at least one payload byte
        Expect expect = length < 4 ? silent()           // no Message ID to answer (§4.2)
                        : code     ? answered(type, *code)
                                   : format_error(type);
        cases.push_back({type_text(type) + " GET truncated to " + std::to_string(length),
                         std::move(datagram), expect});
    }
    return cases;
}

std::vector<Case> reserved_fields(UdpPeer& peer) {
    std::vector<Case> cases;
    for (MessageType type : all_types()) {
        std::string prefix = type_text(type) + " ";
        // §3: TKL 9-15 "MUST be processed as a message format error"; RFC 8974 §2.2.1: a server
        // without extended tokens treats TKL 13 and 14 the same way.
        for (unsigned tkl = 9; tkl <= 15; ++tkl) {
            ByteVector datagram = Wire(type, get, peer.next_mid()).raw(value_of(16, 1)).bytes();
            datagram[0] = static_cast<std::uint8_t>((datagram[0] & 0xf0) | tkl);
            cases.push_back({prefix + "TKL " + std::to_string(tkl), datagram, format_error(type)});
        }
        // §3.1: delta 15 outside the payload marker, and length 15, are format errors.
        for (unsigned nibble = 0; nibble < 15; ++nibble) {
            auto delta15 = static_cast<std::uint8_t>(0xf0 | nibble);
            auto length15 = static_cast<std::uint8_t>(nibble << 4 | 0x0f);
            for (std::uint8_t bad : {delta15, length15}) {
                Wire wire(type, get, peer.next_mid(), {0xaa});
                wire.option(uri_path, "test").raw({bad}).raw(value_of(20));
                cases.push_back(
                    {prefix + "option byte " + hex({bad}), wire.bytes(), format_error(type)});
            }
        }
        // §3: "a marker followed by a zero-length payload MUST be processed as a message format
        // error", wherever the marker is.
        cases.push_back({prefix + "marker after header",
                         Wire(type, get, peer.next_mid()).raw({0xff}).bytes(), format_error(type)});
        cases.push_back({prefix + "marker after token",
                         Wire(type, get, peer.next_mid(), {9, 9}).raw({0xff}).bytes(),
                         format_error(type)});
        cases.push_back(
            {prefix + "marker after options",
             Wire(type, put, peer.next_mid(), {9}).option(uri_path, "test").raw({0xff}).bytes(),
             format_error(type)});
    }
    return cases;
}

// Seeded random datagrams, judged by the rules that hold whatever the content: nothing for
// fewer than 4 bytes, another version (§3), ACK or RST (§4.2); a CON is acknowledged or reset
// (§4.2); a NON gets nothing, an RST or a NON response, never an ACK (§4.3).
Expect by_header(const ByteVector& datagram) {
    if (datagram.size() < 4 || datagram[0] >> 6 != 1) return silent();
    auto type = static_cast<MessageType>(datagram[0] >> 4 & 3);
    if ((datagram[0] & 0x0f) > 8) return format_error(type);
    if (type == MessageType::con) return {Expect::reset | Expect::piggybacked};
    if (type == MessageType::non) return {Expect::nothing | Expect::reset | Expect::non_response};
    return silent();
}

std::vector<Case> random_datagrams(std::uint64_t seed, std::size_t count) {
    coap::test::Random random{seed};
    std::vector<Case> cases;
    for (std::size_t i = 0; i < count; ++i) {
        ByteVector datagram(random.below(40));
        for (std::uint8_t& byte : datagram)
            byte = static_cast<std::uint8_t>(random.next());
        // Most get version 1 and a valid TKL so that they reach the option parser, half an
        // Empty or request code.
        if (!datagram.empty() && random.below(4) != 0)
            datagram[0] = static_cast<std::uint8_t>(0x40 | (datagram[0] & 0x30) | random.below(9));
        if (datagram.size() > 1 && random.below(2) == 0)
            datagram[1] = static_cast<std::uint8_t>(random.below(8));
        cases.push_back({"random #" + std::to_string(i), datagram, by_header(datagram)});
    }
    return cases;
}

TEST_P(MalformedCorpus, TruncationsOfAValidRequest) {
    for (MessageType type : all_types())
        run_all(truncations(type, *peer_));
}

TEST_P(MalformedCorpus, ReservedTokenLengthsOptionNibblesAndEmptyPayloads) {
    run_all(reserved_fields(*peer_));
}

TEST_P(MalformedCorpus, SeededRandomDatagrams) {
    run_all(random_datagrams(0x636f6170ull + static_cast<unsigned>(GetParam()), 500));
}

// ---------------------------------------------------------------------------------------------
// Hand-written cases, each with the rule it checks.

constexpr std::uint16_t uri_host = 3, if_none_match = 5, uri_port = 7, oscore = 9,
                        content_format = 12, max_age = 14, proxy_uri = 35;

ByteVector uint_value(std::uint32_t value) {
    ByteVector out;
    for (; value != 0; value >>= 8)
        out.insert(out.begin(), static_cast<std::uint8_t>(value));
    return out;
}

// Block option value (RFC 7959 §2.2): NUM, M, SZX.
ByteVector block(std::uint32_t num, bool more, unsigned szx) {
    return uint_value(num << 4 | (more ? 8u : 0u) | szx);
}

std::vector<Case> hand_written(UdpPeer& peer) {
    using T = MessageType;
    auto msg = [&peer](T type, std::uint8_t code, ByteVector token = {0x42}) {
        return Wire(type, code, peer.next_mid(), std::move(token));
    };
    auto on = [&](std::string_view path, std::uint8_t code = get, T type = T::con) {
        return msg(type, code).option(uri_path, path);
    };
    ByteVector long_datagram = on("test", put).payload(std::string(1400, 'x')).bytes();
    ByteVector overflow = on("test").raw({0xe0, 0xff, 0xff, 0xe0, 0xff, 0xff}).bytes();
    ByteVector short_extended = on("test").raw({0x0e, 0x00, 0x20}).raw(value_of(10)).bytes();
    ByteVector version0 = on("test").bytes(), version2 = on("test").bytes();
    version0[0] &= 0x3f;
    version2[0] = static_cast<std::uint8_t>((version2[0] & 0x3f) | 0x80);
    return {
        // §4.3: an Empty CON is a "CoAP ping", answered with RST; an Empty NON is rejected.
        {"Empty CON", msg(T::con, 0, {}).bytes(), rst()},
        {"Empty NON", msg(T::non, 0, {}).bytes(), rst_or_silent()},
        // §4.2: ACK and RST are never answered, matched or not.
        {"Empty ACK", msg(T::ack, 0, {}).bytes(), silent()},
        {"Empty RST", msg(T::rst, 0, {}).bytes(), silent()},
        // §4.1: an Empty message with a token or any byte after the header is a format error.
        {"Empty CON with a token", msg(T::con, 0, {1}).bytes(), rst()},
        {"Empty CON with a payload", msg(T::con, 0, {}).payload("x").bytes(), rst()},
        // §4.2: a non-Empty RST, or an ACK carrying a request, is silently ignored.
        {"RST carrying 2.05", msg(T::rst, 0x45).payload("x").bytes(), silent()},
        {"ACK carrying GET /test", on("test", get, T::ack).bytes(), silent()},
        // §4.2, §4.3: reserved classes 1, 6 and 7 (7.xx are RFC 8323 signals, TCP only).
        {"CON 1.01", on("test", 0x21).bytes(), rst()},
        {"CON 6.01", on("test", 0xc1).bytes(), rst()},
        {"CON 7.01 (CSM)", on("test", 0xe1).bytes(), rst()},
        {"NON 1.01", on("test", 0x21, T::non).bytes(), rst_or_silent()},
        // §4.2, §5.3.2: a server has no context for a CON response.
        {"CON 2.05 to a server", msg(T::con, 0x45).payload("x").bytes(), rst()},
        // §3: "Messages with unknown version numbers MUST be silently ignored".
        {"version 0", version0, silent()},
        {"version 2", version2, silent()},
        // No Message ID to echo: nothing can be answered.
        {"0 bytes", {}, silent()},
        {"3 bytes", {0x40, 0x01, 0x12}, silent()},
        // §5.4.1: an unrecognized critical option in a CON request gets 4.02; in a NON one the
        // message is rejected (§4.3); an unrecognized elective one is ignored.
        {"OSCORE (9, not implemented)",
         msg(T::con, get).option(oscore, ByteVector{}).option(uri_path, "test").bytes(),
         ack(Code::bad_option)},
        {"critical option 65535", on("test").option(65535, value_of(1)).bytes(),
         ack(Code::bad_option)},
        {"NON with critical option 2049",
         on("test", get, T::non).option(2049, ByteVector{}).bytes(), rst_or_silent()},
        {"elective option 65534", on("test").option(65534, value_of(3)).bytes(),
         ack(Code::content)},
        // §5.4.3: a length outside the option's range makes it unrecognized.
        {"If-None-Match with a value",
         msg(T::con, put).option(if_none_match, {1}).option(uri_path, "test").bytes(),
         ack(Code::bad_option)},
        {"empty Uri-Host", msg(T::con, get).option(uri_host, ByteVector{}).bytes(),
         ack(Code::bad_option)},
        {"Uri-Port of 3 bytes", msg(T::con, get).option(uri_port, {0, 22, 51}).bytes(),
         ack(Code::bad_option)},
        {"Uri-Path of 256 bytes", on(std::string(256, 'p')).bytes(), ack(Code::bad_option)},
        {"Block2 of 4 bytes", on("large").option(block2, {0, 0, 0, 2}).bytes(),
         ack(Code::bad_option)},
        {"Content-Format of 3 bytes (elective)",
         on("test").option(content_format, {0, 0, 0}).bytes(), ack(Code::content)},
        // §5.4.5: a supernumerary occurrence is treated like an unrecognized option.
        {"Uri-Host twice", msg(T::con, get).option(uri_host, "a").option(uri_host, "b").bytes(),
         ack(Code::bad_option)},
        {"Max-Age twice (elective)", on("test").option(max_age, {1}).option(max_age, {2}).bytes(),
         ack(Code::content)},
        // Option numbers end at 65535 (§12.2): a delta beyond that cannot be parsed.
        {"option number above 65535", overflow, rst()},
        {"extended length beyond the datagram", short_extended, rst()},
        // §3: the token may be 8 bytes.
        {"8-byte token", msg(T::con, get, value_of(8, 3)).option(uri_path, "test").bytes(),
         ack(Code::content)},
        // RFC 7959 §2.2: SZX 7 "MUST lead to a 4.00 Bad Request".
        {"Block2 SZX 7", on("large").option(block2, block(0, false, 7)).bytes(),
         ack(Code::bad_request)},
        {"Block1 SZX 7",
         on("large-update", put).option(block1, block(0, true, 7)).payload("x").bytes(),
         ack(Code::bad_request)},
        // RFC 7959 §2.3: with M set the payload "MUST match" the block size.
        {"Block1 M with a short block",
         on("large-update", put).option(block1, block(0, true, 2)).payload("short").bytes(),
         ack(Code::bad_request)},
        // RFC 7959 §2.9.2: a block out of sequence gets 4.08.
        {"Block1 NUM 3 first",
         on("large-update", put).option(block1, block(3, false, 0)).payload("x").bytes(),
         ack(Code::request_entity_incomplete)},
        // RFC 7959 §2.9.3 and §4: 4.13 for a body announced (Size1) beyond the limit, with
        // Size1 saying what the server takes.
        {"Block1 with Size1 100000",
         on("large-update", put)
             .option(block1, block(0, true, 0))
             .option(size1, uint_value(100000))
             .payload(std::string(16, 'b'))
             .bytes(),
         ack(Code::request_entity_too_large, size1)},
        // §5.9.2.5, §5.8, §5.7.2, §5.10.4.
        {"GET of an unknown path", on("no-such-resource").bytes(), ack(Code::not_found)},
        {"DELETE of GET-only /large", on("large", 0x04).bytes(), ack(Code::method_not_allowed)},
        {"unassigned method 0.31 on /test", on("test", 0x1f).bytes(),
         ack(Code::method_not_allowed)},
        {"Proxy-Uri", msg(T::con, get).option(proxy_uri, "coap://example.net/x").bytes(),
         ack(Code::proxying_not_supported)},
        {"Accept 9999 on /test", on("test").option(accept, uint_value(9999)).bytes(),
         ack(Code::not_acceptable)},
        // §4.6: a datagram larger than the receive buffer (1280) may be dropped, reset or
        // answered with 4.13; coapd drops it.
        {"1400-byte datagram",
         long_datagram,
         {Expect::nothing | Expect::reset | Expect::piggybacked, Code::request_entity_too_large}},
    };
}

std::string family_param_name(const ::testing::TestParamInfo<Family>& info) {
    return family_name(info.param);
}

TEST_P(MalformedCorpus, HandWrittenCases) {
    run_all(hand_written(*peer_));
}

// §4.5: a duplicate CON gets the same answer again, even a 4.02.
TEST_P(MalformedCorpus, DuplicateOfARejectedRequestGetsTheSameAnswer) {
    Wire request(MessageType::con, get, mid(), {5});
    request.option(oscore, ByteVector{}).option(uri_path, "test");
    run({"OSCORE", request.bytes(), ack(Code::bad_option)});
    run({"OSCORE again, same Message ID", request.bytes(), ack(Code::bad_option)});
}

// RFC 7959 §2.9.3: the block that takes an upload past max_block_payload (64 KiB) gets 4.13.
TEST_P(MalformedCorpus, Block1UploadBeyondTheBodyLimitGets413) {
    const std::string chunk(1024, 'u');
    for (std::uint32_t num = 0; num < 64; ++num) {
        Wire wire(MessageType::con, put, mid(), {0x13});
        wire.option(uri_path, "large-update").option(block1, block(num, true, 6)).payload(chunk);
        run({"block " + std::to_string(num), wire.bytes(), ack(Code::continue_, block1)});
        if (HasFailure()) return;
    }
    Wire last(MessageType::con, put, mid(), {0x13});
    last.option(uri_path, "large-update").option(block1, block(64, true, 6)).payload(chunk);
    run({"block 64", last.bytes(), ack(Code::request_entity_too_large, size1)});
}

// RFC 7252 §5.8: "A request with an unrecognized or unsupported Method Code MUST generate a
// 4.05 (Method Not Allowed) piggybacked response." The server core answers it before any
// routing, so an unknown path does not turn it into 4.04.
TEST_P(MalformedCorpus, UnassignedMethodOnAnUnknownPathGets405) {
    run_all({{"0.31 on /no-such-resource",
              Wire(MessageType::con, 0x1f, mid(), {6}).option(uri_path, "no-such-resource").bytes(),
              ack(Code::method_not_allowed)}});
}

INSTANTIATE_TEST_SUITE_P(Families, MalformedCorpus, ::testing::Values(Family::ipv4, Family::ipv6),
                         family_param_name);

}  // namespace
