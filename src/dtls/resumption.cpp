// Resumption cache: SlotIndex by session id plus an LRU list (RFC 5246 §7.4.1.2).
#include "dtls/resumption.hpp"

#include <algorithm>
#include <cstring>

namespace coap::dtls {

void ResumableSession::set_id(Bytes id) noexcept {
    session_id_size = static_cast<std::uint8_t>(std::min(id.size(), session_id.size()));
    if (session_id_size > 0) std::memcpy(session_id.data(), id.data(), session_id_size);
}

void ResumableSession::set_identity(Bytes value) noexcept {
    identity_size = static_cast<std::uint8_t>(std::min(value.size(), identity.size()));
    if (identity_size > 0) std::memcpy(identity.data(), value.data(), identity_size);
}

void ResumableSession::wipe() noexcept {
    secure_wipe(master.bytes);
    secure_wipe(identity);
    session_id_size = 0;
    identity_size = 0;
    extended_master_secret = false;
}

ResumptionCache::ResumptionCache(std::size_t capacity)
    : capacity_(capacity),
      entries_(std::make_unique<ResumableSession[]>(std::max<std::size_t>(capacity, 1))),
      index_(capacity),
      links_(std::max<std::size_t>(capacity, 1)),
      seed_(random_hash_seed()) {
    for (std::uint32_t slot = 0; slot < capacity_; ++slot)
        links_.push_back(free_, slot);
}

std::uint32_t ResumptionCache::lookup(Bytes session_id) const noexcept {
    if (session_id.empty() || capacity_ == 0) return SlotIndex::none;
    return index_.find(keyed_hash(session_id, seed_), [&](std::uint32_t slot) {
        const Bytes id = entries_[slot].id();
        return id.size() == session_id.size() &&
               std::memcmp(id.data(), session_id.data(), id.size()) == 0;
    });
}

const ResumableSession* ResumptionCache::find(Bytes session_id) noexcept {
    const std::uint32_t slot = lookup(session_id);
    if (slot == SlotIndex::none) return nullptr;
    links_.move_to_back(used_, slot);
    return &entries_[slot];
}

void ResumptionCache::insert(const ResumableSession& session) noexcept {
    if (capacity_ == 0 || !session.usable()) return;
    erase(session.id());
    if (free_.size == 0) erase(entries_[used_.head].id());
    const std::uint32_t slot = free_.head;
    links_.remove(free_, slot);
    entries_[slot] = session;
    index_.insert(keyed_hash(session.id(), seed_), slot);
    links_.push_back(used_, slot);
}

void ResumptionCache::erase(Bytes session_id) noexcept {
    const std::uint32_t slot = lookup(session_id);
    if (slot == SlotIndex::none) return;
    index_.erase(keyed_hash(session_id, seed_), slot);
    links_.remove(used_, slot);
    entries_[slot].wipe();
    links_.push_back(free_, slot);
}

}  // namespace coap::dtls
