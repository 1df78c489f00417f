// End-to-end tests: coapd over real loopback sockets, driven by libcoap's coap-client (Debian
// libcoap3-bin), a peer nobody here wrote. Each ETSI CoAP#4 test description (TD_COAP_CORE_xx,
// TD_COAP_LINK_xx, ../shared/reference/etsi-td-coap4) is one parameterized test, run over IPv4
// and IPv6 and, where the TD makes sense in both, as CON and NON.
//
// coap-client prints every PDU it sends and receives at -v 7, as
//     v:1 t:ACK c:2.05 i:150f {01} [ Content-Format:text/plain ] :: 'payload'
// after a log line saying "sent N bytes" or "received N bytes"; the tests check types, codes,
// Message IDs, tokens and options from those lines, and payloads exactly from `-o file`.
// What coap-client cannot send (a zero-length token, a ping, malformed datagrams) is sent from a
// raw UDP socket built with coap::MessageWriter and checked with coap::parse.
#include <tuple>

#include "e2e/libcoap_harness.hpp"

namespace {

using namespace coap::e2e;

// ---------------------------------------------------------------------------------------------
// CoRE Link Format (RFC 6690 §2), enough to compare discovery answers.

struct Link {
    std::string target;
    std::vector<std::pair<std::string, std::optional<std::string>>> params;  // unquoted values

    std::optional<std::string> param(std::string_view name) const {
        for (const auto& [key, value] : params)
            if (key == name) return value.value_or("");
        return std::nullopt;
    }
    bool operator==(const Link&) const = default;
};

std::optional<std::vector<Link>> parse_links(std::string_view text) {
    std::vector<Link> links;
    std::size_t i = 0;
    auto skip_spaces = [&] {
        while (i < text.size() && (text[i] == ' ' || text[i] == '\t'))
            ++i;
    };
    skip_spaces();
    if (i == text.size()) return links;
    for (;;) {
        skip_spaces();
        if (i >= text.size() || text[i] != '<') return std::nullopt;
        std::size_t end = text.find('>', i);
        if (end == std::string_view::npos) return std::nullopt;
        Link link;
        link.target = std::string(text.substr(i + 1, end - i - 1));
        i = end + 1;
        for (;;) {
            skip_spaces();
            if (i == text.size() || text[i] == ',') break;
            if (text[i] != ';') return std::nullopt;
            ++i;
            skip_spaces();
            std::size_t name_start = i;
            while (i < text.size() && text[i] != '=' && text[i] != ';' && text[i] != ',' &&
                   text[i] != ' ')
                ++i;
            std::string name(text.substr(name_start, i - name_start));
            if (name.empty()) return std::nullopt;
            skip_spaces();
            std::optional<std::string> value;
            if (i < text.size() && text[i] == '=') {
                ++i;
                skip_spaces();
                std::string parsed;
                if (i < text.size() && text[i] == '"') {
                    ++i;
                    while (i < text.size() && text[i] != '"') {
                        if (text[i] == '\\' && i + 1 < text.size()) ++i;
                        parsed += text[i++];
                    }
                    if (i == text.size()) return std::nullopt;
                    ++i;
                } else {
                    while (i < text.size() && text[i] != ';' && text[i] != ',')
                        parsed += text[i++];
                }
                value = parsed;
            }
            link.params.emplace_back(std::move(name), std::move(value));
        }
        links.push_back(std::move(link));
        if (i == text.size()) return links;
        ++i;  // ','
    }
}

std::vector<std::string> targets(const std::vector<Link>& links) {
    std::vector<std::string> out;
    for (const Link& link : links)
        out.push_back(link.target);
    return out;
}

std::vector<std::string> split_spaces(std::string_view text) {
    std::vector<std::string> out;
    std::istringstream words{std::string(text)};
    std::string word;
    while (words >> word)
        out.push_back(word);
    return out;
}

// Whether `link` passes the filter `name=pattern` (RFC 6690 §4.1): a trailing '*' matches any
// suffix; href compares the target; rt, if and other relation-type-like attributes match when
// any one of their space-separated values does.
bool link_matches(const Link& link, std::string_view name, std::string_view pattern) {
    bool prefix = !pattern.empty() && pattern.back() == '*';
    if (prefix) pattern.remove_suffix(1);
    auto matches = [&](std::string_view value) {
        return prefix ? value.substr(0, pattern.size()) == pattern : value == pattern;
    };
    if (name == "href") return matches(link.target);
    std::optional<std::string> value = link.param(name);
    if (!value) return false;
    if (matches(*value)) return true;
    for (const std::string& word : split_spaces(*value))
        if (matches(word)) return true;
    return false;
}

std::vector<Link> filter_links(const std::vector<Link>& links, std::string_view name,
                               std::string_view pattern) {
    std::vector<Link> out;
    for (const Link& link : links)
        if (link_matches(link, name, pattern)) out.push_back(link);
    return out;
}

// ---------------------------------------------------------------------------------------------
// Fixtures.

class LibcoapE2E : public CoapdE2E, public ::testing::WithParamInterface<Family> {
  protected:
    Family family() const { return GetParam(); }
    std::string uri(std::string_view path) const {
        return "coap://" + std::string(family() == Family::ipv4 ? "127.0.0.1" : "[::1]") + ":" +
               std::to_string(port()) + std::string(path);
    }
};

class LibcoapModesE2E : public CoapdE2E,
                        public ::testing::WithParamInterface<std::tuple<Family, Mode>> {
  protected:
    Family family() const { return std::get<0>(GetParam()); }
    Mode mode() const { return std::get<1>(GetParam()); }
    std::string uri(std::string_view path) const {
        return "coap://" + std::string(family() == Family::ipv4 ? "127.0.0.1" : "[::1]") + ":" +
               std::to_string(port()) + std::string(path);
    }
    // coap-client in this test's mode.
    ClientRun client(std::vector<std::string> args) const {
        return coap_client(with_mode(mode(), std::move(args)));
    }
    // A payload no other step or test has used.
    std::string unique_payload(std::string_view step) const {
        return std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "-" +
               std::string(step) + "-" + random_word();
    }

    // GET /.well-known/core[?query]: checks the exchange, 2.05 and Content-Format 40, and
    // returns the parsed links.
    std::vector<Link> discover(std::string_view query = {}) {
        std::string path = "/.well-known/core";
        if (!query.empty()) path += "?" + std::string(query);
        ClientRun run = client({uri(path)});
        EXCHANGE_TRACE(run);
        check_exchange(run, mode(), "GET", "2.05");
        if (run.received.empty()) return {};
        EXPECT_EQ(run.received.front().value("Content-Format"), "application/link-format");
        std::optional<std::vector<Link>> links = parse_links(run.payload);
        EXPECT_TRUE(links.has_value()) << "not CoRE Link Format: " << run.payload;
        return links.value_or(std::vector<Link>{});
    }

    // TD_COAP_LINK_02..08: the filtered answer is exactly the links of the full document that
    // pass the filter, in the same order.
    std::vector<Link> check_filter(std::string_view name, std::string_view pattern) {
        std::vector<Link> all = discover();
        std::vector<Link> filtered = discover(std::string(name) + "=" + std::string(pattern));
        std::vector<Link> expected = filter_links(all, name, pattern);
        EXPECT_EQ(targets(filtered), targets(expected))
            << "filter " << name << "=" << pattern << " over " << targets(all).size() << " links";
        EXPECT_EQ(filtered, expected) << "the filtered links keep their attributes";
        return filtered;
    }
};

class RawSocketE2E : public CoapdE2E, public ::testing::WithParamInterface<Family> {
  protected:
    UdpPeer peer() const { return UdpPeer(GetParam(), port()); }

