// libFuzzer target for the message codec (parse, option iteration, encode, MessageWriter).
//
// Every input is parsed with the RFC 7252 token limit and with RFC 8974 extended tokens (up to
// the maximum and up to a small limit).
// A message that parses is re-encoded, and the result must parse back to the same message and
// re-encode to the same bytes (encode is a fixed point after one round). Any mismatch traps.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "coap/coap.hpp"

namespace {

// Messages with more options than this are parsed and walked but not re-encoded.
constexpr std::size_t max_options = 64;

[[noreturn]] void fail() {
    __builtin_trap();
}

void check(bool condition) {
    if (!condition) fail();
}

bool is_uint_option(coap::OptionNumber number) {
    const coap::OptionDef* def = coap::find_option_def(number);
    return def != nullptr && def->format == coap::OptionFormat::uint;
}

// encode() drops leading zero bytes of uint-format values, so they compare by numeric value.
// Stripping the leading zeros keeps values longer than 4 bytes comparable too.
coap::Bytes without_leading_zeros(coap::Bytes value) {
    while (!value.empty() && value.front() == 0)
        value = value.subspan(1);
    return value;
}

bool same_bytes(coap::Bytes a, coap::Bytes b) {
    return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size()) == 0);
}

bool same_value(const coap::Option& a, const coap::Option& b) {
    if (a.number != b.number) return false;
    if (is_uint_option(a.number))
        return same_bytes(without_leading_zeros(a.value), without_leading_zeros(b.value));
    return same_bytes(a.value, b.value);
}

bool same_message(const coap::MessageView& a, const coap::MessageView& b) {
    if (a.type() != b.type() || a.code() != b.code() || a.message_id() != b.message_id())
        return false;
    if (!same_bytes(a.token(), b.token()) || !same_bytes(a.payload(), b.payload())) return false;
    auto a_options = a.options();
    auto b_options = b.options();
    auto ai = a_options.begin();
    auto bi = b_options.begin();
    for (; ai != a_options.end() && bi != b_options.end(); ++ai, ++bi) {
        if (!same_value(*ai, *bi)) return false;
    }
    return ai == a_options.end() && bi == b_options.end();
}

// The per-number accessors are checked for the first few distinct numbers only: each lookup
// scans from the start, so checking all of them would make long inputs quadratic.
constexpr std::size_t max_checked_numbers = 8;

void check_number(const coap::MessageView& message, const coap::Option& first_seen,
                  std::size_t run_length) {
    std::optional<coap::Option> found = message.find(first_seen.number);
    check(found.has_value() && found->number == first_seen.number &&
          found->value.data() == first_seen.value.data() &&
          found->value.size() == first_seen.value.size());
    check(message.has(first_seen.number));
    check(message.find_uint(first_seen.number) == first_seen.as_uint());
    check(message.count(first_seen.number) == run_length);
}

// Walks every option and the per-number accessors; returns the option count.
std::size_t walk(const coap::MessageView& message) {
    std::size_t count = 0;
    std::size_t distinct = 0;
    std::size_t run_length = 0;
    coap::Option run_first{};
    for (const coap::Option& option : message.options()) {
        if (count == 0 || option.number != run_first.number) {
            check(count == 0 || coap::to_int(option.number) > coap::to_int(run_first.number));
            if (count > 0 && ++distinct <= max_checked_numbers)
                check_number(message, run_first, run_length);
            run_first = option;
            run_length = 0;
        }
        ++run_length;
        ++count;
        if (option.number == coap::OptionNumber::block1 ||
            option.number == coap::OptionNumber::block2) {
            std::optional<coap::BlockValue> block = coap::decode_block(option.value);
            if (block) {
                check(block->szx <= 6 && block->num <= coap::max_block_num);
                check(coap::decode_block(coap::encode_block(*block).bytes()) == block);
            }
        }
    }
    if (count > 0 && ++distinct <= max_checked_numbers)
        check_number(message, run_first, run_length);
    check(message.options().empty() == (count == 0));
    static constexpr std::array<std::uint16_t, 3> extra{9, 19, 2049};
    std::optional<coap::OptionNumber> critical = coap::first_unrecognized_critical(message);
    std::optional<coap::OptionNumber> critical_extra =
        coap::first_unrecognized_critical(message, extra);
    if (critical) check(coap::is_critical(*critical));
    if (critical_extra) check(coap::is_critical(*critical_extra));
    if (!critical) check(!critical_extra);
    return count;
}

