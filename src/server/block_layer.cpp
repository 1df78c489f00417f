// Server-side block-wise transfers (RFC 7959): Block1 reassembly and Block2 slicing.
#include "block_layer.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

namespace coap::detail {

namespace {

bool lists(const ServerConfig& config, OptionNumber number) {
    return std::find(config.recognized_options.begin(), config.recognized_options.end(),
                     to_int(number)) != config.recognized_options.end();
}

std::int32_t content_format_of(const MessageView& request) noexcept {
    auto format = request.find_uint(OptionNumber::content_format);
    return format && *format <= 0xffff ? static_cast<std::int32_t>(*format) : -1;
}

// A stored response's options: [number: 2 bytes][length: 2 bytes][value], one after another.
class OptionRecords {
  public:
    explicit OptionRecords(MutableBytes storage) noexcept : storage_(storage) {}

    bool put(OptionNumber number, Bytes value) noexcept {
        if (value.size() > 0xffff || storage_.size() - used_ < 4 + value.size()) return false;
        std::uint8_t* at = storage_.data() + used_;
        at[0] = static_cast<std::uint8_t>(to_int(number) >> 8);
        at[1] = static_cast<std::uint8_t>(to_int(number));
        at[2] = static_cast<std::uint8_t>(value.size() >> 8);
        at[3] = static_cast<std::uint8_t>(value.size());
        if (!value.empty()) std::memcpy(at + 4, value.data(), value.size());
        used_ += 4 + value.size();
        return true;
    }
    std::size_t used() const noexcept { return used_; }

