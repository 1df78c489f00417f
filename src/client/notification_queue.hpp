// Notifications waiting for Observation::next / next_into (RFC 7641): a fixed number of slots,
// allocated from the config at construction. When every slot is taken, the oldest notification
// that does not end its observation is dropped (stale data is worth least). Sans-I/O.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

#include "coap/client.hpp"

namespace coap::detail {

class NotificationQueue {
  public:
    /// One queued notification: its datagram sits in slot `slot` (length bytes), or the error
    /// that ended its observation.
    struct Entry {
        RequestHandle id = 0;
        std::uint32_t slot = 0;
        std::uint32_t length = 0;
        ClientError error = ClientError::cancelled;
        bool has_error = false;
        bool last = false;
    };

    NotificationQueue(std::uint32_t slots, std::size_t slot_size) {
        slots = std::max<std::uint32_t>(1, slots);
        storage_.resize(slots);
        entries_.reserve(slots);
        free_.reserve(slots);
        for (std::uint32_t i = 0; i < slots; ++i) {
            storage_[i].resize(slot_size);
            free_.push_back(slots - 1 - i);
        }
    }

    /// Queues a copy of `datagram` (or `error`, with no datagram).
    void push(RequestHandle id, Bytes datagram, std::optional<ClientError> error, bool last) {
        push_with(id, datagram.size(), error, last, [&](MutableBytes out) {
            std::copy(datagram.begin(), datagram.end(), out.begin());
            return datagram.size();
        });
    }

    /// Queues a datagram of at most `capacity` bytes that `write(MutableBytes) -> size_t` puts
    /// straight into the slot. A slot grows (once) for a datagram larger than any before it, e.g.
    /// a notification reassembled from blocks; it keeps that size, so steady state does not
    /// allocate.
    template <typename Write>
    void push_with(RequestHandle id, std::size_t capacity, std::optional<ClientError> error,
                   bool last, Write&& write) {
        if (free_.empty()) drop_oldest();
        Entry entry;
        entry.id = id;
        entry.slot = free_.back();
        free_.pop_back();
        entry.last = last;
        entry.has_error = error.has_value();
        if (error) entry.error = *error;
        std::vector<std::uint8_t>& slot = storage_[entry.slot];
        if (slot.size() < capacity) slot.resize(capacity);
        std::size_t length = capacity == 0 ? 0 : write(MutableBytes(slot.data(), capacity));
        entry.length = static_cast<std::uint32_t>(std::min(length, capacity));
        entries_.push_back(entry);
    }

    /// Removes and returns the oldest entry for `id`. Its bytes (`bytes(entry)`) stay valid
    /// until the next push.
    std::optional<Entry> take(RequestHandle id) {
        auto it = std::find_if(entries_.begin(), entries_.end(),
                               [id](const Entry& entry) { return entry.id == id; });
        if (it == entries_.end()) return std::nullopt;
        Entry entry = *it;
        entries_.erase(it);
        free_.push_back(entry.slot);
        return entry;
    }

    Bytes bytes(const Entry& entry) const noexcept {
        return Bytes(storage_[entry.slot].data(), entry.length);
    }
    bool has(RequestHandle id) const noexcept {
        return std::any_of(entries_.begin(), entries_.end(),
                           [id](const Entry& entry) { return entry.id == id; });
    }
    /// Notifications dropped because every slot was taken.
    std::uint64_t dropped() const noexcept { return dropped_; }

  private:
    void drop_oldest() {
        auto victim = std::find_if(entries_.begin(), entries_.end(),
                                   [](const Entry& entry) { return !entry.last; });
        if (victim == entries_.end()) victim = entries_.begin();
        free_.push_back(victim->slot);
        entries_.erase(victim);
        ++dropped_;
    }

    std::vector<Entry> entries_;  // oldest first; size <= slots
    std::vector<std::vector<std::uint8_t>> storage_;
    std::vector<std::uint32_t> free_;
    std::uint64_t dropped_ = 0;
};

}  // namespace coap::detail
