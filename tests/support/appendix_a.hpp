// The messages of RFC 7252 Appendix A (Figures 16-23), byte for byte, with their fields.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "coap/codes.hpp"
#include "support/bytes.hpp"

namespace coap::test {

struct AppendixMessage {
    std::string_view name;
    MessageType type;
    Code code;
    std::uint16_t message_id;
    ByteVector token;
    std::string_view uri_path;  // empty: no Uri-Path option
    std::string_view payload;
    ByteVector wire;
};

inline std::vector<AppendixMessage> appendix_a_messages() {
    const ByteVector temperature = bytes("temperature");
    const ByteVector reading = bytes("22.3 C");
    auto get = [&](std::uint8_t first, std::uint8_t mid_hi, std::uint8_t mid_lo, ByteVector token) {
        return concat({bytes({first, 0x01, mid_hi, mid_lo}), token, bytes({0xbb}), temperature});
    };
    auto content = [&](std::uint8_t first, std::uint8_t mid_hi, std::uint8_t mid_lo,
                       ByteVector token, ByteVector payload) {
        return concat({bytes({first, 0x45, mid_hi, mid_lo}), token, bytes({0xff}), payload});
    };
    using T = MessageType;
    return {
        {"fig16_con_get",
         T::con,
         Code::get,
         0x7d34,
         {},
         "temperature",
         "",
         get(0x40, 0x7d, 0x34, {})},
        {"fig16_ack_content",
         T::ack,
         Code::content,
         0x7d34,
         {},
         "",
         "22.3 C",
         content(0x60, 0x7d, 0x34, {}, reading)},
        {"fig17_con_get_token", T::con, Code::get, 0x7d35, bytes({0x20}), "temperature", "",
         get(0x41, 0x7d, 0x35, bytes({0x20}))},
        {"fig17_ack_content_token", T::ack, Code::content, 0x7d35, bytes({0x20}), "", "22.3 C",
         content(0x61, 0x7d, 0x35, bytes({0x20}), reading)},
        {"fig20_empty_ack",
         T::ack,
         Code::empty,
         0x7d38,
         {},
         "",
         "",
         bytes({0x60, 0x00, 0x7d, 0x38})},
        {"fig20_con_separate_response", T::con, Code::content, 0xad7b, bytes({0x53}), "", "22.3 C",
         content(0x41, 0xad, 0x7b, bytes({0x53}), reading)},
        {"fig21_rst", T::rst, Code::empty, 0xad7c, {}, "", "", bytes({0x70, 0x00, 0xad, 0x7c})},
        {"fig22_non_get", T::non, Code::get, 0x7d40, bytes({0x75}), "temperature", "",
         get(0x51, 0x7d, 0x40, bytes({0x75}))},
        {"fig22_non_content", T::non, Code::content, 0xad7d, bytes({0x75}), "", "22.3 C",
         content(0x51, 0xad, 0x7d, bytes({0x75}), reading)},
        {"fig23_non_not_found", T::non, Code::not_found, 0x952a, bytes({0x86}), "", "",
         bytes({0x51, 0x84, 0x95, 0x2a, 0x86})},
    };
}

}  // namespace coap::test
