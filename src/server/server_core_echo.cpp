// The server core's side of Echo (RFC 9175 §2): freshness for unsafe requests, the
// amplification limit, and challenges asked for by handlers. Echo values are verified without
// per-client state (EchoAuthority).
#include <array>

#include "server_core.hpp"

namespace coap::detail {

namespace {

bool is_unsafe(Code method) noexcept {
    return method == Code::post || method == Code::put || method == Code::del ||
           method == Code::patch || method == Code::ipatch;
}

bool is_safe(Code method) noexcept {
    return method == Code::get || method == Code::fetch;
}

// A later block of an upload continues a transfer whose first block was checked already.
bool continues_upload(const MessageView& request) noexcept {
    auto option = request.find(OptionNumber::block1);
    if (!option) return false;
    auto block = decode_block(option->value);
    return block && block->num > 0;
}

}  // namespace

bool ServerCore::verify_echo(const Endpoint& peer, const MessageView& request) noexcept {
    if (!echo_state_) {
        auto option = request.find(OptionNumber::echo);
        echo_state_ = option && echo_.verify(peer, option->value, now_);
    }
    return *echo_state_;
}

bool ServerCore::echo_verified(const Request& request) noexcept {
    return verify_echo(request.peer(), request.message());
}

// §2.4 item 1: an unsafe request must be fresh before it is acted upon.
bool ServerCore::needs_fresh_echo(const Endpoint& peer, const MessageView& request) noexcept {
    if (!echo_required_for_unsafe_ || !is_unsafe(request.code())) return false;
    // A later block continues an upload whose first block was fresh; the handler runs once, with
    // the whole body. Blocks a handler reassembles itself reach it one by one: each needs Echo.
    if (blocks_.reassembles_uploads() && continues_upload(request)) return false;
    return !verify_echo(peer, request);
}

// §2.4 item 3: until a client has shown that it receives at its address, answer at most three
// times the request's size. Applied to GET and FETCH, which can be repeated safely after the
// challenge; other methods would run their handler twice.
bool ServerCore::over_amplification_limit(const Endpoint& peer, const MessageView& request,
                                          std::size_t reply_length) noexcept {
    if (!echo_amplification_limit_ || !is_safe(request.code())) return false;
    if (!exceeds_amplification_limit(request.datagram().size(), reply_length)) return false;
    return !verify_echo(peer, request);
}

// §2.3: 4.01 Unauthorized with a fresh Echo value; the client repeats the request with it.
std::size_t ServerCore::echo_challenge(const Endpoint& peer, const MessageView& request,
                                       MutableBytes reply) noexcept {
    ++stats_.echo_challenges;
    OutgoingResponse out;
    out.code = Code::unauthorized;
    add_echo(peer, out);
    return encode_reply(request, out, reply);
}

void ServerCore::add_echo(const Endpoint& peer, OutgoingResponse& out) noexcept {
    std::array<std::uint8_t, max_echo_size> value{};
    std::size_t length = echo_.make(peer, now_, value);
    if (length != 0) out.add_echo(Bytes(value.data(), length));
}

}  // namespace coap::detail
