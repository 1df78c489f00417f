// The server core's overload protection: load levels from pool use, the per-IP rate limit
// while throttled, and refusals while shedding. Retransmissions answered from the exchange
// cache never get here (on_request checks the cache first), so shedding keeps serving them.
#include "coap/log.hpp"
#include "server_core.hpp"

namespace coap::detail {

// Called once per batch: the receive ring's fill (datagrams handled since the last batch against
// the ring's buffers) gives the load level, but only while the kernel is dropping datagrams (and
// for `overflow_hold` after the last drop). Many clients with a request each can fill the ring
// of a worker that keeps up; only a receive queue that overflows shows the offered load above
// what the worker drains. The other pools (separate responses, block
// transfers, observers) are not counted: each has its own answer when full (5.03, stateless
// Block2, registration without Observe) and being full says nothing about the worker's speed.
void ServerCore::update_load(TimePoint now) noexcept {
    constexpr Duration overflow_hold = std::chrono::seconds(1);
    if (kernel_drops_ != kernel_drops_seen_) {
        kernel_drops_seen_ = kernel_drops_;
        overflowing_until_ = now + overflow_hold;
    }
    std::uint32_t used = now < overflowing_until_ ? percent(batch_datagrams_, receive_buffers_) : 0;
    batch_datagrams_ = 0;
    LoadLevel before = load_.level();
    LoadLevel after = load_.update(used);
    if (after != before)
        log(after == LoadLevel::normal ? LogLevel::info : LogLevel::warn,
            "load level %.*s (pool use %u%%)", static_cast<int>(level_name(after).size()),
            level_name(after).data(), used);
}

// False when the request is refused; `length` is then the refusal's size (0 for silence).
bool ServerCore::admit(const Endpoint& peer, const MessageView& request, TimePoint now,
                       MutableBytes reply, std::size_t& length) noexcept {
    LoadLevel level = load_.level();
    if (level == LoadLevel::normal) return true;
    if (level == LoadLevel::throttled) {
        if (!rate_limiter_.enabled() || rate_limiter_.allow(peer, now)) return true;
        ++stats_.rate_limited;
    } else {
        ++stats_.shed;
    }
    Header header{1, request.type(), static_cast<std::uint8_t>(request.token().size()),
                  request.code(), request.message_id()};
    Refusal refusal = choose_refusal(refusal_policy_, header);
    std::uint32_t retry_after =
        level == LoadLevel::throttled ? rate_limiter_.retry_after_seconds(peer, now) : 1;
    if (refusal == Refusal::reset) ++stats_.resets_sent;
    length = encode_refusal(
        refusal, header, request.token(), retry_after,
        request.type() == MessageType::con ? request.message_id() : next_message_id(), reply);
    return false;
}

}  // namespace coap::detail
