// Shared by the end-to-end tests that drive coapd with the npm package `coap` (node-coap
// 1.5.0, tests/e2e/package.json) through tests/e2e/npm_client.js, which prints one JSON line
// per request: coapd, started once per test suite, the fixture that runs the node client and
// checks its answers, and request builders. The tests skip, with the reason, when node or
// tests/e2e/node_modules/coap is missing (`make deps` installs them).
//
// What node-coap 1.5.0 does, as these tests found (see npm_client.js for how it is driven):
// - Block2: followed automatically (late negotiation), or with the requested size when the
//   first request carries Block2 (early negotiation); same token, new Message IDs.
// - Block1: only when the request carries a Block1 option (its SZX picks the block size);
//   without it the body goes in one datagram, and coap-packet refuses datagrams above 1,280
//   bytes ("Max packet size is 1280"), so larger bodies need Block1.
// - Observe: notifications are 'data' events; CON ones are acknowledged; stale ones (RFC 7641
//   §3.4 by the Observe value) are dropped. close() only forgets the token (§3.6), and the
//   Agent closes its socket when it has no other request, so the server's next CON
//   notification goes unanswered and the observation ends only by timeout (§4.5): the tests
//   give node-coap a socket of their own that stays open, so it answers with RST. close(true)
//   deregisters with GET Observe=1 and the same token.
// - Observe + Block2: the follow-up GETs for later blocks of a notification keep the Observe=0
//   option and the observation's token, unlike RFC 7959 §2.6 and §3.4 (see TD_COAP_OBS_13).
#pragma once

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "e2e/npm_json.hpp"
#include "support/coapd_process.hpp"
#include "support/process.hpp"

namespace coap::e2e::npm {

using namespace std::chrono_literals;
using coap::test::Process;
using coap::test::ProcessResult;
using coap::test::run_process;

inline constexpr auto node_timeout = 30s;
inline constexpr int period_ms = 300;  // coapd's --observe-period-ms

enum class Family { ipv4, ipv6 };
enum class Mode { con, non };

// How GoogleTest prints the parameter.
inline void PrintTo(Family family, std::ostream* out) {
    *out << (family == Family::ipv4 ? "IPv4" : "IPv6");
}

inline std::string random_word() {
    static std::mt19937 generator{std::random_device{}()};
    char text[16];
    std::snprintf(text, sizeof text, "%08x", static_cast<unsigned>(generator()));
    return text;
}

// npm_client.js's "observe" field: collect `count` notifications (the registration's response
// included), close the observation, keep listening `quiet_ms`.
struct ObserveSpec {
    int count = 3;
    std::string close = "forget";  // or "deregister"
    int quiet_ms = 0;
    int timeout_ms = 4000;

    std::string json() const {
        return "{\"count\":" + std::to_string(count) + ",\"close\":" + json_string(close) +
               ",\"quiet_ms\":" + std::to_string(quiet_ms) +
               ",\"timeout_ms\":" + std::to_string(timeout_ms) + "}";
    }
};

// One request for npm_client.js (see its header for the format).
struct NpmRequest {
    std::string method = "GET";
    std::string path = "/";
    std::string query{};
    Mode mode = Mode::con;
    std::optional<std::string> payload{};
    std::vector<std::pair<std::string, std::string>> options{};  // name, JSON value
    std::optional<int> block1{};                                 // SZX: upload block-wise
    std::optional<int> block2{};                                 // SZX: early negotiation
    std::optional<ObserveSpec> observe{};