    // A CON GET /test from `peer`, answered with ACK 2.05: proves the server is still serving.
    void check_still_serving(UdpPeer& udp) {
        std::uint16_t mid = udp.next_mid();
        ByteVector token = token_bytes();
        udp.send(
            encode_message(MessageType::con, Code::get, mid, token, {{11, text_value("test")}}));
        std::optional<ByteVector> reply = udp.receive(reply_timeout);
        ASSERT_TRUE(reply.has_value()) << "no answer to GET /test";
        auto message = coap::parse(coap::Bytes(reply->data(), reply->size()));
        ASSERT_TRUE(message.has_value()) << hex(*reply);
        EXPECT_EQ(coap::type_name(message->type()), "ACK");
        EXPECT_EQ(code_string(message->code()), "2.05");
        EXPECT_EQ(message->message_id(), mid);
        EXPECT_EQ(bytes_of(message->token()), token);
    }
};

std::string family_param_name(const ::testing::TestParamInfo<Family>& info) {
    return family_name(info.param);
}
std::string modes_param_name(const ::testing::TestParamInfo<std::tuple<Family, Mode>>& info) {
    return family_name(std::get<0>(info.param)) + "_" + mode_name(std::get<1>(info.param));
}

INSTANTIATE_TEST_SUITE_P(Plugtest, LibcoapE2E, ::testing::Values(Family::ipv4, Family::ipv6),
                         family_param_name);
INSTANTIATE_TEST_SUITE_P(Plugtest, LibcoapModesE2E,
                         ::testing::Combine(::testing::Values(Family::ipv4, Family::ipv6),
                                            ::testing::Values(Mode::con, Mode::non)),
                         modes_param_name);
INSTANTIATE_TEST_SUITE_P(Robustness, RawSocketE2E, ::testing::Values(Family::ipv4, Family::ipv6),
                         family_param_name);

// ---------------------------------------------------------------------------------------------
// TD_COAP_CORE_01-08: the four methods, CON and NON.

TEST_P(LibcoapE2E, TD_COAP_CORE_01) {
    ClientRun run = coap_client({uri("/test")});
    EXCHANGE_TRACE(run);
    ASSERT_NO_FATAL_FAILURE(check_exchange(run, Mode::con, "GET", "2.05"));
    EXPECT_FALSE(run.sent.front().token.empty()) << "CTOK";
    EXPECT_EQ(run.sent.front().values("Uri-Path"), std::vector<std::string>{"test"});
    EXPECT_TRUE(run.received.front().has("Content-Format"));
    EXPECT_FALSE(run.payload.empty());
}

TEST_P(LibcoapE2E, TD_COAP_CORE_02) {
    ClientRun run = coap_client({"-m", "delete", uri("/test")});
    EXCHANGE_TRACE(run);
    ASSERT_NO_FATAL_FAILURE(check_exchange(run, Mode::con, "DELETE", "2.02"));
    EXPECT_EQ(run.sent.front().values("Uri-Path"), std::vector<std::string>{"test"});
    check_cfone(run);
}

TEST_P(LibcoapE2E, TD_COAP_CORE_03) {
    std::string payload = "TD_COAP_CORE_03-" + family_name(family()) + "-" + random_word();
    ClientRun run = coap_client({"-m", "put", "-t", "0", "-e", payload, uri("/test")});
    EXCHANGE_TRACE(run);
    ASSERT_NO_FATAL_FAILURE(check_exchange_any(run, Mode::con, "PUT", {"2.04", "2.01"}));
    EXPECT_TRUE(run.sent.front().has("Content-Format"));
    check_cfone(run);

    // The server took the representation: a GET now returns it.
    ClientRun get = coap_client({uri("/test")});
    EXCHANGE_TRACE(get);
    ASSERT_NO_FATAL_FAILURE(check_exchange(get, Mode::con, "GET", "2.05"));
    EXPECT_EQ(get.payload, payload);
}

TEST_P(LibcoapE2E, TD_COAP_CORE_04) {
    ClientRun run = coap_client({"-m", "post", "-t", "0", "-e", "TD_COAP_CORE_04", uri("/test")});
    EXCHANGE_TRACE(run);
    ASSERT_NO_FATAL_FAILURE(check_exchange_any(run, Mode::con, "POST", {"2.01", "2.04"}));
    for (const std::string& segment : run.received.front().values("Location-Path"))
        EXPECT_EQ(segment.find('/'), std::string::npos) << segment;
    check_cfone(run);
}

TEST_P(LibcoapE2E, TD_COAP_CORE_05) {
    ClientRun run = coap_client({"-N", uri("/test")});
    EXCHANGE_TRACE(run);
    ASSERT_NO_FATAL_FAILURE(check_exchange(run, Mode::non, "GET", "2.05"));
    EXPECT_EQ(run.sent.front().values("Uri-Path"), std::vector<std::string>{"test"});
    EXPECT_TRUE(run.received.front().has("Content-Format"));
    EXPECT_FALSE(run.payload.empty()) << "the /test resource is not empty";
}

TEST_P(LibcoapE2E, TD_COAP_CORE_06) {
    ClientRun run = coap_client({"-N", "-m", "delete", uri("/test")});
    EXCHANGE_TRACE(run);
    ASSERT_NO_FATAL_FAILURE(check_exchange(run, Mode::non, "DELETE", "2.02"));
    check_cfone(run);
}

TEST_P(LibcoapE2E, TD_COAP_CORE_07) {
    std::string payload = "TD_COAP_CORE_07-" + family_name(family()) + "-" + random_word();
    ClientRun run = coap_client({"-N", "-m", "put", "-t", "0", "-e", payload, uri("/test")});
    EXCHANGE_TRACE(run);
    ASSERT_NO_FATAL_FAILURE(check_exchange_any(run, Mode::non, "PUT", {"2.04", "2.01"}));
    check_cfone(run);
}

TEST_P(LibcoapE2E, TD_COAP_CORE_08) {
    ClientRun run =
        coap_client({"-N", "-m", "post", "-t", "0", "-e", "TD_COAP_CORE_08", uri("/test")});
    EXCHANGE_TRACE(run);
    ASSERT_NO_FATAL_FAILURE(check_exchange_any(run, Mode::non, "POST", {"2.01", "2.04"}));
    for (const std::string& segment : run.received.front().values("Location-Path"))
        EXPECT_EQ(segment.find('/'), std::string::npos) << segment;
    check_cfone(run);
}

// TD_COAP_CORE_12: coap-client always sends a token of its own (`-T ""` does not make it
// empty), so the zero-length token is sent from a raw socket.
TEST_P(LibcoapE2E, TD_COAP_CORE_12) {
    UdpPeer udp(family(), port());
    std::uint16_t mid = udp.next_mid();
    ByteVector request =
        encode_message(MessageType::con, Code::get, mid, {}, {{11, text_value("test")}});
    udp.send(request);
    std::optional<ByteVector> reply = udp.receive(reply_timeout);
    ASSERT_TRUE(reply.has_value()) << "no answer to " << hex(request);
    SCOPED_TRACE("request " + hex(request) + ", reply " + hex(*reply));
    auto message = coap::parse(coap::Bytes(reply->data(), reply->size()));
    ASSERT_TRUE(message.has_value());
    EXPECT_EQ(coap::type_name(message->type()), "ACK");
    EXPECT_EQ(code_string(message->code()), "2.05");
    EXPECT_EQ(message->message_id(), mid);
    EXPECT_TRUE(message->token().empty()) << "Token = CTOK (zero-length)";
    EXPECT_TRUE(message->has(OptionNumber::content_format));
    EXPECT_FALSE(message->payload().empty());
}

// TD_COAP_CORE_31: coap-client has no ping (-m accepts methods only), so the 4-byte empty CON
// is sent from a raw socket; the answer is the 4-byte RST with the same Message ID (§4.3).
TEST_P(LibcoapE2E, TD_COAP_CORE_31) {
    UdpPeer udp(family(), port());
    std::uint16_t mid = udp.next_mid();
    ByteVector ping = encode_message(MessageType::con, Code::empty, mid, {}, {});
    ASSERT_EQ(ping.size(), 4u);
    udp.send(ping);
    std::optional<ByteVector> reply = udp.receive(reply_timeout);
    ASSERT_TRUE(reply.has_value()) << "no answer to the ping";
    ByteVector expected{0x70, 0x00, static_cast<std::uint8_t>(mid >> 8),
                        static_cast<std::uint8_t>(mid)};
    EXPECT_EQ(hex(*reply), hex(expected)) << "Type=3, Code=0, same MID, no token, no payload";
}

// ---------------------------------------------------------------------------------------------
// TD_COAP_CORE_09, 11, 17: /separate answers about a second later, separately.

namespace {

const Pdu* find_pdu(const std::vector<Pdu>& pdus, std::string_view type, std::string_view code) {
    for (const Pdu& pdu : pdus)
        if (pdu.type == type && pdu.code == code) return &pdu;
    return nullptr;
}

// Steps 2-5 of TD_COAP_CORE_09 and 11: empty ACK with the request's MID, then a CON 2.05 with a
// server-chosen MID and the request's token, which the client acknowledges.
void check_separate_con(const ClientRun& run) {
    ASSERT_FALSE(run.sent.empty());
    const Pdu& request = run.sent.front();
    EXPECT_EQ(request.type, "CON");
    EXPECT_EQ(request.values("Uri-Path"), std::vector<std::string>{"separate"});
    const Pdu* empty_ack = find_pdu(run.received, "ACK", "0.00");
    ASSERT_NE(empty_ack, nullptr) << "no empty ACK (ACK0S)";
    EXPECT_EQ(empty_ack->mid, request.mid);
    EXPECT_TRUE(empty_ack->token.empty());
    const Pdu* response = find_pdu(run.received, "CON", "2.05");
    ASSERT_NE(response, nullptr) << "no CON 2.05 separate response";
    EXPECT_NE(response->mid, request.mid) << "SMID is the server's own";
    EXPECT_EQ(response->token, request.token);
    EXPECT_TRUE(response->has("Content-Format"));
    EXPECT_FALSE(run.payload.empty());
    const Pdu* client_ack = find_pdu(run.sent, "ACK", "0.00");
    ASSERT_NE(client_ack, nullptr) << "the client did not acknowledge (ACK0C)";
    EXPECT_EQ(client_ack->mid, response->mid);
}

}  // namespace

TEST_P(LibcoapE2E, TD_COAP_CORE_09) {
    ClientRun run = coap_client({uri("/separate")});
    EXCHANGE_TRACE(run);
    check_separate_con(run);
}

TEST_P(LibcoapE2E, TD_COAP_CORE_11) {
    ClientRun run = coap_client({"-T", "5a5a5a5a", uri("/separate")});
    EXCHANGE_TRACE(run);
    check_separate_con(run);
    ASSERT_FALSE(run.sent.empty());
    std::size_t token_length = run.sent.front().token.size() / 2;  // hex digits
    EXPECT_GE(token_length, 1u);
    EXPECT_LE(token_length, 8u);
}

TEST_P(LibcoapE2E, TD_COAP_CORE_17) {
    ClientRun run = coap_client({"-N", uri("/separate")});
    EXCHANGE_TRACE(run);
    ASSERT_FALSE(run.sent.empty());
    const Pdu& request = run.sent.front();
    EXPECT_EQ(request.type, "NON");
    for (const Pdu& pdu : run.received)
        EXPECT_FALSE(pdu.type == "ACK" && pdu.mid == request.mid) << "a NON request gets no ACK";
    const Pdu* response = find_pdu(run.received, "NON", "2.05");
    ASSERT_NE(response, nullptr) << "no NON 2.05 separate response";
    EXPECT_EQ(response->token, request.token);
    EXPECT_TRUE(response->has("Content-Format"));
    EXPECT_FALSE(run.payload.empty());
}

// ---------------------------------------------------------------------------------------------
// TD_COAP_CORE_10, 13, 14, 18-23, in CON and NON.

TEST_P(LibcoapModesE2E, TD_COAP_CORE_10) {
    ClientRun run = client({"-T", "a1b2c3d4", uri("/test")});
    EXCHANGE_TRACE(run);
    ASSERT_NO_FATAL_FAILURE(check_exchange(run, mode(), "GET", "2.05"));
    std::size_t token_length = run.sent.front().token.size() / 2;
    EXPECT_GE(token_length, 1u);
    EXPECT_LE(token_length, 8u);
    EXPECT_TRUE(run.received.front().has("Content-Format"));
    EXPECT_FALSE(run.payload.empty());
}

TEST_P(LibcoapModesE2E, TD_COAP_CORE_13) {
    ClientRun run = client({uri("/seg1/seg2/seg3")});
    EXCHANGE_TRACE(run);
    ASSERT_NO_FATAL_FAILURE(check_exchange(run, mode(), "GET", "2.05"));
    EXPECT_EQ(run.sent.front().values("Uri-Path"),
              (std::vector<std::string>{"seg1", "seg2", "seg3"}));
    EXPECT_TRUE(run.received.front().has("Content-Format"));
    EXPECT_FALSE(run.payload.empty());
}

TEST_P(LibcoapModesE2E, TD_COAP_CORE_14) {
    ClientRun run = client({uri("/query?first=1&second=2&third=3")});
    EXCHANGE_TRACE(run);
    ASSERT_NO_FATAL_FAILURE(check_exchange(run, mode(), "GET", "2.05"));
    EXPECT_EQ(run.sent.front().values("Uri-Path"), std::vector<std::string>{"query"});
    EXPECT_EQ(run.sent.front().values("Uri-Query"),
              (std::vector<std::string>{"first=1", "second=2", "third=3"}));
    EXPECT_TRUE(run.received.front().has("Content-Format"));
    EXPECT_FALSE(run.payload.empty());
}

TEST_P(LibcoapModesE2E, TD_COAP_CORE_18) {
    ClientRun run = client({"-m", "post", "-t", "0", "-e", unique_payload("post"), uri("/test")});
    EXCHANGE_TRACE(run);
    ASSERT_NO_FATAL_FAILURE(check_exchange(run, mode(), "POST", "2.01"));
    EXPECT_EQ(run.received.front().values("Location-Path"),
              (std::vector<std::string>{"location1", "location2", "location3"}));
    check_cfone(run);
}

TEST_P(LibcoapModesE2E, TD_COAP_CORE_19) {
    ClientRun run =
        client({"-m", "post", "-t", "0", "-e", unique_payload("post"), uri("/location-query")});
    EXCHANGE_TRACE(run);
    ASSERT_NO_FATAL_FAILURE(check_exchange(run, mode(), "POST", "2.01"));
    EXPECT_EQ(run.sent.front().values("Uri-Path"), std::vector<std::string>{"location-query"});
    std::vector<std::string> queries = run.received.front().values("Location-Query");
    EXPECT_EQ(queries, (std::vector<std::string>{"first=1", "second=2"}));
    for (const std::string& query : queries)
        EXPECT_EQ(query.find_first_of("?&"), std::string::npos) << query;
    check_cfone(run);
}

TEST_P(LibcoapModesE2E, TD_COAP_CORE_20) {
    ClientRun text = client({"-A", "0", uri("/multi-format")});
    {
        EXCHANGE_TRACE(text);
        ASSERT_NO_FATAL_FAILURE(check_exchange(text, mode(), "GET", "2.05"));
        EXPECT_EQ(text.sent.front().value("Accept"), "text/plain");
        EXPECT_EQ(text.received.front().value("Content-Format"), "text/plain");
        EXPECT_FALSE(text.payload.empty());
    }
    ClientRun xml = client({"-A", "41", uri("/multi-format")});
    {
        EXCHANGE_TRACE(xml);
        ASSERT_NO_FATAL_FAILURE(check_exchange(xml, mode(), "GET", "2.05"));
        EXPECT_EQ(xml.sent.front().value("Accept"), "application/xml");
        EXPECT_EQ(xml.received.front().value("Content-Format"), "application/xml");
        ASSERT_FALSE(xml.payload.empty());
        EXPECT_EQ(xml.payload.front(), '<') << xml.payload;
        EXPECT_EQ(xml.payload.back(), '>') << xml.payload;
    }
}

TEST_P(LibcoapModesE2E, TD_COAP_CORE_21) {
    // Step 1: no ETag in the request; 2.05 with ETAG1.
    ClientRun first = client({uri("/validate")});
    std::string etag1;
    std::string content1;
    {
        EXCHANGE_TRACE(first);
        ASSERT_NO_FATAL_FAILURE(check_exchange(first, mode(), "GET", "2.05"));
        EXPECT_FALSE(first.sent.front().has("ETag"));
        ASSERT_TRUE(first.received.front().has("ETag"));
        etag1 = *first.received.front().value("ETag");
        content1 = first.payload;
        EXPECT_FALSE(content1.empty());
    }
    // Step 2: the cached entry is still valid: 2.03 with ETAG1 and no payload.
    ClientRun second = client({"-O", "4," + etag1, uri("/validate")});
    {
        EXCHANGE_TRACE(second);
        ASSERT_NO_FATAL_FAILURE(check_exchange(second, mode(), "GET", "2.03"));
        EXPECT_EQ(second.sent.front().value("ETag"), etag1);
        EXPECT_EQ(second.received.front().value("ETag"), etag1);
        EXPECT_TRUE(second.payload.empty());
    }
    // Another client updates the resource.
    std::string content2 = unique_payload("update");
    ClientRun update = client({"-m", "put", "-t", "0", "-e", content2, uri("/validate")});
    {
        EXCHANGE_TRACE(update);
        ASSERT_NO_FATAL_FAILURE(check_exchange(update, mode(), "PUT", "2.04"));
    }
    // Step 3: ETAG1 is no longer valid: 2.05 with another ETag and the new content.
    ClientRun third = client({"-O", "4," + etag1, uri("/validate")});
    {
        EXCHANGE_TRACE(third);
        ASSERT_NO_FATAL_FAILURE(check_exchange(third, mode(), "GET", "2.05"));
        ASSERT_TRUE(third.received.front().has("ETag"));
        EXPECT_NE(third.received.front().value("ETag"), etag1);
        EXPECT_NE(third.payload, content1);
        EXPECT_EQ(third.payload, content2);
    }
}

TEST_P(LibcoapModesE2E, TD_COAP_CORE_22) {
    // Step 1: GET, 2.05 with ETAG1.
    ClientRun get1 = client({uri("/validate")});
    std::string etag1;
    std::string content1;
    {
        EXCHANGE_TRACE(get1);
        ASSERT_NO_FATAL_FAILURE(check_exchange(get1, mode(), "GET", "2.05"));
        EXPECT_FALSE(get1.sent.front().has("ETag"));
        ASSERT_TRUE(get1.received.front().has("ETag"));
        etag1 = *get1.received.front().value("ETag");
        content1 = get1.payload;
        EXPECT_FALSE(content1.empty());
    }
    // Step 2: PUT with If-Match ETAG1 succeeds.
    std::string content2 = unique_payload("if-match");
    ClientRun put1 =
        client({"-m", "put", "-t", "0", "-O", "1," + etag1, "-e", content2, uri("/validate")});
    {
        EXCHANGE_TRACE(put1);
        ASSERT_NO_FATAL_FAILURE(check_exchange(put1, mode(), "PUT", "2.04"));
        EXPECT_EQ(put1.sent.front().value("If-Match"), etag1);
        check_cfone(put1);
    }
    // Step 3: GET, 2.05 with ETAG2 and the payload of step 2.
    ClientRun get2 = client({uri("/validate")});
    std::string etag2;
    {
        EXCHANGE_TRACE(get2);
        ASSERT_NO_FATAL_FAILURE(check_exchange(get2, mode(), "GET", "2.05"));
        ASSERT_TRUE(get2.received.front().has("ETag"));
        etag2 = *get2.received.front().value("ETag");
        EXPECT_NE(etag2, etag1);
        EXPECT_EQ(get2.payload, content2);
    }
    // Step 4: someone else updates it, unconditionally.
    std::string content3 = unique_payload("other");
    ClientRun put2 = client({"-m", "put", "-t", "0", "-e", content3, uri("/validate")});
    {
        EXCHANGE_TRACE(put2);
        ASSERT_NO_FATAL_FAILURE(check_exchange(put2, mode(), "PUT", "2.04"));
        check_cfone(put2);
    }
    // Step 5: PUT with If-Match ETAG2 fails: 4.12, and the resource is unchanged.
    std::string content4 = unique_payload("stale");
    ClientRun put3 =
        client({"-m", "put", "-t", "0", "-O", "1," + etag2, "-e", content4, uri("/validate")});
    {
        EXCHANGE_TRACE(put3);
        ASSERT_NO_FATAL_FAILURE(check_exchange(put3, mode(), "PUT", "4.12"));
        EXPECT_EQ(put3.sent.front().value("If-Match"), etag2);
        check_cfone(put3);
    }
    ClientRun get3 = client({uri("/validate")});
    {
        EXCHANGE_TRACE(get3);
        ASSERT_NO_FATAL_FAILURE(check_exchange(get3, mode(), "GET", "2.05"));
        EXPECT_EQ(get3.payload, content3) << "the failed PUT must not change the resource";
    }
}

TEST_P(LibcoapModesE2E, TD_COAP_CORE_23) {
    // Precondition: /create1 does not exist.
    ClientRun reset = client({"-m", "delete", uri("/create1")});
    {
        EXCHANGE_TRACE(reset);
        ASSERT_NO_FATAL_FAILURE(check_exchange(reset, mode(), "DELETE", "2.02"));
    }
    ClientRun create =
        client({"-m", "put", "-t", "0", "-O", "5,", "-e", unique_payload("1"), uri("/create1")});
    {
        EXCHANGE_TRACE(create);
        ASSERT_NO_FATAL_FAILURE(check_exchange(create, mode(), "PUT", "2.01"));
        EXPECT_TRUE(create.sent.front().has("If-None-Match"));
        EXPECT_EQ(create.sent.front().values("Uri-Path"), std::vector<std::string>{"create1"});
        check_cfone(create);
    }
    ClientRun again =
        client({"-m", "put", "-t", "0", "-O", "5,", "-e", unique_payload("2"), uri("/create1")});
    {
        EXCHANGE_TRACE(again);
        ASSERT_NO_FATAL_FAILURE(check_exchange(again, mode(), "PUT", "4.12"));
        EXPECT_TRUE(again.sent.front().has("If-None-Match"));
        check_cfone(again);
    }
    coap_client({"-m", "delete", uri("/create1")});  // leave it absent for the next test
}

// ---------------------------------------------------------------------------------------------
// TD_COAP_LINK_01-09, in CON and NON. Types and attributes are taken from the server's own
// /.well-known/core, as the TDs say.

TEST_P(LibcoapModesE2E, TD_COAP_LINK_01) {
    std::vector<Link> links = discover();
    std::vector<std::string> listed = targets(links);
    for (const char* resource :
         {"/test", "/seg1/seg2/seg3", "/query", "/location-query", "/multi-format", "/validate",
          "/create1", "/link1", "/link2", "/link3", "/path"})
        EXPECT_NE(std::find(listed.begin(), listed.end(), resource), listed.end())
            << resource << " is not listed";
    EXPECT_EQ(std::find(listed.begin(), listed.end(), "/.well-known/core"), listed.end());
}

TEST_P(LibcoapModesE2E, TD_COAP_LINK_02) {
    std::vector<Link> all = discover();
    ASSERT_FALSE(filter_links(all, "rt", "Type1").empty()) << "precondition: a Type1 resource";
    std::vector<Link> type1 = check_filter("rt", "Type1");
    EXPECT_LT(type1.size(), all.size());
}

TEST_P(LibcoapModesE2E, TD_COAP_LINK_03) {
    std::vector<Link> all = discover();
    std::size_t with_rt = filter_links(all, "rt", "*").size();
    ASSERT_GT(with_rt, 0u) << "precondition: resources with an rt attribute";
    ASSERT_LT(with_rt, all.size()) << "precondition: resources without an rt attribute";
    std::vector<Link> typed = check_filter("rt", "*");
    for (const Link& link : typed)
        EXPECT_TRUE(link.param("rt").has_value()) << link.target;
}

TEST_P(LibcoapModesE2E, TD_COAP_LINK_04) {
    std::vector<Link> all = discover();
    for (const char* types : {"Type1 Type2", "Type2 Type3", "Type1 Type3"}) {
        bool offered = std::any_of(all.begin(), all.end(),
                                   [&](const Link& link) { return link.param("rt") == types; });
        EXPECT_TRUE(offered) << "precondition: a resource with rt=\"" << types << "\"";
    }
    std::vector<Link> type2 = check_filter("rt", "Type2");
    EXPECT_EQ(targets(type2), (std::vector<std::string>{"/link1", "/link2"}));
}

TEST_P(LibcoapModesE2E, TD_COAP_LINK_05) {
    std::vector<Link> all = discover();
    for (const char* interface : {"If1", "If2", "foo"}) {
        bool offered = std::any_of(all.begin(), all.end(),
                                   [&](const Link& link) { return link.param("if") == interface; });
        EXPECT_TRUE(offered) << "precondition: a resource with if=\"" << interface << "\"";
    }
    std::vector<Link> matched = check_filter("if", "If*");
    EXPECT_EQ(targets(matched), (std::vector<std::string>{"/link1", "/link2"}));
}

TEST_P(LibcoapModesE2E, TD_COAP_LINK_06) {
    std::vector<Link> all = discover();
    std::size_t sized = filter_links(all, "sz", "*").size();
    EXPECT_GT(sized, 0u) << "precondition: a resource with an sz attribute";
    EXPECT_LT(sized, all.size()) << "precondition: a resource without an sz attribute";
    std::vector<Link> matched = check_filter("sz", "*");
    EXPECT_FALSE(matched.empty());
    for (const Link& link : matched)
        EXPECT_TRUE(link.param("sz").has_value()) << link.target;
}

TEST_P(LibcoapModesE2E, TD_COAP_LINK_07) {
    std::vector<Link> matched = check_filter("href", "/link1");
    EXPECT_EQ(targets(matched), std::vector<std::string>{"/link1"});
}

TEST_P(LibcoapModesE2E, TD_COAP_LINK_08) {
    std::vector<Link> matched = check_filter("href", "/link*");
    EXPECT_EQ(targets(matched), (std::vector<std::string>{"/link1", "/link2", "/link3"}));
}

TEST_P(LibcoapModesE2E, TD_COAP_LINK_09) {
    std::vector<Link> all = discover();
    auto path = std::find_if(all.begin(), all.end(),
                             [](const Link& link) { return link.target == "/path"; });
    ASSERT_NE(path, all.end()) << "/.well-known/core has no link for /path";
    EXPECT_EQ(path->param("ct"), "40");

    ClientRun listing = client({uri("/path")});
    std::vector<Link> subs;
    {
        EXCHANGE_TRACE(listing);
        ASSERT_NO_FATAL_FAILURE(check_exchange(listing, mode(), "GET", "2.05"));
        EXPECT_EQ(listing.received.front().value("Content-Format"), "application/link-format");
        std::optional<std::vector<Link>> parsed = parse_links(listing.payload);
        ASSERT_TRUE(parsed.has_value()) << "not CoRE Link Format: " << listing.payload;
        subs = *parsed;
    }
    ASSERT_FALSE(subs.empty()) << "/path lists no sub-resources";
    for (const Link& sub : subs) {
        EXPECT_EQ(sub.target.rfind("/path/", 0), 0u) << sub.target;
        ClientRun get = client({uri(sub.target)});
        EXCHANGE_TRACE(get);
        ASSERT_NO_FATAL_FAILURE(check_exchange(get, mode(), "GET", "2.05"));
        EXPECT_FALSE(get.payload.empty()) << sub.target;
    }
}

// ---------------------------------------------------------------------------------------------
// Robustness, over a raw socket.

// RFC 7252 §4.2: a CON that is a message format error is rejected with an RST carrying its MID.
TEST_P(RawSocketE2E, MalformedConGetsRst) {
    UdpPeer udp = peer();
    struct Case {
        const char* what;
        ByteVector tail;  // after the 4-byte header
        std::uint8_t first_byte;
        std::uint8_t code;
    };
    const std::vector<Case> cases{
        {"token length 9", {1, 2, 3, 4, 5, 6, 7, 8, 9}, 0x49, 0x01},
        {"option delta nibble 15", {0xf1, 'x'}, 0x40, 0x01},
        {"payload marker without payload", {0xb4, 't', 'e', 's', 't', 0xff}, 0x40, 0x01},
        {"option value past the end", {0xb8, 't', 'e', 's', 't'}, 0x40, 0x01},
        {"empty message with a token", {0xaa}, 0x41, 0x00},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.what);
        std::uint16_t mid = udp.next_mid();
        ByteVector datagram{c.first_byte, c.code, static_cast<std::uint8_t>(mid >> 8),
                            static_cast<std::uint8_t>(mid)};
        datagram.insert(datagram.end(), c.tail.begin(), c.tail.end());
        udp.send(datagram);
        std::optional<ByteVector> reply = udp.receive(reply_timeout);
        ASSERT_TRUE(reply.has_value()) << "no RST for " << hex(datagram);
        ByteVector rst{0x70, 0x00, static_cast<std::uint8_t>(mid >> 8),
                       static_cast<std::uint8_t>(mid)};
        EXPECT_EQ(hex(*reply), hex(rst)) << "for " << hex(datagram);
    }
    check_still_serving(udp);
}

