// Session resumption state (RFC 5246 §7.4.1.2, §7.3 abbreviated handshake): the session id and
// master secret of a completed handshake, whether it used the extended master secret (RFC 7627
// §5.3 forbids resuming across a difference) and the PSK identity it authenticated. The server
// keeps these in a ResumptionCache; a client keeps the last one to offer again.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "coap/bytes.hpp"
#include "dtls/crypto.hpp"
#include "dtls/session.hpp"
#include "dtls/slot_index.hpp"

namespace coap::dtls {

struct ResumableSession {
    std::array<std::uint8_t, max_session_id_size> session_id{};
    std::uint8_t session_id_size = 0;
    bool extended_master_secret = false;
    std::uint8_t identity_size = 0;
    MasterSecret master;
    std::array<std::uint8_t, max_identity_size> identity{};

    ResumableSession() = default;
    ResumableSession(const ResumableSession&) = default;
    ResumableSession& operator=(const ResumableSession&) = default;
    ~ResumableSession() { wipe(); }

    Bytes id() const noexcept { return Bytes(session_id).first(session_id_size); }
    Bytes identity_bytes() const noexcept { return Bytes(identity).first(identity_size); }
    bool usable() const noexcept { return session_id_size > 0; }
    void set_id(Bytes id) noexcept;
    void set_identity(Bytes value) noexcept;
    void wipe() noexcept;
};

/// A fixed-size, least-recently-used cache of resumable sessions keyed by session id.
class ResumptionCache {
  public:
    /// `capacity` 0 disables resumption (the server then sends empty session ids).
    explicit ResumptionCache(std::size_t capacity);

    /// The entry for `session_id`, marked as most recently used; nullptr if unknown.
    const ResumableSession* find(Bytes session_id) noexcept;
    /// Stores `session` (replacing an entry with the same id), evicting the least recently used
    /// entry when full. Evicted and replaced secrets are wiped.
    void insert(const ResumableSession& session) noexcept;
    /// Forgets `session_id` (RFC 5246 §7.2.2: a fatal alert invalidates the session).
    void erase(Bytes session_id) noexcept;

    std::size_t size() const noexcept { return used_.size; }
    std::size_t capacity() const noexcept { return capacity_; }
    /// Bytes per entry, including its index buckets and list links.
    static constexpr std::size_t bytes_per_entry =
        sizeof(ResumableSession) + 2 * SlotIndex::bucket_size + SlotLinks::link_size;

  private:
    std::uint32_t lookup(Bytes session_id) const noexcept;

    std::size_t capacity_;
    std::unique_ptr<ResumableSession[]> entries_;
    SlotIndex index_;
    SlotLinks links_;
    SlotLinks::List used_;  // least recently used first
    SlotLinks::List free_;
    std::uint64_t seed_;
};

}  // namespace coap::dtls
