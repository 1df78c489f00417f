// Shared by the client_core_*_test files: the client engine (ClientCore) with injected time,
// a builder for the datagrams a server would send, and the fixtures that drive the engine by
// reading its datagrams and feeding scripted replies back. No sockets, no sleeps.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "client/client_core.hpp"
#include "support/bytes.hpp"
#include "support/random.hpp"

namespace coap::detail::client_test {

using namespace std::chrono_literals;
using test::bytes;
using test::ByteVector;

inline const TimePoint t0 = TimePoint{} + 1000s;

using test::Random;

// The view points into `wire`: keep the bytes alive as long as the view.
inline MessageView view(const ByteVector& wire) {
    auto parsed = parse(wire);
    EXPECT_TRUE(parsed) << "datagram does not parse";
    return parsed ? *parsed : MessageView{};
}

inline ByteVector token_of(const ByteVector& wire) {
    auto v = view(wire);
    return ByteVector(v.token().begin(), v.token().end());
}

inline std::uint16_t mid_of(const ByteVector& wire) {
    return view(wire).message_id();
}

inline ByteVector payload_of(const ByteVector& wire) {
    auto v = view(wire);
    return ByteVector(v.payload().begin(), v.payload().end());
}

inline std::optional<BlockValue> block_of(const ByteVector& wire, OptionNumber number) {
    auto option = view(wire).find(number);
    if (!option) return std::nullopt;
    return decode_block(option->value);
}

inline std::optional<ByteVector> option_of(const ByteVector& wire, OptionNumber number) {
    auto option = view(wire).find(number);
    if (!option) return std::nullopt;
    return ByteVector(option->value.begin(), option->value.end());
}

using OptionList = std::vector<std::pair<std::uint16_t, ByteVector>>;

inline OptionList options_of(const ByteVector& wire,
                             std::initializer_list<OptionNumber> except = {}) {
    OptionList out;
    for (const Option& option : view(wire).options()) {
        if (std::find(except.begin(), except.end(), option.number) != except.end()) continue;
        out.emplace_back(to_int(option.number),
                         ByteVector(option.value.begin(), option.value.end()));
    }
    return out;
}

inline ByteVector empty_message(MessageType type, std::uint16_t id) {
    return bytes({0x40 | (static_cast<int>(type) << 4), 0, id >> 8, id & 0xff});
}

inline ByteVector body_of_size(std::size_t size, std::uint8_t salt = 0) {
    ByteVector body(size);
    for (std::size_t i = 0; i < size; ++i)
        body[i] = static_cast<std::uint8_t>((i * 7 + i / 251 + salt) & 0xff);
    return body;
}

inline ByteVector slice(const ByteVector& body, std::size_t from, std::size_t length) {
    from = std::min(from, body.size());
    length = std::min(length, body.size() - from);
    return ByteVector(body.begin() + static_cast<std::ptrdiff_t>(from),
                      body.begin() + static_cast<std::ptrdiff_t>(from + length));
}

// Builds a datagram as the server would send it.
class Msg {
  public:
    Msg(MessageType type, Code code, std::uint16_t id, ByteVector token = {})
        : type_(type), code_(code), id_(id), token_(std::move(token)) {}

    Msg& opt(OptionNumber number, ByteVector value) {
        options_.emplace_back(number, std::move(value));
        return *this;
    }
    Msg& uint(OptionNumber number, std::uint32_t value) {
        UintValue encoded(value);
        return opt(number, ByteVector(encoded.bytes().begin(), encoded.bytes().end()));
    }
    Msg& block(OptionNumber number, std::uint32_t num, bool more, std::uint8_t szx) {
        UintValue encoded = encode_block({num, more, szx});
        return opt(number, ByteVector(encoded.bytes().begin(), encoded.bytes().end()));
    }
    Msg& observe(std::uint32_t sequence) { return uint(OptionNumber::observe, sequence); }
    Msg& etag(ByteVector tag) { return opt(OptionNumber::etag, std::move(tag)); }
    Msg& payload(ByteVector body) {
        payload_ = std::move(body);
        return *this;
    }
    Msg& payload(std::string_view text) { return payload(bytes(text)); }

    ByteVector wire() const {
        std::vector<Option> options;
        for (const auto& [number, value] : options_)
            options.push_back(Option{number, value});
        ByteVector out(70000);
        auto n = encode(Message{type_, code_, id_, token_, options, payload_}, out);
        EXPECT_TRUE(n) << "test message does not encode";
        out.resize(n ? *n : 0);
        return out;
    }