// RFC 7252 §5.4.1: an unrecognized critical option in a CON request gives 4.02 (Bad Option).
TEST_P(RawSocketE2E, UnknownCriticalOptionInConGets402) {
    UdpPeer udp = peer();
    std::uint16_t mid = udp.next_mid();
    ByteVector token = token_bytes();
    ByteVector request = encode_message(MessageType::con, Code::get, mid, token,
                                        {{11, text_value("test")}, {2049, text_value("x")}});
    udp.send(request);
    std::optional<ByteVector> reply = udp.receive(reply_timeout);
    ASSERT_TRUE(reply.has_value()) << "no answer to " << hex(request);
    SCOPED_TRACE("request " + hex(request) + ", reply " + hex(*reply));
    auto message = coap::parse(coap::Bytes(reply->data(), reply->size()));
    ASSERT_TRUE(message.has_value());
    EXPECT_EQ(coap::type_name(message->type()), "ACK");
    EXPECT_EQ(code_string(message->code()), "4.02");
    EXPECT_EQ(message->message_id(), mid);
    EXPECT_EQ(bytes_of(message->token()), token);
}

// RFC 7252 §5.4.1: in a NON request it makes the message rejected (§4.3): silence or an RST,
// never a 4.02 response.
TEST_P(RawSocketE2E, UnknownCriticalOptionInNonIsRejected) {
    UdpPeer udp = peer();
    std::uint16_t mid = udp.next_mid();
    ByteVector request = encode_message(MessageType::non, Code::get, mid, token_bytes(),
                                        {{11, text_value("test")}, {2049, text_value("x")}});
    udp.send(request);
    std::optional<ByteVector> reply = udp.receive(silence_timeout);
    if (reply) {
        SCOPED_TRACE("request " + hex(request) + ", reply " + hex(*reply));
        ByteVector rst{0x70, 0x00, static_cast<std::uint8_t>(mid >> 8),
                       static_cast<std::uint8_t>(mid)};
        EXPECT_EQ(hex(*reply), hex(rst)) << "only an RST may answer a rejected NON";
    }
    check_still_serving(udp);
}

