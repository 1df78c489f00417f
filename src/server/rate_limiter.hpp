// Per-IP token buckets with memory fixed at construction, for answering clients that send too
// often with 4.29 (RFC 8516 §3). Sans-I/O: time is passed in.
//
// Buckets are exact: each is stored as the instant it will be full again ("full_at", GCRA
// style), in nanoseconds plus a remainder in 1/rate ns, so refills never drift.
//
// Table: set-associative, 8 entries per set, the set chosen by SipHash-1-3 of the address keyed
// with the construction seed, so a sender who does not know the seed cannot aim addresses at the
// set of a chosen victim. Keyed by IP address and scope id, never the port: one host using many
// source ports is one client.
//
// Replacement, when a new address finds its set full: the entry with the earliest full_at goes.
//  - An entry whose full_at has passed is idle: its bucket is back at `burst`, exactly what a
//    new entry starts with, so dropping it loses nothing (counted as `recycled`). As long as
//    every set has an idle entry, the table behaves like an unbounded one.
//  - Otherwise the entry closest to full goes (counted as `evictions`): forgetting it forgives
//    the fewest spent tokens. A limited client is deepest in debt, so it is the last to go.
// A flood of spoofed addresses, one request each, leaves entries at most one token short, full
// again within 1/rate s: they replace each other and idle entries, never an entry more than one
// token in debt, however long the flood runs (the test sends 1,000,000 of them at 1,024
// entries). A limited client owes more than burst - 1 tokens, so with burst >= 2 it keeps its
// state. Well-behaved clients are idle between their requests; when one is replaced it comes
// back with a full bucket, so it is never limited wrongly either.
// Worst case: a set whose 8 entries are all in debt. A newcomer then forgives the smallest
// debt in that set, at most `burst` tokens. To free a chosen limited client an attacker must
// first push 7 deeper-indebted entries into its (secret) set; without the seed that means
// draining buckets in every set, about 7 * sets * burst requests, to win back at most `burst`.
//
// Cost: O(1) per call (8 tag compares, one 16-byte compare), no allocation or exception after
// construction; bytes_per_ip() bytes per tracked address.
#pragma once

#include <array>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "coap/endpoint.hpp"
#include "coap/time.hpp"

namespace coap::detail {

class RateLimiter {
  public:
    struct Stats {
        std::uint64_t allowed = 0;
        std::uint64_t limited = 0;
        /// Entries replaced while still holding spent tokens (state lost, debt forgiven).
        std::uint64_t evictions = 0;
        /// Idle entries (bucket full again) reused for a new address; nothing is lost.
        std::uint64_t recycled = 0;
        /// Addresses held now (never more than capacity()).
        std::uint32_t tracked = 0;
    };

    static constexpr std::uint32_t ways = 8;

    /// Tracks up to `tracked_ips` addresses (rounded up to a multiple of 8); 0 disables limiting.
    /// Each address may send `burst` requests at once and `tokens_per_second` on average; both
    /// are raised to at least 1. `hash_seed` keys the set index: use a random value.
    /// Throws std::bad_alloc (construction only).
    RateLimiter(std::uint32_t tracked_ips, std::uint32_t tokens_per_second, std::uint32_t burst,
                std::uint64_t hash_seed);

    /// Takes one token from `peer`'s address. False when its bucket is empty (nothing taken).
    bool allow(const Endpoint& peer, TimePoint now) noexcept;
    /// Seconds until `peer` has a token again, at least 1: the Max-Age of a 4.29 (RFC 8516 §3).
    std::uint32_t retry_after_seconds(const Endpoint& peer, TimePoint now) const noexcept;

    bool enabled() const noexcept { return set_count_ != 0; }
    std::uint32_t capacity() const noexcept { return set_count_ * ways; }
    const Stats& stats() const noexcept { return stats_; }
    /// Bytes of the table, fixed at construction.
    std::size_t memory_bytes() const noexcept { return sizeof(Set) * set_count_; }
    /// Bytes per tracked address (entry plus its tag).
    static constexpr std::size_t bytes_per_ip() { return sizeof(Set) / ways; }

  private:
    // One token is 1e9 "nanotokens"; a bucket refills `rate_` nanotokens per nanosecond.
    static constexpr std::uint64_t token = 1'000'000'000;

    struct Entry {
        std::array<std::uint8_t, 16> address;
        std::uint32_t scope_id;
        std::uint32_t full_at_fraction;  // in 1/rate_ ns, < rate_
        std::int64_t full_at;            // ns since the clock's epoch
    };
    struct Set {
        std::uint32_t tags[ways];  // 0 = empty slot; else a nonzero hash fingerprint
        Entry entries[ways];
    };
    struct Slot {
        std::uint32_t set;
        std::uint32_t way;
        std::uint32_t tag;
        bool found;
    };

    std::uint64_t keyed_hash(const Endpoint& peer) const noexcept;
    Slot find(const Endpoint& peer) const noexcept;
    Entry& claim(const Slot& slot, const Endpoint& peer, std::int64_t now) noexcept;
    /// Spent nanotokens of `entry` at `now`, in [0, burst * token].
    std::uint64_t debt(const Entry& entry, std::int64_t now) const noexcept;
    void set_debt(Entry& entry, std::int64_t now, std::uint64_t nanotokens) const noexcept;

    struct FreeDeleter {
        void operator()(void* memory) const noexcept { std::free(memory); }
    };

    std::unique_ptr<Set[], FreeDeleter> sets_;
    std::uint32_t set_count_;
    std::uint64_t rate_;      // tokens per second
    std::uint64_t capacity_;  // burst * token
    std::uint64_t max_debt_ns_;
    std::uint64_t key0_;
    std::uint64_t key1_;
    Stats stats_{};
};

}  // namespace coap::detail
