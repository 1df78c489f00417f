// Refusal replies: RST, 4.29 Too Many Requests (RFC 8516) or nothing.
#include "refusal.hpp"

namespace coap::detail {

Refusal choose_refusal(const RefusalPolicy& policy, const Header& header) noexcept {
    bool request = is_request(header.code);
    switch (header.type) {
        case MessageType::con:
            if (policy.confirmable == Refusal::too_many_requests && !request) return Refusal::reset;
            return policy.confirmable;
        case MessageType::non:
            if (policy.non_confirmable == Refusal::too_many_requests && !request)
                return Refusal::silence;
            return policy.non_confirmable;
        case MessageType::ack:
        case MessageType::rst:
            break;
    }
    return Refusal::silence;
}

std::size_t encode_refusal(Refusal refusal, const Header& header, Bytes token,
                           std::uint32_t retry_after_seconds, std::uint16_t reply_message_id,
                           MutableBytes out) noexcept {
    bool confirmable = header.type == MessageType::con;
    if (!confirmable && header.type != MessageType::non) return 0;
    MessageWriter writer(out);
    switch (refusal) {
        case Refusal::silence:
            return 0;
        case Refusal::reset:
            writer.header(MessageType::rst, Code::empty, header.message_id);
            break;
        case Refusal::too_many_requests:
            // RFC 8516 §3: Max-Age says when the client may retry.
            writer
                .header(confirmable ? MessageType::ack : MessageType::non, Code::too_many_requests,
                        confirmable ? header.message_id : reply_message_id, token)
                .uint_option(OptionNumber::max_age, retry_after_seconds);
            break;
    }
    auto written = writer.finish();
    return written ? *written : 0;
}

}  // namespace coap::detail