// RFC 7252 §3: messages with an unknown version number are silently ignored.
TEST_P(RawSocketE2E, Version2IsIgnored) {
    UdpPeer udp = peer();
    ByteVector request = encode_message(MessageType::con, Code::get, udp.next_mid(), token_bytes(),
                                        {{11, text_value("test")}});
    request[0] = static_cast<std::uint8_t>((request[0] & 0x3f) | 0x80);  // version 2
    udp.send(request);
    std::optional<ByteVector> reply = udp.receive(silence_timeout);
    EXPECT_FALSE(reply.has_value()) << "answered " << hex(request) << " with " << hex(*reply);
    check_still_serving(udp);
}

// RFC 7252 §4.5: a duplicate CON gets the same reply again, and the request is processed once.
TEST_P(RawSocketE2E, DuplicateConGetsIdenticalReplyAndRunsOnce) {
    UdpPeer udp = peer();
    std::uint16_t mid = udp.next_mid();
    ByteVector token = token_bytes();
    ByteVector put =
        encode_message(MessageType::con, Code::put, mid, token,
                       {{11, text_value("validate")}, {12, {}}}, "duplicate-" + random_word());
    udp.send(put);
    std::optional<ByteVector> first = udp.receive(reply_timeout);
    ASSERT_TRUE(first.has_value()) << "no answer to the PUT";
    udp.send(put);
    std::optional<ByteVector> second = udp.receive(reply_timeout);
    ASSERT_TRUE(second.has_value()) << "no answer to the duplicate PUT";
    EXPECT_EQ(hex(*second), hex(*first)) << "the duplicate's reply must be byte-identical";

    auto changed = coap::parse(coap::Bytes(first->data(), first->size()));
    ASSERT_TRUE(changed.has_value()) << hex(*first);
    EXPECT_EQ(coap::type_name(changed->type()), "ACK");
    EXPECT_EQ(code_string(changed->code()), "2.04");
    EXPECT_EQ(changed->message_id(), mid);
    auto etag_after_put = changed->find(OptionNumber::etag);
    ASSERT_TRUE(etag_after_put.has_value()) << "/validate answers PUT with its new ETag";

    // Had the duplicate been processed, the resource (and so its ETag) would have changed again.
    std::uint16_t get_mid = udp.next_mid();
    udp.send(encode_message(MessageType::con, Code::get, get_mid, token_bytes(),
                            {{11, text_value("validate")}}));
    std::optional<ByteVector> current = udp.receive(reply_timeout);
    ASSERT_TRUE(current.has_value()) << "no answer to GET /validate";
    auto content = coap::parse(coap::Bytes(current->data(), current->size()));
    ASSERT_TRUE(content.has_value()) << hex(*current);
    EXPECT_EQ(content->message_id(), get_mid);
    EXPECT_EQ(code_string(content->code()), "2.05");
    auto etag_now = content->find(OptionNumber::etag);
    ASSERT_TRUE(etag_now.has_value());
    EXPECT_EQ(bytes_of(etag_now->value), bytes_of(etag_after_put->value))
        << "the duplicate PUT was executed again";
}

