// URI helpers (RFC 7252 §6): split "coap" and "coaps" URIs, turn them into Uri-Host, Uri-Path
// and Uri-Query options (§6.4), and compose a URI back from a request's options (§6.5).
//
// Nothing here allocates or throws. `split_uri` returns views into the caller's string;
// `UriOptions` holds the decoded option values in fixed storage of its own; `compose_uri` writes
// into a buffer the caller supplies.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "coap/bytes.hpp"
#include "coap/expected.hpp"
#include "coap/export.hpp"
#include "coap/option.hpp"

namespace coap {

class MessageView;

/// Default UDP port of the "coap" scheme (RFC 7252 §6.1).
inline constexpr std::uint16_t coap_default_port = 5683;
/// Default UDP port of the "coaps" scheme (RFC 7252 §6.2).
inline constexpr std::uint16_t coaps_default_port = 5684;
/// Longest Uri-Host, Uri-Path or Uri-Query value (RFC 7252 §5.10).
inline constexpr std::size_t max_uri_option_length = 255;

/// The default port of "coaps" when `secure`, else of "coap".
constexpr std::uint16_t default_port(bool secure) noexcept {
    return secure ? coaps_default_port : coap_default_port;
}

/// Why a URI could not be split, turned into options, or composed.
enum class UriError : std::uint8_t {
    not_absolute,             ///< No scheme: a relative reference where a URI is needed.
    unsupported_scheme,       ///< A scheme other than "coap" or "coaps" (any case).
    missing_authority,        ///< The scheme is not followed by "//" and a host.
    fragment,                 ///< A '#' is present; CoAP URIs have no fragment (§6.4).
    empty_host,               ///< The host is empty (§6.1), or no host to compose with.
    unterminated_ip_literal,  ///< A '[' without a matching ']' inside the authority.
    bad_host,                 ///< A host that is no reg-name, IPv4 address or IP literal.
    bad_port,                 ///< A port with a non-digit or above 65535.
    bad_percent_encoding,     ///< A '%' not followed by two hexadecimal digits.
    bad_character,            ///< A character not allowed in a path or query (e.g. space).
    option_too_long,          ///< A decoded Uri-Host, Uri-Path or Uri-Query over 255 bytes.
    too_many_options,         ///< The option builder has no free option slot.
    storage_exhausted,        ///< The option builder has no room for the decoded bytes.
    bad_option,               ///< Compose: an invalid Uri-Host, or a Uri-Port above 65535.
    buffer_too_small,         ///< Compose: the output buffer cannot hold the URI.
};

/// A short English description of a URI error, for logs.
COAP_API std::string_view describe(UriError error) noexcept;

/// What the host component of a URI is (RFC 3986 §3.2.2).
enum class HostKind : std::uint8_t {
    reg_name,    ///< A registered name such as "example.com"; needs a Uri-Host option.
    ipv4,        ///< A dotted-decimal IPv4 address such as "192.0.2.1".
    ip_literal,  ///< An IPv6 (or IPvFuture) address written in brackets in the URI.
};

/// The components of a "coap" or "coaps" URI as raw views into the string that was split.
/// The views keep their percent-encodings; `UriOptions` decodes them.
struct UriParts {
    /// The host as written, without the brackets of an IP literal; not lowercased or decoded.
    std::string_view host{};
    /// The path as written: empty, or starting with '/'. Dot-segments are still in it.
    std::string_view path{};
    /// The query as written, without the '?'. Empty both when absent and when empty; see
    /// `has_query`.
    std::string_view query{};
    /// The port given, or the scheme's default when none or an empty one is given.
    std::uint16_t port = coap_default_port;
    /// What `host` is.
    HostKind host_kind = HostKind::reg_name;
    /// True for "coaps" (DTLS), false for "coap".
    bool secure = false;
    /// True when the URI has a '?', even with nothing after it.
    bool has_query = false;

    /// True when the host is an IP literal (IPv6 in brackets).
    constexpr bool host_is_ip_literal() const noexcept { return host_kind == HostKind::ip_literal; }
    /// True when the host is an IP address (literal or IPv4) and so names the destination.
    constexpr bool host_is_ip() const noexcept { return host_kind != HostKind::reg_name; }
    /// True when a request to this URI carries a Uri-Host option (RFC 7252 §6.4 step 5).
    constexpr bool needs_uri_host() const noexcept { return host_kind == HostKind::reg_name; }
};

/// Splits an absolute "coap://" or "coaps://" URI (scheme in any case) into raw components
/// (RFC 7252 §6.1, §6.2) and checks its syntax: a host that is a valid reg-name, IPv4 address or
/// bracketed IP literal, a decimal port up to 65535, well-formed percent-encodings, only the
/// characters RFC 3986 allows in a path and query, and no fragment. The result views `uri`.
COAP_API Expected<UriParts, UriError> split_uri(std::string_view uri) noexcept;

/// Builds Uri-Host, Uri-Path and Uri-Query options with decoded values in fixed storage.
/// This is the capacity-independent part of `UriOptions`; use that to get an object.
///
/// Every `append_*` call either appends all of its options and returns how many, or returns an
/// error and leaves the builder as it was. The option values point into the builder's own
/// storage, so the builder can be neither copied nor moved, and `options()` stays valid until
/// the next `clear()` or the builder's end of life.
class COAP_API UriOptionsBase {
  public:
    UriOptionsBase(const UriOptionsBase&) = delete;
    UriOptionsBase& operator=(const UriOptionsBase&) = delete;

