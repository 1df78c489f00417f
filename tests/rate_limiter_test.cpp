// Per-IP token buckets with injected time: burst and exact refill, Max-Age for 4.29, per-IP
// keys, and the replacement policy under a flood of spoofed addresses.
#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <vector>

#include "server/rate_limiter.hpp"
#include "support/count_allocations.hpp"

namespace coap::detail {
namespace {

using namespace std::chrono_literals;

TimePoint at(Duration offset) {
    return TimePoint{} + offset;
}

Endpoint peer(std::string_view host, std::uint16_t port = 5683) {
    return *Endpoint::from_literal(host, port);
}

/// IPv4 address number `n` (host order), e.g. a spoofed source.
Endpoint ipv4(std::uint32_t n, std::uint16_t port = 40000) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(n);
    return *Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&address), sizeof address);
}

/// Requests allowed out of `count` sent at once.
int send_burst(RateLimiter& limiter, const Endpoint& from, TimePoint now, int count) {
    int allowed = 0;
    for (int i = 0; i < count; ++i)
        allowed += limiter.allow(from, now) ? 1 : 0;
    return allowed;
}

constexpr std::uint64_t seed = 0x0123456789abcdefull;

TEST(RateLimiter, BurstThenLimit) {
    RateLimiter limiter(1024, 10, 5, seed);
    Endpoint client = peer("192.0.2.1");
    EXPECT_EQ(send_burst(limiter, client, at(1s), 5), 5);
    EXPECT_FALSE(limiter.allow(client, at(1s)));
    EXPECT_FALSE(limiter.allow(client, at(1s)));
    EXPECT_EQ(limiter.stats().allowed, 5u);
    EXPECT_EQ(limiter.stats().limited, 2u);
    EXPECT_EQ(limiter.stats().tracked, 1u);
    // Another address has its own bucket.
    EXPECT_EQ(send_burst(limiter, peer("192.0.2.2"), at(1s), 5), 5);
}

TEST(RateLimiter, OneMoreTokenExactlyAfterOneOverRate) {
    // 3 tokens/s: a token every 333,333,333.3 ns, which no integer nanosecond step represents.
    RateLimiter limiter(1024, 3, 4, seed);
    Endpoint client = peer("2001:db8::1");
    TimePoint t0 = at(1000s);
    ASSERT_EQ(send_burst(limiter, client, t0, 5), 4);
    EXPECT_FALSE(limiter.allow(client, t0 + 333'333'333ns));
    EXPECT_TRUE(limiter.allow(client, t0 + 333'333'334ns));
    EXPECT_FALSE(limiter.allow(client, t0 + 333'333'334ns));
    EXPECT_FALSE(limiter.allow(client, t0 + 666'666'666ns));
    EXPECT_TRUE(limiter.allow(client, t0 + 666'666'667ns));
    EXPECT_TRUE(limiter.allow(client, t0 + 1s));
    EXPECT_FALSE(limiter.allow(client, t0 + 1s));
}

TEST(RateLimiter, RefillDoesNotDriftOverLongRuns) {
    // Polled every millisecond for 1000 s, the bucket never fills, so every token is taken:
    // exactly burst + 3 * 1000, the last one at exactly t0 + 1000 s.
    RateLimiter limiter(1024, 3, 4, seed);
    Endpoint client = peer("2001:db8::1");
    TimePoint t0 = at(5s);
    std::uint64_t allowed = send_burst(limiter, client, t0, 10);
    for (auto t = 1ms; t <= 1000s; t += 1ms)
        allowed += limiter.allow(client, t0 + t) ? 1 : 0;
    EXPECT_EQ(allowed, 4u + 3000u);
    EXPECT_FALSE(limiter.allow(client, t0 + 1000s));
}

TEST(RateLimiter, RetryAfterIsWhenTheNextTokenArrives) {
    for (std::uint32_t rate : {1u, 3u, 100u}) {
        SCOPED_TRACE(rate);
        RateLimiter limiter(64, rate, 2, seed);
        Endpoint client = peer("198.51.100.7");
        TimePoint t0 = at(20s);
        EXPECT_EQ(limiter.retry_after_seconds(client, t0), 1u);  // unknown address
        ASSERT_EQ(send_burst(limiter, client, t0, 3), 2);
        std::uint32_t retry = limiter.retry_after_seconds(client, t0);
        EXPECT_EQ(retry, 1u);  // at >= 1 token/s the next token is never more than 1 s away
        EXPECT_TRUE(limiter.allow(client, t0 + std::chrono::seconds(retry)));
    }
    // Half way to the next token of a 1/s bucket: still rounded up to one second.
    RateLimiter slow(64, 1, 1, seed);
    Endpoint client = peer("198.51.100.8");
    ASSERT_TRUE(slow.allow(client, at(10s)));
    EXPECT_EQ(slow.retry_after_seconds(client, at(10s) + 500ms), 1u);
    EXPECT_FALSE(slow.allow(client, at(10s) + 999ms));
    EXPECT_TRUE(slow.allow(client, at(11s)));
}

