// Property tests with fixed seeds: encode then parse gives back the input, and parse then
// encode is a fixed point for any datagram that parses.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "coap/message.hpp"
#include "support/bytes.hpp"

namespace coap {
namespace {

using test::ByteVector;

struct OwnedMessage {
    Message message;
    ByteVector token;
    std::vector<ByteVector> values;
    std::vector<Option> options;
    ByteVector payload;
};

OptionNumber random_number(std::mt19937& rng) {
    // Mostly registered options, sometimes anything up to 65535.
    auto registry = option_registry();
    if (rng() % 4 != 0) return registry[rng() % registry.size()].number;
    static constexpr std::uint32_t ranges[] = {15, 300, 3000, 65536};
    return static_cast<OptionNumber>(rng() % ranges[rng() % 4]);
}

ByteVector random_value(std::mt19937& rng, OptionNumber number) {
    static constexpr std::size_t lengths[] = {0, 1, 4, 12, 13, 14, 268, 269, 300};
    std::size_t length = lengths[rng() % std::size(lengths)];
    const OptionDef* def = find_option_def(number);
    if (def != nullptr && def->format == OptionFormat::uint)
        length = std::min<std::size_t>(length, 4);
    ByteVector value(length);
    for (auto& byte : value)
        byte = static_cast<std::uint8_t>(rng());
    // Keep uint values minimal so that bytes round-trip exactly.
    if (def != nullptr && def->format == OptionFormat::uint && !value.empty() && value[0] == 0)
        value[0] = 1;
    return value;
}

OwnedMessage random_message(std::mt19937& rng) {
    OwnedMessage m;
    m.message.type = static_cast<MessageType>(rng() % 4);
    m.message.code = static_cast<Code>(1 + rng() % 255);
    m.message.message_id = static_cast<std::uint16_t>(rng());
    m.token.resize(rng() % 9);
    for (auto& byte : m.token)
        byte = static_cast<std::uint8_t>(rng());
    std::size_t option_count = rng() % 12;
    m.values.reserve(option_count);
    for (std::size_t i = 0; i < option_count; ++i) {
        OptionNumber number = random_number(rng);
        m.values.push_back(random_value(rng, number));
        m.options.push_back({number, m.values.back()});
    }
    m.payload.resize(rng() % 3 == 0 ? 0 : rng() % 600);
    for (auto& byte : m.payload)
        byte = static_cast<std::uint8_t>(rng());
    m.message.token = m.token;
    m.message.options = m.options;
    m.message.payload = m.payload;
    return m;
}

TEST(RoundTrip, EncodeThenParseGivesBackEveryField) {
    std::mt19937 rng(20261125);
    for (int iteration = 0; iteration < 5000; ++iteration) {
        OwnedMessage m = random_message(rng);
        ByteVector wire(encoded_size(m.message));
        auto written = encode(m.message, wire);
        ASSERT_TRUE(written) << describe(written.error());
        ASSERT_EQ(*written, wire.size());
        auto view = parse(wire);
        ASSERT_TRUE(view) << "iteration " << iteration << ": " << describe(view.error());
        EXPECT_EQ(view->type(), m.message.type);
        EXPECT_EQ(view->code(), m.message.code);
        EXPECT_EQ(view->message_id(), m.message.message_id);
        EXPECT_TRUE(std::ranges::equal(view->token(), m.token));
        EXPECT_TRUE(std::ranges::equal(view->payload(), m.payload));

        std::vector<Option> expected = m.options;
        std::stable_sort(expected.begin(), expected.end(), [](const Option& a, const Option& b) {
            return to_int(a.number) < to_int(b.number);
        });
        std::size_t i = 0;
        for (const Option& option : view->options()) {
            ASSERT_LT(i, expected.size());
            EXPECT_EQ(option.number, expected[i].number);
            EXPECT_TRUE(std::ranges::equal(option.value, expected[i].value));
            ++i;
        }
        EXPECT_EQ(i, expected.size());
    }
}

TEST(RoundTrip, ParseThenEncodeIsAFixedPointForMutatedDatagrams) {
    std::mt19937 rng(7252);
    int parsed = 0;
    for (int iteration = 0; iteration < 20000; ++iteration) {
        OwnedMessage m = random_message(rng);
        ByteVector wire(encoded_size(m.message));
        ASSERT_TRUE(encode(m.message, wire));
        // Flip a few bytes, or truncate, then see whether it still parses.
        int mutations = static_cast<int>(rng() % 4);
        for (int k = 0; k < mutations && !wire.empty(); ++k)
            wire[rng() % wire.size()] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
        if (rng() % 3 == 0 && !wire.empty()) wire.resize(rng() % wire.size());

        auto view = parse(wire);
        if (!view) continue;
        ++parsed;
        std::vector<Option> options(view->options().begin(), view->options().end());
        Message again{view->type(),  view->code(), view->message_id(),
                      view->token(), options,      view->payload()};
        if (again.code == Code::empty && !again.token.empty()) continue;
        ByteVector reencoded(encoded_size(again));
        auto written = encode(again, reencoded);
        if (!written) {
            // Only a token above 8 bytes cannot be re-encoded; parse never yields one here.
            ADD_FAILURE() << describe(written.error());
            continue;
        }
        auto view2 = parse(reencoded);
        ASSERT_TRUE(view2);
        std::vector<Option> options2(view2->options().begin(), view2->options().end());
        Message third{view2->type(),  view2->code(), view2->message_id(),
                      view2->token(), options2,      view2->payload()};
        ByteVector reencoded2(encoded_size(third));
        ASSERT_TRUE(encode(third, reencoded2));
        EXPECT_EQ(reencoded, reencoded2) << "iteration " << iteration;
    }
    EXPECT_GT(parsed, 1000) << "the mutation mix should leave many parseable datagrams";
}

}  // namespace
}  // namespace coap
