// The deduplication cache with injected time: exact matching, lifetime, FIFO eviction, wrap.
#include <gtest/gtest.h>

#include <string>

#include "server/exchange_cache.hpp"

namespace coap::detail {
namespace {

using namespace std::chrono_literals;

Endpoint peer(std::uint16_t port, std::string_view host = "192.0.2.1") {
    return *Endpoint::from_literal(host, port);
}

TimePoint at(Duration offset) {
    return TimePoint{} + offset;
}

std::string text(Bytes bytes) {
    return std::string(as_string(bytes));
}

TEST(ExchangeCache, FindsExactlyTheEndpointAndMessageIdInserted) {
    ExchangeCache cache(16, 1024, 247s);
    ASSERT_TRUE(cache.insert(peer(1000), 7, true, as_bytes("seven"), at(0s)));
    auto hit = cache.find(peer(1000), 7, true, at(1s));
    ASSERT_TRUE(hit);
    EXPECT_EQ(text(hit->response), "seven");
    EXPECT_FALSE(cache.find(peer(1001), 7, true, at(1s)));  // other port
    EXPECT_FALSE(cache.find(peer(1000), 8, true, at(1s)));  // other Message ID
    EXPECT_FALSE(cache.find(peer(1000, "192.0.2.2"), 7, true, at(1s)));
    EXPECT_FALSE(cache.find(peer(1000, "::ffff:192.0.2.3"), 7, true, at(1s)));
    EXPECT_TRUE(cache.find(peer(1000, "::ffff:192.0.2.1"), 7, true, at(1s)))
        << "IPv4 and its mapped IPv6 form are the same peer";
}

TEST(ExchangeCache, EntriesExpireAfterTheLifetime) {
    ExchangeCache cache(16, 1024, 247s);
    ASSERT_TRUE(cache.insert(peer(1), 1, true, as_bytes("a"), at(0s)));
    EXPECT_TRUE(cache.find(peer(1), 1, true, at(246s)));
    EXPECT_FALSE(cache.find(peer(1), 1, true, at(247s)));
    cache.expire(at(247s));
    EXPECT_EQ(cache.size(), 0u);
    EXPECT_EQ(cache.stats().expired, 1u);
}

TEST(ExchangeCache, FullEntryPoolEvictsTheOldestFirst) {
    ExchangeCache cache(4, 1024, 247s);
    for (std::uint16_t id = 0; id < 6; ++id)
        ASSERT_TRUE(cache.insert(peer(1), id, true, as_bytes("x"), at(1s * id)));
    EXPECT_EQ(cache.size(), 4u);
    EXPECT_FALSE(cache.find(peer(1), 0, true, at(10s)));
    EXPECT_FALSE(cache.find(peer(1), 1, true, at(10s)));
    for (std::uint16_t id = 2; id < 6; ++id)
        EXPECT_TRUE(cache.find(peer(1), id, true, at(10s))) << id;
    EXPECT_EQ(cache.stats().evicted_early, 2u);
}

TEST(ExchangeCache, FullBytePoolEvictsTheOldestAndResponsesStayIntact) {
    ExchangeCache cache(64, 100, 247s);
    for (std::uint16_t id = 0; id < 50; ++id) {
        std::string response(30 + id % 7, static_cast<char>('a' + id % 26));
        ASSERT_TRUE(cache.insert(peer(5), id, true, as_bytes(response), at(0s)));
        auto hit = cache.find(peer(5), id, true, at(0s));
        ASSERT_TRUE(hit);
        EXPECT_EQ(text(hit->response), response) << "id " << id;
    }
    EXPECT_LE(cache.size(), 3u);
    // Every entry still present must hold its own bytes, even after the ring wrapped.
    for (std::uint16_t id = 0; id < 50; ++id) {
        if (auto hit = cache.find(peer(5), id, true, at(0s))) {
            EXPECT_EQ(text(hit->response),
                      std::string(30 + id % 7, static_cast<char>('a' + id % 26)));
        }
    }
}

TEST(ExchangeCache, AConDoesNotMatchANonWithTheSameMessageId) {
    ExchangeCache cache(4, 64, 247s);
    ASSERT_TRUE(cache.insert(peer(9), 5, false, as_bytes("non reply"), at(0s)));
    EXPECT_FALSE(cache.find(peer(9), 5, true, at(0s)));
    EXPECT_TRUE(cache.find(peer(9), 5, false, at(0s)));
}

TEST(ExchangeCache, EmptyResponsesAreRemembered) {
    ExchangeCache cache(4, 64, 247s);
    ASSERT_TRUE(cache.insert(peer(9), 42, true, {}, at(0s)));
    auto hit = cache.find(peer(9), 42, true, at(0s));
    ASSERT_TRUE(hit);
    EXPECT_TRUE(hit->response.empty());
}

TEST(ExchangeCache, ResponseLargerThanThePoolIsRefused) {
    ExchangeCache cache(4, 16, 247s);
    EXPECT_FALSE(cache.insert(peer(9), 1, true, as_bytes("seventeen bytes!!"), at(0s)));
    EXPECT_EQ(cache.size(), 0u);
}

TEST(ExchangeCache, ManyPeersAndIdsStayConsistentUnderChurn) {
    ExchangeCache cache(1000, 20000, 10s);
    for (int round = 0; round < 20000; ++round) {
        auto id = static_cast<std::uint16_t>(round * 7919);
        Endpoint who = peer(static_cast<std::uint16_t>(round % 97 + 1));
        std::string response = std::to_string(round);
        ASSERT_TRUE(cache.insert(who, id, true, as_bytes(response), at(1ms * round)));
        auto hit = cache.find(who, id, true, at(1ms * round));
        ASSERT_TRUE(hit);
        ASSERT_EQ(text(hit->response), response);
    }
    EXPECT_LE(cache.size(), 1000u);
}

}  // namespace
}  // namespace coap::detail