  private:
    MessageType type_;
    Code code_;
    std::uint16_t id_;
    ByteVector token_;
    std::vector<std::pair<OptionNumber, ByteVector>> options_;
    ByteVector payload_;
};

// The piggybacked answer to `request`: ACK with its Message ID and token.
inline Msg piggyback(const ByteVector& request, Code code = Code::content) {
    return Msg(MessageType::ack, code, mid_of(request), token_of(request));
}

// A separate (or NON) answer to `request`: its token, a Message ID of the server's choosing.
inline Msg separate(const ByteVector& request, MessageType type, std::uint16_t id,
                    Code code = Code::content) {
    return Msg(type, code, id, token_of(request));
}

class ClientCoreTest : public ::testing::Test {
  protected:
    void make(std::uint64_t seed = 0x5eed) { core_ = std::make_unique<ClientCore>(config_, seed); }

    RequestSpec get_x() const { return RequestSpec{Code::get, path_x_, {}, false}; }

    Expected<RequestHandle, ClientError> submit(const RequestSpec& spec, TimePoint now = t0) {
        return core_->submit(spec, now);
    }
    RequestHandle submit_ok(const RequestSpec& spec, TimePoint now = t0) {
        auto handle = core_->submit(spec, now);
        EXPECT_TRUE(handle) << "submit failed";
        return handle ? *handle : 0;
    }

    // Everything the engine wants to send, oldest first.
    std::vector<ByteVector> sent() {
        std::vector<ByteVector> out;
        while (core_->has_outgoing()) {
            Bytes datagram = core_->front_outgoing();
            out.emplace_back(datagram.begin(), datagram.end());
            core_->pop_outgoing();
        }
        return out;
    }
    ByteVector one_sent() {
        auto all = sent();
        EXPECT_EQ(all.size(), 1u) << "expected exactly one datagram";
        return all.empty() ? ByteVector{} : all.front();
    }
    void receive(const ByteVector& datagram, TimePoint now = t0) {
        core_->on_datagram(datagram, now);
    }
    Completion completion() {
        auto c = core_->pop_completion();
        EXPECT_TRUE(c) << "expected a completion";
        return c ? std::move(*c) : Completion{0, unexpected(ClientError::cancelled)};
    }
    ClientError error_of(const Completion& c) {
        EXPECT_FALSE(c.result) << "expected an error";
        return c.result ? ClientError::cancelled : c.result.error();
    }
    std::string text_of(const Completion& c) {
        EXPECT_TRUE(c.result) << "expected a response";
        return c.result ? std::string(c.result->text()) : std::string();
    }
    Notification notification(RequestHandle id) {
        auto n = core_->pop_notification(id);
        EXPECT_TRUE(n) << "expected a notification";
        return n ? std::move(*n) : Notification{unexpected(ClientError::cancelled), true};
    }

    // Runs one request to a piggybacked 2.05 so that NSTART opens (RFC 7252 §4.7).
    void handshake() {
        submit_ok(get_x());
        receive(piggyback(one_sent()).payload("hi").wire());
        ASSERT_TRUE(core_->pop_completion());
        ASSERT_TRUE(core_->server_answered());
    }

    ClientConfig config_;
    std::unique_ptr<ClientCore> core_;
    std::array<Option, 1> path_x_{Option{OptionNumber::uri_path, as_bytes("x")}};
};

// RFC 7641: registering and notifying, for the observation tests (also block-wise and hostile).
class ClientObserveTest : public ClientCoreTest {
  protected:
    // Registers and answers with Observe `sequence`; returns the registration request.
    ByteVector registered(RequestHandle& id, std::uint32_t sequence = 5) {
        auto started = core_->observe(get_x(), t0);
        EXPECT_TRUE(started);
        id = started ? *started : 0;
        ByteVector request = one_sent();
        receive(piggyback(request).observe(sequence).payload("v" + std::to_string(sequence)).wire(),
                t0);
        auto n = core_->pop_notification(id);
        EXPECT_TRUE(n && n->result && !n->last);
        return request;
    }
    ByteVector notify(const ByteVector& request, MessageType type, std::uint16_t id,
                      std::uint32_t sequence) {
        return separate(request, type, id)
            .observe(sequence)
            .payload("v" + std::to_string(sequence))
            .wire();
    }
    std::string text(const Notification& n) {
        EXPECT_TRUE(n.result);
        return n.result ? std::string(n.result->text()) : std::string();
    }
};

}  // namespace coap::detail::client_test
