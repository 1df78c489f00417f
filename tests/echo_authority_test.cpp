// Server Echo values (RFC 9175 §2, App. A item 2) with injected time: binding to the endpoint,
// tamper and truncation rejection, the freshness window, key rotation, and the amplification
// rule of §2.4 item 3.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <vector>

#include "server/echo_authority.hpp"
#include "support/random.hpp"

namespace coap::detail {
namespace {

using namespace std::chrono_literals;

using Value = std::array<std::uint8_t, max_echo_size>;

TimePoint at(Duration offset) {
    return TimePoint{} + offset;
}

Endpoint peer(std::string_view host = "192.0.2.1", std::uint16_t port = 5683) {
    return *Endpoint::from_literal(host, port);
}

/// fe80::1 on interface `scope` (IP literals carry no scope id).
Endpoint link_local_peer(std::uint32_t scope) {
    sockaddr_in6 address{};
    address.sin6_family = AF_INET6;
    address.sin6_port = htons(5683);
    address.sin6_scope_id = scope;
    inet_pton(AF_INET6, "fe80::1", &address.sin6_addr);
    return *Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&address), sizeof address);
}

EchoSecret secret(std::uint8_t seed) {
    EchoSecret key;
    for (std::size_t i = 0; i < key.size(); ++i)
        key[i] = static_cast<std::uint8_t>(seed + 7 * i);
    return key;
}

/// A made value, trimmed to its length.
std::vector<std::uint8_t> make(const EchoAuthority& authority, const Endpoint& to, TimePoint now) {
    Value out{};
    std::size_t length = authority.make(to, now, out);
    return {out.begin(), out.begin() + static_cast<std::ptrdiff_t>(length)};
}

class EchoAuthorityTest : public ::testing::Test {
  protected:
    EchoAuthority authority_{secret(1), 10s};
    TimePoint t0_ = at(1000s);
};

TEST_F(EchoAuthorityTest, MadeValueVerifiesForTheSamePeer) {
    ASSERT_TRUE(authority_.usable());
    auto value = make(authority_, peer(), t0_);
    ASSERT_EQ(value.size(), echo_value_size);
    EXPECT_TRUE(authority_.verify(peer(), value, t0_));
    EXPECT_TRUE(authority_.verify(peer(), value, t0_ + 3s));
    EXPECT_TRUE(authority_.verify(peer("::ffff:192.0.2.1"), value, t0_))
        << "IPv4 and its mapped IPv6 form are one endpoint";
    auto v6 = make(authority_, peer("2001:db8::1"), t0_);
    EXPECT_TRUE(authority_.verify(peer("2001:db8::1"), v6, t0_ + 1s));
}

TEST_F(EchoAuthorityTest, OtherEndpointIsRejected) {
    auto value = make(authority_, peer("192.0.2.1", 5683), t0_);
    EXPECT_FALSE(authority_.verify(peer("192.0.2.2", 5683), value, t0_)) << "other address";
    EXPECT_FALSE(authority_.verify(peer("192.0.2.1", 5684), value, t0_)) << "other port";
    EXPECT_FALSE(authority_.verify(peer("2001:db8::1", 5683), value, t0_)) << "other family";
    auto link_local = make(authority_, link_local_peer(1), t0_);
    EXPECT_TRUE(authority_.verify(link_local_peer(1), link_local, t0_));
    EXPECT_FALSE(authority_.verify(link_local_peer(2), link_local, t0_)) << "other interface";
}

TEST_F(EchoAuthorityTest, EveryAlteredByteIsRejected) {
    auto value = make(authority_, peer(), t0_);
    for (std::size_t i = 0; i < value.size(); ++i) {
        for (unsigned flip = 1; flip < 256; ++flip) {
            auto altered = value;
            altered[i] ^= static_cast<std::uint8_t>(flip);
            ASSERT_FALSE(authority_.verify(peer(), altered, t0_)) << "byte " << i << " ^ " << flip;
        }
    }
    EXPECT_TRUE(authority_.verify(peer(), value, t0_));
}

TEST_F(EchoAuthorityTest, TruncatedOrExtendedValuesAreRejected) {
    auto value = make(authority_, peer(), t0_);
    for (std::size_t length = 0; length < value.size(); ++length)
        EXPECT_FALSE(authority_.verify(peer(), Bytes(value).first(length), t0_)) << length;
    for (std::uint8_t extra : {0x00, 0xff}) {
        auto longer = value;
        longer.push_back(extra);
        EXPECT_FALSE(authority_.verify(peer(), longer, t0_));
    }
}

TEST_F(EchoAuthorityTest, AcceptedUpToFreshnessAndRejectedOneMillisecondLater) {
    for (TimePoint made : {t0_, t0_ + 500us, t0_ + 999us}) {
        auto value = make(authority_, peer(), made);
        EXPECT_TRUE(authority_.verify(peer(), value, made + 10s));
        EXPECT_FALSE(authority_.verify(peer(), value, made + 10s + 1ms));
        EXPECT_FALSE(authority_.verify(peer(), value, made + 1h));
    }
}