    std::string json() const {
        std::string out = "{\"method\":" + json_string(method) + ",\"path\":" + json_string(path);
        if (!query.empty()) out += ",\"query\":" + json_string(query);
        out += std::string(",\"confirmable\":") + (mode == Mode::con ? "true" : "false");
        if (payload) out += ",\"payload\":" + json_string(*payload);
        if (block1) out += ",\"block1\":" + std::to_string(*block1);
        if (block2) out += ",\"block2\":" + std::to_string(*block2);
        if (observe) out += ",\"observe\":" + observe->json();
        if (!options.empty()) {
            out += ",\"options\":{";
            for (std::size_t i = 0; i < options.size(); ++i)
                out +=
                    (i == 0 ? "" : ",") + json_string(options[i].first) + ":" + options[i].second;
            out += "}";
        }
        return out + "}";
    }
};

// ---------------------------------------------------------------------------------------------
// coapd, started once per test suite, and the node client.

class Coapd : public coap::test::CoapdProcess {
  public:
    // A short observe period, so that a few notifications arrive within a second.
    Coapd() : CoapdProcess(COAPD_PATH, {"--observe-period-ms", std::to_string(period_ms)}) {}
};

class NpmE2E : public ::testing::TestWithParam<Family> {
  protected:
    static void SetUpTestSuite() {
        skip_reason_.clear();
        start_error_.clear();
        const std::filesystem::path module =
            std::filesystem::path(E2E_DIR) / "node_modules" / "coap" / "package.json";
        if (!std::filesystem::exists(module)) {
            skip_reason_ = module.parent_path().string() +
                           " is missing: run `npm ci --prefix tests/e2e` (or `make deps`)";
            return;
        }
        try {
            ProcessResult version = run_process({"node", "--version"}, 20s);
            if (version.exit_status != 0) skip_reason_ = "`node --version` failed: " + version.err;
        } catch (const std::exception& error) {
            skip_reason_ = std::string("node is not available: ") + error.what();
        }
        if (!skip_reason_.empty()) return;
        try {
            server_ = std::make_unique<Coapd>();
        } catch (const std::exception& error) {
            start_error_ = error.what();
        }
    }
    static void TearDownTestSuite() { server_.reset(); }

    void SetUp() override {
        if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
        ASSERT_NE(server_, nullptr) << "coapd did not start: " << start_error_;
        server_->process().drain();
        ASSERT_TRUE(server_->process().running()) << "coapd has exited; stderr:\n"
                                                  << server_->process().stderr_text();
    }
    void TearDown() override {
        if (!server_) return;
        server_->process().drain();
        if (HasFailure() && !server_->process().stderr_text().empty())
            std::printf("coapd stderr:\n%s\n", server_->process().stderr_text().c_str());
    }

    std::string base_url() const {
        return std::string("coap://") + (GetParam() == Family::ipv4 ? "127.0.0.1" : "[::1]") + ":" +
               std::to_string(server_->port());
    }

    // Runs the requests, in order, through npm_client.js; one response object per request.
    std::vector<Json> npm(const std::vector<NpmRequest>& requests) {
        std::string list = "[";
        for (std::size_t i = 0; i < requests.size(); ++i)
            list += (i == 0 ? "" : ",") + requests[i].json();
        list += "]";
        ProcessResult result = run_process(
            {"node", std::string(E2E_DIR) + "/npm_client.js", base_url(), list}, node_timeout);
        last_output_ = result.out + result.err;
        std::vector<Json> responses;
        EXPECT_FALSE(result.timed_out) << "npm_client.js did not finish";
        std::istringstream lines(result.out);
        std::string line;
        while (std::getline(lines, line)) {
            std::optional<Json> parsed = JsonReader(line).document();
            EXPECT_TRUE(parsed.has_value()) << "not JSON: " << line;
            if (parsed) responses.push_back(std::move(*parsed));
        }
        EXPECT_EQ(result.exit_status, 0) << "npm_client.js failed:\n" << last_output_;
        EXPECT_EQ(responses.size(), requests.size()) << last_output_;
        responses.resize(requests.size());  // missing ones read as null, and fail below
        return responses;
    }

