// Server-side block-wise transfers (RFC 7959) between the message layer and the handler:
// Block1 uploads are reassembled so the handler runs once with the whole body, and responses
// larger than a block are sliced with Block2, Size2 and an ETag, their body kept for follow-ups.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "block_transfers.hpp"
#include "coap/response.hpp"
#include "coap/server_config.hpp"
#include "outgoing_response.hpp"

namespace coap::detail {

/// Counters of the block-wise layer; CoreStats includes them.
struct BlockCounters {
    std::uint64_t block2_served = 0;     ///< Responses sent as one block of a larger body.
    std::uint64_t block1_continues = 0;  ///< 2.31 Continue for an upload block.
    std::uint64_t block_incomplete = 0;  ///< 4.08: a block out of order or without a transfer.
    std::uint64_t block_too_large = 0;   ///< 4.13: an upload larger than max_block_payload.
    std::uint64_t block_busy = 0;        ///< 5.03: no transfer slot free for a new upload.
};

class BlockLayer {
  public:
    /// What the layer decided about a request before its handler runs.
    struct Plan {
        /// The reply is in the OutgoingResponse already; the handler does not run.
        bool answered = false;
        /// The reassembled body of a Block1 upload, for Request::payload().
        std::optional<Bytes> body;
        /// The Block1 value the final response acknowledges (RFC 7959 §2.3, control usage).
        std::optional<BlockValue> block1;
        /// The request's Block2 (control usage): the block wanted and the size suggested.
        std::optional<BlockValue> block2;
        /// The upload's slot, reused to keep a block-wise response to it.
        BlockTransfer* transfer = nullptr;
        std::optional<std::uint64_t> key;
        /// Keep a large response's body for the follow-up blocks. Off for observable resources:
        /// their representation changes, and a kept body would serve an old version to the
        /// follow-ups of every later notification (RFC 7959 §2.6); a rerun handler serves the
        /// current one, and the body's ETag tells the client when it changed.
        bool keep_body = true;
    };

    /// Sized from max_block_transfers, max_block_payload, block_transfer_timeout and
    /// max_block_size. Options 23 and 27 in recognized_options leave Block2 and Block1 to the
    /// handler.
    BlockLayer(const ServerConfig& config, BlockCounters& counters);

    /// Handles Block1 uploads and Block2 requests for later blocks. When the plan is
    /// `answered`, `out` holds the reply: 2.31, a stored block, 4.00, 4.02, 4.08, 4.13 or 5.03.
    Plan before_handler(const Endpoint& peer, const MessageView& request, TimePoint now,
                        OutgoingResponse& out) noexcept;
    /// Fills `out` from the handler's `response`: the Block1 acknowledgement, and Block2
    /// slicing with Size2 and an ETag when the body is larger than a block. The body is kept
    /// for the follow-up requests when a slot is free.
    void shape(Plan& plan, const Endpoint& peer, const MessageView& request,
               const Response& response, TimePoint now, OutgoingResponse& out) noexcept;
    /// Ends the plan's upload without a response (the handler deferred or gave none).
    void finish(Plan& plan) noexcept;

    void expire(TimePoint now) noexcept { transfers_.expire(now); }
    const BlockTransfers& transfers() const noexcept { return transfers_; }
    bool reassembles_uploads() const noexcept { return reassemble_uploads_; }
    bool slices_responses() const noexcept { return slice_responses_; }

  private:
    void on_upload(Plan& plan, const Endpoint& peer, const MessageView& request, BlockValue block,
                   TimePoint now, OutgoingResponse& out) noexcept;
    void on_first_upload_block(Plan& plan, const Endpoint& peer, const MessageView& request,
                               BlockValue block, TimePoint now, OutgoingResponse& out) noexcept;
    void append(Plan& plan, BlockTransfer& transfer, BlockValue block, Bytes payload, TimePoint now,
                OutgoingResponse& out) noexcept;
    void on_later_block_request(Plan& plan, const Endpoint& peer, const MessageView& request,
                                TimePoint now, OutgoingResponse& out) noexcept;
    void serve_stored(BlockTransfer& transfer, BlockValue block, TimePoint now,
                      OutgoingResponse& out) noexcept;
    BlockTransfer* store(Plan& plan, const Endpoint& peer, const MessageView& request,
                         const Response& response, std::optional<std::uint64_t> etag,
                         TimePoint now) noexcept;
    BlockValue served_block(BlockValue requested) const noexcept;
    std::uint8_t acknowledged_szx(BlockValue block) const noexcept {
        return block.szx < server_szx_ ? block.szx : server_szx_;
    }

    // Direct answers: the handler does not run.
    static void answer(Plan& plan, OutgoingResponse& out, Code code,
                       std::string_view diagnostic = {}) noexcept;
    void continue_upload(Plan& plan, OutgoingResponse& out, BlockValue block) noexcept;
    void incomplete(Plan& plan, OutgoingResponse& out) noexcept;
    void too_large(Plan& plan, OutgoingResponse& out) noexcept;
    void busy(Plan& plan, OutgoingResponse& out) noexcept;
    static void beyond_end(OutgoingResponse& out) noexcept;

    BlockTransfers transfers_;
    BlockCounters& counters_;
    std::uint32_t busy_max_age_;
    std::uint8_t server_szx_;
    bool reassemble_uploads_;
    bool slice_responses_;
};

}  // namespace coap::detail
