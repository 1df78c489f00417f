// Content-Format registry for common media types (RFC 7252 §12.3 and later registrations).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "coap/export.hpp"

namespace coap {

/// A Content-Format number. Any 16-bit value is valid; the named ones are common registrations.
enum class ContentFormat : std::uint16_t {
    text_plain = 0,  ///< text/plain;charset=utf-8
    cose_encrypt0 = 16,
    cose_mac0 = 17,
    cose_sign1 = 18,
    link_format = 40,  ///< application/link-format (RFC 6690)
    xml = 41,
    octet_stream = 42,
    exi = 47,
    json = 50,
    json_patch_json = 51,
    merge_patch_json = 52,
    cbor = 60,
    cwt = 61,
    multipart_core = 62,
    cbor_seq = 63,
    cose_encrypt = 96,
    cose_mac = 97,
    cose_sign = 98,
    cose_key = 101,
    cose_key_set = 102,
    senml_json = 110,
    sensml_json = 111,
    senml_cbor = 112,
    sensml_cbor = 113,
    senml_exi = 114,
    sensml_exi = 115,
    coap_group_json = 256,
    problem_details_cbor = 257,
    senml_etch_json = 320,
    senml_etch_cbor = 322,
    senml_xml = 310,
    sensml_xml = 311,
    yang_data_cbor = 340,
    lwm2m_tlv = 11542,
    lwm2m_json = 11543,
};

/// The Content-Format number as an integer.
constexpr std::uint16_t to_int(ContentFormat format) noexcept {
    return static_cast<std::uint16_t>(format);
}

/// One registry row.
struct ContentFormatDef {
    ContentFormat id;             ///< The registered number.
    std::string_view media_type;  ///< e.g. "application/json", with parameters if registered so.
    std::string_view short_name;  ///< e.g. "json": the name the command-line tools accept.
};

/// Every known format, ascending by number.
COAP_API std::span<const ContentFormatDef> content_format_registry() noexcept;
/// The row for a number, or nullptr.
COAP_API const ContentFormatDef* find_content_format(ContentFormat id) noexcept;
/// Looks up by media type ("application/json"), short name ("json") or decimal number ("50").
COAP_API std::optional<ContentFormat> parse_content_format(std::string_view text) noexcept;

}  // namespace coap