// RFC 7252 §5.10.4: "If the preferred Content-Format cannot be returned, then a 4.06 "Not
// Acceptable" MUST be sent as a response". /test only has text/plain.
TEST_P(RawSocketE2E, UnavailableAcceptGets406) {
    UdpPeer udp = peer();
    std::uint16_t mid = udp.next_mid();
    ByteVector token = token_bytes();
    ByteVector request = encode_message(MessageType::con, Code::get, mid, token,
                                        {{11, text_value("test")}, {17, {50}}});
    udp.send(request);
    std::optional<ByteVector> reply = udp.receive(reply_timeout);
    ASSERT_TRUE(reply.has_value()) << "no answer to " << hex(request);
    SCOPED_TRACE("request " + hex(request) + ", reply " + hex(*reply));
    auto message = coap::parse(coap::Bytes(reply->data(), reply->size()));
    ASSERT_TRUE(message.has_value());
    EXPECT_EQ(coap::type_name(message->type()), "ACK");
    EXPECT_EQ(code_string(message->code()), "4.06");
    EXPECT_EQ(message->message_id(), mid);
    EXPECT_EQ(bytes_of(message->token()), token);
}

// A 2000-byte datagram is larger than the server's receive buffers (1280 bytes): it is dropped,
// and the server keeps serving.
TEST_P(RawSocketE2E, OversizeDatagramIsDropped) {
    UdpPeer udp = peer();
    std::string payload(2000 - 10, 'x');
    ByteVector big = encode_message(MessageType::con, Code::put, udp.next_mid(), {},
                                    {{11, text_value("test")}}, payload);
    ASSERT_EQ(big.size(), 2000u);
    udp.send(big);
    std::optional<ByteVector> reply = udp.receive(silence_timeout);
    EXPECT_FALSE(reply.has_value()) << "answered the oversize datagram with " << hex(*reply);
    check_still_serving(udp);
}