std::vector<std::uint8_t> encode_exactly(const coap::Message& message, bool check_too_small) {
    std::size_t size = coap::encoded_size(message);
    // An exact-size heap buffer lets AddressSanitizer catch any write past encoded_size().
    std::vector<std::uint8_t> out(size);
    auto written = coap::encode(message, out);
    check(written.has_value() && *written == size);
    if (check_too_small && size > 0) {
        std::vector<std::uint8_t> small(size - 1);
        auto too_small = coap::encode(message, small);
        check(!too_small && too_small.error() == coap::EncodeError::buffer_too_small);
    }
    return out;
}

void round_trip(const coap::MessageView& first, std::size_t option_count) {
    if (option_count > max_options) return;
    std::array<coap::Option, max_options> options{};
    std::size_t n = 0;
    for (const coap::Option& option : first.options())
        options[n++] = option;

    coap::Message message{
        .type = first.type(),
        .code = first.code(),
        .message_id = first.message_id(),
        .token = first.token(),
        .options = std::span<const coap::Option>(options.data(), n),
        .payload = first.payload(),
    };
    std::vector<std::uint8_t> encoded = encode_exactly(message, true);

    auto second = coap::parse(encoded);
    check(second.has_value());
    check(same_message(first, *second));
    check(walk(*second) == n);

    // Fixed point: the re-parsed message encodes to the very same bytes.
    std::array<coap::Option, max_options> again{};
    std::size_t m = 0;
    for (const coap::Option& option : second->options())
        again[m++] = option;
    check(m == n);
    message.options = std::span<const coap::Option>(again.data(), m);
    message.token = second->token();
    message.payload = second->payload();
    check(encode_exactly(message, false) == encoded);

    // Options given out of order (odd numbers first, stable among equal numbers) must be
    // sorted by encode() into the same bytes.
    std::array<coap::Option, max_options> shuffled{};
    auto odd = [](const coap::Option& o) { return (coap::to_int(o.number) & 1u) != 0; };
    auto mid = std::copy_if(again.begin(), again.begin() + m, shuffled.begin(), odd);
    std::copy_if(again.begin(), again.begin() + m, mid,
                 [&](const coap::Option& o) { return !odd(o); });
    message.options = std::span<const coap::Option>(shuffled.data(), m);
    check(encode_exactly(message, false) == encoded);

    // MessageWriter with the (already shortest) values of the second parse.
    std::vector<std::uint8_t> written(encoded.size());
    coap::MessageWriter writer(written);
    writer.header(second->type(), second->code(), second->message_id(), second->token());
    for (const coap::Option& option : second->options())
        writer.option(option.number, option.value);
    writer.payload(second->payload());
    auto size = writer.finish();
    check(size.has_value() && *size == encoded.size() && written == encoded);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    coap::Bytes input(data, size);

    auto header = coap::peek_header(input);
    check(header.has_value() == (size >= 4));

    auto message = coap::parse(input);
    if (message) {
        check(message->datagram().size() == size);
        std::size_t count = walk(*message);
        round_trip(*message, count);
    }

    // RFC 8974 extended tokens: must never crash, and must agree with the plain parse for
    // token lengths 0-8.
    auto extended = coap::parse(input, coap::max_extended_token_length);
    if (extended) {
        check(extended->token().size() <= coap::max_extended_token_length);
        walk(*extended);
    }
    if (header && header->token_length_nibble <= coap::max_token_length) {
        check(extended.has_value() == message.has_value());
        if (message) check(same_message(*message, *extended));
        if (!message) check(extended.error() == message.error());
    }

    // A limit between 8 and the maximum: accepts exactly the extended tokens that fit.
    constexpr std::size_t small_limit = 32;
    auto limited = coap::parse(input, small_limit);
    if (limited) check(extended.has_value() && same_message(*limited, *extended));
    if (extended && extended->token().size() <= small_limit) check(limited.has_value());
    if (extended && extended->token().size() > small_limit)
        check(!limited && limited.error() == coap::ParseError::bad_token_length);
    return 0;
}
