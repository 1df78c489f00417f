// Per-IP token buckets in a keyed set-associative table; see rate_limiter.hpp for the policy.
#include "rate_limiter.hpp"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstring>
#include <new>

namespace coap::detail {
namespace {

std::int64_t nanoseconds(TimePoint now) noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
}

std::uint64_t splitmix64(std::uint64_t x) noexcept {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

// SipHash-1-3 (Aumasson and Bernstein): a keyed hash whose outputs an attacker cannot predict
// without the key, so addresses cannot be chosen to collide in one set.
struct SipState {
    std::uint64_t v0, v1, v2, v3;

    void round() noexcept {
        v0 += v1;
        v1 = std::rotl(v1, 13) ^ v0;
        v0 = std::rotl(v0, 32);
        v2 += v3;
        v3 = std::rotl(v3, 16) ^ v2;
        v0 += v3;
        v3 = std::rotl(v3, 21) ^ v0;
        v2 += v1;
        v1 = std::rotl(v1, 17) ^ v2;
        v2 = std::rotl(v2, 32);
    }
    void absorb(std::uint64_t word) noexcept {
        v3 ^= word;
        round();
        v0 ^= word;
    }
};

}  // namespace

RateLimiter::RateLimiter(std::uint32_t tracked_ips, std::uint32_t tokens_per_second,
                         std::uint32_t burst, std::uint64_t hash_seed)
    : set_count_(static_cast<std::uint32_t>((std::uint64_t{tracked_ips} + ways - 1) / ways)),
      rate_(std::max<std::uint32_t>(tokens_per_second, 1)),
      capacity_(std::uint64_t{std::max<std::uint32_t>(burst, 1)} * token),
      max_debt_ns_(capacity_ / rate_),
      key0_(splitmix64(hash_seed)),
      key1_(splitmix64(hash_seed ^ 0x5bd1e9955bd1e995ull)) {
    if (set_count_ == 0) return;
    // Zeroed pages are empty sets (tag 0) and become resident only as addresses arrive.
    sets_.reset(static_cast<Set*>(std::calloc(set_count_, sizeof(Set))));
    if (!sets_) throw std::bad_alloc();
}

std::uint64_t RateLimiter::keyed_hash(const Endpoint& peer) const noexcept {
    std::uint64_t high;
    std::uint64_t low;
    std::memcpy(&high, peer.address().data(), 8);
    std::memcpy(&low, peer.address().data() + 8, 8);
    SipState state{key0_ ^ 0x736f6d6570736575ull, key1_ ^ 0x646f72616e646f6dull,
                   key0_ ^ 0x6c7967656e657261ull, key1_ ^ 0x7465646279746573ull};
    state.absorb(high);
    state.absorb(low);
    state.absorb(std::uint64_t{20} << 56 | peer.scope_id());  // 20 bytes in all
    state.v2 ^= 0xff;
    state.round();
    state.round();
    state.round();
    return state.v0 ^ state.v1 ^ state.v2 ^ state.v3;
}

RateLimiter::Slot RateLimiter::find(const Endpoint& peer) const noexcept {
    std::uint64_t hash = keyed_hash(peer);
    Slot slot{};
    // Multiply-shift maps the high half onto [0, set_count_) without a power-of-two size.
    slot.set = static_cast<std::uint32_t>(((hash >> 32) * set_count_) >> 32);
    slot.tag = std::max<std::uint32_t>(static_cast<std::uint32_t>(hash), 1);
    const Set& set = sets_[slot.set];
    for (std::uint32_t way = 0; way < ways; ++way) {
        if (set.tags[way] != slot.tag) continue;
        const Entry& entry = set.entries[way];
        if (entry.address == peer.address() && entry.scope_id == peer.scope_id()) {
            slot.way = way;
            slot.found = true;
            return slot;
        }
    }
    // Not held: the victim is an empty way, else the entry that is (or will be) full first.
    slot.way = 0;
    for (std::uint32_t way = 0; way < ways; ++way) {
        if (set.tags[way] == 0) {
            slot.way = way;
            return slot;
        }
        const Entry& candidate = set.entries[way];
        const Entry& best = set.entries[slot.way];
        if (candidate.full_at < best.full_at ||
            (candidate.full_at == best.full_at &&
             candidate.full_at_fraction < best.full_at_fraction))
            slot.way = way;
    }
    return slot;
}

RateLimiter::Entry& RateLimiter::claim(const Slot& slot, const Endpoint& peer,
                                       std::int64_t now) noexcept {
    Set& set = sets_[slot.set];
    Entry& entry = set.entries[slot.way];
    if (set.tags[slot.way] == 0) {
        ++stats_.tracked;
    } else if (debt(entry, now) == 0) {
        ++stats_.recycled;
    } else {
        ++stats_.evictions;
    }
    set.tags[slot.way] = slot.tag;
    entry.address = peer.address();
    entry.scope_id = peer.scope_id();
    set_debt(entry, now, 0);
    return entry;
}

std::uint64_t RateLimiter::debt(const Entry& entry, std::int64_t now) const noexcept {
    if (entry.full_at < now) return 0;
    // Unsigned difference: no overflow; clamped in case time went backwards.
    std::uint64_t ahead =
        static_cast<std::uint64_t>(entry.full_at) - static_cast<std::uint64_t>(now);
    ahead = std::min(ahead, max_debt_ns_);
    return std::min(ahead * rate_ + entry.full_at_fraction, capacity_);
}

void RateLimiter::set_debt(Entry& entry, std::int64_t now,
                           std::uint64_t nanotokens) const noexcept {
    // Exact: full_at = now + nanotokens / rate_ ns, the remainder kept in 1/rate_ ns.
    entry.full_at = now + static_cast<std::int64_t>(nanotokens / rate_);
    entry.full_at_fraction = static_cast<std::uint32_t>(nanotokens % rate_);
}

bool RateLimiter::allow(const Endpoint& peer, TimePoint now) noexcept {
    if (!enabled()) {
        ++stats_.allowed;
        return true;
    }
    std::int64_t time = nanoseconds(now);
    Slot slot = find(peer);
    Entry& entry = slot.found ? sets_[slot.set].entries[slot.way] : claim(slot, peer, time);
    std::uint64_t spent = debt(entry, time);
    if (spent + token > capacity_) {
        ++stats_.limited;
        return false;
    }
    set_debt(entry, time, spent + token);
    ++stats_.allowed;
    return true;
}

std::uint32_t RateLimiter::retry_after_seconds(const Endpoint& peer, TimePoint now) const noexcept {
    if (!enabled()) return 1;
    Slot slot = find(peer);
    if (!slot.found) return 1;
    std::uint64_t spent = debt(sets_[slot.set].entries[slot.way], nanoseconds(now));
    if (spent + token <= capacity_) return 1;
    // Nanotokens still missing for one token, at rate_ * token nanotokens per second, rounded up.
    std::uint64_t missing = spent + token - capacity_;
    std::uint64_t per_second = rate_ * token;
    return static_cast<std::uint32_t>(
        std::max<std::uint64_t>((missing + per_second - 1) / per_second, 1));
}

}  // namespace coap::detail