TEST_F(EchoAuthorityTest, ValuesFromTheFutureAreRejectedBeyondTheSkew) {
    auto value = make(authority_, peer(), t0_);
    EXPECT_TRUE(authority_.verify(peer(), value, t0_ - echo_clock_skew));
    EXPECT_FALSE(authority_.verify(peer(), value, t0_ - echo_clock_skew - 1ms));
    EXPECT_FALSE(authority_.verify(peer(), value, t0_ - 1h));
}

TEST_F(EchoAuthorityTest, TimestampWrapNeitherBreaksNorRevivesValues) {
    auto probe = make(authority_, peer(), t0_);
    std::uint32_t low =
        static_cast<std::uint32_t>(probe[1] << 24 | probe[2] << 16 | probe[3] << 8 | probe[4]);
    // The instant the 32-bit millisecond field wraps to zero.
    TimePoint wrap =
        t0_ + std::chrono::milliseconds(std::uint64_t{1} << 32) - std::chrono::milliseconds(low);
    auto before_wrap = make(authority_, peer(), wrap - 2ms);
    EXPECT_TRUE(authority_.verify(peer(), before_wrap, wrap + 3ms));
    // Replayed exactly 2^32 ms later the low bits look brand new; the MAC over the full time
    // must still reject it.
    auto period = std::chrono::milliseconds(std::uint64_t{1} << 32);
    EXPECT_FALSE(authority_.verify(peer(), probe, t0_ + period));
    EXPECT_FALSE(authority_.verify(peer(), probe, t0_ + 2 * period + 1s));
}

TEST_F(EchoAuthorityTest, RotationKeepsThePreviousKeyForOneFreshnessPeriod) {
    auto old_value = make(authority_, peer(), t0_);
    ASSERT_TRUE(authority_.rotate(secret(2), t0_));
    auto new_value = make(authority_, peer(), t0_);
    EXPECT_NE(old_value, new_value);
    EXPECT_TRUE(authority_.verify(peer(), old_value, t0_ + 1s));
    EXPECT_TRUE(authority_.verify(peer(), old_value, t0_ + 10s));
    EXPECT_FALSE(authority_.verify(peer(), old_value, t0_ + 10s + 1ms));
    EXPECT_TRUE(authority_.verify(peer(), new_value, t0_ + 10s));

    // A second rotation drops the first key at once.
    ASSERT_TRUE(authority_.rotate(secret(3), t0_ + 2s));
    EXPECT_FALSE(authority_.verify(peer(), old_value, t0_ + 2s));
    EXPECT_TRUE(authority_.verify(peer(), new_value, t0_ + 2s));
    EXPECT_TRUE(authority_.verify(peer(), make(authority_, peer(), t0_ + 2s), t0_ + 3s));
}

TEST_F(EchoAuthorityTest, PreviousKeyEndsOneFreshnessPeriodAfterRotationEvenForFreshValues) {
    auto value = make(authority_, peer(), t0_);
    ASSERT_TRUE(authority_.rotate(secret(2), t0_ - 5s));  // the key's window ends at t0 + 5 s
    EXPECT_TRUE(authority_.verify(peer(), value, t0_ + 5s));
    EXPECT_FALSE(authority_.verify(peer(), value, t0_ + 5s + 1ms)) << "value fresh, key retired";
}

TEST_F(EchoAuthorityTest, DifferentKeysRejectEachOthersValuesAndEqualKeysAccept) {
    EchoAuthority other(secret(9), 10s);
    EchoAuthority twin(secret(1), 10s);  // another worker built from the same key
    auto mine = make(authority_, peer(), t0_);
    auto theirs = make(other, peer(), t0_);
    EXPECT_FALSE(authority_.verify(peer(), theirs, t0_));
    EXPECT_FALSE(other.verify(peer(), mine, t0_));
    EXPECT_TRUE(twin.verify(peer(), mine, t0_ + 1s));

    auto random = EchoAuthority::with_random_secret(default_echo_freshness);
    EXPECT_FALSE(random.verify(peer(), mine, t0_));
    EXPECT_TRUE(random.verify(peer(), make(random, peer(), t0_), t0_));
}

TEST_F(EchoAuthorityTest, ValuesAreNeverLongerThanFortyBytes) {
    test::Random random{42};
    for (int i = 0; i < 1000; ++i) {
        Value out{};
        auto now = at(std::chrono::milliseconds(random.next() >> 30));
        std::size_t length = authority_.make(peer("::1", static_cast<std::uint16_t>(i)), now, out);
        ASSERT_GE(length, 1u);
        ASSERT_LE(length, max_echo_size);
    }
}