  private:
    MutableBytes storage_;
    std::size_t used_ = 0;
};

// Options that describe one exchange rather than the stored body.
bool per_exchange(OptionNumber number) noexcept {
    return number == OptionNumber::observe || number == OptionNumber::block1 ||
           number == OptionNumber::block2 || number == OptionNumber::size2;
}

bool write_options(BlockTransfer& transfer, const Response& response,
                   std::optional<std::uint64_t> etag) noexcept {
    OptionRecords records(transfer.option_storage);
    for (std::size_t i = 0; i < response.option_count(); ++i) {
        Option option = response.option_at(i);
        if (!per_exchange(option.number) && !records.put(option.number, option.value)) return false;
    }
    if (etag) {
        std::array<std::uint8_t, 8> bytes;
        for (std::size_t i = 0; i < bytes.size(); ++i)
            bytes[i] = static_cast<std::uint8_t>(*etag >> (56 - 8 * i));
        if (!records.put(OptionNumber::etag, bytes)) return false;
    }
    transfer.options_length = static_cast<std::uint16_t>(records.used());
    return true;
}

void read_options(const BlockTransfer& transfer, OutgoingResponse& out) noexcept {
    const std::uint8_t* at = transfer.option_storage.data();
    const std::uint8_t* end = at + transfer.options_length;
    while (at < end) {
        auto number = static_cast<OptionNumber>((at[0] << 8) | at[1]);
        std::size_t length = static_cast<std::size_t>((at[2] << 8) | at[3]);
        out.add(number, Bytes(at + 4, length));
        at += 4 + length;
    }
}

}  // namespace

BlockLayer::BlockLayer(const ServerConfig& config, BlockCounters& counters)
    : transfers_(lists(config, OptionNumber::block1) && lists(config, OptionNumber::block2)
                     ? 0
                     : config.max_block_transfers,
                 config.max_block_payload, config.block_transfer_timeout),
      counters_(counters),
      busy_max_age_(config.block_busy_max_age),
      server_szx_(szx_for_size(config.max_block_size)),
      reassemble_uploads_(!lists(config, OptionNumber::block1)),
      slice_responses_(!lists(config, OptionNumber::block2)) {}

BlockLayer::Plan BlockLayer::before_handler(const Endpoint& peer, const MessageView& request,
                                            TimePoint now, OutgoingResponse& out) noexcept {
    Plan plan;
    auto block1 =
        reassemble_uploads_ ? request.find(OptionNumber::block1) : std::optional<Option>{};
    auto block2 = slice_responses_ ? request.find(OptionNumber::block2) : std::optional<Option>{};
    if (!block1 && !block2) return plan;
    // RFC 7959 §2.2: the reserved SZX 7 "MUST lead to a 4.00 Bad Request" (decode_block
    // refuses it; longer values were already refused with 4.02 as malformed, RFC 7252 §5.4.3).
    if (block2 && !(plan.block2 = decode_block(block2->value))) {
        answer(plan, out, Code::bad_request, "Block2 SZX 7 is reserved");
        return plan;
    }
    std::optional<BlockValue> upload = block1 ? decode_block(block1->value) : std::nullopt;
    if (block1 && !upload) {
        answer(plan, out, Code::bad_request, "Block1 SZX 7 is reserved");
        return plan;
    }
    if (upload)
        on_upload(plan, peer, request, *upload, now, out);
    else if (plan.block2->num > 0)
        on_later_block_request(plan, peer, request, now, out);
    return plan;
}

// RFC 7959 §2.5: an atomic upload, enacted once when the block with M unset arrives.
void BlockLayer::on_upload(Plan& plan, const Endpoint& peer, const MessageView& request,
                           BlockValue block, TimePoint now, OutgoingResponse& out) noexcept {
    Bytes payload = request.payload();
    // §2.3: with M set, "The block size implied by SZX MUST match the size of the payload".
    if (block.more && payload.size() != block.size())
        return answer(plan, out, Code::bad_request, "Block1 size does not match the payload");
    plan.key = block_request_key(request);
    if (block.num == 0) return on_first_upload_block(plan, peer, request, block, now, out);

    BlockTransfer* transfer = transfers_.find(peer, *plan.key, now);
    // §2.3: blocks with another Content-Format "MUST NOT" be assembled with the others (4.08).
    if (transfer == nullptr || transfer->kind != BlockTransfer::Kind::upload ||
        transfer->content_format != content_format_of(request))
        return incomplete(plan, out);
    std::uint64_t offset = block.offset();
    bool repeat = block.more && offset == transfer->last_offset &&
                  offset + payload.size() == transfer->length;
    if (repeat) {  // restated with a new Message ID: acknowledged again, stored once
        transfers_.touch(*transfer, now);
        return continue_upload(plan, out, block);
    }
    // §2.5: "A server MAY also return a 4.08 error code for any (final or non-final) Block1
    // transfer that is not in sequence". The transfer stays, so the right block can follow.
    if (offset != transfer->length) return incomplete(plan, out);
    append(plan, *transfer, block, payload, now, out);
}

void BlockLayer::on_first_upload_block(Plan& plan, const Endpoint& peer, const MessageView& request,
                                       BlockValue block, TimePoint now,
                                       OutgoingResponse& out) noexcept {
    if (!block.more) {  // NUM 0 without M: the whole body in one block (§2.2)
        plan.block1 = BlockValue{0, false, acknowledged_szx(block)};
        return;
    }
    // §4: Size1 announces the body size; refuse at once what could never be stored (§2.9.3).
    if (auto size1 = request.find_uint(OptionNumber::size1);
        size1 && *size1 > transfers_.body_capacity())
        return too_large(plan, out);
    BlockTransfer* transfer = transfers_.open(peer, *plan.key, BlockTransfer::Kind::upload, now);
    if (transfer == nullptr) return busy(plan, out);
    transfer->content_format = content_format_of(request);
    append(plan, *transfer, block, request.payload(), now, out);
}

void BlockLayer::append(Plan& plan, BlockTransfer& transfer, BlockValue block, Bytes payload,
                        TimePoint now, OutgoingResponse& out) noexcept {
    if (payload.size() > transfer.body_storage.size() - transfer.length) {
        transfers_.release(transfer, false);
        return too_large(plan, out);
    }
    if (!payload.empty())
        std::memcpy(transfer.body_storage.data() + transfer.length, payload.data(), payload.size());
    transfer.last_offset = transfer.length;
    transfer.last_length = static_cast<std::uint32_t>(payload.size());
    transfer.length += transfer.last_length;
    transfers_.touch(transfer, now);
    if (block.more) return continue_upload(plan, out, block);
    plan.body = transfer.body();
    plan.block1 = BlockValue{block.num, false, acknowledged_szx(block)};
    plan.transfer = &transfer;
}

void BlockLayer::on_later_block_request(Plan& plan, const Endpoint& peer,
                                        const MessageView& request, TimePoint now,
                                        OutgoingResponse& out) noexcept {
    plan.key = block_request_key(request);
    BlockTransfer* transfer = transfers_.find(peer, *plan.key, now);
    if (transfer != nullptr && transfer->kind == BlockTransfer::Kind::download) {
        plan.answered = true;
        return serve_stored(*transfer, served_block(*plan.block2), now, out);
    }
    // No stored body: it expired, the pool was full, the body was larger than a slot, or the
    // server restarted. RFC 7959 §2.4 lets a server be stateless ("no requirement for the
    // server to establish any state"): a safe method's handler runs again and block NUM is cut
    // from its fresh body, whose computed ETag tells the client if it changed. Running an
    // unsafe method again would enact it again (RFC 7252 §5.1) with an empty body, so its lost
    // response body is answered with 4.08 and the client starts over.
    if (request.code() == Code::get || request.code() == Code::fetch) return;
    incomplete(plan, out);
}

// RFC 7959 §2.4: the requested size, or the server's smaller one at the same byte offset.
BlockValue BlockLayer::served_block(BlockValue requested) const noexcept {
    if (requested.szx <= server_szx_) return BlockValue{requested.num, false, requested.szx};
    return BlockValue{requested.num << (requested.szx - server_szx_), false, server_szx_};
}

void BlockLayer::serve_stored(BlockTransfer& transfer, BlockValue block, TimePoint now,
                              OutgoingResponse& out) noexcept {
    out.clear();
    if (block.num > max_block_num || block.offset() >= transfer.length) return beyond_end(out);
    auto offset = static_cast<std::size_t>(block.offset());
    std::size_t length = std::min<std::size_t>(block.size(), transfer.length - offset);
    bool more = offset + length < transfer.length;
    out.code = transfer.code;
    read_options(transfer, out);
    out.add_block(OptionNumber::block2, {block.num, more, block.szx});
    out.add_uint(OptionNumber::size2, transfer.length);
    out.payload = transfer.body().subspan(offset, length);
    ++counters_.block2_served;
    // Released after the last block; its bytes stay valid until a later request opens a slot.
    if (more)
        transfers_.touch(transfer, now);
    else
        transfers_.release(transfer, true);
}

void BlockLayer::shape(Plan& plan, const Endpoint& peer, const MessageView& request,
                       const Response& response, TimePoint now, OutgoingResponse& out) noexcept {
    out.assign(response);
    auto own_block1 = response.find(OptionNumber::block1);
    if (plan.block1 && !own_block1) out.add_block(OptionNumber::block1, *plan.block1);
    Bytes body = response.payload();
    BlockValue block = plan.block2 ? served_block(*plan.block2) : BlockValue{0, false, server_szx_};
    // Success bodies are representations to slice (§2.1); a handler that set Block2 sliced.
    bool slice = slice_responses_ && is_success(response.code()) &&
                 !response.find(OptionNumber::block2) &&
                 (block.num > 0 || body.size() > block.size());
    if (!slice) return finish(plan);
    if (block.num > max_block_num || block.offset() >= body.size()) {
        finish(plan);
        return beyond_end(out);
    }
    auto offset = static_cast<std::size_t>(block.offset());
    std::size_t length = std::min<std::size_t>(block.size(), body.size() - offset);
    bool more = offset + length < body.size();
    // §2.4: "The server SHOULD include an ETag Option in each response". One computed from the
    // body is the same whether a block comes from the stored body or from a rerun handler.
    std::optional<std::uint64_t> etag;
    if (!response.find(OptionNumber::etag)) etag = body_hash(body);
    BlockTransfer* stored =
        more && plan.keep_body ? store(plan, peer, request, response, etag, now) : nullptr;
    finish(plan);
    if (stored != nullptr) {
        // Rebuilt from the stored copy: the response's views may have pointed into the upload
        // body that the response body has just overwritten.
        out.clear();
        out.code = stored->code;
        read_options(*stored, out);
        if (auto observe = response.find(OptionNumber::observe))
            out.add(OptionNumber::observe, observe->value);
        if (own_block1)
            out.add(OptionNumber::block1, own_block1->value);
        else if (plan.block1)
            out.add_block(OptionNumber::block1, *plan.block1);
        body = stored->body();
    } else if (etag) {
        out.add_etag(*etag);
    }
    out.add_block(OptionNumber::block2, {block.num, more, block.szx});
    out.add_uint(OptionNumber::size2, static_cast<std::uint32_t>(body.size()));
    out.payload = body.subspan(offset, length);
    ++counters_.block2_served;
}

// Keeps a response body for the follow-up requests (RFC 7959 §2.4: "the server MAY cache the
// current value of a representation for an ongoing sequence of requests"). Null when it cannot
// be kept: the caller then serves the rest statelessly (see on_later_block_request).
BlockTransfer* BlockLayer::store(Plan& plan, const Endpoint& peer, const MessageView& request,
                                 const Response& response, std::optional<std::uint64_t> etag,
                                 TimePoint now) noexcept {
    Bytes body = response.payload();
    if (body.size() > transfers_.body_capacity()) return nullptr;
    // §2.7: the Block2 phase of an upload's response reuses the upload's slot.
    BlockTransfer* transfer = std::exchange(plan.transfer, nullptr);
    if (transfer == nullptr) {
        if (!plan.key) plan.key = block_request_key(request);
        transfer = transfers_.open(peer, *plan.key, BlockTransfer::Kind::download, now);
        if (transfer == nullptr) return nullptr;
    }
    transfer->kind = BlockTransfer::Kind::download;
    transfers_.touch(*transfer, now);
    // Options first: their values may point into the upload body about to be overwritten.
    if (!write_options(*transfer, response, etag)) {
        transfers_.release(*transfer, false);
        return nullptr;
    }
    if (!body.empty()) std::memmove(transfer->body_storage.data(), body.data(), body.size());
    transfer->length = static_cast<std::uint32_t>(body.size());
    transfer->code = response.code();
    return transfer;
}

void BlockLayer::finish(Plan& plan) noexcept {
    if (plan.transfer != nullptr) transfers_.release(*std::exchange(plan.transfer, nullptr), true);
}

void BlockLayer::answer(Plan& plan, OutgoingResponse& out, Code code,
                        std::string_view diagnostic) noexcept {
    out.clear();
    out.code = code;
    out.payload = as_bytes(diagnostic);  // RFC 7252 §5.5.2 diagnostic payload
    plan.answered = true;
}

// §2.5 and §2.3: 2.31 for every non-final block of an atomic upload, Block1 acknowledging NUM
// with M set and the server's preferred size (Figure 9: NUM stays in the client's size).
void BlockLayer::continue_upload(Plan& plan, OutgoingResponse& out, BlockValue block) noexcept {
    answer(plan, out, Code::continue_);
    out.add_block(OptionNumber::block1, {block.num, true, acknowledged_szx(block)});
    ++counters_.block1_continues;
}

void BlockLayer::incomplete(Plan& plan, OutgoingResponse& out) noexcept {
    answer(plan, out, Code::request_entity_incomplete);
    ++counters_.block_incomplete;
}

// §2.9.3: 4.13 with Size1, the largest body the server is able to take.
void BlockLayer::too_large(Plan& plan, OutgoingResponse& out) noexcept {
    answer(plan, out, Code::request_entity_too_large);
    out.add_uint(OptionNumber::size1, transfers_.body_capacity());
    ++counters_.block_too_large;
}

// RFC 9175 §3.3: a server that can serve only so many block-wise operations "can delay the
// start of the operation by replying with 5.03 (Service Unavailable) and a Max-Age".
void BlockLayer::busy(Plan& plan, OutgoingResponse& out) noexcept {
    answer(plan, out, Code::service_unavailable);
    out.add_uint(OptionNumber::max_age, busy_max_age_);
    ++counters_.block_busy;
}

// RFC 7959 names no code for a Block2 NUM past the end of the body. The option cannot be acted
// upon, which RFC 7252 §5.9.2.3 answers with 4.02 (Bad Option): "The client SHOULD NOT repeat
// the request without modification."
void BlockLayer::beyond_end(OutgoingResponse& out) noexcept {
    out.clear();
    out.code = Code::bad_option;
    out.payload = as_bytes(std::string_view("Block2 beyond the end of the body"));
}

}  // namespace coap::detail
