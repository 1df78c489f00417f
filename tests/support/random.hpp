// A small deterministic generator for randomised tests: splitmix64, the same sequence on every
// platform and standard library (unlike the <random> distributions).
#pragma once

#include <cstdint>

namespace coap::test {

struct Random {
    std::uint64_t state;

    std::uint64_t next() {
        std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    /// Uniform in [0, n); n > 0.
    std::uint64_t below(std::uint64_t n) { return next() % n; }
    /// True with probability p.
    bool chance(double p) {
        return static_cast<double>(next() >> 11) / static_cast<double>(1ull << 53) < p;
    }
};

}  // namespace coap::test
