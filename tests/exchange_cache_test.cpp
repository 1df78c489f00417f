// The deduplication cache with injected time: exact matching, lifetime, FIFO eviction, wrap.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

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

// Eviction leaves stale links in the index (they are recognised, not unlinked). Against a model
// of the FIFO: the live entries are always the last size() inserted, and a lookup must find
// the newest live insert of its key, or nothing. Few keys and small pools force collisions,
// reused slots, evictions by entries, by bytes and by expiry, for many laps of the ring.
TEST(ExchangeCache, MatchesAFifoModelThroughManyLapsOfStaleLinks) {
    struct Insert {
        std::uint16_t port;
        std::uint16_t message_id;
        bool confirmable;
        std::string response;
        TimePoint expires;
    };
    for (std::uint32_t capacity : {1u, 2u, 7u, 8u, 33u}) {
        ExchangeCache cache(capacity, 256, 100s);
        std::vector<Insert> inserts;
        std::uint64_t state = 0x9e3779b97f4a7c15ull + capacity;
        auto random = [&state](std::uint32_t bound) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            return static_cast<std::uint32_t>(state >> 33) % bound;
        };
        TimePoint now{};
        for (int step = 0; step < 20000; ++step) {
            now += std::chrono::seconds(random(3));
            auto port = static_cast<std::uint16_t>(1000 + random(3));
            auto message_id = static_cast<std::uint16_t>(random(6));
            bool confirmable = random(4) != 0;
            if (random(2) == 0) {
                std::string response(random(60), static_cast<char>('a' + random(26)));
                ASSERT_TRUE(cache.insert(peer(port), message_id, confirmable,
                                         as_bytes(std::string_view(response)), now));
                inserts.push_back({port, message_id, confirmable, response, now + 100s});
                continue;
            }
            std::optional<std::string> expected;
            for (std::size_t back = 0; back < cache.size(); ++back) {
                const Insert& live = inserts[inserts.size() - 1 - back];
                if (live.port != port || live.message_id != message_id) continue;
                if (live.confirmable == confirmable && live.expires > now) expected = live.response;
                break;
            }
            auto hit = cache.find(peer(port), message_id, confirmable, now);
            ASSERT_EQ(hit.has_value(), expected.has_value())
                << "capacity " << capacity << " step " << step;
            if (hit) {
                EXPECT_EQ(text(hit->response), *expected) << "step " << step;
            }
        }
        EXPECT_GT(inserts.size(), capacity * 100u) << "the ring went round many times";
    }
}

// The cache's tables: zeroed (the bucket array relies on it), huge-page sized or not, movable.
TEST(TableMemory, IsZeroedAndKeepsItsAddressWhenMoved) {
    for (std::size_t bytes : {std::size_t{0}, std::size_t{100}, std::size_t{5} << 20}) {
        TableMemory memory(bytes);
        ASSERT_NE(memory.data(), nullptr);
        auto* first = static_cast<unsigned char*>(memory.data());
        std::size_t size = memory.size();
        EXPECT_GE(size, bytes);
        EXPECT_EQ(std::count(first, first + size, 0), static_cast<std::ptrdiff_t>(size));
        first[size - 1] = 7;
        TableMemory moved(std::move(memory));
        EXPECT_EQ(moved.data(), first);
        EXPECT_EQ(memory.data(), nullptr);
        EXPECT_EQ(static_cast<unsigned char*>(moved.data())[size - 1], 7);
    }
}

}  // namespace
}  // namespace coap::detail
