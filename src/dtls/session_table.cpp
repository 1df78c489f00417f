// Session table: keyed index + LRU list over a fixed slot array.
#include "dtls/session_table.hpp"

#include <algorithm>

namespace coap::dtls {

SessionTable::SessionTable(std::size_t capacity, Duration idle_timeout)
    : capacity_(std::max<std::size_t>(capacity, 1)),
      idle_timeout_(idle_timeout),
      sessions_(std::make_unique<Session[]>(capacity_)),
      index_(capacity_),
      links_(capacity_),
      seed_(random_hash_seed()) {
    for (std::uint32_t slot = 0; slot < capacity_; ++slot)
        links_.push_back(free_, slot);
}

Session* SessionTable::find(const Endpoint& peer) noexcept {
    const std::uint32_t slot = index_.find(keyed_hash(peer, seed_), [&](std::uint32_t candidate) {
        return sessions_[candidate].peer() == peer;
    });
    return slot == SlotIndex::none ? nullptr : &sessions_[slot];
}

Session& SessionTable::claim(const Endpoint& peer, TimePoint now) noexcept {
    const std::uint32_t slot = free_.head;
    links_.remove(free_, slot);
    links_.push_back(used_, slot);
    Session& session = sessions_[slot];
    session.wipe();
    SessionSetup empty;
    session.establish(peer, empty, now);
    index_.insert(keyed_hash(peer, seed_), slot);
    return session;
}

void SessionTable::erase(Session& session) noexcept {
    const std::uint32_t slot = slot_of(session);
    index_.erase(keyed_hash(session.peer(), seed_), slot);
    links_.remove(used_, slot);
    session.wipe();
    links_.push_back(free_, slot);
}

void SessionTable::touch(Session& session, TimePoint now) noexcept {
    session.touch(now);
    links_.move_to_back(used_, slot_of(session));
}

std::optional<TimePoint> SessionTable::next_expiry() const noexcept {
    if (used_.head == SlotIndex::none) return std::nullopt;
    return sessions_[used_.head].last_activity() + idle_timeout_;
}

}  // namespace coap::dtls
