// The state of block-wise transfers in progress (RFC 7959): a fixed pool of slots, each with
// room for one body, found by (peer, request key) through an open-addressing index and expired
// in least-recently-used order. All memory is reserved at construction; a full pool is an error
// for the caller to answer, never a crash.
#pragma once

#include <cstdint>
#include <memory>

#include "coap/bytes.hpp"
#include "coap/codes.hpp"
#include "coap/endpoint.hpp"
#include "coap/message.hpp"
#include "coap/time.hpp"

namespace coap::detail {

/// Identifies one block-wise operation of a peer (RFC 7959 §2.4, RFC 9175 §3.3): a hash of the
/// method, the Uri-Host/Uri-Port/Uri-Path/Uri-Query values, Accept and the Request-Tag values
/// (an absent Request-Tag differs from an empty one). Token, Message ID, Block1/Block2,
/// Size1/Size2, Observe, Echo, Content-Format and the payload are not part of it, so follow-up
/// requests with fresh tokens find the same operation.
std::uint64_t block_request_key(const MessageView& request) noexcept;

/// A 64-bit hash of a body, for the ETag of a response served block-wise: the same body always
/// gives the same value, so blocks served with and without stored state stay consistent.
std::uint64_t body_hash(Bytes body) noexcept;

/// One block-wise operation: an upload being reassembled or a response body being served.
struct BlockTransfer {
    enum class Kind : std::uint8_t { upload, download };

    Endpoint peer;
    std::uint64_t key = 0;
    TimePoint expires{};
    Kind kind = Kind::upload;
    /// Body bytes held in `body_storage`.
    std::uint32_t length = 0;
    MutableBytes body_storage{};
    MutableBytes option_storage{};

    // Upload: the last block accepted, to answer a repeat of it again (RFC 7959 §2.5).
    std::uint32_t last_offset = 0;
    std::uint32_t last_length = 0;
    /// Content-Format of the first block, or -1 when it had none (§2.3: blocks must agree).
    std::int32_t content_format = -1;

    // Download: the response code and its options, serialised into option_storage.
    Code code = Code::content;
    std::uint16_t options_length = 0;

    Bytes body() const noexcept { return Bytes(body_storage.data(), length); }

  private:
    friend class BlockTransfers;
    std::uint32_t previous_ = 0;  // least-recently-used list, or the free list (next only)
    std::uint32_t next_ = 0;
    bool in_use_ = false;
};

/// The pool of transfers of one worker thread.
class BlockTransfers {
  public:
    struct Stats {
        std::uint64_t started = 0;       ///< Transfers opened.
        std::uint64_t completed = 0;     ///< Finished: the last block was received or served.
        std::uint64_t expired = 0;       ///< Reclaimed after the timeout without activity.
        std::uint64_t refused_full = 0;  ///< Not opened: every slot was busy.
        std::uint64_t incomplete = 0;    ///< Dropped unfinished: replaced, too large, abandoned.
    };

    /// Room for per-slot response options of a stored download.
    static constexpr std::uint32_t option_capacity = 512;

    /// `slots` transfers of up to `body_capacity` bytes each, forgotten `timeout` after their
    /// last activity. `slots` may be 0: every open then fails.
    BlockTransfers(std::uint32_t slots, std::uint32_t body_capacity, Duration timeout);

    /// The live transfer of `peer` with `key`, or nullptr.
    BlockTransfer* find(const Endpoint& peer, std::uint64_t key, TimePoint now) noexcept;
    /// A transfer for a new operation of `peer` with `key`: the one it replaces (RFC 7959 §2.5:
    /// a new operation overwrites the old one), a free slot or an expired one; nullptr when
    /// every slot is busy. Its body and options are empty.
    BlockTransfer* open(const Endpoint& peer, std::uint64_t key, BlockTransfer::Kind kind,
                        TimePoint now) noexcept;
    /// Records activity: the transfer now expires `timeout` after `now`.
    void touch(BlockTransfer& transfer, TimePoint now) noexcept;
    /// Frees the slot; `completed` says whether the operation finished normally.
    void release(BlockTransfer& transfer, bool completed) noexcept;
    /// Frees every transfer idle for longer than the timeout.
    void expire(TimePoint now) noexcept;

    std::uint32_t active() const noexcept { return active_; }
    std::uint32_t capacity() const noexcept { return slot_count_; }
    std::uint32_t body_capacity() const noexcept { return body_capacity_; }
    const Stats& stats() const noexcept { return stats_; }

  private:
    static constexpr std::uint32_t none = 0xffffffff;

    std::uint32_t home_of(const Endpoint& peer, std::uint64_t key) const noexcept;
    std::uint32_t index_of(const BlockTransfer& transfer) const noexcept {
        return static_cast<std::uint32_t>(&transfer - slots_.get());
    }
    std::uint32_t find_bucket(const Endpoint& peer, std::uint64_t key) const noexcept;
    void index_insert(std::uint32_t slot) noexcept;
    void index_erase(std::uint32_t bucket) noexcept;
    void unlink(std::uint32_t slot) noexcept;
    void append(std::uint32_t slot) noexcept;
    void free_slot(BlockTransfer& transfer) noexcept;

    std::unique_ptr<BlockTransfer[]> slots_;
    std::unique_ptr<std::uint8_t[]> storage_;   // uninitialised: resident only once used
    std::unique_ptr<std::uint32_t[]> buckets_;  // slot index or none
    std::uint32_t slot_count_;
    std::uint32_t body_capacity_;
    std::uint32_t bucket_mask_;
    Duration timeout_;
    std::uint32_t free_ = none;    // free slots, linked through next_
    std::uint32_t oldest_ = none;  // least recently used live slot
    std::uint32_t newest_ = none;
    std::uint32_t active_ = 0;
    Stats stats_{};
};

}  // namespace coap::detail
