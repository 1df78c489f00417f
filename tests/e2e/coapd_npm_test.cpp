// End-to-end tests: coapd over real loopback sockets, driven by the npm package `coap`
// (node-coap 1.5.0, tests/e2e/package.json) through tests/e2e/npm_client.js, which prints one
// JSON line per response. Covers TD_COAP_CORE_01-08, 13, 14, 18, 19, 20, 23 and TD_COAP_LINK_01
// (../shared/reference/etsi-td-coap4) over IPv4 and IPv6. Skipped, with the reason, when node
// or tests/e2e/node_modules/coap is missing (`make deps` installs them).
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

#include "support/coapd_process.hpp"
#include "support/process.hpp"

namespace {

using namespace std::chrono_literals;
using coap::test::Process;
using coap::test::ProcessResult;
using coap::test::run_process;

constexpr auto node_timeout = 30s;

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

// One request for npm_client.js (see its header for the format).
struct NpmRequest {
    std::string method = "GET";
    std::string path = "/";
    std::string query{};
    Mode mode = Mode::con;
    std::optional<std::string> payload{};
    std::vector<std::pair<std::string, std::string>> options{};  // name, JSON value

    std::string json() const {
        std::string out = "{\"method\":" + json_string(method) + ",\"path\":" + json_string(path);
        if (!query.empty()) out += ",\"query\":" + json_string(query);
        out += std::string(",\"confirmable\":") + (mode == Mode::con ? "true" : "false");
        if (payload) out += ",\"payload\":" + json_string(*payload);
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
    Coapd() : CoapdProcess(COAPD_PATH) {}
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

}  // namespace
