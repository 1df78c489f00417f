// URI helpers (RFC 7252 §6): splitting, decomposing into options (§6.4), composing (§6.5).
#include "coap/uri.hpp"

#include <gtest/gtest.h>

#include <array>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "coap/message.hpp"

namespace coap {
namespace {

using namespace std::string_view_literals;

using OptionList = std::vector<std::pair<OptionNumber, std::string>>;

OptionList to_list(std::span<const Option> options) {
    OptionList list;
    for (const Option& option : options)
        list.emplace_back(option.number, option.as_string());
    return list;
}

std::pair<OptionNumber, std::string> host(std::string value) {
    return {OptionNumber::uri_host, std::move(value)};
}
std::pair<OptionNumber, std::string> path(std::string value) {
    return {OptionNumber::uri_path, std::move(value)};
}
std::pair<OptionNumber, std::string> query(std::string value) {
    return {OptionNumber::uri_query, std::move(value)};
}

// The options a full URI decomposes into, or the error.
Expected<OptionList, UriError> options_of(std::string_view uri) {
    UriOptions<> options;
    auto parts = options.append_uri(uri);
    if (!parts) return unexpected(parts.error());
    return to_list(options.options());
}

UriError split_error(std::string_view uri) {
    auto parts = split_uri(uri);
    EXPECT_FALSE(parts.has_value()) << uri;
    return parts ? UriError::buffer_too_small : parts.error();
}

Expected<std::string, UriError> compose(std::span<const Option> options,
                                        const UriDestination& destination) {
    std::array<char, 2048> buffer{};
    auto length = compose_uri(options, destination, buffer);
    if (!length) return unexpected(length.error());
    return std::string(buffer.data(), *length);
}

// compose(parse(uri)) through both overloads: a span of options, and an encoded and parsed
// message. The destination is the URI's IP address when it has one, and its port.
std::string round_trip(std::string_view uri) {
    UriOptions<> options;
    auto parts = options.append_uri(uri);
    EXPECT_TRUE(parts.has_value()) << uri;
    if (!parts) return "<split error: " + std::string(describe(parts.error())) + ">";
    UriDestination destination{.host = parts->host_is_ip() ? parts->host : "192.0.2.1"sv,
                               .port = parts->port,
                               .secure = parts->secure};
    auto from_span = compose(options.options(), destination);
    EXPECT_TRUE(from_span.has_value()) << uri;
    if (!from_span) return "<compose error>";

    std::array<std::uint8_t, 2048> datagram{};
    Message message{
        .type = MessageType::con, .code = Code::get, .message_id = 7, .options = options.options()};
    auto encoded = encode(message, datagram);
    EXPECT_TRUE(encoded.has_value()) << uri;
    if (!encoded) return "<encode error>";
    auto view = parse(Bytes(datagram.data(), *encoded));
    EXPECT_TRUE(view.has_value()) << uri;
    if (!view) return "<parse error>";
    std::array<char, 2048> buffer{};
    auto length = compose_uri(*view, destination, buffer);
    EXPECT_TRUE(length.has_value()) << uri;
    if (!length) return "<compose error>";
    EXPECT_EQ(std::string_view(buffer.data(), *length), *from_span) << uri;
    return *from_span;
}

// ---- split_uri ----------------------------------------------------------------------------

TEST(UriSplit, SplitsRegNameHostPathAndQueryIntoRawViews) {
    std::string_view uri = "coap://Example.com:61616/a/%7Eb?x=1&y=%26";
    auto parts = split_uri(uri);
    ASSERT_TRUE(parts.has_value());
    EXPECT_EQ(parts->host, "Example.com");
    EXPECT_EQ(parts->host_kind, HostKind::reg_name);
    EXPECT_TRUE(parts->needs_uri_host());
    EXPECT_FALSE(parts->host_is_ip());
    EXPECT_FALSE(parts->host_is_ip_literal());
    EXPECT_EQ(parts->port, 61616);
    EXPECT_FALSE(parts->secure);
    EXPECT_EQ(parts->path, "/a/%7Eb");
    EXPECT_TRUE(parts->has_query);
    EXPECT_EQ(parts->query, "x=1&y=%26");
    // Views into the caller's string, not copies.
    EXPECT_EQ(parts->host.data(), uri.data() + 7);
    EXPECT_EQ(parts->query.data() + parts->query.size(), uri.data() + uri.size());
}

TEST(UriSplit, CoapDefaultsToPort5683) {
    auto parts = split_uri("coap://example.com/x");
    ASSERT_TRUE(parts.has_value());
    EXPECT_EQ(parts->port, 5683);
    EXPECT_FALSE(parts->secure);
}

TEST(UriSplit, CoapsDefaultsToPort5684AndIsSecure) {
    auto parts = split_uri("coaps://example.com/x");
    ASSERT_TRUE(parts.has_value());
    EXPECT_EQ(parts->port, 5684);
    EXPECT_TRUE(parts->secure);
    auto literal = split_uri("coaps://[::1]");
    ASSERT_TRUE(literal.has_value());
    EXPECT_EQ(literal->port, coaps_default_port);
}

TEST(UriSplit, EmptyPortMeansDefaultPort) {
    EXPECT_EQ(split_uri("coap://example.com:/x")->port, 5683);
    EXPECT_EQ(split_uri("coaps://example.com:")->port, 5684);
    EXPECT_EQ(split_uri("coap://[::1]:/")->port, 5683);
}

TEST(UriSplit, ExplicitPortOverridesDefaultEvenForCoaps) {
    EXPECT_EQ(split_uri("coaps://example.com:5683/")->port, 5683);
    EXPECT_EQ(split_uri("coap://example.com:0/")->port, 0);
    EXPECT_EQ(split_uri("coap://example.com:65535/")->port, 65535);
    EXPECT_EQ(split_uri("coap://example.com:0005683/")->port, 5683);
}

TEST(UriSplit, SchemeIsCaseInsensitive) {
    auto upper = split_uri("COAP://example.com");
    ASSERT_TRUE(upper.has_value());
    EXPECT_FALSE(upper->secure);
    auto mixed = split_uri("CoApS://example.com");
    ASSERT_TRUE(mixed.has_value());
    EXPECT_TRUE(mixed->secure);
}

TEST(UriSplit, Ipv6LiteralIsReturnedWithoutBracketsWithPort) {
    auto parts = split_uri("coap://[::1]:61616/x");
    ASSERT_TRUE(parts.has_value());
    EXPECT_EQ(parts->host, "::1");
    EXPECT_EQ(parts->host_kind, HostKind::ip_literal);
    EXPECT_TRUE(parts->host_is_ip_literal());
    EXPECT_TRUE(parts->host_is_ip());
    EXPECT_FALSE(parts->needs_uri_host());
    EXPECT_EQ(parts->port, 61616);
    EXPECT_EQ(parts->path, "/x");
    EXPECT_FALSE(parts->has_query);
}

TEST(UriSplit, AcceptsEveryIpv6LiteralForm) {
    for (std::string_view literal :
         {"::"sv, "::1"sv, "1::"sv, "1:2:3:4:5:6:7:8"sv, "1::8"sv, "2001:DB8::a:B"sv,
          "1:2:3:4:5:6:7::"sv, "::2:3:4:5:6:7:8"sv, "::ffff:192.0.2.1"sv, "1:2:3:4:5:6:192.0.2.1"sv,
          "fe80::1%25eth0"sv, "fe80::1%25%65th0"sv, "v1.fe:80"sv, "V1F.a+b"sv}) {
        std::string uri = "coap://[" + std::string(literal) + "]/";
        auto parts = split_uri(uri);
        ASSERT_TRUE(parts.has_value()) << uri;
        EXPECT_EQ(parts->host, literal);
        EXPECT_EQ(parts->host_kind, HostKind::ip_literal);
    }
}

TEST(UriSplit, DetectsIpv4AddressHosts) {
    for (std::string_view address : {"192.0.2.1"sv, "0.0.0.0"sv, "255.255.255.255"sv}) {
        std::string uri = "coap://" + std::string(address) + ":1234/x";
        auto parts = split_uri(uri);
        ASSERT_TRUE(parts.has_value()) << uri;
        EXPECT_EQ(parts->host, address);
        EXPECT_EQ(parts->host_kind, HostKind::ipv4);
        EXPECT_TRUE(parts->host_is_ip());
        EXPECT_FALSE(parts->host_is_ip_literal());
        EXPECT_FALSE(parts->needs_uri_host());
    }
}

TEST(UriSplit, DottedNamesThatAreNotIpv4AreRegNames) {
    // RFC 3986 §3.2.2: anything not matching IPv4address exactly is a reg-name.
    for (std::string_view name :
         {"192.0.2.256"sv, "01.2.3.4"sv, "1.2.3"sv, "1.2.3.4.5"sv, "1.2.3.4."sv, "1234.1.1.1"sv}) {
        std::string uri = "coap://" + std::string(name) + "/";
        auto parts = split_uri(uri);
        ASSERT_TRUE(parts.has_value()) << uri;
        EXPECT_EQ(parts->host_kind, HostKind::reg_name) << uri;
    }
}

TEST(UriSplit, NoPathNoQuery) {
    auto parts = split_uri("coap://example.com");
    ASSERT_TRUE(parts.has_value());
    EXPECT_EQ(parts->host, "example.com");
    EXPECT_EQ(parts->path, "");
    EXPECT_FALSE(parts->has_query);
}

TEST(UriSplit, QueryWithoutPath) {
    auto parts = split_uri("coap://example.com?a=b/c?d");
    ASSERT_TRUE(parts.has_value());
    EXPECT_EQ(parts->host, "example.com");
    EXPECT_EQ(parts->path, "");
    EXPECT_TRUE(parts->has_query);
    EXPECT_EQ(parts->query, "a=b/c?d");
}

TEST(UriSplit, EmptyQueryIsPresent) {
    auto parts = split_uri("coap://example.com/p?");
    ASSERT_TRUE(parts.has_value());
    EXPECT_TRUE(parts->has_query);
    EXPECT_EQ(parts->query, "");
}

TEST(UriSplit, RegNameAcceptsSubDelimsAndPercentEncodings) {
    auto parts = split_uri("coap://a-b_c~d.!$&'()*+,;=%41/");
    ASSERT_TRUE(parts.has_value());
    EXPECT_EQ(parts->host, "a-b_c~d.!$&'()*+,;=%41");
}

// ---- split_uri errors -----------------------------------------------------------------------

TEST(UriSplitErrors, RejectsRelativeReferences) {
    for (std::string_view uri : {""sv, "/path"sv, "path/x"sv, "//example.com/"sv, ":x"sv,
                                 "1coap://example.com"sv, "?q"sv, "coap"sv})
        EXPECT_EQ(split_error(uri), UriError::not_absolute) << uri;
}

TEST(UriSplitErrors, RejectsOtherSchemes) {
    for (std::string_view uri :
         {"http://example.com/"sv, "coapx://example.com/"sv, "coap+tcp://example.com/"sv,
          "coa://example.com/"sv, "example.com:5683/x"sv, "http://example.com/#frag"sv})
        EXPECT_EQ(split_error(uri), UriError::unsupported_scheme) << uri;
}

TEST(UriSplitErrors, RejectsMissingAuthority) {
    for (std::string_view uri : {"coap:"sv, "coap:/x"sv, "coap:example.com"sv, "coaps:/"sv})
        EXPECT_EQ(split_error(uri), UriError::missing_authority) << uri;
}

TEST(UriSplitErrors, RejectsAFragmentAnywhere) {
    for (std::string_view uri :
         {"coap://example.com/p#f"sv, "coap://example.com#"sv, "coap://example.com/p?q#f"sv,
          "coap://ex#ample.com/"sv, "coap://[::1#]/"sv, "coap:#//example.com/"sv})
        EXPECT_EQ(split_error(uri), UriError::fragment) << uri;
}

TEST(UriSplitErrors, RejectsEmptyHost) {
    for (std::string_view uri :
         {"coap://"sv, "coap:///path"sv, "coap://:5683/"sv, "coap://?q"sv, "coaps://:/"sv})
        EXPECT_EQ(split_error(uri), UriError::empty_host) << uri;
}

TEST(UriSplitErrors, RejectsUnterminatedIpLiteral) {
    for (std::string_view uri : {"coap://["sv, "coap://[::1"sv, "coap://[::1/x]"sv,
                                 "coap://[::1?x]"sv, "coap://[::1:5683/"sv})
        EXPECT_EQ(split_error(uri), UriError::unterminated_ip_literal) << uri;
}

TEST(UriSplitErrors, RejectsInvalidHosts) {
    for (std::string_view uri : {"coap://[]/"sv,
                                 "coap://[::1]x/"sv,
                                 "coap://[::1]]/"sv,
                                 "coap://[1:2]/"sv,
                                 "coap://[1:2:3:4:5:6:7:8:9]/"sv,
                                 "coap://[:1]/"sv,
                                 "coap://[1:]/"sv,
                                 "coap://[1:::2]/"sv,
                                 "coap://[1::2::3]/"sv,
                                 "coap://[1:2:3:4::5:6:7:8]/"sv,
                                 "coap://[1:2:3:4:5:6:7:8::]/"sv,
                                 "coap://[::1:2:3:4:5:6:1.2.3.4]/"sv,
                                 "coap://[12345::]/"sv,
                                 "coap://[g::]/"sv,
                                 "coap://[::1.2.3]/"sv,
                                 "coap://[1:2:3:4:5:6:7:1.2.3.4]/"sv,
                                 "coap://[::1%eth0]/"sv,
                                 "coap://[::1%25]/"sv,
                                 "coap://[::1%25eth 0]/"sv,
                                 "coap://[v.x]/"sv,
                                 "coap://[v1.]/"sv,
                                 "coap://[192.0.2.1]/"sv,
                                 "coap://user@example.com/"sv,
                                 "coap://exa mple.com/"sv,
                                 "coap://example.com\x01/"sv,
                                 "coap://ex\xc3\xa4mple.com/"sv,
                                 "coap://a<b/"sv})
        EXPECT_EQ(split_error(uri), UriError::bad_host) << uri;
}

TEST(UriSplitErrors, RejectsBadPorts) {
    for (std::string_view uri :
         {"coap://example.com:65536/"sv, "coap://example.com:99999999999999999999/"sv,
          "coap://example.com:12a/"sv, "coap://example.com:-1/"sv, "coap://example.com: 1/"sv,
          "coap://example.com:1:2/"sv, "coap://[::1]:x/"sv, "coap://[::1]:70000"sv,
          "coap://192.0.2.1:+80/"sv})
        EXPECT_EQ(split_error(uri), UriError::bad_port) << uri;
}

TEST(UriSplitErrors, RejectsBadPercentEncodings) {
    for (std::string_view uri :
         {"coap://example.com/%"sv, "coap://example.com/%4"sv, "coap://example.com/%4g"sv,
          "coap://example.com/a%/b"sv, "coap://example.com/?a=%G0"sv, "coap://example.com/?a=%"sv,
          "coap://exa%2/"sv, "coap://exa%zzmple/"sv})
        EXPECT_EQ(split_error(uri), UriError::bad_percent_encoding) << uri;
}

TEST(UriSplitErrors, RejectsCharactersNotAllowedInPathOrQuery) {
    for (std::string_view uri :
         {"coap://example.com/a b"sv, "coap://example.com/[x]"sv, "coap://example.com/a\"b"sv,
          "coap://example.com/a\\b"sv, "coap://example.com/\x7f"sv, "coap://example.com/a\x01"sv,
          "coap://example.com/\xc3\xa4"sv, "coap://example.com/?a b"sv,
          "coap://example.com/?a={b}"sv, "coap://example.com/?a|b"sv, "coap://example.com/a^b"sv})
        EXPECT_EQ(split_error(uri), UriError::bad_character) << uri;
}

// ---- Decomposing URIs into options (RFC 7252 §6.4) ------------------------------------------

TEST(UriDecompose, Section63EquivalentUrisGiveTheSameOptions) {
    OptionList expected = {host("example.com"), path("~sensors"), path("temp.xml")};
    for (std::string_view uri :
         {"coap://example.com:5683/~sensors/temp.xml"sv, "coap://EXAMPLE.com/%7Esensors/temp.xml"sv,
          "coap://EXAMPLE.com:/%7esensors/temp.xml"sv}) {
        auto options = options_of(uri);
        ASSERT_TRUE(options.has_value()) << uri;
        EXPECT_EQ(*options, expected) << uri;
    }
}

TEST(UriDecompose, Ipv6LiteralGivesNoUriHostAndNoUriPort) {
    auto options = options_of("coap://[::1]:61616/x");
    ASSERT_TRUE(options.has_value());
    EXPECT_EQ(*options, (OptionList{path("x")}));
}

TEST(UriDecompose, Ipv4HostGivesNoUriHost) {
    auto options = options_of("coap://192.0.2.1/a?b");
    ASSERT_TRUE(options.has_value());
    EXPECT_EQ(*options, (OptionList{path("a"), query("b")}));
}

TEST(UriDecompose, NeverAddsUriPortAndReportsTheDestinationPort) {
    UriOptions<> options;
    auto parts = options.append_uri("coaps://example.com:61616/x");
    ASSERT_TRUE(parts.has_value());
    EXPECT_EQ(parts->port, 61616);
    EXPECT_TRUE(parts->secure);
    EXPECT_EQ(to_list(options.options()), (OptionList{host("example.com"), path("x")}));
}

TEST(UriDecompose, CoapsDefaultPortUriGivesHostAndPath) {
    UriOptions<> options;
    auto parts = options.append_uri("coaps://example.com/x");
    ASSERT_TRUE(parts.has_value());
    EXPECT_EQ(parts->port, 5684);
    EXPECT_EQ(to_list(options.options()), (OptionList{host("example.com"), path("x")}));
}

TEST(UriDecompose, UriHostIsLowercasedAndPercentDecoded) {
    EXPECT_EQ(*options_of("coap://EXAMPLE%2Ecom/"), (OptionList{host("example.com")}));
    // Percent-encoded capitals are equivalent to the letters (RFC 3986 §6.2.2), so lowercase too.
    EXPECT_EQ(*options_of("coap://%45xample.com/"), (OptionList{host("example.com")}));
    EXPECT_EQ(*options_of("coap://ex%C3%84mple/"), (OptionList{host("ex\xc3\x84mple")}));
    EXPECT_EQ(*options_of("coap://192.0.2.256/"), (OptionList{host("192.0.2.256")}));
}

TEST(UriDecompose, EmptyPathOrSlashGivesNoUriPath) {
    EXPECT_EQ(*options_of("coap://example.com"), (OptionList{host("example.com")}));
    EXPECT_EQ(*options_of("coap://example.com/"), (OptionList{host("example.com")}));
    EXPECT_EQ(*options_of("coap://[::1]"), OptionList{});
    EXPECT_EQ(*options_of("coap://[::1]/"), OptionList{});
}

TEST(UriDecompose, EmptySegmentsAreKept) {
    EXPECT_EQ(*options_of("coap://[::1]/a/"), (OptionList{path("a"), path("")}));
    EXPECT_EQ(*options_of("coap://[::1]//"), (OptionList{path(""), path("")}));
    EXPECT_EQ(*options_of("coap://[::1]/a//b"), (OptionList{path("a"), path(""), path("b")}));
    EXPECT_EQ(*options_of("coap://[::1]//a"), (OptionList{path(""), path("a")}));
}

TEST(UriDecompose, DotSegmentsAreRemovedAsInReferenceResolution) {
    // RFC 7252 §6.4 step 2 resolves the URI, which removes dot-segments (RFC 3986 §5.2.4).
    struct Case {
        std::string_view uri;
        OptionList expected;
    };
    const Case cases[] = {
        {"coap://[::1]/a/b/c/./../../g", {path("a"), path("g")}},
        {"coap://[::1]/a/./b", {path("a"), path("b")}},
        {"coap://[::1]/./a", {path("a")}},
        {"coap://[::1]/../a", {path("a")}},
        {"coap://[::1]/../../a/b", {path("a"), path("b")}},
        {"coap://[::1]//../a", {path("a")}},
        {"coap://[::1]/a/.", {path("a"), path("")}},
        {"coap://[::1]/a/b/..", {path("a"), path("")}},
        {"coap://[::1]/a/..", {}},
        {"coap://[::1]/a/../", {}},
        {"coap://[::1]/.", {}},
        {"coap://[::1]/..", {}},
        {"coap://[::1]/./", {}},
        {"coap://[::1]/a/..?q", {query("q")}},
        {"coap://[::1]/.../..a/a..", {path("..."), path("..a"), path("a..")}},
        // Only literal dots form dot-segments; encoded ones are data.
        {"coap://[::1]/%2E/%2e%2E", {path("."), path("..")}},
    };
    for (const Case& c : cases) {
        auto options = options_of(c.uri);
        ASSERT_TRUE(options.has_value()) << c.uri;
        EXPECT_EQ(*options, c.expected) << c.uri;
    }
    UriOptions<> relative;
    ASSERT_TRUE(relative.append_path("x").has_value());
    auto added = relative.append_path_and_query("../../a/../b/c/..?q");
    ASSERT_TRUE(added.has_value());
    EXPECT_EQ(*added, 3u);
    // ".." never removes options appended by an earlier call.
    EXPECT_EQ(to_list(relative.options()),
              (OptionList{path("x"), path("b"), path(""), query("q")}));
    EXPECT_EQ(relative.bytes_used(), 3u);
}

TEST(UriDecompose, SegmentsArePercentDecodedToBytes) {
    EXPECT_EQ(*options_of("coap://[::1]/a%2Fb/%3f/%00/%C3%A4/%25"),
              (OptionList{path("a/b"), path("?"), path(std::string(1, '\0')), path("\xc3\xa4"),
                          path("%")}));
    EXPECT_EQ(*options_of("coap://[::1]/A%41"), (OptionList{path("AA")}));  // not lowercased
}

TEST(UriDecompose, QueryIsSplitOnAmpersands) {
    EXPECT_EQ(*options_of("coap://[::1]/p?a=1&b=2&c"),
              (OptionList{path("p"), query("a=1"), query("b=2"), query("c")}));
    EXPECT_EQ(*options_of("coap://[::1]?x=y"), (OptionList{query("x=y")}));
}

TEST(UriDecompose, QueryKeepsSlashesQuestionMarksAndEncodedAmpersands) {
    EXPECT_EQ(*options_of("coap://[::1]/?a=/b?c&d=%26&e=%3D"),
              (OptionList{query("a=/b?c"), query("d=&"), query("e==")}));
}

TEST(UriDecompose, EmptyQueryArgumentsAreKept) {
    EXPECT_EQ(*options_of("coap://[::1]/p?"), (OptionList{path("p"), query("")}));
    EXPECT_EQ(*options_of("coap://[::1]/p?&"), (OptionList{path("p"), query(""), query("")}));
    EXPECT_EQ(*options_of("coap://[::1]/p?a&&b"),
              (OptionList{path("p"), query("a"), query(""), query("b")}));
}

TEST(UriDecompose, OptionsAreInAscendingNumberOrder) {
    auto options = options_of("coap://example.com/a/b?c&d");
    ASSERT_TRUE(options.has_value());
    for (std::size_t i = 1; i < options->size(); ++i)
        EXPECT_LE(to_int((*options)[i - 1].first), to_int((*options)[i].first));
}

TEST(UriDecompose, SplitErrorsArePassedThrough) {
    EXPECT_EQ(options_of("http://example.com/").error(), UriError::unsupported_scheme);
    EXPECT_EQ(options_of("coap://example.com/#x").error(), UriError::fragment);
    EXPECT_EQ(options_of("coap://example.com/%zz").error(), UriError::bad_percent_encoding);
}

TEST(UriDecompose, AppendPartsRejectsEmptyRegNameAndBadCharacters) {
    UriOptions<> options;
    EXPECT_EQ(options.append_parts(UriParts{}).error(), UriError::empty_host);
    EXPECT_EQ(options.append_parts(UriParts{.host = "a b"}).error(), UriError::bad_host);
    EXPECT_EQ(options.append_parts(UriParts{.host = "h", .path = "/a b"}).error(),
              UriError::bad_character);
    EXPECT_EQ(options.append_parts(UriParts{.host = "h", .query = "%", .has_query = true}).error(),
              UriError::bad_percent_encoding);
    EXPECT_TRUE(options.empty());
    // An IP host needs nothing but the path.
    auto added = options.append_parts(UriParts{.path = "/x", .host_kind = HostKind::ipv4});
    ASSERT_TRUE(added.has_value());
    EXPECT_EQ(*added, 1u);
}

// ---- Relative references ("/path?query"), paths and queries -----------------------------------

TEST(UriRelative, PathAndQueryLikeTheSeedFromUri) {
    UriOptions<> options;
    auto added = options.append_path_and_query("/sensors/temp?unit=celsius&fmt=json");
    ASSERT_TRUE(added.has_value());
    EXPECT_EQ(*added, 4u);
    EXPECT_EQ(to_list(options.options()), (OptionList{path("sensors"), path("temp"),
                                                      query("unit=celsius"), query("fmt=json")}));
}

TEST(UriRelative, PathAndQueryEdgeCases) {
    struct Case {
        std::string_view reference;
        OptionList expected;
    };
    const Case cases[] = {
        {"", {}},
        {"/", {}},
        {"?", {query("")}},
        {"/?a", {query("a")}},
        {"a", {path("a")}},
        {"a/", {path("a"), path("")}},
        {"/a/b?c=d/e?f", {path("a"), path("b"), query("c=d/e?f")}},
        {"%2Fa?%26=%3F", {path("/a"), query("&=?")}},
    };
    for (const Case& c : cases) {
        UriOptions<> options;
        auto added = options.append_path_and_query(c.reference);
        ASSERT_TRUE(added.has_value()) << c.reference;
        EXPECT_EQ(*added, c.expected.size()) << c.reference;
        EXPECT_EQ(to_list(options.options()), c.expected) << c.reference;
    }
}

TEST(UriRelative, PathWithOrWithoutLeadingSlashGivesTheSameSegments) {
    UriOptions<> with_slash;
    UriOptions<> without_slash;
    ASSERT_TRUE(with_slash.append_path("/sensors/temp").has_value());
    ASSERT_TRUE(without_slash.append_path("sensors/temp").has_value());
    OptionList expected = {path("sensors"), path("temp")};
    EXPECT_EQ(to_list(with_slash.options()), expected);
    EXPECT_EQ(to_list(without_slash.options()), expected);
}

TEST(UriRelative, EmptyPathAndEmptyQueryAppendNothing) {
    UriOptions<> options;
    EXPECT_EQ(*options.append_path(""), 0u);
    EXPECT_EQ(*options.append_path("/"), 0u);
    EXPECT_EQ(*options.append_query(""), 0u);
    EXPECT_TRUE(options.empty());
}

TEST(UriRelative, QueryStringIsSplitOnAmpersands) {
    UriOptions<> options;
    auto added = options.append_query("unit=celsius&fmt=json&");
    ASSERT_TRUE(added.has_value());
    EXPECT_EQ(*added, 3u);
    EXPECT_EQ(to_list(options.options()),
              (OptionList{query("unit=celsius"), query("fmt=json"), query("")}));
}

TEST(UriRelative, SeparatePathAndQueryCallsAppend) {
    UriOptions<> options;
    ASSERT_TRUE(options.append_path("sensors/temp").has_value());
    ASSERT_TRUE(options.append_query("unit=celsius").has_value());
    EXPECT_EQ(to_list(options.options()),
              (OptionList{path("sensors"), path("temp"), query("unit=celsius")}));
    options.clear();
    EXPECT_TRUE(options.empty());
    EXPECT_EQ(options.bytes_used(), 0u);
    ASSERT_TRUE(options.append_path("x").has_value());
    EXPECT_EQ(to_list(options.options()), (OptionList{path("x")}));
}

TEST(UriRelative, Errors) {
    UriOptions<> options;
    EXPECT_EQ(options.append_path_and_query("/a#b").error(), UriError::fragment);
    EXPECT_EQ(options.append_path_and_query("/a%2").error(), UriError::bad_percent_encoding);
    EXPECT_EQ(options.append_path_and_query("/a?b%g1").error(), UriError::bad_percent_encoding);
    EXPECT_EQ(options.append_path_and_query("/a b").error(), UriError::bad_character);
    EXPECT_EQ(options.append_path("a?b").error(), UriError::bad_character);
    EXPECT_EQ(options.append_path("a#b").error(), UriError::bad_character);
    EXPECT_EQ(options.append_query("a=%").error(), UriError::bad_percent_encoding);
    EXPECT_EQ(options.append_query("a#b").error(), UriError::bad_character);
    EXPECT_EQ(options.append_query("a=[1]").error(), UriError::bad_character);
    EXPECT_TRUE(options.empty());
    EXPECT_EQ(options.bytes_used(), 0u);
}

// ---- Capacity -------------------------------------------------------------------------------

TEST(UriCapacity, BuilderIsNeitherCopyableNorMovable) {
    static_assert(!std::is_copy_constructible_v<UriOptions<>>);
    static_assert(!std::is_copy_assignable_v<UriOptions<>>);
    static_assert(!std::is_move_constructible_v<UriOptions<>>);
    static_assert(!std::is_move_assignable_v<UriOptions<>>);
    UriOptions<3, 7> options;
    EXPECT_EQ(options.option_capacity(), 3u);
    EXPECT_EQ(options.byte_capacity(), 7u);
}

TEST(UriCapacity, TooManyOptionsIsAnErrorAndLeavesTheBuilderUnchanged) {
    UriOptions<3, 64> options;
    ASSERT_TRUE(options.append_path("/a").has_value());
    EXPECT_EQ(options.append_path("/b/c/d").error(), UriError::too_many_options);
    EXPECT_EQ(to_list(options.options()), (OptionList{path("a")}));
    EXPECT_EQ(options.bytes_used(), 1u);
    EXPECT_EQ(options.append_uri("coap://h/b?c&d").error(), UriError::too_many_options);
    EXPECT_EQ(to_list(options.options()), (OptionList{path("a")}));
    ASSERT_TRUE(options.append_path("/b/c").has_value());  // exactly full
    EXPECT_EQ(options.size(), 3u);
    EXPECT_EQ(options.append_query("x").error(), UriError::too_many_options);
    EXPECT_EQ(options.append_path_and_query("?").error(), UriError::too_many_options);
    EXPECT_EQ(options.size(), 3u);
}

TEST(UriCapacity, DefaultBuilderHolds32Options) {
    std::string path32;
    for (int i = 0; i < 32; ++i)
        path32 += "/s";
    UriOptions<> options;
    ASSERT_TRUE(options.append_path(path32).has_value());
    EXPECT_EQ(options.size(), 32u);
    options.clear();
    EXPECT_EQ(options.append_path(path32 + "/s").error(), UriError::too_many_options);
    EXPECT_TRUE(options.empty());
}

TEST(UriCapacity, StorageExhaustionIsAnErrorAndLeavesTheBuilderUnchanged) {
    UriOptions<8, 6> options;
    ASSERT_TRUE(options.append_path("/ab").has_value());
    EXPECT_EQ(options.append_query("cd&efg").error(), UriError::storage_exhausted);
    EXPECT_EQ(to_list(options.options()), (OptionList{path("ab")}));
    EXPECT_EQ(options.bytes_used(), 2u);
    // Capacity is counted in decoded bytes: "%41%42%43%44" is four bytes and fits.
    ASSERT_TRUE(options.append_query("%41%42%43%44").has_value());
    EXPECT_EQ(options.bytes_used(), 6u);
    EXPECT_EQ(options.append_query("x").error(), UriError::storage_exhausted);
    ASSERT_TRUE(options.append_query("").has_value());            // appends nothing
    ASSERT_TRUE(options.append_path_and_query("?").has_value());  // one empty value
    EXPECT_EQ(to_list(options.options()), (OptionList{path("ab"), query("ABCD"), query("")}));
}

TEST(UriCapacity, DefaultBuilderHolds1280Bytes) {
    std::string segment(250, 'x');
    std::string fits;  // 5 * 250 + 30 = 1280
    for (int i = 0; i < 5; ++i)
        fits += "/" + segment;
    fits += "/" + std::string(30, 'y');
    UriOptions<> options;
    ASSERT_TRUE(options.append_path(fits).has_value());
    EXPECT_EQ(options.bytes_used(), 1280u);
    options.clear();
    EXPECT_EQ(options.append_path(fits + "z").error(), UriError::storage_exhausted);
    EXPECT_TRUE(options.empty());
}

TEST(UriCapacity, ValuesOver255BytesAreRejected) {
    std::string max(255, 'a');
    std::string over(256, 'a');
    std::string encoded_over;
    for (int i = 0; i < 256; ++i)
        encoded_over += "%61";
    UriOptions<> options;
    EXPECT_TRUE(options.append_path(max).has_value());
    EXPECT_TRUE(options.append_query(max).has_value());
    EXPECT_TRUE(options.append_uri("coap://" + max + "/").has_value());
    EXPECT_EQ(options.size(), 3u);
    EXPECT_EQ(options.append_path(over).error(), UriError::option_too_long);
    EXPECT_EQ(options.append_path(encoded_over).error(), UriError::option_too_long);
    EXPECT_EQ(options.append_query(over).error(), UriError::option_too_long);
    EXPECT_EQ(options.append_uri("coap://" + over + "/").error(), UriError::option_too_long);
    EXPECT_EQ(options.append_uri("coap://h/" + over).error(), UriError::option_too_long);
    EXPECT_EQ(options.append_uri("coap://h/?" + over).error(), UriError::option_too_long);
    EXPECT_EQ(options.size(), 3u);
    // Long raw text that decodes to 255 bytes is fine.
    std::string encoded_max;
    for (int i = 0; i < 255; ++i)
        encoded_max += "%61";
    options.clear();
    ASSERT_TRUE(options.append_path(encoded_max).has_value());
    EXPECT_EQ(options.options()[0].value.size(), 255u);
}

TEST(UriCapacity, ZeroCapacityBuilderOnlyAcceptsNothing) {
    UriOptions<0, 0> options;
    EXPECT_TRUE(options.append_path("/").has_value());
    EXPECT_EQ(options.append_path("/a").error(), UriError::too_many_options);
}

TEST(UriCapacity, OptionsFeedTheEncoder) {
    UriOptions<> options;
    ASSERT_TRUE(options.append_uri("coap://example.com/a/b?c").has_value());
    std::array<std::uint8_t, 64> datagram{};
    auto length = encode(Message{.type = MessageType::non,
                                 .code = Code::get,
                                 .message_id = 1,
                                 .options = options.options()},
                         datagram);
    ASSERT_TRUE(length.has_value());
    auto view = parse(Bytes(datagram.data(), *length));
    ASSERT_TRUE(view.has_value());
    EXPECT_EQ(view->find(OptionNumber::uri_host)->as_string(), "example.com");
    EXPECT_EQ(view->count(OptionNumber::uri_path), 2u);
    EXPECT_EQ(view->find(OptionNumber::uri_query)->as_string(), "c");
}

// ---- Composing URIs from options (RFC 7252 §6.5) --------------------------------------------

Option opt(OptionNumber number, std::string_view value) {
    return Option{number, as_bytes(value)};
}

const UriDestination ipv4_destination{.host = "192.0.2.1", .port = 5683, .secure = false};

TEST(UriCompose, NoOptionsGivesDestinationAndSlash) {
    EXPECT_EQ(*compose({}, ipv4_destination), "coap://192.0.2.1/");
    EXPECT_EQ(*compose({}, {.host = "192.0.2.1", .port = 5684, .secure = true}),
              "coaps://192.0.2.1/");
}

TEST(UriCompose, PortIsOmittedOnlyWhenItIsTheSchemeDefault) {
    EXPECT_EQ(*compose({}, {.host = "192.0.2.1", .port = 5684}), "coap://192.0.2.1:5684/");
    EXPECT_EQ(*compose({}, {.host = "192.0.2.1", .port = 5683, .secure = true}),
              "coaps://192.0.2.1:5683/");
    EXPECT_EQ(*compose({}, {.host = "192.0.2.1", .port = 0}), "coap://192.0.2.1:0/");
    EXPECT_EQ(*compose({}, {.host = "192.0.2.1", .port = 65535}), "coap://192.0.2.1:65535/");
}

TEST(UriCompose, Ipv6DestinationGetsBrackets) {
    EXPECT_EQ(*compose({}, {.host = "::1", .port = 61616}), "coap://[::1]:61616/");
    EXPECT_EQ(*compose({}, {.host = "2001:db8::1"}), "coap://[2001:db8::1]/");
    EXPECT_EQ(*compose({}, {.host = "[::1]"}), "coap://[::1]/");
    // RFC 6874: the zone delimiter is written "%25".
    EXPECT_EQ(*compose({}, {.host = "fe80::1%eth0"}), "coap://[fe80::1%25eth0]/");
}

TEST(UriCompose, BadDestinationHost) {
    EXPECT_EQ(compose({}, {.host = ""}).error(), UriError::empty_host);
    EXPECT_EQ(compose({}, {.host = "1:2"}).error(), UriError::bad_host);
    EXPECT_EQ(compose({}, {.host = "::1%"}).error(), UriError::bad_host);
    EXPECT_EQ(compose({}, {.host = "[::1"}).error(), UriError::bad_host);
    EXPECT_EQ(compose({}, {.host = "a b"}).error(), UriError::bad_host);
}

TEST(UriCompose, UriHostAndUriPortOverrideTheDestination) {
    UintValue port(61616);
    Option options[] = {opt(OptionNumber::uri_host, "example.com"),
                        Option{OptionNumber::uri_port, port.bytes()}};
    EXPECT_EQ(*compose(options, ipv4_destination), "coap://example.com:61616/");
    UintValue default_coap(5683);
    Option default_port_options[] = {Option{OptionNumber::uri_port, default_coap.bytes()}};
    EXPECT_EQ(*compose(default_port_options, {.host = "192.0.2.1", .port = 9999}),
              "coap://192.0.2.1/");
    Option zero_port[] = {Option{OptionNumber::uri_port, {}}};
    EXPECT_EQ(*compose(zero_port, ipv4_destination), "coap://192.0.2.1:0/");
}

TEST(UriCompose, UriHostIsWrittenAsGivenWithNonAsciiAndPercentEncoded) {
    Option upper[] = {opt(OptionNumber::uri_host, "Example.COM")};
    EXPECT_EQ(*compose(upper, ipv4_destination), "coap://Example.COM/");
    Option non_ascii[] = {opt(OptionNumber::uri_host, "ex\xc3\xa4mple")};
    EXPECT_EQ(*compose(non_ascii, ipv4_destination), "coap://ex%C3%A4mple/");
    Option percent[] = {opt(OptionNumber::uri_host, "a%b")};
    EXPECT_EQ(*compose(percent, ipv4_destination), "coap://a%25b/");
    Option literal[] = {opt(OptionNumber::uri_host, "[2001:db8::1]")};
    EXPECT_EQ(*compose(literal, ipv4_destination), "coap://[2001:db8::1]/");
    Option ipv4[] = {opt(OptionNumber::uri_host, "198.51.100.7")};
    EXPECT_EQ(*compose(ipv4, ipv4_destination), "coap://198.51.100.7/");
}

TEST(UriCompose, InvalidUriHostOrUriPortFails) {
    for (std::string_view bad :
         {""sv, "a b"sv, "a/b"sv, "a:b"sv, "a@b"sv, "::1"sv, "[::1"sv, "[zz]"sv, "[]"sv})
        EXPECT_EQ(compose(std::array{opt(OptionNumber::uri_host, bad)}, ipv4_destination).error(),
                  UriError::bad_option)
            << bad;
    UintValue too_big(65536);
    Option big[] = {Option{OptionNumber::uri_port, too_big.bytes()}};
    EXPECT_EQ(compose(big, ipv4_destination).error(), UriError::bad_option);
    const std::uint8_t five_bytes[] = {0, 0, 0, 0, 1};
    Option long_port[] = {Option{OptionNumber::uri_port, five_bytes}};
    EXPECT_EQ(compose(long_port, ipv4_destination).error(), UriError::bad_option);
}

TEST(UriCompose, PathSegmentsAndQueryArguments) {
    Option options[] = {opt(OptionNumber::uri_path, "sensors"), opt(OptionNumber::uri_path, "temp"),
                        opt(OptionNumber::uri_query, "unit=celsius"),
                        opt(OptionNumber::uri_query, "fmt=json")};
    EXPECT_EQ(*compose(options, ipv4_destination),
              "coap://192.0.2.1/sensors/temp?unit=celsius&fmt=json");
}

TEST(UriCompose, EmptySegmentsAndArgumentsAreKept) {
    Option options[] = {opt(OptionNumber::uri_path, ""), opt(OptionNumber::uri_path, "a"),
                        opt(OptionNumber::uri_path, ""), opt(OptionNumber::uri_query, ""),
                        opt(OptionNumber::uri_query, "")};
    EXPECT_EQ(*compose(options, ipv4_destination), "coap://192.0.2.1//a/?&");
}

TEST(UriCompose, OnlyUriOptionsCountAndTheirRelativeOrderIsKept) {
    UintValue format(50);
    Option options[] = {
        opt(OptionNumber::uri_query, "q1"),      Option{OptionNumber::accept, format.bytes()},
        opt(OptionNumber::uri_path, "p1"),       opt(OptionNumber::etag, "tag"),
        opt(OptionNumber::uri_query, "q2"),      opt(OptionNumber::uri_path, "p2"),
        opt(OptionNumber::location_path, "nope")};
    EXPECT_EQ(*compose(options, ipv4_destination), "coap://192.0.2.1/p1/p2?q1&q2");
}

// The characters RFC 7252 §6.5 step 6 keeps in a path segment; everything else is encoded.
constexpr std::string_view segment_keeps =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@";

std::string expected_encoding(std::uint8_t byte, std::string_view keeps) {
    char c = static_cast<char>(byte);
    if (byte != 0 && keeps.find(c) != std::string_view::npos) return std::string(1, c);
    constexpr char digits[] = "0123456789ABCDEF";
    return {'%', digits[byte >> 4], digits[byte & 0x0f]};
}

TEST(UriCompose, PathSegmentsPercentEncodeEveryOtherByteInUppercaseHex) {
    for (int b = 0; b < 256; ++b) {
        auto byte = static_cast<std::uint8_t>(b);
        std::uint8_t value[] = {byte};
        Option options[] = {Option{OptionNumber::uri_path, value}};
        // A segment that is only "." is encoded: see DotSegmentValuesArePercentEncoded.
        std::string expected = b == '.' ? "%2E" : expected_encoding(byte, segment_keeps);
        EXPECT_EQ(*compose(options, ipv4_destination), "coap://192.0.2.1/" + expected) << b;
    }
}

// A Uri-Path "." or ".." written as is would be a dot-segment, removed again when the URI is
// decomposed (RFC 7252 §6.4 step 2, RFC 3986 §5.2.4): it is percent-encoded instead. Dots in
// longer segments, and in query arguments, stay as they are.
TEST(UriCompose, DotSegmentValuesArePercentEncoded) {
    Option options[] = {opt(OptionNumber::uri_path, "."),   opt(OptionNumber::uri_path, ".."),
                        opt(OptionNumber::uri_path, "..."), opt(OptionNumber::uri_path, ".a"),
                        opt(OptionNumber::uri_path, "a.."), opt(OptionNumber::uri_query, "."),
                        opt(OptionNumber::uri_query, "..")};
    EXPECT_EQ(*compose(options, ipv4_destination), "coap://192.0.2.1/%2E/%2E%2E/.../.a/a..?.&..");
}

TEST(UriCompose, QueryArgumentsAlsoKeepSlashAndQuestionMarkButEncodeAmpersand) {
    std::string keeps = std::string(segment_keeps) + "/?";
    keeps.erase(keeps.find('&'), 1);
    for (int b = 0; b < 256; ++b) {
        auto byte = static_cast<std::uint8_t>(b);
        std::uint8_t value[] = {byte};
        Option options[] = {Option{OptionNumber::uri_query, value}};
        EXPECT_EQ(*compose(options, ipv4_destination),
                  "coap://192.0.2.1/?" + expected_encoding(byte, keeps))
            << b;
    }
}

TEST(UriCompose, ReservedCharactersInValues) {
    Option options[] = {opt(OptionNumber::uri_path, "a/b?c#d[e]%"),
                        opt(OptionNumber::uri_query, "k=a&b/c?d#e")};
    EXPECT_EQ(*compose(options, ipv4_destination),
              "coap://192.0.2.1/a%2Fb%3Fc%23d%5Be%5D%25?k=a%26b/c?d%23e");
}

TEST(UriCompose, BufferTooSmallAtEveryShorterLength) {
    Option options[] = {opt(OptionNumber::uri_host, "example.com"),
                        opt(OptionNumber::uri_path, "a b"), opt(OptionNumber::uri_query, "c&d")};
    const std::string expected = "coap://example.com/a%20b?c%26d";
    for (std::size_t size = 0; size <= expected.size() + 1; ++size) {
        std::array<char, 64> buffer;
        buffer.fill('#');
        auto length = compose_uri(options, ipv4_destination, std::span(buffer.data(), size));
        if (size < expected.size()) {
            ASSERT_FALSE(length.has_value()) << size;
            EXPECT_EQ(length.error(), UriError::buffer_too_small);
        } else {
            ASSERT_TRUE(length.has_value()) << size;
            EXPECT_EQ(std::string_view(buffer.data(), *length), expected);
        }
        for (std::size_t i = size; i < buffer.size(); ++i)
            ASSERT_EQ(buffer[i], '#') << "wrote past the span at " << i << " for size " << size;
    }
}

TEST(UriCompose, FromAParsedMessage) {
    UintValue port(1234);
    UintValue format(0);
    Option options[] = {
        opt(OptionNumber::uri_path, "x y"),  Option{OptionNumber::uri_port, port.bytes()},
        opt(OptionNumber::uri_query, "a=1"), Option{OptionNumber::content_format, format.bytes()},
        opt(OptionNumber::uri_path, "z"),    opt(OptionNumber::uri_host, "example.net")};
    std::array<std::uint8_t, 128> datagram{};
    auto length = encode(
        Message{.type = MessageType::con, .code = Code::post, .message_id = 9, .options = options},
        datagram);
    ASSERT_TRUE(length.has_value());
    auto view = parse(Bytes(datagram.data(), *length));
    ASSERT_TRUE(view.has_value());
    std::array<char, 128> buffer{};
    auto uri = compose_uri(*view, {.host = "::1", .port = 5684, .secure = true}, buffer);
    ASSERT_TRUE(uri.has_value());
    EXPECT_EQ(std::string_view(buffer.data(), *uri), "coaps://example.net:1234/x%20y/z?a=1");
}

// ---- compose(parse(uri)) --------------------------------------------------------------------

TEST(UriRoundTrip, NormalFormUrisComeBackUnchanged) {
    for (std::string_view uri : {
             "coap://example.com/"sv,
             "coap://example.com/~sensors/temp.xml"sv,
             "coaps://example.com/"sv,
             "coaps://example.com:5683/x"sv,
             "coap://example.com:5684/x"sv,
             "coap://[::1]:61616/x"sv,
             "coap://[2001:db8::1]/a/b?c=d&e"sv,
             "coaps://[::1]/.well-known/core?rt=temperature"sv,
             "coap://192.0.2.1:1/"sv,
             "coap://example.com/a%2Fb/c%3Fd%23e%5B%5D"sv,
             "coap://example.com/a/?x=1&y=a/b?c"sv,
             "coap://example.com/?a%26b=c%23d"sv,
             "coap://example.com/%25/%20/%C3%A4/%00"sv,
             "coap://example.com/!$&'()*+,;=:@"sv,
             "coap://example.com/?!$'()*+,;=:@/?"sv,
             "coap://example.com//a//"sv,
             "coap://example.com/p?"sv,
             "coap://example.com/p?&&"sv,
             "coap://ex%C3%A4mple.com/"sv,
             "coap://a!$&'()*+,;=b/"sv,
             "coap://192.0.2.256/"sv,
             "coap://example.com/%2E"sv,  // fuzz/regressions/uri/encoded_dot_segment
             "coap://example.com/%2E%2E/a/%2E"sv,
         }) {
        EXPECT_EQ(round_trip(uri), uri);
    }
}

TEST(UriRoundTrip, OtherUrisComeBackInNormalForm) {
    const std::pair<std::string_view, std::string_view> cases[] = {
        {"coap://EXAMPLE.com:5683/%7esensors/temp.xml", "coap://example.com/~sensors/temp.xml"},
        {"coap://example.com", "coap://example.com/"},
        {"coap://example.com:", "coap://example.com/"},
        {"COAPS://Example.COM:5684", "coaps://example.com/"},
        {"coap://example.com/%61%62", "coap://example.com/ab"},
        {"coap://example.com/a%2fb", "coap://example.com/a%2Fb"},
        {"coap://example.com/?a=%3f&b=%2F", "coap://example.com/?a=?&b=/"},
        {"coap://192.0.2.1:5683/x", "coap://192.0.2.1/x"},
        {"coap://[::1]:5683", "coap://[::1]/"},
        {"coap://example.com/?x", "coap://example.com/?x"},
        {"coap://example.com?x", "coap://example.com/?x"},
        {"coap://%45xample.com/", "coap://example.com/"},
        {"coap://example.com/%2e/%2E%2e", "coap://example.com/%2E/%2E%2E"},
        {"coap://example.com/a/./%2E/../b", "coap://example.com/a/b"},
    };
    for (const auto& [input, normal] : cases)
        EXPECT_EQ(round_trip(input), normal) << input;
}

TEST(UriRoundTrip, ZoneIdentifierThroughTheDestination) {
    UriOptions<> options;
    auto parts = options.append_uri("coap://[fe80::1%25eth0]:5683/x");
    ASSERT_TRUE(parts.has_value());
    EXPECT_EQ(parts->host, "fe80::1%25eth0");
    EXPECT_TRUE(options.options().size() == 1);
    EXPECT_EQ(*compose(options.options(), {.host = "fe80::1%eth0", .port = parts->port}),
              "coap://[fe80::1%25eth0]/x");
}

// ---- describe -------------------------------------------------------------------------------

TEST(UriDescribe, EveryErrorHasADistinctDescription) {
    std::set<std::string_view> seen;
    for (int e = 0; e <= static_cast<int>(UriError::buffer_too_small); ++e) {
        std::string_view text = describe(static_cast<UriError>(e));
        EXPECT_FALSE(text.empty()) << e;
        EXPECT_NE(text, "unknown URI error") << e;
        EXPECT_TRUE(seen.insert(text).second) << text;
    }
}

}  // namespace
}  // namespace coap
