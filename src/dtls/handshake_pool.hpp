// Server handshakes in progress, kept apart from established sessions because they need much
// more memory (transcript hash contexts, reassembly and flight buffers): a fixed pool sized at
// construction, found by peer endpoint through a keyed index. A slot is only taken for a
// ClientHello with a valid cookie; it is freed when the handshake completes, fails or times
// out. When every slot is busy, acquire() fails and the hello is dropped (the client
// retransmits it later).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "coap/endpoint.hpp"
#include "dtls/server_handshake.hpp"
#include "dtls/slot_index.hpp"

namespace coap::dtls {

class HandshakePool {
  public:
    /// Bytes per slot (1824 on x86-64), plus what libcrypto holds for the transcript's two
    /// digest contexts: about 260 bytes measured after construction, ~380 after the first
    /// snapshot. Most of a slot is the 512-byte reassembly buffer and the 512-byte flight.
    static constexpr std::size_t bytes_per_slot = sizeof(ServerHandshake) + sizeof(Endpoint) +
                                                  2 * SlotIndex::bucket_size +
                                                  SlotLinks::link_size + sizeof(void*);

    HandshakePool(std::size_t capacity, const ServerHandshakeConfig& config);

    /// False if OpenSSL could not allocate every slot's transcript hash.
    bool valid() const noexcept { return valid_; }

    ServerHandshake* find(const Endpoint& peer) noexcept;
    /// A free slot bound to `peer` (which must have none), or nullptr when the pool is full.
    ServerHandshake* acquire(const Endpoint& peer) noexcept;
    /// Wipes the handshake and frees its slot.
    void release(ServerHandshake& handshake) noexcept;
    const Endpoint& peer_of(const ServerHandshake& handshake) const noexcept;

    /// Calls `visit(peer, handshake)` for every slot in use; `visit` may release it.
    template <class Visit>
    void for_each(Visit&& visit) noexcept {
        for (std::uint32_t slot = used_.head; slot != SlotIndex::none;) {
            const std::uint32_t next = links_.next(slot);
            visit(peers_[slot], *slots_[slot]);
            slot = next;
        }
    }

    template <class Visit>
    void for_each(Visit&& visit) const noexcept {
        for (std::uint32_t slot = used_.head; slot != SlotIndex::none; slot = links_.next(slot))
            visit(peers_[slot], static_cast<const ServerHandshake&>(*slots_[slot]));
    }

    std::size_t size() const noexcept { return used_.size; }
    std::size_t capacity() const noexcept { return slots_.size(); }

  private:
    std::uint32_t slot_of(const ServerHandshake& handshake) const noexcept;

    std::vector<std::unique_ptr<ServerHandshake>> slots_;
    std::unique_ptr<Endpoint[]> peers_;
    SlotIndex index_;
    SlotLinks links_;
    SlotLinks::List used_;
    SlotLinks::List free_;
    std::uint64_t seed_;
    bool valid_ = true;
};

}  // namespace coap::dtls
