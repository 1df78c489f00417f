// End-to-end tests: Observe (RFC 7641), also with Block2 (RFC 7959 §2.6), between coapd and the
// npm package `coap` (node-coap, see npm_harness.hpp), over IPv4 and IPv6: TD_COAP_OBS_01, 02,
// 12, 13 and 14.
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "e2e/coapd_bodies.hpp"
#include "e2e/npm_harness.hpp"

namespace coap::e2e::npm {
namespace {

INSTANTIATE_TEST_SUITE_P(Plugtest, NpmE2E, ::testing::Values(Family::ipv4, Family::ipv6),
                         family_param_name);

std::optional<unsigned long long> tick_of(const std::string& payload) {
    unsigned long long count = 0;
    if (std::sscanf(payload.c_str(), "tick %llu", &count) != 1) return std::nullopt;
    return count;
}

// RFC 7641 §3.4: V2 is newer than V1 in 24-bit serial arithmetic.
bool newer(long long v1, long long v2) {
    return (v1 < v2 && v2 - v1 < (1 << 23)) || (v1 > v2 && v1 - v2 > (1 << 23));
}

NpmRequest observe(std::string path, ObserveSpec spec) {
    NpmRequest request;
    request.path = std::move(path);
    request.observe = std::move(spec);
    return request;
}

// Notifications as node-coap delivered them, with increasing Observe values, the registration's
// Content-Format and a Max-Age (TD_COAP_OBS_04); each notification carries the token.
void check_notifications(const Json& line, std::size_t count, const std::string& pushed_type) {
    const std::vector<Json>& notifications = line["notifications"].items;
    ASSERT_EQ(notifications.size(), count);
    EXPECT_EQ(notifications[0]["type"].str(), "ACK") << "the registration's answer";
    std::optional<long long> previous;
    for (std::size_t i = 0; i < notifications.size(); ++i) {
        const Json& notification = notifications[i];
        SCOPED_TRACE("notification " + std::to_string(i) + ": " + notification["payload"].str());
        EXPECT_EQ(notification["code"].str(), "2.05");
        if (i > 0 && !pushed_type.empty()) {
            EXPECT_EQ(notification["type"].str(), pushed_type);
        }
        ASSERT_FALSE(notification["observe"].is_null()) << "every notification has Observe";
        long long value = notification["observe"].integer();
        if (previous) {
            EXPECT_TRUE(newer(*previous, value)) << *previous << " then " << value;
        }
        previous = value;
        EXPECT_EQ(notification["content_format"].integer(), 0);
        bool max_age = false;
        for (const Json& option : notification["options"].items)
            max_age |= option["name"].str() == "Max-Age";
        EXPECT_TRUE(max_age);
    }
    std::string token = line["request"]["token"].str();
    for (const Json* received : datagrams(line, "in"))
        if ((*received)["code"].str() != "0.00") {
            EXPECT_EQ((*received)["token"].str(), token) << describe_datagram(*received);
        }
}

// After node-coap forgot the observation (close(): RFC 7641 §3.6), the next notification gets
// a RST with its Message ID, and then nothing more arrives.
void check_reset_ends_observation(const Json& line) {
    const Json* notification = nullptr;
    const Json* reset = nullptr;
    for (const Json& entry : line["wire"].items) {
        if (!entry["after_close"].boolean) continue;
        if (reset != nullptr) {
            ADD_FAILURE() << "after the RST: " << describe_datagram(entry);
        } else if (entry["dir"].str() == "in" && notification == nullptr) {
            notification = &entry;
        } else if (entry["dir"].str() == "out" && entry["type"].str() == "RST") {
            reset = &entry;
        }
    }
    ASSERT_NE(notification, nullptr) << "no notification arrived after the close";
    ASSERT_NE(reset, nullptr) << "node-coap did not reject the forgotten observation";
    EXPECT_EQ((*reset)["mid"].integer(), (*notification)["mid"].integer());
}

// CON notifications every period, each acknowledged by node-coap; then node-coap forgets the
// observation and the server stops at the RST (the quiet time is four periods).
TEST_P(NpmE2E, TD_COAP_OBS_01) {
    auto responses = npm({observe("/obs", {.count = 4, .quiet_ms = 4 * period_ms})});
    NPM_TRACE();
    ASSERT_NO_FATAL_FAILURE(check_response(responses[0], Mode::con, "2.05"));
    EXPECT_FALSE(responses[0]["observe"].is_null()) << "the registration is confirmed";
    ASSERT_NO_FATAL_FAILURE(check_notifications(responses[0], 4, "CON"));
    for (const Json* received : datagrams(responses[0], "in")) {
        if ((*received)["type"].str() != "CON" || (*received)["after_close"].boolean) continue;
        bool acknowledged = false;
        for (const Json* sent : datagrams(responses[0], "out"))
            acknowledged |= (*sent)["type"].str() == "ACK" &&
                            (*sent)["mid"].integer() == (*received)["mid"].integer();
        EXPECT_TRUE(acknowledged) << describe_datagram(*received);
    }
    check_reset_ends_observation(responses[0]);
}

// NON notifications (RFC 7641 §4.5 lets the server make an occasional one CON); a RST to a NON
// notification ends the observation too (RFC 7252 §4.3).
TEST_P(NpmE2E, TD_COAP_OBS_02) {
    auto responses = npm({observe("/obs-non", {.count = 4, .quiet_ms = 3 * period_ms})});
    NPM_TRACE();
    ASSERT_NO_FATAL_FAILURE(check_response(responses[0], Mode::con, "2.05"));
    ASSERT_NO_FATAL_FAILURE(check_notifications(responses[0], 4, ""));
    std::size_t non = 0;
    const std::vector<Json>& notifications = responses[0]["notifications"].items;
    for (std::size_t i = 1; i < notifications.size(); ++i)
        non += notifications[i]["type"].str() == "NON";
    EXPECT_GE(non, notifications.size() - 2) << "at most an occasional CON";
    check_reset_ends_observation(responses[0]);
}

// Explicit deregistration, node-coap's close(true): GET with Observe=1 and the observation's
// token (RFC 7641 §3.6), answered 2.05 without Observe; no notification follows.
TEST_P(NpmE2E, TD_COAP_OBS_12) {
    auto responses =
        npm({observe("/obs", {.count = 3, .close = "deregister", .quiet_ms = 3 * period_ms})});
    NPM_TRACE();
    ASSERT_NO_FATAL_FAILURE(check_notifications(responses[0], 3, "CON"));
    std::string token = responses[0]["request"]["token"].str();
    const Json* deregistration = nullptr;
    const Json* answer = nullptr;
    for (const Json& entry : responses[0]["wire"].items) {
        if (!entry["after_close"].boolean) continue;
        if (answer != nullptr) {
            EXPECT_TRUE(entry["dir"].str() == "out" || entry["observe"].is_null())
                << "a notification after the deregistration: " << describe_datagram(entry);
        } else if (deregistration == nullptr && entry["dir"].str() == "out" &&
                   entry["code"].str() == "0.01") {
            deregistration = &entry;
        } else if (deregistration != nullptr && entry["dir"].str() == "in" &&
                   entry["type"].str() == "ACK" &&
                   entry["mid"].integer() == (*deregistration)["mid"].integer()) {
            answer = &entry;
        }
    }
    ASSERT_NE(deregistration, nullptr) << "node-coap sent no deregistration";
    EXPECT_EQ((*deregistration)["observe"].integer(), 1);
    EXPECT_EQ((*deregistration)["token"].str(), token);
    ASSERT_NE(answer, nullptr) << "the deregistration was not answered";
    EXPECT_EQ((*answer)["code"].str(), "2.05");
    EXPECT_TRUE((*answer)["observe"].is_null()) << "no longer an observer: no Observe";
    EXPECT_EQ((*answer)["token"].str(), token);
}

// The registration was answered 2.05. (check_response does not fit a first response that came
// in blocks: node-coap then reports the Message ID of the block that created the stream.)
void check_started(const Json& line) {
    ASSERT_FALSE(line.is_null()) << "no response";
    ASSERT_FALSE(line.has("error")) << line["error"].str();
    EXPECT_EQ(line["code"].str(), "2.05");
    EXPECT_EQ(line["token"].str(), line["request"]["token"].str());
}

// Each body reassembled by node-coap must be one whole representation: the ticker count on its
// first line tells which.
void check_whole_bodies(const Json& line) {
    for (const Json& notification : line["notifications"].items) {
        std::string payload = notification["payload"].str();
        auto count = tick_of(payload);
        ASSERT_TRUE(count.has_value()) << payload.substr(0, 40);
        std::size_t size = payload.size() <= 100 ? 100 : 1500;
        EXPECT_TRUE(same_body(payload, sized_text(*count, size))) << "tick " << *count;
    }
}

// Every first block (a registration's answer or a notification) and the block that completes
// it carry the same ETag: node-coap does not compare them (RFC 7959 §2.6 says it MUST), so the
// test does. Returns how many notifications came in blocks.
std::size_t check_block2_etags(const Json& line) {
    std::string etag;
    std::size_t first_blocks = 0;
    for (const Json* received : datagrams(line, "in")) {
        auto block = block_of((*received)["block2"]);
        if (!block || (*received)["after_close"].boolean) continue;
        SCOPED_TRACE(describe_datagram(*received));
        if (block->num == 0) {
            EXPECT_TRUE(block->more);
            EXPECT_EQ(block->size, 1024);
            etag = (*received)["etag"].str();
            EXPECT_FALSE(etag.empty());
            ++first_blocks;
        } else {
            EXPECT_EQ((*received)["etag"].str(), etag) << "a block of another representation";
        }
    }
    return first_blocks;
}

// A 1,500-byte observable: the registration's answer and every notification carry the first
// block with Observe (RFC 7959 §2.6); node-coap fetches block 1 and delivers whole bodies.
//
// node-coap's follow-up GET for block 1 keeps Observe=0 and the observation's token, which
// RFC 7959 §3.4 rules out. coapd answers the registration's follow-up from the body it stored
// (no Observe: not a registration), but a notification's from a new run of the handler (the
// stateless path of §2.4), which refreshes the registration (RFC 7641 §4.1) and so carries a
// new Observe value. node-coap relies on that value: it takes the Observe of the last block,
// and one without Observe counts as 0, which its §3.4 freshness check drops as stale.
TEST_P(NpmE2E, TD_COAP_OBS_13) {
    auto responses = npm({observe("/obs-large", {.count = 3, .quiet_ms = 2 * period_ms})});
    NPM_TRACE();
    ASSERT_NO_FATAL_FAILURE(check_started(responses[0]));
    const std::vector<Json>& notifications = responses[0]["notifications"].items;
    ASSERT_EQ(notifications.size(), 3u);
    check_whole_bodies(responses[0]);
    EXPECT_EQ(check_block2_etags(responses[0]), 3u) << "the registration + 2 notifications";
    std::optional<long long> previous;
    for (const Json* received : datagrams(responses[0], "in")) {
        auto block = block_of((*received)["block2"]);
        if (!block || block->num != 0) continue;
        ASSERT_FALSE((*received)["observe"].is_null()) << describe_datagram(*received);
        long long value = (*received)["observe"].integer();
        if (previous) {
            EXPECT_TRUE(newer(*previous, value)) << *previous << " then " << value;
        }
        previous = value;
    }
    for (std::size_t i = 1; i < notifications.size(); ++i)
        EXPECT_FALSE(notifications[i]["observe"].is_null()) << "node-coap would drop it";
}

// Sizes alternate between 100 and 1,500 bytes: only the large ones come in blocks.
TEST_P(NpmE2E, TD_COAP_OBS_14) {
    auto responses = npm({observe("/obs-pumping", {.count = 5, .quiet_ms = 2 * period_ms})});
    NPM_TRACE();
    ASSERT_NO_FATAL_FAILURE(check_started(responses[0]));
    ASSERT_EQ(responses[0]["notifications"].items.size(), 5u);
    check_whole_bodies(responses[0]);
    std::size_t blocked = check_block2_etags(responses[0]);
    EXPECT_GE(blocked, 2u);
    EXPECT_LE(blocked, 3u);
}

}  // namespace
}  // namespace coap::e2e::npm
