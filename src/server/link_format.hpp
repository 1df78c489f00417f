// CoRE Link Format (RFC 6690) generation, parsing and query filtering. Internal to the library.
//
// Documents are generated or parsed at set-up, where allocation is fine. Filtering (RFC 6690
// §4.1) never allocates from the heap and never throws: the filtered document is written into a
// request arena.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "coap/arena.hpp"
#include "coap/router.hpp"

namespace coap::links {

/// One link to serialise: a target URI-reference and its attributes.
struct Entry {
    std::string_view href;
    const LinkAttributes* attributes;
};

/// Percent-encodes every character of `path` that is neither '/' nor a pchar (RFC 3986 §3.3),
/// so that it can stand between '<' and '>' as a URI-reference.
std::string encode_href(std::string_view path);

/// One link-value: `<href>;rt="...";if="...";ct=..;sz=..;title="...";obs;extra` (RFC 6690 §2).
/// Quoted values escape '"' and '\' (RFC 2616 §2.2 quoted-pair). `href` is written as given.
/// Throws std::invalid_argument when `ct` or `sz` are not numbers, or `extra` is not a list of
/// link-params.
std::string serialize(std::string_view href, const LinkAttributes& attributes);

/// The links, separated by commas (RFC 6690 §2 `link-value-list`); empty for no links.
std::string serialize(std::span<const Entry> entries);

/// One filter argument of a /.well-known/core query (RFC 6690 §4.1), viewing the argument.
struct Filter {
    std::string_view name;   ///< "href", or a link-param name ("rt", "if", "ct", "obs", ...)
    std::string_view value;  ///< Without the trailing '*' of a prefix value.
    bool prefix = false;     ///< The value ended in '*': match target values starting with it.
};

/// Reads one Uri-Query argument as a filter: "name=value", "name=prefix*", or "name" alone,
/// which (as "name=*") asks only that the attribute exists.
Filter parse_filter(std::string_view argument) noexcept;

/// A parsed CoRE Link Format document: the text and, for each link, where its href and
/// link-params are. Movable; positions are offsets, so they survive moves of the text.
class Document {
  public:
    /// The empty document (no links, zero-length text).
    Document() = default;
    /// Parses `text` (RFC 6690 §2), tolerating whitespace between links and parameters.
    /// Throws std::invalid_argument when it is not link-format.
    explicit Document(std::string text);

    /// The document exactly as generated or given.
    std::string_view text() const noexcept { return text_; }
    /// The number of links.
    std::size_t size() const noexcept { return links_.size(); }
    /// The text of the i-th link-value, from '<' to the end of its last parameter.
    std::string_view link(std::size_t index) const noexcept;
    /// The URI-reference of the i-th link, between '<' and '>'.
    std::string_view href(std::size_t index) const noexcept;

    /// True when the i-th link matches `filter` (RFC 6690 §4.1).
    bool matches(std::size_t index, const Filter& filter) const noexcept;

    /// The links matching every filter, separated by commas, written into `arena`; the whole
    /// text, not copied, when there are no filters. An empty view when nothing matches.
    /// nullopt when the arena cannot hold the result.
    std::optional<std::string_view> filter(std::span<const Filter> filters,
                                           Arena& arena) const noexcept;

  private:
    struct Span {
        std::uint32_t offset = 0;
        std::uint32_t length = 0;
    };
    struct Param {
        Span name;
        Span value;
        bool quoted = false;     ///< The value was a quoted-string (quotes not in `value`).
        bool has_value = false;  ///< False for a flag such as `obs`.
    };
    struct Link {
        Span text;
        Span href;
        std::uint32_t first_param = 0;
        std::uint32_t param_count = 0;
    };

    std::string_view view(Span span) const noexcept {
        return {text_.data() + span.offset, span.length};
    }
    bool link_matches(const Link& link, std::span<const Filter> filters) const noexcept;

    std::string text_;
    std::vector<Link> links_;
    std::vector<Param> params_;
};

}  // namespace coap::links