TEST(RateLimiter, ZeroTrackedAddressesDisablesLimiting) {
    RateLimiter limiter(0, 1, 1, seed);
    EXPECT_FALSE(limiter.enabled());
    EXPECT_EQ(limiter.memory_bytes(), 0u);
    Endpoint client = peer("192.0.2.1");
    EXPECT_EQ(send_burst(limiter, client, at(1s), 10'000), 10'000);
    EXPECT_EQ(limiter.retry_after_seconds(client, at(1s)), 1u);
    EXPECT_EQ(limiter.stats().limited, 0u);
}

TEST(RateLimiter, KeyedByAddressNotPort) {
    RateLimiter limiter(1024, 1, 10, seed);
    int allowed = 0;
    for (std::uint16_t port = 1000; port < 1100; ++port)
        allowed += limiter.allow(peer("203.0.113.5", port), at(1s)) ? 1 : 0;
    EXPECT_EQ(allowed, 10);
    EXPECT_EQ(limiter.stats().tracked, 1u);
    // The same host over IPv4 or as an IPv4-mapped IPv6 address is one client.
    EXPECT_FALSE(limiter.allow(peer("::ffff:203.0.113.5", 9), at(1s)));
    EXPECT_TRUE(limiter.allow(peer("203.0.113.6", 1000), at(1s)));
}

TEST(RateLimiter, ReplacesTheEntryClosestToFull) {
    // One set of 8: entry i has spent i + 1 of 10 tokens.
    RateLimiter limiter(8, 1, 10, seed);
    ASSERT_EQ(limiter.capacity(), 8u);
    TimePoint t0 = at(100s);
    for (std::uint32_t i = 0; i < 8; ++i)
        ASSERT_EQ(send_burst(limiter, ipv4(100 + i), t0, static_cast<int>(i + 1)), int(i + 1));
    // A newcomer replaces address 100, the smallest debt: 1 token forgiven.
    EXPECT_TRUE(limiter.allow(ipv4(999), t0));
    EXPECT_EQ(limiter.stats().evictions, 1u);
    // The deepest debtor kept its state: 2 tokens left.
    EXPECT_EQ(send_burst(limiter, ipv4(107), t0, 5), 2);
    EXPECT_EQ(limiter.stats().tracked, 8u);

    // After 10 s every bucket is full again: newcomers recycle idle entries, evicting nothing.
    for (std::uint32_t i = 0; i < 8; ++i)
        EXPECT_TRUE(limiter.allow(ipv4(2000 + i), t0 + 10s));
    EXPECT_EQ(limiter.stats().recycled, 8u);
    EXPECT_EQ(limiter.stats().evictions, 1u);
}

TEST(RateLimiter, HeavyHitterIsLimitedThenRecovers) {
    RateLimiter limiter(1024, 10, 20, seed);
    Endpoint heavy = peer("2001:db8::bad");
    TimePoint t0 = at(50s);
    int allowed = 0;
    for (int i = 0; i < 500; ++i)  // 100 requests/s for 5 s
        allowed += limiter.allow(heavy, t0 + i * 10ms) ? 1 : 0;
    EXPECT_EQ(allowed, 20 + 50 - 1);  // the burst and 10/s; the 50th token arrives at t0 + 5 s
    EXPECT_EQ(limiter.stats().limited, 500u - allowed);
    // Quiet for 2 s: the bucket is full again.
    TimePoint later = t0 + 5s + 2s;
    EXPECT_EQ(send_burst(limiter, heavy, later, 25), 20);
}

struct FloodResult {
    std::uint64_t good_sent = 0;
    std::uint64_t good_limited = 0;
    int heavy_allowed = 0;
};

/// 64 clients sending every 100 ms, a heavy hitter sending every millisecond and `spoofed`
/// one-off addresses spread evenly over `span`, all interleaved in time order.
FloodResult run_flood(RateLimiter& limiter, TimePoint t0, Duration span, std::uint32_t spoofed) {
    FloodResult result;
    Duration spoof_step = span / spoofed;
    Endpoint heavy = peer("2001:db8::bad");
    std::uint32_t next_spoof = 0;
    for (Duration t = 0ms; t < span; t += 1ms) {
        for (; next_spoof < spoofed && spoof_step * next_spoof < t + 1ms; ++next_spoof)
            limiter.allow(ipv4(0x0a000000 + next_spoof), t0 + spoof_step * next_spoof);
        result.heavy_allowed += limiter.allow(heavy, t0 + t) ? 1 : 0;
        // Client i sends at i ms past each 100 ms tick (64 clients spread over the tick).
        std::uint32_t tick_ms = static_cast<std::uint32_t>((t / 1ms) % 100);
        if (tick_ms < 64) {
            ++result.good_sent;
            if (!limiter.allow(ipv4(0xc0000200 + tick_ms, 5683), t0 + t)) ++result.good_limited;
        }
    }
    return result;
}

TEST(RateLimiter, SpoofedFloodDoesNotHurtGoodClientsOrFreeAHeavyHitter) {
    // Defaults of ServerConfig: 1024 addresses, 100 tokens/s, burst 200.
    RateLimiter limiter(1024, 100, 200, seed);
    std::size_t memory = limiter.memory_bytes();
    FloodResult result;
    {
        test::AllocationCounter allocations;
        result = run_flood(limiter, at(1000s), 10s, 1'000'000);
        EXPECT_EQ(allocations.count(), 0u);
    }
    EXPECT_EQ(result.good_sent, 64u * 100u);
    EXPECT_EQ(result.good_limited, 0u);
    // The heavy hitter never got its state flushed: burst + 100/s for 10 s, nothing more.
    EXPECT_LE(result.heavy_allowed, 200 + 1000);
    EXPECT_GE(result.heavy_allowed, 200 + 1000 - 1);
    EXPECT_EQ(limiter.memory_bytes(), memory);
    EXPECT_LE(limiter.stats().tracked, limiter.capacity());
    std::printf("[ flood    ] 1M spoofed + 64 good over 10 s: evictions %llu, recycled %llu\n",
                static_cast<unsigned long long>(limiter.stats().evictions),
                static_cast<unsigned long long>(limiter.stats().recycled));
}

TEST(RateLimiter, FloodCannotFlushAQuietLimitedClient) {
    // The case an LRU table loses: the abuser spends its burst, goes quiet while a flood passes,
    // then comes back. It must find only what the refill gave it, not a fresh bucket.
    RateLimiter limiter(1024, 100, 200, seed);
    Endpoint abuser = peer("2001:db8::bad");
    TimePoint t0 = at(1000s);
    ASSERT_EQ(send_burst(limiter, abuser, t0, 250), 200);
    for (std::uint32_t i = 0; i < 200'000; ++i)  // 200,000 spoofed addresses in 1 s
        limiter.allow(ipv4(0x0b000000 + i), t0 + i * 5us);
    EXPECT_EQ(send_burst(limiter, abuser, t0 + 1s, 250), 100);
}

TEST(RateLimiter, SurvivesTimeGoingBackwards) {
    RateLimiter limiter(64, 10, 5, seed);
    Endpoint client = peer("192.0.2.9");
    ASSERT_EQ(send_burst(limiter, client, at(100s), 5), 5);
    EXPECT_FALSE(limiter.allow(client, at(50s)));
    EXPECT_LE(limiter.retry_after_seconds(client, at(50s)), 1u);
    EXPECT_TRUE(limiter.allow(client, at(101s)));
}

TEST(RateLimiter, CostPerCall) {
    RateLimiter limiter(65536, 100, 200, seed);
    std::vector<Endpoint> known;
    std::vector<Endpoint> fresh;
    for (std::uint32_t i = 0; i < 1000; ++i)
        known.push_back(ipv4(0x0a000000 + i));
    for (std::uint32_t i = 0; i < 1'000'000; ++i)
        fresh.push_back(ipv4(0x0c000000 + i));
    constexpr std::uint32_t calls = 2'000'000;
    auto measure = [&](const std::vector<Endpoint>& addresses) {
        auto start = std::chrono::steady_clock::now();
        std::uint32_t allowed = 0;
        for (std::uint32_t i = 0; i < calls; ++i)
            allowed += limiter.allow(addresses[i % addresses.size()], at(1s) + i * 1us) ? 1 : 0;
        auto elapsed = std::chrono::steady_clock::now() - start;
        EXPECT_GT(allowed, 0u);
        return static_cast<double>(std::chrono::nanoseconds(elapsed).count()) / calls;
    };
    double hit = measure(known);
    double miss = measure(fresh);
    std::printf(
        "[ cost     ] %zu bytes per tracked IP; allow(): %.1f ns (known address), "
        "%.1f ns (new address replacing another)\n",
        RateLimiter::bytes_per_ip(), hit, miss);
}

}  // namespace
}  // namespace coap::detail
