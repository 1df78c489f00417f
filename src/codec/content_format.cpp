// Content-Format registry (RFC 7252 §12.3 and the IANA CoAP Content-Formats registry).
#include "coap/content_format.hpp"

#include <algorithm>
#include <array>
#include <charconv>

namespace coap {

namespace {

using CF = ContentFormat;

constexpr std::array registry{
    ContentFormatDef{CF::text_plain, "text/plain;charset=utf-8", "text"},
    ContentFormatDef{CF::cose_encrypt0, "application/cose;cose-type=\"cose-encrypt0\"",
                     "cose-encrypt0"},
    ContentFormatDef{CF::cose_mac0, "application/cose;cose-type=\"cose-mac0\"", "cose-mac0"},
    ContentFormatDef{CF::cose_sign1, "application/cose;cose-type=\"cose-sign1\"", "cose-sign1"},
    ContentFormatDef{CF::link_format, "application/link-format", "link"},
    ContentFormatDef{CF::xml, "application/xml", "xml"},
    ContentFormatDef{CF::octet_stream, "application/octet-stream", "octet"},
    ContentFormatDef{CF::exi, "application/exi", "exi"},
    ContentFormatDef{CF::json, "application/json", "json"},
    ContentFormatDef{CF::json_patch_json, "application/json-patch+json", "json-patch"},
    ContentFormatDef{CF::merge_patch_json, "application/merge-patch+json", "merge-patch"},
    ContentFormatDef{CF::cbor, "application/cbor", "cbor"},
    ContentFormatDef{CF::cwt, "application/cwt", "cwt"},
    ContentFormatDef{CF::multipart_core, "application/multipart-core", "multipart-core"},
    ContentFormatDef{CF::cbor_seq, "application/cbor-seq", "cbor-seq"},
    ContentFormatDef{CF::cose_encrypt, "application/cose;cose-type=\"cose-encrypt\"",
                     "cose-encrypt"},
    ContentFormatDef{CF::cose_mac, "application/cose;cose-type=\"cose-mac\"", "cose-mac"},
    ContentFormatDef{CF::cose_sign, "application/cose;cose-type=\"cose-sign\"", "cose-sign"},
    ContentFormatDef{CF::cose_key, "application/cose-key", "cose-key"},
    ContentFormatDef{CF::cose_key_set, "application/cose-key-set", "cose-key-set"},
    ContentFormatDef{CF::senml_json, "application/senml+json", "senml-json"},
    ContentFormatDef{CF::sensml_json, "application/sensml+json", "sensml-json"},
    ContentFormatDef{CF::senml_cbor, "application/senml+cbor", "senml-cbor"},
    ContentFormatDef{CF::sensml_cbor, "application/sensml+cbor", "sensml-cbor"},
    ContentFormatDef{CF::senml_exi, "application/senml-exi", "senml-exi"},
    ContentFormatDef{CF::sensml_exi, "application/sensml-exi", "sensml-exi"},
    ContentFormatDef{CF::coap_group_json, "application/coap-group+json", "coap-group"},
    ContentFormatDef{CF::problem_details_cbor, "application/concise-problem-details+cbor",
                     "problem-details"},
    ContentFormatDef{CF::senml_xml, "application/senml+xml", "senml-xml"},
    ContentFormatDef{CF::sensml_xml, "application/sensml+xml", "sensml-xml"},
    ContentFormatDef{CF::senml_etch_json, "application/senml-etch+json", "senml-etch-json"},
    ContentFormatDef{CF::senml_etch_cbor, "application/senml-etch+cbor", "senml-etch-cbor"},
    ContentFormatDef{CF::yang_data_cbor, "application/yang-data+cbor", "yang-data-cbor"},
    ContentFormatDef{CF::lwm2m_tlv, "application/vnd.oma.lwm2m+tlv", "lwm2m-tlv"},
    ContentFormatDef{CF::lwm2m_json, "application/vnd.oma.lwm2m+json", "lwm2m-json"},
};

static_assert(std::is_sorted(registry.begin(), registry.end(),
                             [](const ContentFormatDef& a, const ContentFormatDef& b) {
                                 return to_int(a.id) < to_int(b.id);
                             }));

}  // namespace

std::span<const ContentFormatDef> content_format_registry() noexcept {
    return registry;
}

const ContentFormatDef* find_content_format(ContentFormat id) noexcept {
    for (const ContentFormatDef& def : registry)
        if (def.id == id) return &def;
    return nullptr;
}

std::optional<ContentFormat> parse_content_format(std::string_view text) noexcept {
    unsigned number = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (error == std::errc() && end == text.data() + text.size() && number <= 0xffff)
        return static_cast<ContentFormat>(number);
    for (const ContentFormatDef& def : registry) {
        if (def.short_name == text || def.media_type == text) return def.id;
    }
    if (text == "text/plain") return ContentFormat::text_plain;
    return std::nullopt;
}

}  // namespace coap
