// The shared part of one round of notifications (RFC 7641 §4.2): everything after the token,
// built once per version of a resource, so sending to one observer is a 4-byte header, its
// token and memcpy. Sans-I/O, no allocation: the storage is lent by the observer table.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "block_transfers.hpp"  // body_hash()
#include "coap/bytes.hpp"
#include "coap/codes.hpp"
#include "coap/message.hpp"

namespace coap::detail {

/// The ETag of a body that has none of its own, when it goes out block-wise (RFC 7959 §2.4,
/// §2.6): the block layer's body_hash, big endian as OutgoingResponse::add_etag writes it. A
/// notification's first block and the blocks a client then fetches with GET must carry the same
/// one, or the client drops the notification as changed.
inline std::array<std::uint8_t, 8> body_etag(Bytes body) noexcept {
    std::uint64_t hash = body_hash(body);
    std::array<std::uint8_t, 8> tag{};
    for (std::size_t i = 0; i < tag.size(); ++i)
        tag[i] = static_cast<std::uint8_t>(hash >> (56 - 8 * i));
    return tag;
}

class NotificationTail {
  public:
    /// Storage for a representation of up to `max_representation_bytes` encoded bytes: the full
    /// tail (options with Observe, payload) plus the first-block options (with Observe, ETag,
    /// Block2 and Size2), which in the worst case repeat every option of the representation.
    static constexpr std::size_t storage_for(std::uint32_t max_representation_bytes) noexcept {
        return 2 * std::size_t{max_representation_bytes} + 64;
    }

    NotificationTail() noexcept = default;
    explicit NotificationTail(MutableBytes storage) noexcept : storage_(storage) {}

    /// Builds the tails from an encoded representation (a message as the hub stores it).
    /// 2.xx: Observe = `sequence` is inserted (RFC 7641 §4.2). Other codes end the observation
    /// and carry no Observe option (§3.2). Observe, Block2 and Size2 in the representation are
    /// dropped; Max-Age and everything else pass through unchanged (§4.3.1). False when the
    /// representation does not parse or does not fit the storage.
    bool build(Bytes representation, std::uint32_t sequence) noexcept;

    bool built() const noexcept { return built_; }
    Code code() const noexcept { return code_; }
    /// A non-2.xx representation: sent without Observe, then the observer is removed.
    bool ends_observation() const noexcept { return built_ && !is_success(code_); }
    /// Published as NotificationType::confirmable (stored as a CON message): every observer
    /// gets this version as a CON, whatever its con_interval count says.
    bool confirmable() const noexcept { return confirmable_; }
    std::size_t payload_size() const noexcept { return payload_size_; }

    /// Writes one notification into `out`: header, `token`, then the shared tail. A payload
    /// larger than a block of size exponent `szx` goes out as its first block (RFC 7959 §2.6:
    /// Block2 NUM 0, M 1, with Size2 and an ETag). With `sequence`, the Observe value is
    /// rewritten (a retransmission carries the current sequence number, RFC 7641 §4.4).
    /// Returns the datagram's length, 0 when it does not fit in `out`.
    std::size_t write(MutableBytes out, MessageType type, std::uint16_t message_id, Bytes token,
                      std::uint8_t szx,
                      std::optional<std::uint32_t> sequence = std::nullopt) const noexcept;

  private:
    struct Section {
        std::uint32_t begin = 0;  // offsets into storage_
        std::uint32_t end = 0;
        std::uint32_t observe_begin = 0;  // equal to observe_end when there is no Observe
        std::uint32_t observe_end = 0;
        std::uint32_t block2_value = 0;  // the Block2 value byte (first-block section only)
    };
    struct Extra;

    bool build_section(Section& section, std::uint32_t offset, const MessageView& representation,
                       std::span<const Extra> extras, bool with_payload) noexcept;

    MutableBytes storage_{};
    Section full_{};
    Section first_block_{};
    std::uint32_t payload_begin_ = 0;
    std::uint32_t payload_size_ = 0;
    Code code_ = Code::empty;
    bool built_ = false;
    bool has_first_block_ = false;
    bool confirmable_ = false;
};

}  // namespace coap::detail
