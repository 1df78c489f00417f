// End-to-end tests: coapd over real loopback sockets, driven by the npm package `coap`
// (node-coap 1.5.0, tests/e2e/package.json) through tests/e2e/npm_client.js, which prints one
// JSON line per request. Covers TD_COAP_CORE_01-08, 13, 14, 18, 19, 20, 23, TD_COAP_LINK_01,
// TD_COAP_BLOCK_01-05 and TD_COAP_OBS_01, 02, 12, 13, 14 (../shared/reference/etsi-td-coap4)
// over IPv4 and IPv6. Skipped, with the reason, when node or tests/e2e/node_modules/coap is
// missing (`make deps` installs them).
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
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
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

#include "e2e/coapd_bodies.hpp"
#include "support/coapd_process.hpp"
#include "support/process.hpp"

namespace {

using coap::e2e::large_text;
using coap::e2e::same_body;
using coap::e2e::sized_text;

using namespace std::chrono_literals;
using coap::test::Process;
using coap::test::ProcessResult;
using coap::test::run_process;

constexpr auto node_timeout = 30s;
constexpr int period_ms = 300;  // coapd's --observe-period-ms

enum class Family { ipv4, ipv6 };
enum class Mode { con, non };

// How GoogleTest prints the parameter.
void PrintTo(Family family, std::ostream* out) {
    *out << (family == Family::ipv4 ? "IPv4" : "IPv6");
}

std::string random_word() {
    static std::mt19937 generator{std::random_device{}()};
    char text[16];
    std::snprintf(text, sizeof text, "%08x", static_cast<unsigned>(generator()));
    return text;
}

// ---------------------------------------------------------------------------------------------
// Just enough JSON to read npm_client.js's output lines.

struct Json {
    enum class Kind { null, boolean, number, string, array, object };
    Kind kind = Kind::null;
    bool boolean = false;
    double number = 0;
    std::string text;
    std::vector<Json> items;        // array elements, or object values
    std::vector<std::string> keys;  // object keys, parallel to items

    bool is_null() const { return kind == Kind::null; }
    bool has(std::string_view key) const {
        return kind == Kind::object && std::find(keys.begin(), keys.end(), key) != keys.end();
    }
    const Json& operator[](std::string_view key) const {
        static const Json missing;
        if (kind != Kind::object) return missing;
        auto at = std::find(keys.begin(), keys.end(), key);
        return at == keys.end() ? missing : items[static_cast<std::size_t>(at - keys.begin())];
    }
    std::string str() const { return kind == Kind::string ? text : std::string(); }
    long long integer() const { return kind == Kind::number ? static_cast<long long>(number) : -1; }
    std::vector<std::string> strings() const {
        std::vector<std::string> out;
        for (const Json& item : items)
            out.push_back(item.str());
        return out;
    }
};

class JsonReader {
  public:
    explicit JsonReader(std::string_view text) : text_(text) {}

    std::optional<Json> document() {
        std::optional<Json> value = parse_value();
        skip_spaces();
        if (!value || at_ != text_.size()) return std::nullopt;
        return value;
    }

  private:
    void skip_spaces() {
        while (at_ < text_.size() && (text_[at_] == ' ' || text_[at_] == '\t' ||
                                      text_[at_] == '\n' || text_[at_] == '\r'))
            ++at_;
    }
    bool consume(std::string_view word) {
        if (text_.substr(at_, word.size()) != word) return false;
        at_ += word.size();
        return true;
    }

