// Content-Format registry lookups.
#include <gtest/gtest.h>

#include "coap/content_format.hpp"

namespace coap {
namespace {

TEST(ContentFormat, CommonFormatsHaveTheirRegisteredNumbers) {
    EXPECT_EQ(to_int(ContentFormat::text_plain), 0);
    EXPECT_EQ(to_int(ContentFormat::link_format), 40);
    EXPECT_EQ(to_int(ContentFormat::xml), 41);
    EXPECT_EQ(to_int(ContentFormat::octet_stream), 42);
    EXPECT_EQ(to_int(ContentFormat::exi), 47);
    EXPECT_EQ(to_int(ContentFormat::json), 50);
    EXPECT_EQ(to_int(ContentFormat::cbor), 60);
    EXPECT_EQ(to_int(ContentFormat::senml_json), 110);
    EXPECT_EQ(to_int(ContentFormat::senml_cbor), 112);
}

TEST(ContentFormat, LookupByNumberGivesTheMediaType) {
    EXPECT_EQ(find_content_format(ContentFormat::link_format)->media_type,
              "application/link-format");
    EXPECT_EQ(find_content_format(ContentFormat::text_plain)->media_type,
              "text/plain;charset=utf-8");
    EXPECT_EQ(find_content_format(static_cast<ContentFormat>(9999)), nullptr);
}

TEST(ContentFormat, ParsesShortNamesMediaTypesAndNumbers) {
    EXPECT_EQ(parse_content_format("json"), ContentFormat::json);
    EXPECT_EQ(parse_content_format("application/cbor"), ContentFormat::cbor);
    EXPECT_EQ(parse_content_format("text/plain"), ContentFormat::text_plain);
    EXPECT_EQ(parse_content_format("40"), ContentFormat::link_format);
    EXPECT_EQ(parse_content_format("65000"), static_cast<ContentFormat>(65000));
    EXPECT_EQ(parse_content_format("70000"), std::nullopt);
    EXPECT_EQ(parse_content_format("nonsense"), std::nullopt);
    EXPECT_EQ(parse_content_format(""), std::nullopt);
}

TEST(ContentFormat, RegistryIsSortedAndUnique) {
    auto registry = content_format_registry();
    for (std::size_t i = 1; i < registry.size(); ++i)
        EXPECT_LT(to_int(registry[i - 1].id), to_int(registry[i].id));
}

}  // namespace
}  // namespace coap
