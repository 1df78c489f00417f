// Linear-probing index with backward-shift deletion (Knuth vol. 3, §6.4 Algorithm R) and
// intrusive slot lists.
#include "dtls/slot_index.hpp"

#include <cstring>

#include "dtls/crypto.hpp"

namespace coap::dtls {

namespace {

std::uint64_t mix(std::uint64_t x) noexcept {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

}  // namespace

SlotIndex::SlotIndex(std::size_t max_entries) {
    std::size_t count = 8;
    while (count < 2 * max_entries)
        count *= 2;
    buckets_ = std::make_unique<Bucket[]>(count);
    mask_ = count - 1;
}

void SlotIndex::insert(std::uint64_t hash, std::uint32_t slot) noexcept {
    const auto tag = static_cast<std::uint32_t>(hash);
    std::size_t i = tag & mask_;
    while (buckets_[i].slot != none)
        i = (i + 1) & mask_;
    buckets_[i] = {slot, tag};
}

void SlotIndex::erase(std::uint64_t hash, std::uint32_t slot) noexcept {
    const auto tag = static_cast<std::uint32_t>(hash);
    std::size_t hole = tag & mask_;
    while (buckets_[hole].slot != slot) {
        if (buckets_[hole].slot == none) return;
        hole = (hole + 1) & mask_;
    }
    // Shift later members of the probe run back into the hole unless their home bucket lies
    // cyclically in (hole, j]: then moving them would put them before their home.
    for (std::size_t j = (hole + 1) & mask_; buckets_[j].slot != none; j = (j + 1) & mask_) {
        const std::size_t home = buckets_[j].tag & mask_;
        const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (stays) continue;
        buckets_[hole] = buckets_[j];
        hole = j;
    }
    buckets_[hole] = Bucket{};
}

std::uint64_t keyed_hash(const Endpoint& peer, std::uint64_t seed) noexcept {
    std::uint64_t high;
    std::uint64_t low;
    std::memcpy(&high, peer.address().data(), 8);
    std::memcpy(&low, peer.address().data() + 8, 8);
    std::uint64_t h = mix(seed ^ high);
    h = mix(h ^ low);
    return mix(h ^ (std::uint64_t{peer.port()} << 32 | peer.scope_id()));
}

std::uint64_t keyed_hash(Bytes key, std::uint64_t seed) noexcept {
    std::uint64_t h = mix(seed ^ key.size());
    for (std::size_t i = 0; i < key.size(); i += 8) {
        std::uint64_t word = 0;
        std::memcpy(&word, key.data() + i, key.size() - i < 8 ? key.size() - i : 8);
        h = mix(h ^ word);
    }
    return h;
}

std::uint64_t random_hash_seed() noexcept {
    std::uint64_t seed = 0x6a09e667f3bcc909ull;
    std::uint8_t bytes[8];
    if (random_bytes(bytes)) std::memcpy(&seed, bytes, sizeof seed);
    return seed;
}

SlotLinks::SlotLinks(std::size_t count) : links_(std::make_unique<Link[]>(count)) {}

void SlotLinks::push_back(List& list, std::uint32_t slot) noexcept {
    links_[slot] = {list.tail, SlotIndex::none};
    if (list.tail != SlotIndex::none)
        links_[list.tail].next = slot;
    else
        list.head = slot;
    list.tail = slot;
    ++list.size;
}

void SlotLinks::remove(List& list, std::uint32_t slot) noexcept {
    const Link link = links_[slot];
    if (link.prev != SlotIndex::none)
        links_[link.prev].next = link.next;
    else
        list.head = link.next;
    if (link.next != SlotIndex::none)
        links_[link.next].prev = link.prev;
    else
        list.tail = link.prev;
    links_[slot] = Link{};
    --list.size;
}

}  // namespace coap::dtls