// White box: the value is exactly the documented layout, MAC'd by an independent HMAC().
TEST_F(EchoAuthorityTest, MatchesAnIndependentHmacOfTheDocumentedLayout) {
    auto key = secret(1);
    auto hmac = [&](const std::vector<std::uint8_t>& input) {
        std::array<std::uint8_t, 32> digest{};
        unsigned length = 0;
        HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), input.data(), input.size(),
             digest.data(), &length);
        return digest;
    };
    std::string_view label = "coap echo timeline offset";
    auto offset_digest = hmac({label.begin(), label.end()});
    std::uint64_t offset = 0;
    for (int i = 0; i < 8; ++i)
        offset = offset << 8 | offset_digest[i];
    std::uint64_t stamp = 1'000'000 + offset;  // t0_ is 1000 s

    Endpoint to = peer("2001:db8::7", 0x1234);
    std::vector<std::uint8_t> input{1};
    for (int shift = 56; shift >= 0; shift -= 8)
        input.push_back((stamp >> shift) & 0xff);
    input.insert(input.end(), to.address().begin(), to.address().end());
    input.insert(input.end(), {0, 0, 0, 0, 0x12, 0x34});  // scope 0, port
    auto mac = hmac(input);

    std::vector<std::uint8_t> expected{1};
    for (int shift = 24; shift >= 0; shift -= 8)
        expected.push_back((stamp >> shift) & 0xff);
    expected.insert(expected.end(), mac.begin(), mac.begin() + 8);
    EXPECT_EQ(make(authority_, to, t0_), expected);
}

TEST_F(EchoAuthorityTest, RandomBytesNeverVerify) {
    test::Random random{7};
    auto genuine = make(authority_, peer(), t0_);
    std::vector<std::uint8_t> value;
    for (int i = 0; i < 100'000; ++i) {
        value.resize(random.below(51));
        for (auto& byte : value)
            byte = static_cast<std::uint8_t>(random.next());
        // Every other string keeps the genuine version and timestamp, so the MAC is computed.
        if (i % 2 == 0 && value.size() >= 5) std::copy_n(genuine.begin(), 5, value.begin());
        ASSERT_FALSE(authority_.verify(peer(), value, t0_ + 1s)) << i;
    }
}

TEST_F(EchoAuthorityTest, UnusableAuthorityMakesNothingAndVerifiesNothing) {
    auto value = make(authority_, peer(), t0_);
    EchoAuthority moved = std::move(authority_);
    EXPECT_TRUE(moved.verify(peer(), value, t0_));
    EXPECT_FALSE(authority_.usable());  // NOLINT(bugprone-use-after-move): testing that state
    EXPECT_TRUE(make(authority_, peer(), t0_).empty());
    EXPECT_FALSE(authority_.verify(peer(), value, t0_));
    EXPECT_FALSE(authority_.rotate(secret(5), t0_));
}

TEST(EchoFreshness, IsClampedAndCountedInMilliseconds) {
    EXPECT_EQ(EchoAuthority(secret(1), 10s).freshness(), 10s);
    EXPECT_EQ(EchoAuthority(secret(1), 1500us).freshness(), 1ms);
    EXPECT_EQ(EchoAuthority(secret(1), -5s).freshness(), 0ms);
    EXPECT_EQ(EchoAuthority(secret(1), 1000h).freshness(), max_echo_freshness);
}

TEST(AmplificationLimit, AllowsExactlyThreeTimesTheRequest) {
    EXPECT_FALSE(exceeds_amplification_limit(20, 60));
    EXPECT_TRUE(exceeds_amplification_limit(20, 61));
    EXPECT_FALSE(exceeds_amplification_limit(20, 0));
    EXPECT_FALSE(exceeds_amplification_limit(4, 12));
    EXPECT_TRUE(exceeds_amplification_limit(4, 13));
}

TEST(AmplificationLimit, ZeroSizeRequestAllowsNothing) {
    EXPECT_FALSE(exceeds_amplification_limit(0, 0));
    EXPECT_TRUE(exceeds_amplification_limit(0, 1));
}

TEST(AmplificationLimit, OtherFactorsAndHugeSizes) {
    EXPECT_FALSE(exceeds_amplification_limit(10, 50, 5));
    EXPECT_TRUE(exceeds_amplification_limit(10, 51, 5));
    EXPECT_TRUE(exceeds_amplification_limit(10, 11, 1));
    EXPECT_TRUE(exceeds_amplification_limit(10, 1, 0));
    EXPECT_FALSE(exceeds_amplification_limit(SIZE_MAX, SIZE_MAX)) << "no overflow in 3 * request";
    constexpr std::size_t large = SIZE_MAX / 3 - 1;
    EXPECT_FALSE(exceeds_amplification_limit(large, large * 3));
    EXPECT_TRUE(exceeds_amplification_limit(large, large * 3 + 1));
}

// Informational: prints the cost, never asserts on time.
TEST_F(EchoAuthorityTest, MeasureMakeAndVerifyCost) {
    constexpr int rounds = 20'000;
    Value out{};
    const Endpoint to = peer();
    int verified = 0;
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < rounds; ++i) {
        TimePoint now = t0_ + std::chrono::milliseconds(i);
        std::size_t length = authority_.make(to, now, out);
        verified += authority_.verify(to, Bytes(out).first(length), now) ? 1 : 0;
    }
    auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(verified, rounds);
    double ns = static_cast<double>(std::chrono::nanoseconds(elapsed).count()) / rounds;
    std::printf("[ info ] Echo make+verify: %.0f ns per pair\n", ns);
}

}  // namespace
}  // namespace coap::detail
