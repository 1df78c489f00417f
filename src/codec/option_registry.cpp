// The option registry (RFC 7252 §5.10 Table 4, §12.2; RFC 7641 §2; RFC 7959 §2.1, §4;
// RFC 7967 §2; RFC 8613 §2; RFC 8768 §3; RFC 9175 §2.2.1, §3.2.1; RFC 9177 §4.1).
#include <algorithm>
#include <array>

#include "coap/option.hpp"

namespace coap {

namespace {

using F = OptionFormat;
using N = OptionNumber;

// Ascending by number; `processed` is false where we register but do not implement the option.
constexpr std::array registry{
    OptionDef{N::if_match, "If-Match", F::opaque, 0, 8, true, true},
    OptionDef{N::uri_host, "Uri-Host", F::string, 1, 255, false, true},
    OptionDef{N::etag, "ETag", F::opaque, 1, 8, true, true},
    OptionDef{N::if_none_match, "If-None-Match", F::empty, 0, 0, false, true},
    OptionDef{N::observe, "Observe", F::uint, 0, 3, false, true},
    OptionDef{N::uri_port, "Uri-Port", F::uint, 0, 2, false, true},
    OptionDef{N::location_path, "Location-Path", F::string, 0, 255, true, true},
    OptionDef{N::oscore, "OSCORE", F::opaque, 0, 255, false, false},
    OptionDef{N::uri_path, "Uri-Path", F::string, 0, 255, true, true},
    OptionDef{N::content_format, "Content-Format", F::uint, 0, 2, false, true},
    OptionDef{N::max_age, "Max-Age", F::uint, 0, 4, false, true},
    OptionDef{N::uri_query, "Uri-Query", F::string, 0, 255, true, true},
    OptionDef{N::hop_limit, "Hop-Limit", F::uint, 1, 1, false, true},
    OptionDef{N::accept, "Accept", F::uint, 0, 2, false, true},
    OptionDef{N::q_block1, "Q-Block1", F::uint, 0, 3, false, false},
    OptionDef{N::location_query, "Location-Query", F::string, 0, 255, true, true},
    OptionDef{N::block2, "Block2", F::uint, 0, 3, false, true},
    OptionDef{N::block1, "Block1", F::uint, 0, 3, false, true},
    OptionDef{N::size2, "Size2", F::uint, 0, 4, false, true},
    OptionDef{N::q_block2, "Q-Block2", F::uint, 0, 3, true, false},
    OptionDef{N::proxy_uri, "Proxy-Uri", F::string, 1, 1034, false, true},
    OptionDef{N::proxy_scheme, "Proxy-Scheme", F::string, 1, 255, false, true},
    OptionDef{N::size1, "Size1", F::uint, 0, 4, false, true},
    OptionDef{N::echo, "Echo", F::opaque, 1, 40, false, true},
    OptionDef{N::no_response, "No-Response", F::uint, 0, 1, false, true},
    OptionDef{N::request_tag, "Request-Tag", F::opaque, 0, 8, true, true},
};

static_assert(std::is_sorted(registry.begin(), registry.end(),
                             [](const OptionDef& a, const OptionDef& b) {
                                 return to_int(a.number) < to_int(b.number);
                             }));

}  // namespace

std::span<const OptionDef> option_registry() noexcept {
    return registry;
}

// Direct index for the small numbers that nearly every message uses.
constexpr std::size_t direct_limit = 64;
constexpr auto direct_index = [] {
    std::array<std::uint8_t, direct_limit> index{};
    index.fill(0xff);
    for (std::size_t i = 0; i < registry.size(); ++i)
        if (to_int(registry[i].number) < direct_limit)
            index[to_int(registry[i].number)] = static_cast<std::uint8_t>(i);
    return index;
}();

const OptionDef* find_option_def(OptionNumber number) noexcept {
    if (to_int(number) < direct_limit) {
        std::uint8_t i = direct_index[to_int(number)];
        return i == 0xff ? nullptr : &registry[i];
    }
    auto it = std::lower_bound(
        registry.begin(), registry.end(), number,
        [](const OptionDef& def, OptionNumber n) { return to_int(def.number) < to_int(n); });
    if (it == registry.end() || it->number != number) return nullptr;
    return &*it;
}

}  // namespace coap
