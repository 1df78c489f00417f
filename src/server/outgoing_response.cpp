// OutgoingResponse: options gathered from a Response and added by the server, in place.
#include "outgoing_response.hpp"

#include <algorithm>

namespace coap::detail {

void OutgoingResponse::assign(const Response& response) noexcept {
    clear();
    code = response.code();
    payload = response.payload();
    for (std::size_t i = 0; i < response.option_count(); ++i)
        add(response.option_at(i).number, response.option_at(i).value);
    overflowed_ = overflowed_ || response.overflowed();
}

void OutgoingResponse::clear() noexcept {
    code = Code::content;
    payload = {};
    count_ = 0;
    uint_count_ = 0;
    overflowed_ = false;
}

void OutgoingResponse::add(OptionNumber number, Bytes value) noexcept {
    if (count_ == options_.size()) {
        overflowed_ = true;
        return;
    }
    options_[count_++] = Option{number, value};
}

void OutgoingResponse::add_uint(OptionNumber number, std::uint32_t value) noexcept {
    if (uint_count_ == uints_.size()) {
        overflowed_ = true;
        return;
    }
    uints_[uint_count_] = UintValue(value);
    add(number, uints_[uint_count_++].bytes());
}

void OutgoingResponse::add_etag(std::uint64_t tag) noexcept {
    for (std::size_t i = 0; i < etag_.size(); ++i)
        etag_[i] = static_cast<std::uint8_t>(tag >> (56 - 8 * i));
    add(OptionNumber::etag, etag_);
}

void OutgoingResponse::add_echo(Bytes value) noexcept {
    if (value.size() > echo_.size()) {
        overflowed_ = true;
        return;
    }
    std::copy(value.begin(), value.end(), echo_.begin());
    add(OptionNumber::echo, Bytes(echo_.data(), value.size()));
}

}  // namespace coap::detail