    std::optional<Json> parse_value() {
        skip_spaces();
        if (at_ >= text_.size()) return std::nullopt;
        Json value;
        char c = text_[at_];
        if (c == '{') return parse_object();
        if (c == '[') return parse_array();
        if (c == '"') {
            auto text = parse_string();
            if (!text) return std::nullopt;
            value.kind = Json::Kind::string;
            value.text = std::move(*text);
            return value;
        }
        if (consume("null")) return value;
        if (consume("true") || consume("false")) {
            value.kind = Json::Kind::boolean;
            value.boolean = text_[at_ - 1] == 'e' && text_[at_ - 2] == 'u';
            return value;
        }
        std::size_t start = at_;
        while (at_ < text_.size() &&
               std::string_view("+-0123456789.eE").find(text_[at_]) != std::string_view::npos)
            ++at_;
        if (start == at_) return std::nullopt;
        value.kind = Json::Kind::number;
        value.number = std::strtod(std::string(text_.substr(start, at_ - start)).c_str(), nullptr);
        return value;
    }

    std::optional<Json> parse_array() {
        Json value;
        value.kind = Json::Kind::array;
        ++at_;  // '['
        skip_spaces();
        if (consume("]")) return value;
        for (;;) {
            auto item = parse_value();
            if (!item) return std::nullopt;
            value.items.push_back(std::move(*item));
            skip_spaces();
            if (consume("]")) return value;
            if (!consume(",")) return std::nullopt;
        }
    }

    std::optional<Json> parse_object() {
        Json value;
        value.kind = Json::Kind::object;
        ++at_;  // '{'
        skip_spaces();
        if (consume("}")) return value;
        for (;;) {
            skip_spaces();
            auto key = parse_string();
            if (!key) return std::nullopt;
            skip_spaces();
            if (!consume(":")) return std::nullopt;
            auto item = parse_value();
            if (!item) return std::nullopt;
            value.keys.push_back(std::move(*key));
            value.items.push_back(std::move(*item));
            skip_spaces();
            if (consume("}")) return value;
            if (!consume(",")) return std::nullopt;
        }
    }

    static void append_utf8(std::string& out, unsigned code_point) {
        if (code_point < 0x80) {
            out += static_cast<char>(code_point);
        } else if (code_point < 0x800) {
            out += static_cast<char>(0xc0 | (code_point >> 6));
            out += static_cast<char>(0x80 | (code_point & 0x3f));
        } else if (code_point < 0x10000) {
            out += static_cast<char>(0xe0 | (code_point >> 12));
            out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (code_point & 0x3f));
        } else {
            out += static_cast<char>(0xf0 | (code_point >> 18));
            out += static_cast<char>(0x80 | ((code_point >> 12) & 0x3f));
            out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3f));
            out += static_cast<char>(0x80 | (code_point & 0x3f));
        }
    }

    std::optional<unsigned> parse_hex4() {
        if (at_ + 4 > text_.size()) return std::nullopt;
        unsigned value = 0;
        for (int i = 0; i < 4; ++i) {
            char c = text_[at_++];
            value <<= 4;
            if (c >= '0' && c <= '9')
                value |= static_cast<unsigned>(c - '0');
            else if (c >= 'a' && c <= 'f')
                value |= static_cast<unsigned>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                value |= static_cast<unsigned>(c - 'A' + 10);
            else
                return std::nullopt;
        }
        return value;
    }

    std::optional<std::string> parse_string() {
        if (!consume("\"")) return std::nullopt;
        std::string out;
        while (at_ < text_.size()) {
            char c = text_[at_++];
            if (c == '"') return out;
            if (c != '\\') {
                out += c;
                continue;
            }
            if (at_ >= text_.size()) return std::nullopt;
            char escape = text_[at_++];
            switch (escape) {
                case '"':
                    out += '"';
                    break;
                case '\\':
                    out += '\\';
                    break;
                case '/':
                    out += '/';
                    break;
                case 'b':
                    out += '\b';
                    break;
                case 'f':
                    out += '\f';
                    break;
                case 'n':
                    out += '\n';
                    break;
                case 'r':
                    out += '\r';
                    break;
                case 't':
                    out += '\t';
                    break;
                case 'u': {
                    auto unit = parse_hex4();
                    if (!unit) return std::nullopt;
                    unsigned code_point = *unit;
                    if (code_point >= 0xd800 && code_point < 0xdc00 && consume("\\u")) {
                        auto low = parse_hex4();
                        if (!low) return std::nullopt;
                        code_point = 0x10000 + ((code_point - 0xd800) << 10) + (*low - 0xdc00);
                    }
                    append_utf8(out, code_point);
                    break;
                }
                default:
                    return std::nullopt;
            }
        }
        return std::nullopt;
    }

    std::string_view text_;
    std::size_t at_ = 0;
};

