// End-to-end tests: block-wise transfers (RFC 7959) between coapd and the npm package `coap`
// (node-coap, see npm_harness.hpp), over IPv4 and IPv6: TD_COAP_BLOCK_01-05 and a large
// payload in one datagram.
#include <algorithm>
#include <cstddef>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "e2e/coapd_bodies.hpp"
#include "e2e/npm_harness.hpp"

namespace coap::e2e::npm {
namespace {

INSTANTIATE_TEST_SUITE_P(Plugtest, NpmE2E, ::testing::Values(Family::ipv4, Family::ipv6),
                         family_param_name);

// A body of `size` bytes that differs per call (printable, so it travels as a JSON string).
std::string upload_body(std::size_t size) {
    std::string word = random_word();
    std::string body;
    while (body.size() < size)
        body += word + "-" + std::to_string(body.size()) + "\n";
    body.resize(size);
    return body;
}

// Every response of a Block2 download: NUM counts up from 0 in `block_size` blocks, M on all
// but the last, the same ETag throughout, Size2 = total on the first (RFC 7959 §2.2, §2.4, §4);
// the requests ask for the block that follows, with Block2 from the start when `early`.
void check_block2_download(const Json& line, long long block_size, std::size_t total, bool early) {
    std::vector<const Json*> requests = datagrams(line, "out");
    std::vector<const Json*> responses = datagrams(line, "in");
    std::size_t blocks =
        (total + static_cast<std::size_t>(block_size) - 1) / static_cast<std::size_t>(block_size);
    ASSERT_EQ(responses.size(), blocks);
    ASSERT_EQ(requests.size(), blocks);
    EXPECT_EQ(block_of((*requests[0])["block2"]).has_value(), early)
        << (early ? "early" : "late") << " negotiation: " << describe_datagram(*requests[0]);
    std::string etag = (*responses[0])["etag"].str();
    EXPECT_FALSE(etag.empty()) << "a block-wise response carries an ETag";
    EXPECT_EQ((*responses[0])["size2"].integer(), static_cast<long long>(total));
    for (std::size_t i = 0; i < blocks; ++i) {
        SCOPED_TRACE(describe_datagram(*requests[i]) + " -> " + describe_datagram(*responses[i]));
        if (i > 0 || early) {
            auto asked = block_of((*requests[i])["block2"]);
            ASSERT_TRUE(asked.has_value());
            EXPECT_EQ(asked->num, static_cast<long long>(i));
            EXPECT_FALSE(asked->more) << "M is 0 in a Block2 request (§2.2)";
            EXPECT_EQ(asked->size, block_size);
        }
        EXPECT_EQ((*responses[i])["type"].str(), "ACK");
        EXPECT_EQ((*responses[i])["mid"].integer(), (*requests[i])["mid"].integer());
        EXPECT_EQ((*responses[i])["code"].str(), "2.05");
        auto served = block_of((*responses[i])["block2"]);
        ASSERT_TRUE(served.has_value());
        EXPECT_EQ(served->num, static_cast<long long>(i));
        EXPECT_EQ(served->more, i + 1 < blocks);
        EXPECT_EQ(served->size, block_size);
        EXPECT_EQ((*responses[i])["etag"].str(), etag);
        std::size_t left = total - i * static_cast<std::size_t>(block_size);
        EXPECT_EQ((*responses[i])["payload_length"].integer(),
                  static_cast<long long>(std::min<std::size_t>(left, block_size)));
    }
}

// A Block1 upload of `total` bytes in `block_size` blocks: 2.31 (Continue) acknowledging each
// block but the last with its Block1 NUM/M/SZX, then `final_code` with Block1 M=0 (RFC 7959
// §2.3, the atomic variant of §2.5).
void check_block1_upload(const Json& line, long long block_size, std::size_t total,
                         const std::string& final_code) {
    std::vector<const Json*> requests = datagrams(line, "out");
    std::vector<const Json*> responses = datagrams(line, "in");
    std::size_t blocks =
        (total + static_cast<std::size_t>(block_size) - 1) / static_cast<std::size_t>(block_size);
    ASSERT_GE(requests.size(), blocks);
    ASSERT_GE(responses.size(), blocks);
    for (std::size_t i = 0; i < blocks; ++i) {
        SCOPED_TRACE(describe_datagram(*requests[i]) + " -> " + describe_datagram(*responses[i]));
        bool last = i + 1 == blocks;
        auto sent = block_of((*requests[i])["block1"]);
        ASSERT_TRUE(sent.has_value());
        EXPECT_EQ(sent->num, static_cast<long long>(i));
        EXPECT_EQ(sent->more, !last);
        EXPECT_EQ((*responses[i])["mid"].integer(), (*requests[i])["mid"].integer());
        EXPECT_EQ((*responses[i])["code"].str(), last ? final_code : "2.31");
        auto acknowledged = block_of((*responses[i])["block1"]);
        ASSERT_TRUE(acknowledged.has_value()) << "every answer carries Block1";
        EXPECT_EQ(acknowledged->num, static_cast<long long>(i));
        EXPECT_EQ(acknowledged->more, !last) << "M=1 (atomic) on 2.31, M=0 on the final answer";
        EXPECT_EQ(acknowledged->size, block_size);
    }
}

// Early negotiation: node-coap asks for 64-byte blocks from the first request.
TEST_P(NpmE2E, TD_COAP_BLOCK_01) {
    NpmRequest request = get("/large");
    request.block2 = 2;  // SZX 2: 64 bytes
    auto responses = npm({request});
    NPM_TRACE();
    ASSERT_NO_FATAL_FAILURE(check_response(responses[0], Mode::con, "2.05"));
    EXPECT_TRUE(same_body(responses[0]["payload"].str(), large_text()));
    EXPECT_EQ(responses[0]["content_format"].integer(), 0);
    check_block2_download(responses[0], 64, 2048, true);
}

// Late negotiation: a plain GET gets the first 1,024-byte block and node-coap fetches the rest.
TEST_P(NpmE2E, TD_COAP_BLOCK_02) {
    auto responses = npm({get("/large")});
    NPM_TRACE();
    ASSERT_NO_FATAL_FAILURE(check_response(responses[0], Mode::con, "2.05"));
    EXPECT_TRUE(same_body(responses[0]["payload"].str(), large_text()));
    check_block2_download(responses[0], 1024, 2048, false);
}

TEST_P(NpmE2E, TD_COAP_BLOCK_03) {
    std::string body = upload_body(1500);
    NpmRequest put = with_payload("PUT", "/large-update", Mode::con, body);
    put.block1 = 2;  // 64-byte blocks: 24 of them
    auto responses = npm({put, get("/large-update")});
    NPM_TRACE();
    ASSERT_NO_FATAL_FAILURE(check_response(responses[0], Mode::con, "2.04"));
    check_block1_upload(responses[0], 64, body.size(), "2.04");
    ASSERT_NO_FATAL_FAILURE(check_response(responses[1], Mode::con, "2.05"));
    EXPECT_TRUE(same_body(responses[1]["payload"].str(), body)) << "the server holds it whole";
}

TEST_P(NpmE2E, TD_COAP_BLOCK_04) {
    std::string body = upload_body(3000);
    NpmRequest post = with_payload("POST", "/large-create", Mode::con, body);
    post.block1 = 4;  // 256-byte blocks: 12 of them
    auto created = npm({post});
    NPM_TRACE();
    ASSERT_NO_FATAL_FAILURE(check_response(created[0], Mode::con, "2.01"));
    check_block1_upload(created[0], 256, body.size(), "2.01");
    std::vector<std::string> location = created[0]["location_path"].strings();
    ASSERT_EQ(location.size(), 2u);
    EXPECT_EQ(location[0], "large-create");
    EXPECT_EQ(location[1].find('/'), std::string::npos) << location[1];
    auto fetched = npm({get("/" + location[0] + "/" + location[1])});
    NPM_TRACE();
    ASSERT_NO_FATAL_FAILURE(check_response(fetched[0], Mode::con, "2.05"));
    EXPECT_TRUE(same_body(fetched[0]["payload"].str(), body));
}

// Both directions (RFC 7959 §2.7): the upload in 1,024-byte Block1 blocks, then the 2.04 with
// the body back in Block2 blocks, which node-coap fetches with POSTs without Block1.
TEST_P(NpmE2E, TD_COAP_BLOCK_05) {
    std::string body = upload_body(2500);
    NpmRequest post = with_payload("POST", "/large-post", Mode::con, body);
    post.block1 = 6;
    auto responses = npm({post});
    NPM_TRACE();
    ASSERT_NO_FATAL_FAILURE(check_response(responses[0], Mode::con, "2.04"));
    EXPECT_TRUE(same_body(responses[0]["payload"].str(), body)) << "the response comes back whole";
    check_block1_upload(responses[0], 1024, body.size(), "2.04");
    std::vector<const Json*> answers = datagrams(responses[0], "in");
    ASSERT_EQ(answers.size(), 5u) << "3 upload blocks, the last answered with block 0, + 2 more";
    for (std::size_t i = 2; i < answers.size(); ++i) {
        auto served = block_of((*answers[i])["block2"]);
        ASSERT_TRUE(served.has_value()) << describe_datagram(*answers[i]);
        EXPECT_EQ(served->num, static_cast<long long>(i - 2));
        EXPECT_EQ(served->more, i + 1 < answers.size());
    }
}

// Without a Block1 option node-coap sends the body in one datagram; coapd takes it whole up to
// its buffer_size (1,280 bytes by default). node-coap itself refuses datagrams above 1,280.
TEST_P(NpmE2E, LargePayloadInOneDatagram) {
    std::string body = upload_body(1200);
    auto responses =
        npm({with_payload("PUT", "/large-update", Mode::con, body), get("/large-update")});
    NPM_TRACE();
    ASSERT_NO_FATAL_FAILURE(check_response(responses[0], Mode::con, "2.04"));
    std::vector<const Json*> sent = datagrams(responses[0], "out");
    ASSERT_EQ(sent.size(), 1u);
    EXPECT_TRUE((*sent[0])["block1"].is_null());
    EXPECT_EQ((*sent[0])["payload_length"].integer(), 1200);
    EXPECT_TRUE(responses[0]["block1"].is_null()) << "no Block1 to acknowledge";
    ASSERT_NO_FATAL_FAILURE(check_response(responses[1], Mode::con, "2.05"));
    EXPECT_TRUE(same_body(responses[1]["payload"].str(), body));
}

}  // namespace
}  // namespace coap::e2e::npm
