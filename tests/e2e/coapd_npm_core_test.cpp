// End-to-end tests: coapd over real loopback sockets, driven by the npm package `coap`
// (node-coap) through npm_client.js (see npm_harness.hpp), over IPv4 and IPv6: TD_COAP_CORE_01-08,
// 13, 14, 18, 19, 20, 23 and TD_COAP_LINK_01 (../shared/reference/etsi-td-coap4).
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "e2e/npm_harness.hpp"

namespace coap::e2e::npm {
namespace {

INSTANTIATE_TEST_SUITE_P(Plugtest, NpmE2E, ::testing::Values(Family::ipv4, Family::ipv6),
                         family_param_name);

TEST_P(NpmE2E, TD_COAP_CORE_01) {
    auto responses = npm({get("/test")});
    NPM_TRACE();
    ASSERT_NO_FATAL_FAILURE(check_response(responses[0], Mode::con, "2.05"));
    EXPECT_FALSE(responses[0]["content_format"].is_null());
    EXPECT_FALSE(responses[0]["payload"].str().empty());
}

TEST_P(NpmE2E, TD_COAP_CORE_02) {
    auto responses = npm({del("/test")});
    NPM_TRACE();
    ASSERT_NO_FATAL_FAILURE(check_response(responses[0], Mode::con, "2.02"));
    check_cfone(responses[0]);
}

TEST_P(NpmE2E, TD_COAP_CORE_03) {
    std::string payload = "npm-TD_COAP_CORE_03-" + random_word();
    auto responses = npm({with_payload("PUT", "/test", Mode::con, payload), get("/test")});
    NPM_TRACE();
    ASSERT_NO_FATAL_FAILURE(check_response_any(responses[0], Mode::con, {"2.04", "2.01"}));
    check_cfone(responses[0]);
    ASSERT_NO_FATAL_FAILURE(check_response(responses[1], Mode::con, "2.05"));
    EXPECT_EQ(responses[1]["payload"].str(), payload) << "GET returns what PUT stored";
}

TEST_P(NpmE2E, TD_COAP_CORE_04) {
    auto responses = npm({with_payload("POST", "/test", Mode::con, "npm-TD_COAP_CORE_04")});
    NPM_TRACE();
    ASSERT_NO_FATAL_FAILURE(check_response_any(responses[0], Mode::con, {"2.01", "2.04"}));
    for (const std::string& segment : responses[0]["location_path"].strings())
        EXPECT_EQ(segment.find('/'), std::string::npos) << segment;
    check_cfone(responses[0]);
}

TEST_P(NpmE2E, TD_COAP_CORE_05) {
    auto responses = npm({get("/test", Mode::non)});
    NPM_TRACE();
    ASSERT_NO_FATAL_FAILURE(check_response(responses[0], Mode::non, "2.05"));
    EXPECT_FALSE(responses[0]["content_format"].is_null());
    EXPECT_FALSE(responses[0]["payload"].str().empty());
}

TEST_P(NpmE2E, TD_COAP_CORE_06) {
    auto responses = npm({del("/test", Mode::non)});
    NPM_TRACE();
    ASSERT_NO_FATAL_FAILURE(check_response(responses[0], Mode::non, "2.02"));
    check_cfone(responses[0]);
}

TEST_P(NpmE2E, TD_COAP_CORE_07) {
    std::string payload = "npm-TD_COAP_CORE_07-" + random_word();
    auto responses = npm({with_payload("PUT", "/test", Mode::non, payload)});
    NPM_TRACE();
    ASSERT_NO_FATAL_FAILURE(check_response_any(responses[0], Mode::non, {"2.04", "2.01"}));
    check_cfone(responses[0]);
}

TEST_P(NpmE2E, TD_COAP_CORE_08) {
    auto responses = npm({with_payload("POST", "/test", Mode::non, "npm-TD_COAP_CORE_08")});
    NPM_TRACE();
    ASSERT_NO_FATAL_FAILURE(check_response_any(responses[0], Mode::non, {"2.01", "2.04"}));
    for (const std::string& segment : responses[0]["location_path"].strings())
        EXPECT_EQ(segment.find('/'), std::string::npos) << segment;
    check_cfone(responses[0]);
}

TEST_P(NpmE2E, TD_COAP_CORE_13) {
    auto responses = npm({get("/seg1/seg2/seg3")});
    NPM_TRACE();
    ASSERT_NO_FATAL_FAILURE(check_response(responses[0], Mode::con, "2.05"));
    EXPECT_FALSE(responses[0]["content_format"].is_null());
    EXPECT_FALSE(responses[0]["payload"].str().empty());
}

TEST_P(NpmE2E, TD_COAP_CORE_14) {
    NpmRequest request = get("/query");
    request.query = "first=1&second=2";
    auto responses = npm({request});
    NPM_TRACE();
    ASSERT_NO_FATAL_FAILURE(check_response(responses[0], Mode::con, "2.05"));
    EXPECT_FALSE(responses[0]["content_format"].is_null());
    EXPECT_FALSE(responses[0]["payload"].str().empty());
}

TEST_P(NpmE2E, TD_COAP_CORE_18) {
    auto responses = npm({with_payload("POST", "/test", Mode::con, "npm-TD_COAP_CORE_18")});
    NPM_TRACE();
    ASSERT_NO_FATAL_FAILURE(check_response(responses[0], Mode::con, "2.01"));
    EXPECT_EQ(responses[0]["location_path"].strings(),
              (std::vector<std::string>{"location1", "location2", "location3"}));
}

TEST_P(NpmE2E, TD_COAP_CORE_19) {
    auto responses =
        npm({with_payload("POST", "/location-query", Mode::con, "npm-TD_COAP_CORE_19")});
    NPM_TRACE();
    ASSERT_NO_FATAL_FAILURE(check_response(responses[0], Mode::con, "2.01"));
    std::vector<std::string> queries = responses[0]["location_query"].strings();
    EXPECT_EQ(queries, (std::vector<std::string>{"first=1", "second=2"}));
    for (const std::string& query : queries)
        EXPECT_EQ(query.find_first_of("?&"), std::string::npos) << query;
    check_cfone(responses[0]);
}

TEST_P(NpmE2E, TD_COAP_CORE_20) {
    NpmRequest text = get("/multi-format");
    text.options = {{"Accept", "0"}};
    NpmRequest xml = get("/multi-format");
    xml.options = {{"Accept", "41"}};
    auto responses = npm({text, xml});
    NPM_TRACE();
    ASSERT_NO_FATAL_FAILURE(check_response(responses[0], Mode::con, "2.05"));
    EXPECT_EQ(responses[0]["content_format"].integer(), 0);
    EXPECT_FALSE(responses[0]["payload"].str().empty());
    ASSERT_NO_FATAL_FAILURE(check_response(responses[1], Mode::con, "2.05"));
    EXPECT_EQ(responses[1]["content_format"].integer(), 41);
    std::string document = responses[1]["payload"].str();
    ASSERT_FALSE(document.empty());
    EXPECT_EQ(document.front(), '<') << document;
    EXPECT_EQ(document.back(), '>') << document;
}

TEST_P(NpmE2E, TD_COAP_CORE_23) {
    NpmRequest create = with_payload("PUT", "/create1", Mode::con, "npm-" + random_word());
    create.options.emplace_back("If-None-Match", "true");
    NpmRequest again = with_payload("PUT", "/create1", Mode::con, "npm-" + random_word());
    again.options.emplace_back("If-None-Match", "true");
    // The DELETE first makes sure /create1 does not exist (the TD's precondition).
    auto responses = npm({del("/create1"), create, again, del("/create1")});
    NPM_TRACE();
    ASSERT_NO_FATAL_FAILURE(check_response(responses[0], Mode::con, "2.02"));
    ASSERT_NO_FATAL_FAILURE(check_response(responses[1], Mode::con, "2.01"));
    check_cfone(responses[1]);
    ASSERT_NO_FATAL_FAILURE(check_response(responses[2], Mode::con, "4.12"));
    check_cfone(responses[2]);
}

TEST_P(NpmE2E, TD_COAP_LINK_01) {
    auto responses = npm({get("/.well-known/core")});
    NPM_TRACE();
    ASSERT_NO_FATAL_FAILURE(check_response(responses[0], Mode::con, "2.05"));
    EXPECT_EQ(responses[0]["content_format"].integer(), 40);
    std::string document = responses[0]["payload"].str();
    for (const char* resource :
         {"</test>", "</seg1/seg2/seg3>", "</query>", "</location-query>", "</multi-format>",
          "</validate>", "</create1>", "</link1>", "</link2>", "</link3>", "</path>"})
        EXPECT_NE(document.find(resource), std::string::npos) << resource << " is not listed";
}

}  // namespace
}  // namespace coap::e2e::npm