std::string json_string(std::string_view text) {
    std::string out = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
            out += escaped;
        } else {
            out += c;
        }
    }
    return out + "\"";
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

    static std::unique_ptr<Coapd> server_;
    static std::string skip_reason_;
    static std::string start_error_;
    std::string last_output_;
};

std::unique_ptr<Coapd> NpmE2E::server_;
std::string NpmE2E::skip_reason_;
std::string NpmE2E::start_error_;

#define NPM_TRACE() SCOPED_TRACE("npm_client.js output:\n" + last_output_)

std::string family_param_name(const ::testing::TestParamInfo<Family>& info) {
    return info.param == Family::ipv4 ? "IPv4" : "IPv6";
}

INSTANTIATE_TEST_SUITE_P(Plugtest, NpmE2E, ::testing::Values(Family::ipv4, Family::ipv6),
                         family_param_name);

NpmRequest get(std::string path, Mode mode = Mode::con) {
    NpmRequest request;
    request.path = std::move(path);
    request.mode = mode;
    return request;
}

NpmRequest with_payload(std::string method, std::string path, Mode mode, std::string payload) {
    NpmRequest request;
    request.method = std::move(method);
    request.path = std::move(path);
    request.mode = mode;
    request.payload = std::move(payload);
    request.options = {{"Content-Format", "0"}};
    return request;
}

NpmRequest del(std::string path, Mode mode = Mode::con) {
    NpmRequest request;
    request.method = "DELETE";
    request.path = std::move(path);
    request.mode = mode;
    return request;
}

// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Block-wise transfers (RFC 7959) and Observe (RFC 7641).

std::optional<unsigned long long> tick_of(const std::string& payload) {
    unsigned long long count = 0;
    if (std::sscanf(payload.c_str(), "tick %llu", &count) != 1) return std::nullopt;
    return count;
}

// A body of `size` bytes that differs per call (printable, so it travels as a JSON string).
std::string upload_body(std::size_t size) {
    std::string word = random_word();
    std::string body;
    while (body.size() < size)
        body += word + "-" + std::to_string(body.size()) + "\n";
    body.resize(size);
    return body;
}

struct Block {
    long long num = -1;
    bool more = false;
    long long size = 0;
};

// npm_client.js prints a Block1/Block2 value as {"num":N,"more":M,"size":S}, or null.
std::optional<Block> block_of(const Json& value) {
    if (value.kind != Json::Kind::object) return std::nullopt;
    return Block{value["num"].integer(), value["more"].boolean, value["size"].integer()};
}

// RFC 7641 §3.4: V2 is newer than V1 in 24-bit serial arithmetic.
bool newer(long long v1, long long v2) {
    return (v1 < v2 && v2 - v1 < (1 << 23)) || (v1 > v2 && v1 - v2 > (1 << 23));
}

// The datagrams of one request ("wire" in npm_client.js's output) sent (`out`) or received.
std::vector<const Json*> datagrams(const Json& line, std::string_view dir) {
    std::vector<const Json*> out;
    for (const Json& entry : line["wire"].items)
        if (entry["dir"].str() == dir) out.push_back(&entry);
    return out;
}

std::string describe_datagram(const Json& entry) {
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

NpmRequest observe(std::string path, ObserveSpec spec) {
    NpmRequest request;
    request.path = std::move(path);
    request.observe = std::move(spec);
    return request;
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