// coapd stops cleanly on SIGTERM and SIGINT (exit status 0, final statistics line).
class CoapdProcessE2E : public ::testing::TestWithParam<int> {};

std::string signal_param_name(const ::testing::TestParamInfo<int>& info) {
    return info.param == SIGTERM ? "SIGTERM" : "SIGINT";
}

INSTANTIATE_TEST_SUITE_P(Robustness, CoapdProcessE2E, ::testing::Values(SIGTERM, SIGINT),
                         signal_param_name);

TEST_P(CoapdProcessE2E, StopsCleanlyOnSignal) {
    Process coapd({COAPD_PATH, "--port", "0", "--bind", "::"});
    std::optional<std::string> line = coapd.read_line(10s);
    ASSERT_TRUE(line.has_value()) << "no start-up line; stderr: " << coapd.stderr_text();
    EXPECT_EQ(line->rfind("coapd: serving coap://[::]:", 0), 0u) << *line;
    ASSERT_EQ(::kill(coapd.pid(), GetParam()), 0);
    std::optional<int> status = coapd.wait(10s);
    ASSERT_TRUE(status.has_value()) << "coapd did not stop";
    EXPECT_EQ(*status, 0) << "stderr: " << coapd.stderr_text();
    EXPECT_NE(coapd.stdout_text().find("coapd: stopped after"), std::string::npos)
        << coapd.stdout_text();
}

}  // namespace
