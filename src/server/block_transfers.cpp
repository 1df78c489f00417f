// The block-wise transfer pool: slots, the (peer, key) index and expiry.
#include "block_transfers.hpp"

#include <bit>
#include <cstring>

namespace coap::detail {

namespace {

constexpr std::uint64_t mix(std::uint64_t value) noexcept {
    // The splitmix64 finaliser: every input bit affects every output bit.
    value ^= value >> 30;
    value *= 0xbf58476d1ce4e5b9ull;
    value ^= value >> 27;
    value *= 0x94d049bb133111ebull;
    return value ^ (value >> 31);
}

// FNV-1a over short values (option numbers and values), finished with mix().
class KeyHasher {
  public:
    void add(std::uint64_t value) noexcept {
        for (int i = 0; i < 8; ++i)
            add_byte(static_cast<std::uint8_t>(value >> (8 * i)));
    }
    void add(Bytes bytes) noexcept {
        add(bytes.size());
        for (std::uint8_t byte : bytes)
            add_byte(byte);
    }
    std::uint64_t finish() const noexcept { return mix(state_); }

  private:
    void add_byte(std::uint8_t byte) noexcept { state_ = (state_ ^ byte) * 0x100000001b3ull; }
    std::uint64_t state_ = 0xcbf29ce484222325ull;
};

bool identifies_operation(OptionNumber number) noexcept {
    switch (number) {
        case OptionNumber::uri_host:
        case OptionNumber::uri_port:
        case OptionNumber::uri_path:
        case OptionNumber::uri_query:
        case OptionNumber::accept:
        case OptionNumber::request_tag:  // RFC 9175 §3.3
            return true;
        default:
            return false;
    }
}

}  // namespace

std::uint64_t block_request_key(const MessageView& request) noexcept {
    KeyHasher hasher;
    hasher.add(static_cast<std::uint64_t>(request.code()));
    for (const Option& option : request.options()) {
        if (!identifies_operation(option.number)) continue;
        hasher.add(to_int(option.number));
        hasher.add(option.value);
    }
    return hasher.finish();
}

std::uint64_t body_hash(Bytes body) noexcept {
    std::uint64_t hash = mix(body.size() ^ 0x9e3779b97f4a7c15ull);
    std::size_t i = 0;
    for (; i + 8 <= body.size(); i += 8) {
        std::uint64_t word;
        std::memcpy(&word, body.data() + i, 8);
        hash = std::rotl((hash ^ word) * 0xff51afd7ed558ccdull, 29);
    }
    std::uint64_t tail = 0;
    for (std::size_t shift = 0; i < body.size(); ++i, shift += 8)
        tail |= static_cast<std::uint64_t>(body[i]) << shift;
    return mix(hash ^ tail);
}

BlockTransfers::BlockTransfers(std::uint32_t slots, std::uint32_t body_capacity, Duration timeout)
    : slots_(new BlockTransfer[slots]),
      storage_(new std::uint8_t[static_cast<std::size_t>(slots) *
                                (static_cast<std::size_t>(body_capacity) + option_capacity)]),
      slot_count_(slots),
      body_capacity_(body_capacity),
      timeout_(timeout) {
    std::uint32_t buckets = std::bit_ceil(std::max<std::uint32_t>(2, slots * 2));
    buckets_.reset(new std::uint32_t[buckets]);
    bucket_mask_ = buckets - 1;
    for (std::uint32_t i = 0; i < buckets; ++i)
        buckets_[i] = none;
    std::size_t stride = static_cast<std::size_t>(body_capacity) + option_capacity;
    for (std::uint32_t i = slots; i-- > 0;) {
        std::uint8_t* base = storage_.get() + i * stride;
        slots_[i].body_storage = MutableBytes(base, body_capacity);
        slots_[i].option_storage = MutableBytes(base + body_capacity, option_capacity);
        slots_[i].next_ = free_;
        free_ = i;
    }
}

std::uint32_t BlockTransfers::home_of(const Endpoint& peer, std::uint64_t key) const noexcept {
    return static_cast<std::uint32_t>(mix(peer.hash() ^ key)) & bucket_mask_;
}

std::uint32_t BlockTransfers::find_bucket(const Endpoint& peer, std::uint64_t key) const noexcept {
    for (std::uint32_t bucket = home_of(peer, key);; bucket = (bucket + 1) & bucket_mask_) {
        std::uint32_t slot = buckets_[bucket];
        if (slot == none) return none;
        if (slots_[slot].key == key && slots_[slot].peer == peer) return bucket;
    }
}

void BlockTransfers::index_insert(std::uint32_t slot) noexcept {
    std::uint32_t bucket = home_of(slots_[slot].peer, slots_[slot].key);
    while (buckets_[bucket] != none)
        bucket = (bucket + 1) & bucket_mask_;
    buckets_[bucket] = slot;
}

// Linear probing without tombstones: later entries of the same probe run move back into the gap.
void BlockTransfers::index_erase(std::uint32_t gap) noexcept {
    buckets_[gap] = none;
    for (std::uint32_t bucket = (gap + 1) & bucket_mask_; buckets_[bucket] != none;
         bucket = (bucket + 1) & bucket_mask_) {
        const BlockTransfer& moved = slots_[buckets_[bucket]];
        std::uint32_t home = home_of(moved.peer, moved.key);
        // The entry may fill the gap when its home is not cyclically within (gap, bucket].
        bool stays = gap < bucket ? (home > gap && home <= bucket) : (home > gap || home <= bucket);
        if (stays) continue;
        buckets_[gap] = buckets_[bucket];
        buckets_[bucket] = none;
        gap = bucket;
    }
}

void BlockTransfers::unlink(std::uint32_t slot) noexcept {
    BlockTransfer& transfer = slots_[slot];
    if (transfer.previous_ != none)
        slots_[transfer.previous_].next_ = transfer.next_;
    else
        oldest_ = transfer.next_;
    if (transfer.next_ != none)
        slots_[transfer.next_].previous_ = transfer.previous_;
    else
        newest_ = transfer.previous_;
}

void BlockTransfers::append(std::uint32_t slot) noexcept {
    BlockTransfer& transfer = slots_[slot];
    transfer.previous_ = newest_;
    transfer.next_ = none;
    if (newest_ != none)
        slots_[newest_].next_ = slot;
    else
        oldest_ = slot;
    newest_ = slot;
}

BlockTransfer* BlockTransfers::find(const Endpoint& peer, std::uint64_t key,
                                    TimePoint now) noexcept {
    expire(now);
    std::uint32_t bucket = find_bucket(peer, key);
    return bucket == none ? nullptr : &slots_[buckets_[bucket]];
}

BlockTransfer* BlockTransfers::open(const Endpoint& peer, std::uint64_t key,
                                    BlockTransfer::Kind kind, TimePoint now) noexcept {
    BlockTransfer* transfer = find(peer, key, now);
    if (transfer != nullptr) {
        ++stats_.incomplete;  // RFC 7959 §2.5: the new operation overwrites the old one
    } else {
        if (free_ == none) {
            ++stats_.refused_full;
            return nullptr;
        }
        std::uint32_t slot = free_;
        transfer = &slots_[slot];
        free_ = transfer->next_;
        transfer->peer = peer;
        transfer->key = key;
        transfer->in_use_ = true;
        index_insert(slot);
        append(slot);
        ++active_;
    }
    ++stats_.started;
    transfer->kind = kind;
    transfer->length = 0;
    transfer->last_offset = 0;
    transfer->last_length = 0;
    transfer->content_format = -1;
    transfer->code = Code::content;
    transfer->options_length = 0;
    touch(*transfer, now);
    return transfer;
}

void BlockTransfers::touch(BlockTransfer& transfer, TimePoint now) noexcept {
    transfer.expires = now + timeout_;
    std::uint32_t slot = index_of(transfer);
    unlink(slot);
    append(slot);
}

void BlockTransfers::release(BlockTransfer& transfer, bool completed) noexcept {
    if (!transfer.in_use_) return;
    ++(completed ? stats_.completed : stats_.incomplete);
    free_slot(transfer);
}

void BlockTransfers::free_slot(BlockTransfer& transfer) noexcept {
    std::uint32_t slot = index_of(transfer);
    index_erase(find_bucket(transfer.peer, transfer.key));
    unlink(slot);
    transfer.in_use_ = false;
    transfer.next_ = free_;
    free_ = slot;
    --active_;
}

void BlockTransfers::expire(TimePoint now) noexcept {
    // Every touch moves a transfer to the newest end, so the oldest expires first.
    while (oldest_ != none && slots_[oldest_].expires <= now) {
        free_slot(slots_[oldest_]);
        ++stats_.expired;
    }
}

}  // namespace coap::detail
