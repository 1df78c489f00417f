// Critical-option rejection (RFC 7252 §5.4.1, §5.4.3, §5.4.5).
#include <algorithm>

#include "coap/message.hpp"

namespace coap {

namespace {

bool acceptable(const OptionDef& def, std::size_t length, bool repeated) noexcept {
    if (!def.processed) return false;
    if (length < def.min_length || length > def.max_length) return false;  // §5.4.3
    return !repeated || def.repeatable;                                    // §5.4.5
}

}  // namespace

std::optional<OptionNumber> first_unrecognized_critical(
    const MessageView& message, std::span<const std::uint16_t> also_recognized) noexcept {
    std::uint32_t previous = 0x10000;  // no option yet
    for (const Option& option : message.options()) {
        std::uint16_t number = to_int(option.number);
        bool repeated = number == previous;
        previous = number;
        if (!is_critical(option.number)) continue;  // §5.4.1: elective ones are ignored
        if (std::find(also_recognized.begin(), also_recognized.end(), number) !=
            also_recognized.end())
            continue;
        const OptionDef* def = find_option_def(option.number);
        if (def == nullptr || !acceptable(*def, option.value.size(), repeated))
            return option.number;
    }
    return std::nullopt;
}

}  // namespace coap
