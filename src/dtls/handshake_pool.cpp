// Handshake slot pool: keyed index + free list over pre-built ServerHandshake objects.
#include "dtls/handshake_pool.hpp"

#include <algorithm>

namespace coap::dtls {

HandshakePool::HandshakePool(std::size_t capacity, const ServerHandshakeConfig& config)
    : peers_(std::make_unique<Endpoint[]>(std::max<std::size_t>(capacity, 1))),
      index_(capacity),
      links_(std::max<std::size_t>(capacity, 1)),
      seed_(random_hash_seed()) {
    slots_.reserve(capacity);
    for (std::size_t i = 0; i < capacity; ++i) {
        slots_.push_back(std::make_unique<ServerHandshake>(config));
        valid_ = valid_ && slots_.back()->valid();
        links_.push_back(free_, static_cast<std::uint32_t>(i));
    }
}

std::uint32_t HandshakePool::slot_of(const ServerHandshake& handshake) const noexcept {
    // Slots are few; a scan keeps ServerHandshake free of pool bookkeeping.
    for (std::uint32_t slot = 0; slot < slots_.size(); ++slot) {
        if (slots_[slot].get() == &handshake) return slot;
    }
    return SlotIndex::none;
}

ServerHandshake* HandshakePool::find(const Endpoint& peer) noexcept {
    if (used_.size == 0) return nullptr;
    const std::uint32_t slot = index_.find(keyed_hash(peer, seed_), [&](std::uint32_t candidate) {
        return peers_[candidate] == peer;
    });
    return slot == SlotIndex::none ? nullptr : slots_[slot].get();
}

ServerHandshake* HandshakePool::acquire(const Endpoint& peer) noexcept {
    if (free_.size == 0) return nullptr;
    const std::uint32_t slot = free_.head;
    links_.remove(free_, slot);
    links_.push_back(used_, slot);
    peers_[slot] = peer;
    index_.insert(keyed_hash(peer, seed_), slot);
    return slots_[slot].get();
}

void HandshakePool::release(ServerHandshake& handshake) noexcept {
    const std::uint32_t slot = slot_of(handshake);
    if (slot == SlotIndex::none) return;
    index_.erase(keyed_hash(peers_[slot], seed_), slot);
    links_.remove(used_, slot);
    handshake.wipe();
    links_.push_back(free_, slot);
}

const Endpoint& HandshakePool::peer_of(const ServerHandshake& handshake) const noexcept {
    const std::uint32_t slot = slot_of(handshake);
    return peers_[slot == SlotIndex::none ? 0 : slot];
}

}  // namespace coap::dtls
