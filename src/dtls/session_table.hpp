// The established sessions of one worker: a fixed array of Session slots sized at construction
// (dtls_session_count), found by peer endpoint in O(1) through a keyed open-addressing index,
// kept on a least-recently-active list that gives both the idle timeout (expire from the front)
// and the eviction victim when the table is full. Erasing a session wipes its keys.
//
// Memory per session: sizeof(Session) + 2 index buckets (8 bytes each, load factor <= 1/2) +
// one list link (8 bytes); see bytes_per_session.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "coap/endpoint.hpp"
#include "coap/time.hpp"
#include "dtls/session.hpp"
#include "dtls/slot_index.hpp"

namespace coap::dtls {

class SessionTable {
  public:
    static constexpr std::size_t bytes_per_session =
        sizeof(Session) + 2 * SlotIndex::bucket_size + SlotLinks::link_size;
    static_assert(bytes_per_session <= 512, "a session with its bookkeeping must fit 512 bytes");

    /// `capacity` sessions at most (at least 1); sessions idle for `idle_timeout` expire.
    SessionTable(std::size_t capacity, Duration idle_timeout);

    Session* find(const Endpoint& peer) noexcept;
    /// A fresh slot for `peer`, which must not have one. When the table is full the least
    /// recently active session is wiped first and `on_evict(its peer)` is called.
    template <class OnEvict>
    Session& insert(const Endpoint& peer, TimePoint now, OnEvict&& on_evict) noexcept {
        if (free_.size == 0) {
            Session& victim = sessions_[used_.head];
            const Endpoint evicted = victim.peer();
            erase(victim);
            on_evict(evicted);
        }
        return claim(peer, now);
    }
    /// Wipes the session and frees its slot.
    void erase(Session& session) noexcept;
    /// Records activity: the session moves to the back of the idle order.
    void touch(Session& session, TimePoint now) noexcept;

    /// Erases every session idle since `now - idle_timeout`, calling `on_expired(peer)` for each.
    template <class OnExpired>
    std::size_t expire(TimePoint now, OnExpired&& on_expired) noexcept {
        std::size_t count = 0;
        while (used_.head != SlotIndex::none &&
               sessions_[used_.head].last_activity() + idle_timeout_ <= now) {
            Session& idle = sessions_[used_.head];
            const Endpoint peer = idle.peer();
            erase(idle);
            on_expired(peer);
            ++count;
        }
        return count;
    }
    /// When the least recently active session expires, if there is one.
    std::optional<TimePoint> next_expiry() const noexcept;

    std::size_t size() const noexcept { return used_.size; }
    std::size_t capacity() const noexcept { return capacity_; }

  private:
    Session& claim(const Endpoint& peer, TimePoint now) noexcept;
    std::uint32_t slot_of(const Session& session) const noexcept {
        return static_cast<std::uint32_t>(&session - sessions_.get());
    }

    std::size_t capacity_;
    Duration idle_timeout_;
    std::unique_ptr<Session[]> sessions_;
    SlotIndex index_;
    SlotLinks links_;
    SlotLinks::List used_;  // least recently active first
    SlotLinks::List free_;
    std::uint64_t seed_;
};

}  // namespace coap::dtls