    /// The options built so far, in the order appended; ready for `coap::Message::options`.
    std::span<const Option> options() const noexcept { return {options_.data(), count_}; }
    /// The number of options built so far.
    std::size_t size() const noexcept { return count_; }
    /// True when no option has been built.
    bool empty() const noexcept { return count_ == 0; }
    /// Bytes of value storage in use.
    std::size_t bytes_used() const noexcept { return used_; }
    /// How many options fit in total.
    std::size_t option_capacity() const noexcept { return options_.size(); }
    /// How many value bytes fit in total.
    std::size_t byte_capacity() const noexcept { return bytes_.size(); }
    /// Removes every option.
    void clear() noexcept {
        count_ = 0;
        used_ = 0;
    }

    /// Splits `uri` (see `split_uri`) and appends its options as RFC 7252 §6.4 says: a Uri-Host
    /// only when the host is a reg-name (lowercased and decoded), one Uri-Path per path segment
    /// after removing the dot-segments "." and ".." (step 2, RFC 3986 §5.2.4), and one
    /// Uri-Query per '&'-separated query argument (decoded). Never a Uri-Port: the request is
    /// to be sent to the returned `UriParts::port`. The parts view `uri`.
    Expected<UriParts, UriError> append_uri(std::string_view uri) noexcept;

    /// Appends the options for URI components that `split_uri` returned (or that the caller
    /// filled in). Returns the number of options appended.
    Expected<std::size_t, UriError> append_parts(const UriParts& parts) noexcept;

    /// Appends Uri-Path and Uri-Query options for a relative reference made of a path and an
    /// optional '?' query, such as "/sensors/temp?unit=celsius&fmt=json". The leading '/' is
    /// optional. A '?' with nothing after it gives one empty Uri-Query, as in a full URI.
    /// Returns the number of options appended.
    Expected<std::size_t, UriError> append_path_and_query(std::string_view reference) noexcept;

    /// Appends one Uri-Path per segment of `path` ("sensors/temp" or "/sensors/temp"). An empty
    /// path or "/" appends nothing; "/a/" appends "a" and "". Dot-segments are removed as in a
    /// full URI ("a/../b" gives "b"); ".." never removes options of earlier calls. Returns the
    /// number appended.
    Expected<std::size_t, UriError> append_path(std::string_view path) noexcept;

    /// Appends one Uri-Query per '&'-separated argument of `query` (without a leading '?'),
    /// such as "unit=celsius&fmt=json". An empty string appends nothing. Returns the number
    /// appended.
    Expected<std::size_t, UriError> append_query(std::string_view query) noexcept;

  protected:
    UriOptionsBase() noexcept = default;
    ~UriOptionsBase() = default;

    /// Hands the builder its storage; called once by `UriOptions`.
    void attach(std::span<Option> options, std::span<std::uint8_t> bytes) noexcept {
        options_ = options;
        bytes_ = bytes;
    }

  private:
    struct Mark {
        std::size_t count;
        std::size_t used;
    };
    enum class Component : std::uint8_t { host, path, query };

    Expected<std::size_t, UriError> push(OptionNumber number, std::string_view raw,
                                         Component component) noexcept;
    Expected<std::size_t, UriError> push_segments(std::string_view path) noexcept;
    Expected<std::size_t, UriError> push_arguments(std::string_view query) noexcept;
    Expected<std::size_t, UriError> rollback(Mark before, UriError error) noexcept;
    Mark mark() const noexcept { return {count_, used_}; }

    std::span<Option> options_{};
    std::span<std::uint8_t> bytes_{};
    std::size_t count_ = 0;
    std::size_t used_ = 0;
};

/// A `UriOptionsBase` with room for `MaxOptions` options and `MaxBytes` bytes of decoded
/// values, held inline (put it on the stack or in a pool; it never allocates).
template <std::size_t MaxOptions = 32, std::size_t MaxBytes = 1280>
class UriOptions : public UriOptionsBase {
  public:
    /// An empty builder.
    UriOptions() noexcept { attach(option_storage_, byte_storage_); }

  private:
    std::array<Option, MaxOptions> option_storage_;
    std::array<std::uint8_t, MaxBytes> byte_storage_;
};

/// Where a request went: the scheme, and the address and port to put in a composed URI when
/// the request has no Uri-Host or no Uri-Port option (RFC 7252 §6.5 steps 1, 2 and 4).
struct UriDestination {
    /// The destination IP address as text: dotted IPv4 ("192.0.2.1") or IPv6 without brackets
    /// ("2001:db8::1", a zone as "fe80::1%eth0"). IPv6 gets brackets in the URI.
    std::string_view host{};
    /// The destination UDP port. Omitted from the URI when it is the scheme's default.
    std::uint16_t port = coap_default_port;
    /// True for DTLS ("coaps"), false for "coap".
    bool secure = false;
};

/// Composes the URI of a request from its Uri-Host, Uri-Port, Uri-Path and Uri-Query options
/// (RFC 7252 §6.5), in the normal form of §6.3: "coap://host[:port]/path[?query]". Other options
/// are ignored; among options with the same number the order given is kept. Writes into `out`
/// without a terminating NUL and returns the length, or `UriError::buffer_too_small`.
COAP_API Expected<std::size_t, UriError> compose_uri(std::span<const Option> options,
                                                     const UriDestination& destination,
                                                     std::span<char> out) noexcept;

/// `compose_uri` for the options of a parsed message.
COAP_API Expected<std::size_t, UriError> compose_uri(const MessageView& request,
                                                     const UriDestination& destination,
                                                     std::span<char> out) noexcept;

}  // namespace coap