    // Type, Message ID, token and code of one exchange: a piggybacked ACK with the request's
    // MID for CON, a NON for NON, the request's token always.
    static void check_response_any(const Json& response, Mode mode,
                                   const std::vector<std::string>& codes) {
        ASSERT_FALSE(response.is_null()) << "no response";
        ASSERT_FALSE(response.has("error")) << response["error"].str();
        const Json& request = response["request"];
        EXPECT_EQ(request["type"].str(), mode == Mode::con ? "CON" : "NON");
        EXPECT_EQ(response["type"].str(), mode == Mode::con ? "ACK" : "NON");
        if (mode == Mode::con) {
            EXPECT_EQ(response["mid"].integer(), request["mid"].integer()) << "Message ID = CMID";
        }
        EXPECT_FALSE(request["token"].str().empty());
        EXPECT_EQ(response["token"].str(), request["token"].str()) << "Token = CTOK";
        EXPECT_TRUE(std::find(codes.begin(), codes.end(), response["code"].str()) != codes.end())
            << "unexpected response code " << response["code"].str();
    }
    static void check_response(const Json& response, Mode mode, const std::string& code) {
        check_response_any(response, mode, std::vector<std::string>{code});
    }

    // "Content-format option if payload non-empty" (CFONE).
    static void check_cfone(const Json& response) {
        if (!response["payload_hex"].str().empty()) {
            EXPECT_FALSE(response["content_format"].is_null())
                << "a non-empty payload needs a Content-Format";
        }
    }

    inline static std::unique_ptr<Coapd> server_;
    inline static std::string skip_reason_;
    inline static std::string start_error_;
    std::string last_output_;
};

#define NPM_TRACE() SCOPED_TRACE("npm_client.js output:\n" + last_output_)

inline std::string family_param_name(const ::testing::TestParamInfo<Family>& info) {
    return info.param == Family::ipv4 ? "IPv4" : "IPv6";
}

inline NpmRequest get(std::string path, Mode mode = Mode::con) {
    NpmRequest request;
    request.path = std::move(path);
    request.mode = mode;
    return request;
}

inline NpmRequest with_payload(std::string method, std::string path, Mode mode,
                               std::string payload) {
    NpmRequest request;
    request.method = std::move(method);
    request.path = std::move(path);
    request.mode = mode;
    request.payload = std::move(payload);
    request.options = {{"Content-Format", "0"}};
    return request;
}

inline NpmRequest del(std::string path, Mode mode = Mode::con) {
    NpmRequest request;
    request.method = "DELETE";
    request.path = std::move(path);
    request.mode = mode;
    return request;
}

struct Block {
    long long num = -1;
    bool more = false;
    long long size = 0;
};

// npm_client.js prints a Block1/Block2 value as {"num":N,"more":M,"size":S}, or null.
inline std::optional<Block> block_of(const Json& value) {
    if (value.kind != Json::Kind::object) return std::nullopt;
    return Block{value["num"].integer(), value["more"].boolean, value["size"].integer()};
}

// The datagrams of one request ("wire" in npm_client.js's output) sent (`out`) or received.
inline std::vector<const Json*> datagrams(const Json& line, std::string_view dir) {
    std::vector<const Json*> out;
    for (const Json& entry : line["wire"].items)
        if (entry["dir"].str() == dir) out.push_back(&entry);
    return out;
}

inline std::string describe_datagram(const Json& entry) {
    std::ostringstream out;
    out << entry["dir"].str() << ' ' << entry["type"].str() << " mid=" << entry["mid"].integer()
        << ' ' << entry["code"].str() << " observe=" << entry["observe"].integer();
    for (const char* name : {"block1", "block2"})
        if (auto value = block_of(entry[name]))
            out << ' ' << name << '=' << value->num << '/' << value->more << '/' << value->size;
    out << " len=" << entry["payload_length"].integer()
        << (entry["after_close"].boolean ? " (after close)" : "");
    return out.str();
}

}  // namespace coap::e2e::npm
