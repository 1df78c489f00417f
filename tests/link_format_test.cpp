// CoRE Link Format (RFC 6690): generation, parsing and query filtering (§2, §3, §4.1).
#include "server/link_format.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace coap::links {
namespace {

using namespace std::string_view_literals;

// Filters the document with the given query arguments through a generous arena.
std::string filtered(const Document& document, std::vector<std::string_view> arguments) {
    std::vector<Filter> filters;
    for (std::string_view argument : arguments)
        filters.push_back(parse_filter(argument));
    std::array<std::byte, 4096> memory{};
    Arena arena(memory);
    auto result = document.filter(filters, arena);
    EXPECT_TRUE(result.has_value());
    return result ? std::string(*result) : std::string("<arena exhausted>");
}

// ---- generation (§2, §3) ----

TEST(LinkFormatSerialize, LinkWithoutAttributesIsJustTheHref) {
    EXPECT_EQ(serialize("/test", LinkAttributes{}), "</test>");
}

TEST(LinkFormatSerialize, WritesAttributesInFixedOrderWithQuotingPerKind) {
    LinkAttributes attributes{.rt = "temperature-c",
                              .if_ = "sensor",
                              .ct = "0",
                              .sz = "1280",
                              .title = "Outdoor",
                              .obs = true};
    EXPECT_EQ(serialize("/s/t", attributes),
              R"(</s/t>;rt="temperature-c";if="sensor";ct=0;sz=1280;title="Outdoor";obs)");
}

TEST(LinkFormatSerialize, SeveralContentFormatsAreAQuotedList) {
    // RFC 7252 §7.2.1: ct-value = cardinal / DQUOTE cardinal *( 1*SP cardinal ) DQUOTE
    EXPECT_EQ(serialize("/m", LinkAttributes{.ct = "0 41"}), R"(</m>;ct="0 41")");
}

TEST(LinkFormatSerialize, QuotedValuesEscapeQuoteAndBackslash) {
    EXPECT_EQ(serialize("/q", LinkAttributes{.title = R"(say "hi" \o/)"}),
              R"(</q>;title="say \"hi\" \\o/")");
}

TEST(LinkFormatSerialize, ExtraParamsAreAppendedVerbatimWithOrWithoutLeadingSemicolon) {
    EXPECT_EQ(serialize("/t", LinkAttributes{.extra = R"(anchor="/sensors/temp";rel="alternate")"}),
              R"(</t>;anchor="/sensors/temp";rel="alternate")");
    EXPECT_EQ(serialize("/t", LinkAttributes{.rt = "a", .extra = ";foo"}), R"(</t>;rt="a";foo)");
}

TEST(LinkFormatSerialize, RejectsNonNumericCtAndSzAndMalformedExtra) {
    EXPECT_THROW(serialize("/x", LinkAttributes{.ct = "json"}), std::invalid_argument);
    EXPECT_THROW(serialize("/x", LinkAttributes{.ct = "40 "}), std::invalid_argument);
    EXPECT_THROW(serialize("/x", LinkAttributes{.sz = "12 34"}), std::invalid_argument);
    EXPECT_THROW(serialize("/x", LinkAttributes{.sz = "big"}), std::invalid_argument);
    EXPECT_THROW(serialize("/x", LinkAttributes{.extra = R"(title="unterminated)"}),
                 std::invalid_argument);
    // A second link smuggled in through extra is refused.
    EXPECT_THROW(serialize("/x", LinkAttributes{.extra = "a=1,</y>"}), std::invalid_argument);
}

TEST(LinkFormatSerialize, ListSeparatesLinksWithCommasAndEmptyListIsEmpty) {
    LinkAttributes none;
    LinkAttributes sensor{.if_ = "sensor"};
    std::vector<Entry> entries{
        {"/sensors/temp", &sensor}, {"/sensors/light", &sensor}, {"/x", &none}};
    EXPECT_EQ(serialize(entries),
              R"(</sensors/temp>;if="sensor",</sensors/light>;if="sensor",</x>)");
    EXPECT_EQ(serialize(std::span<const Entry>{}), "");
}

TEST(LinkFormatSerialize, EncodeHrefPercentEncodesWhatAPathCannotHold) {
    EXPECT_EQ(encode_href("/sensor/:id/*"), "/sensor/:id/*");
    EXPECT_EQ(encode_href("/a b/<c>/%/\xc3\xa9"), "/a%20b/%3Cc%3E/%25/%C3%A9");
    EXPECT_EQ(encode_href("/"), "/");
}

// ---- query arguments (§4.1) ----

TEST(LinkFormatFilter, ParsesCompletePrefixAndBareArguments) {
    Filter complete = parse_filter("rt=Type1");
    EXPECT_EQ(complete.name, "rt");
    EXPECT_EQ(complete.value, "Type1");
    EXPECT_FALSE(complete.prefix);

    Filter prefix = parse_filter("href=/link*");
    EXPECT_EQ(prefix.name, "href");
    EXPECT_EQ(prefix.value, "/link");
    EXPECT_TRUE(prefix.prefix);

    Filter empty_prefix = parse_filter("sz=*");
    EXPECT_EQ(empty_prefix.value, "");
    EXPECT_TRUE(empty_prefix.prefix);

    Filter empty_complete = parse_filter("rt=");
    EXPECT_EQ(empty_complete.value, "");
    EXPECT_FALSE(empty_complete.prefix);

    Filter bare = parse_filter("obs");
    EXPECT_EQ(bare.name, "obs");
    EXPECT_TRUE(bare.prefix);  // same as obs=*

    Filter equals_in_value = parse_filter("foo=a=b");
    EXPECT_EQ(equals_in_value.name, "foo");
    EXPECT_EQ(equals_in_value.value, "a=b");
}

// ---- parsing (§2) ----

TEST(LinkFormatDocument, ParsesTheRfc6690Section5ExampleWithLineBreaks) {
    Document document(
        "</sensors>;ct=40;title=\"Sensor Index\",\n"
        "</sensors/temp>;rt=\"temperature-c\";if=\"sensor\",\n"
        "</sensors/light>;rt=\"light-lux\";if=\"sensor\",\n"
        "<http://www.example.com/sensors/t123>;anchor=\"/sensors/temp\"\n"
        ";rel=\"describedby\",\n"
        "</t>;anchor=\"/sensors/temp\";rel=\"alternate\"");
    ASSERT_EQ(document.size(), 5u);
    EXPECT_EQ(document.href(0), "/sensors");
    EXPECT_EQ(document.link(0), R"(</sensors>;ct=40;title="Sensor Index")");
    EXPECT_EQ(document.href(3), "http://www.example.com/sensors/t123");
    EXPECT_EQ(
        document.link(3),
        "<http://www.example.com/sensors/t123>;anchor=\"/sensors/temp\"\n;rel=\"describedby\"");
    EXPECT_EQ(document.link(4), R"(</t>;anchor="/sensors/temp";rel="alternate")");
    // The text is kept exactly as given.
    EXPECT_EQ(document.text().substr(0, 11), "</sensors>;");
}

TEST(LinkFormatDocument, EmptyAndBlankTextHaveNoLinks) {
    EXPECT_EQ(Document("").size(), 0u);
    EXPECT_EQ(Document(" \r\n").size(), 0u);
    EXPECT_EQ(Document().text(), "");
}

TEST(LinkFormatDocument, QuotedValuesMayHoldCommasSemicolonsAndEscapedQuotes) {
    Document document(R"(</a>;title="x, y; \"z\"",</b>)");
    ASSERT_EQ(document.size(), 2u);
    EXPECT_EQ(document.link(0), R"(</a>;title="x, y; \"z\"")");
    EXPECT_EQ(document.href(1), "/b");
}

TEST(LinkFormatDocument, RejectsMalformedDocuments) {
    for (const char* text : {"/a", "<", "</a", "</a>;", "</a>;=x", "</a>;t=", R"(</a>;t="x)",
                             "</a>,", "</a> </b>", "</a>;x=1 y", "</a>,,</b>"}) {
        EXPECT_THROW(Document{text}, std::invalid_argument) << text;
    }
}

TEST(LinkFormatDocument, SurvivesMovesOfShortDocuments) {
    // Positions are offsets: a moved short (SSO) string keeps working.
    Document original("</a>;rt=x");
    Document moved(std::move(original));
    ASSERT_EQ(moved.size(), 1u);
    EXPECT_EQ(moved.href(0), "/a");
    EXPECT_TRUE(moved.matches(0, parse_filter("rt=x")));
}

// ---- matching (§4.1) ----

TEST(LinkFormatMatch, CompleteValueMustBeBitwiseIdentical) {
    Document document(R"(</a>;rt="light-lux",</b>;rt="Light-lux",</c>;rt=light-luxe)");
    EXPECT_EQ(filtered(document, {"rt=light-lux"}), R"(</a>;rt="light-lux")");
}

TEST(LinkFormatMatch, PrefixValueMatchesBitwisePrefixIncludingItself) {
    Document document(R"(</a>;rt="bar",</b>;rt="barley",</c>;rt="ba",</d>;rt="xbar")");
    EXPECT_EQ(filtered(document, {"rt=bar*"}), R"(</a>;rt="bar",</b>;rt="barley")");
}

TEST(LinkFormatMatch, EmptyPrefixMatchesOnlyLinksWhereTheAttributeExists) {
    Document document(R"(</a>;rt="x",</b>,</c>;rt="",</d>;if="x")");
    EXPECT_EQ(filtered(document, {"rt=*"}), R"(</a>;rt="x",</c>;rt="")");
}

TEST(LinkFormatMatch, RelationTypeValuesAreMatchedOneByOne) {
    // RFC 6690 §5: "A query filter parameter can match any one of those values".
    Document document(R"(</sensors/light>;rt="light-lux core.sen-light";if="sensor")");
    EXPECT_EQ(filtered(document, {"rt=light-lux"}).size(), document.text().size());
    EXPECT_EQ(filtered(document, {"rt=core.sen-light"}).size(), document.text().size());
    EXPECT_EQ(filtered(document, {"rt=core*"}).size(), document.text().size());
    EXPECT_EQ(filtered(document, {"rt=light-lux core.sen-light"}), "");
}

TEST(LinkFormatMatch, OtherAttributesAreMatchedAsAWhole) {
    Document document(R"(</a>;title="Sensor Index")");
    EXPECT_EQ(filtered(document, {"title=Sensor Index"}), document.text());
    EXPECT_EQ(filtered(document, {"title=Sensor"}), "");
    EXPECT_EQ(filtered(document, {"title=Sensor*"}), document.text());
}

TEST(LinkFormatMatch, CtMatchesAnyContentFormatOfAList) {
    Document document(R"(</a>;ct=40,</b>;ct="0 41",</c>)");
    EXPECT_EQ(filtered(document, {"ct=41"}), R"(</b>;ct="0 41")");
    EXPECT_EQ(filtered(document, {"ct=40"}), R"(</a>;ct=40)");
    EXPECT_EQ(filtered(document, {"ct=4*"}), R"(</a>;ct=40,</b>;ct="0 41")");
}

TEST(LinkFormatMatch, QuotedValuesAreComparedUnescaped) {
    Document document(R"(</a>;title="say \"hi\"")");
    EXPECT_EQ(filtered(document, {R"(title=say "hi")"}), document.text());
    EXPECT_EQ(filtered(document, {R"(title=say \"hi\")"}), "");
}

TEST(LinkFormatMatch, FlagAttributeExistsWithAnEmptyValue) {
    Document document(R"(</a>;obs,</b>;rt="x")");
    EXPECT_EQ(filtered(document, {"obs"}), "</a>;obs");
    EXPECT_EQ(filtered(document, {"obs=*"}), "</a>;obs");
    EXPECT_EQ(filtered(document, {"obs="}), "</a>;obs");
    EXPECT_EQ(filtered(document, {"obs=1"}), "");
}

TEST(LinkFormatMatch, HrefMatchesTheUriReferencePercentDecoded) {
    Document document("</foo>,</foo/bar>,</food>,</a%20b>,<coap://host/foo>");
    EXPECT_EQ(filtered(document, {"href=/foo"}), "</foo>");
    EXPECT_EQ(filtered(document, {"href=/foo*"}), "</foo>,</foo/bar>,</food>");
    EXPECT_EQ(filtered(document, {"href=/a b"}), "</a%20b>");
    EXPECT_EQ(filtered(document, {"href=*"}), document.text());
}

TEST(LinkFormatMatch, AnyLinkExtensionCanBeFiltered) {
    // RFC 6690 §5: GET /.well-known/core?anchor=/sensors/temp
    Document document(
        "</sensors/temp>;rt=\"temperature-c\","
        "<http://www.example.com/sensors/t123>;anchor=\"/sensors/temp\";rel=\"describedby\","
        "</t>;anchor=\"/sensors/temp\";rel=\"alternate\"");
    EXPECT_EQ(filtered(document, {"anchor=/sensors/temp"}),
              "<http://www.example.com/sensors/t123>;anchor=\"/sensors/temp\";rel=\"describedby\","
              "</t>;anchor=\"/sensors/temp\";rel=\"alternate\"");
    EXPECT_EQ(filtered(document, {"rel=alternate"}),
              R"(</t>;anchor="/sensors/temp";rel="alternate")");
    EXPECT_EQ(filtered(document, {"foo=bar"}), "");
}

TEST(LinkFormatMatch, SeveralFiltersMustAllMatch) {
    Document document(R"(</a>;rt="x";if="i",</b>;rt="x",</c>;if="i")");
    EXPECT_EQ(filtered(document, {"rt=x", "if=i"}), R"(</a>;rt="x";if="i")");
}

TEST(LinkFormatMatch, FilteredLinksFromMultiLineDocumentAreJoinedByCommasOnly) {
    Document document("</a>;rt=x ,\n </b>;rt=y,\n</c>;rt=x");
    EXPECT_EQ(filtered(document, {"rt=x"}), "</a>;rt=x,</c>;rt=x");
}

// ---- output into the arena ----

TEST(LinkFormatArena, NoFiltersReturnsTheWholeTextWithoutUsingTheArena) {
    Document document("</a>,</b>");
    Arena empty;
    auto result = document.filter({}, empty);
    ASSERT_TRUE(result.has_value());
    EXPECT_EQ(*result, "</a>,</b>");
    EXPECT_EQ(result->data(), document.text().data());
}

TEST(LinkFormatArena, NoMatchIsAnEmptyResultThatNeedsNoArena) {
    Document document("</a>;rt=x");
    Arena empty;
    std::array<Filter, 1> filters{parse_filter("rt=y")};
    auto result = document.filter(filters, empty);
    ASSERT_TRUE(result.has_value());
    EXPECT_TRUE(result->empty());
}

TEST(LinkFormatArena, ResultFitsAnArenaOfExactlyItsSizeAndFailsOneByteShort) {
    Document document("</a>;rt=x,</b>;rt=y,</c>;rt=x");
    std::array<Filter, 1> filters{parse_filter("rt=x")};
    constexpr auto expected = "</a>;rt=x,</c>;rt=x"sv;
    std::array<std::byte, 64> memory{};

    Arena exact(std::span<std::byte>(memory.data(), expected.size()));
    auto fits = document.filter(filters, exact);
    ASSERT_TRUE(fits.has_value());
    EXPECT_EQ(*fits, expected);
    EXPECT_EQ(exact.used(), expected.size());

    Arena short_by_one(std::span<std::byte>(memory.data(), expected.size() - 1));
    EXPECT_FALSE(document.filter(filters, short_by_one).has_value());
    EXPECT_EQ(short_by_one.used(), 0u);
}

}  // namespace
}  // namespace coap::links
