// Response building without heap allocation.
#include "coap/response.hpp"

#include <cstring>

namespace coap {

Response Response::content(ContentFormat format, Bytes payload) noexcept {
    Response response(Code::content, payload);
    response.content_format(format);
    return response;
}

Response& Response::option(OptionNumber number, Bytes value) noexcept {
    if (option_count_ == max_options || value.size() > 0xffff) {
        overflowed_ = true;
        return *this;
    }
    slots_[option_count_++] =
        Slot{number, false, static_cast<std::uint16_t>(value.size()), 0, value.data()};
    return *this;
}

Response& Response::option_copy(OptionNumber number, Bytes value) noexcept {
    if (option_count_ == max_options || value.size() > inline_bytes - inline_used_) {
        overflowed_ = true;
        return *this;
    }
    if (!value.empty()) std::memcpy(inline_.data() + inline_used_, value.data(), value.size());
    slots_[option_count_++] =
        Slot{number, true, static_cast<std::uint16_t>(value.size()), inline_used_, nullptr};
    inline_used_ = static_cast<std::uint8_t>(inline_used_ + value.size());
    return *this;
}

Response& Response::uint_option(OptionNumber number, std::uint32_t value) noexcept {
    UintValue encoded(value);
    return option_copy(number, encoded.bytes());
}

Option Response::option_at(std::size_t index) const noexcept {
    const Slot& slot = slots_[index];
    const std::uint8_t* data = slot.inline_value ? inline_.data() + slot.offset : slot.data;
    return Option{slot.number, Bytes{data, slot.length}};
}

std::optional<Option> Response::find(OptionNumber number) const noexcept {
    for (std::size_t i = 0; i < option_count_; ++i)
        if (slots_[i].number == number) return option_at(i);
    return std::nullopt;
}

}  // namespace coap
