// Deduplication cache micro-benchmarks (RFC 7252 §4.5): lookups that hit and miss, and inserts
// into a full cache (each evicts the oldest exchange), at three capacities:
//
//   1024       fits in the CPU caches: the cost of the code itself;
//   65536      the library default (ServerConfig::exchange_count);
//   2500000    coapd's default (10 s of history at 250k requests/s): every access misses the
//              CPU caches, as it does in a loaded server.
//
// Keys are 1024 peers (127.0.0.1, ports 20000-21023) with increasing Message IDs, as 1024 client
// endpoints would send them; lookups visit the cached keys in a scattered order so that the
// hardware prefetcher cannot follow them.
#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <vector>

#include "coap/endpoint.hpp"
#include "server/exchange_cache.hpp"

namespace {

using coap::detail::ExchangeCache;

constexpr std::uint32_t peer_count = 1024;
constexpr std::uint32_t response_size = 16;  // ACK 2.05, 4-byte token, a few bytes of payload
// A large odd stride: consecutive lookups land far apart in the cache's arrays.
constexpr std::uint64_t scatter_stride = 2654435761u;

struct Key {
    std::uint32_t peer;
    std::uint16_t message_id;
};

std::vector<coap::Endpoint> make_peers() {
    std::vector<coap::Endpoint> peers;
    peers.reserve(peer_count);
    for (std::uint32_t i = 0; i < peer_count; ++i) {
        auto peer =
            coap::Endpoint::from_literal("127.0.0.1", static_cast<std::uint16_t>(20000 + i));
        if (!peer) std::abort();
        peers.push_back(*peer);
    }
    return peers;
}

const std::vector<coap::Endpoint>& peers() {
    static const std::vector<coap::Endpoint> all = make_peers();
    return all;
}

// The n-th key of the stream: endpoints in turn, each with its own Message ID sequence.
Key key_of(std::uint64_t n) {
    return {static_cast<std::uint32_t>(n % peer_count), static_cast<std::uint16_t>(n / peer_count)};
}

// A cache of `capacity` exchanges (and enough response bytes for all), filled to the brim.
struct FullCache {
    ExchangeCache cache;
    std::uint64_t inserted = 0;
    coap::TimePoint now{};
    std::array<std::uint8_t, response_size> response{};

    explicit FullCache(std::uint32_t capacity)
        : cache(capacity, capacity * response_size, std::chrono::seconds(247)) {
        while (inserted < capacity)
            insert_next();
    }
    void insert_next() {
        Key key = key_of(inserted++);
        now += std::chrono::nanoseconds(100);  // never reaches EXCHANGE_LIFETIME
        if (!cache.insert(peers()[key.peer], key.message_id, true, response, now)) std::abort();
    }
};

// One cache per capacity, filled once: Google Benchmark calls each function several times while
// it picks an iteration count, and filling 2.5 M exchanges takes a while.
FullCache& full_cache(std::uint32_t capacity) {
    static std::map<std::uint32_t, std::unique_ptr<FullCache>> caches;
    auto& cache = caches[capacity];
    if (!cache) cache = std::make_unique<FullCache>(capacity);
    return *cache;
}

void dedup_lookup_hit(benchmark::State& state) {
    const auto capacity = static_cast<std::uint32_t>(state.range(0));
    FullCache& full = full_cache(capacity);
    const std::uint64_t hits_before = full.cache.stats().hits;
    std::uint64_t i = 0;
    for (auto _ : state) {
        // One of the `capacity` most recent keys, all still cached.
        Key key = key_of(full.inserted - 1 - (i++ * scatter_stride) % capacity);
        auto hit = full.cache.find(peers()[key.peer], key.message_id, true, full.now);
        benchmark::DoNotOptimize(hit);
    }
    if (full.cache.stats().hits - hits_before != static_cast<std::uint64_t>(state.iterations()))
        state.SkipWithError("a lookup missed");
}

void dedup_lookup_miss(benchmark::State& state) {
    FullCache& full = full_cache(static_cast<std::uint32_t>(state.range(0)));
    const std::uint64_t hits_before = full.cache.stats().hits;
    std::uint64_t i = 0;
    for (auto _ : state) {
        // A new request: the next key of the stream, in a scattered bucket each time.
        Key key = key_of(full.inserted + (i++ * scatter_stride) % 65536);
        auto hit = full.cache.find(peers()[key.peer], key.message_id, true, full.now);
        benchmark::DoNotOptimize(hit);
    }
    if (full.cache.stats().hits != hits_before) state.SkipWithError("a lookup hit");
}

// What every new request costs: remember its response, evicting the oldest exchange.
void dedup_insert(benchmark::State& state) {
    FullCache& full = full_cache(static_cast<std::uint32_t>(state.range(0)));
    for (auto _ : state)
        full.insert_next();
    benchmark::DoNotOptimize(full.cache.size());
}

void capacities(benchmark::internal::Benchmark* benchmark) {
    benchmark->Arg(1024)->Arg(65536)->Arg(2'500'000);
}

BENCHMARK(dedup_lookup_hit)->Name("dedup/lookup_hit")->Apply(capacities);
BENCHMARK(dedup_lookup_miss)->Name("dedup/lookup_miss")->Apply(capacities);
BENCHMARK(dedup_insert)->Name("dedup/insert")->Apply(capacities);

}  // namespace

BENCHMARK_MAIN();
