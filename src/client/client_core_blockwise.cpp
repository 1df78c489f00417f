// The client engine's block-wise transfers (RFC 7959 §2.4 Block2, §2.5 Block1, §4 Size1) and
// the request datagram that carries them with the engine's other options.
#include "client_core.hpp"

#include <algorithm>

namespace coap::detail {

namespace {

constexpr std::size_t max_extra_options = 7;

// The caller's options merged with the engine's own (Block1, Block2, Size1, Echo), in order.
struct ExtraOptions {
    std::array<Option, max_extra_options> items{};
    std::size_t count = 0;
    void add(OptionNumber number, Bytes value) { items[count++] = Option{number, value}; }
    void sort() {  // insertion sort: a handful of items
        for (std::size_t i = 1; i < count; ++i)
            for (std::size_t j = i; j > 0 && to_int(items[j].number) < to_int(items[j - 1].number);
                 --j)
                std::swap(items[j], items[j - 1]);
    }
};

bool engine_option(OptionNumber number) {
    return number == OptionNumber::block1 || number == OptionNumber::block2 ||
           number == OptionNumber::size1 || number == OptionNumber::echo ||
           number == OptionNumber::observe;
}

}  // namespace

bool ClientCore::build_datagram(Exchange& exchange) {
    auto base = parse(exchange.base);
    if (!base) return false;
    MessageType type = exchange.confirmable ? MessageType::con : MessageType::non;

    ExtraOptions extra;
    UintValue block1_value(0), block2_value(0), size1_value(0);
    Bytes payload(exchange.body);
    if (exchange.block1) {
        std::size_t size = 16u << exchange.block1_szx;
        std::size_t remaining = exchange.body.size() - exchange.block1_offset;
        exchange.block1_sent = std::min(size, remaining);
        bool more = remaining > size;
        block1_value = encode_block(
            {static_cast<std::uint32_t>(exchange.block1_offset / size), more, exchange.block1_szx});
        extra.add(OptionNumber::block1, block1_value.bytes());
        if (exchange.block1_offset == 0) {
            size1_value = UintValue(static_cast<std::uint32_t>(exchange.body.size()));
            extra.add(OptionNumber::size1, size1_value.bytes());  // RFC 7959 §4
        }
        payload = payload.subspan(exchange.block1_offset, exchange.block1_sent);
    }
    if (exchange.block2) {
        std::size_t size = 16u << exchange.block2_szx;
        block2_value = encode_block({static_cast<std::uint32_t>(exchange.received.size() / size),
                                     false, exchange.block2_szx});
        extra.add(OptionNumber::block2, block2_value.bytes());
        if (!exchange.block1) payload = {};  // the request body went with the first block
    }
    if (!exchange.echo.empty()) extra.add(OptionNumber::echo, exchange.echo);
    if (exchange.has_request_tag && exchange.block1)
        extra.add(OptionNumber::request_tag, exchange.request_tag);
    // RFC 7641 §2: Observe 0 registers, 1 deregisters. Block2 follow-ups carry none (§3.8...
    // RFC 7959 §2.6 asks for Observe on the first block only).
    UintValue observe_value(exchange.deregistering ? 1 : 0);
    if (exchange.observe && !exchange.block2)
        extra.add(OptionNumber::observe, observe_value.bytes());
    extra.sort();

    exchange.datagram.resize(config_.buffer_size);
    MessageWriter writer(exchange.datagram);
    writer.header(type, exchange.method, exchange.message_id, wire_token(exchange));
    std::size_t next_extra = 0;
    for (const Option& option : base->options()) {
        if (engine_option(option.number)) continue;
        while (next_extra < extra.count &&
               to_int(extra.items[next_extra].number) <= to_int(option.number)) {
            writer.option(extra.items[next_extra].number, extra.items[next_extra].value);
            ++next_extra;
        }
        writer.option(option.number, option.value);
    }
    for (; next_extra < extra.count; ++next_extra)
        writer.option(extra.items[next_extra].number, extra.items[next_extra].value);
    writer.payload(payload);
    auto written = writer.finish();
    if (!written) return false;
    exchange.datagram.resize(*written);
    return true;
}

// RFC 7959 §2.5: after 2.31 Continue, send the next block, at the server's smaller size if it
// asked for one. Returns true while the upload goes on (or ended in an error).
bool ClientCore::continue_upload(Exchange& exchange, const MessageView& response, TimePoint now) {
    bool last_sent = exchange.block1_offset + exchange.block1_sent >= exchange.body.size();
    if (last_sent || !is_success(response.code())) {
        // The final response, or an error (4.08, 4.13, ...) that ends the upload.
        exchange.block1 = last_sent && exchange.block1;  // the final response may carry Block2
        return false;
    }
    auto option = response.find(OptionNumber::block1);
    if (response.code() != Code::continue_ && !option) {
        // A final success without Block1 before the last block: the server ignored the
        // (critical) Block1 option and acted on part of the body. Not a success of the upload.
        complete(exchange, ClientError::malformed_response, now);
        return true;
    }
    // 2.31 Continue (atomic), or a success with Block1 for a block acted on by itself: in both
    // cases the client goes on with the next block (§2.2, Block1 in control usage).
    if (option) {
        auto block = decode_block(option->value);
        if (!block) {
            complete(exchange, ClientError::malformed_response, now);
            return true;
        }
        if (block->szx < exchange.block1_szx) exchange.block1_szx = block->szx;
    }
    exchange.block1_offset += exchange.block1_sent;
    transmit(exchange, now);
    return true;
}

// RFC 7959 §2.4: reassemble a Block2 body, checking order and the ETag.
bool ClientCore::continue_download(Exchange& exchange, const MessageView& response, TimePoint now) {
    auto option = response.find(OptionNumber::block2);
    if (!option) {
        // A success without Block2 in the middle of a transfer breaks it; an error is handed over.
        bool broken = exchange.block2 && is_success(response.code());
        if (broken) complete(exchange, ClientError::inconsistent_blocks, now);
        return broken;
    }
    auto block = decode_block(option->value);
    if (!block || !is_success(response.code())) {
        if (!block) complete(exchange, ClientError::malformed_response, now);
        return !block;
    }
    // RFC 7959 §2.2: with M set, the payload is exactly the block size.
    if (block->offset() != exchange.received.size() ||
        (block->more && response.payload().size() != block->size())) {
        complete(exchange, ClientError::inconsistent_blocks, now);
        return true;
    }
    auto etag = response.find(OptionNumber::etag);
    if (!exchange.block2) {
        exchange.block2 = true;
        remember_etag(exchange, response);
    } else {
        bool same = etag.has_value() == exchange.has_etag &&
                    (!etag || std::ranges::equal(
                                  etag->value, Bytes(exchange.etag.data(), exchange.etag_length)));
        if (!same && exchange.fetching) {
            // RFC 7959 §2.6 with RFC 7641 §3.3.1, §4.5: the resource changed after the
            // notification, and the server notifies the newer state. Fetching that one once
            // beats restarting this one (and racing the newer notification for its blocks).
            drop_fetch(exchange, now);
            return true;
        }
        if (!same) {
            complete(exchange, ClientError::inconsistent_blocks, now);
            return true;
        }
    }
    if (exchange.received.size() + response.payload().size() > config_.max_body_size) {
        complete(exchange, ClientError::too_large, now);
        return true;
    }
    exchange.received.insert(exchange.received.end(), response.payload().begin(),
                             response.payload().end());
    if (!block->more) return false;  // complete_with hands over the reassembled body
    // The received size is a multiple of this block's size, so of any smaller one too.
    exchange.block2_szx = std::min(block->szx, config_.block_szx);
    exchange.block1 = false;
    transmit(exchange, now);
    return true;
}

void ClientCore::remember_etag(Exchange& exchange, const MessageView& response) noexcept {
    auto etag = response.find(OptionNumber::etag);
    exchange.has_etag = etag.has_value() && etag->value.size() <= exchange.etag.size();
    if (!exchange.has_etag) return;
    exchange.etag_length = static_cast<std::uint8_t>(etag->value.size());
    std::copy(etag->value.begin(), etag->value.end(), exchange.etag.begin());
}

}  // namespace coap::detail
