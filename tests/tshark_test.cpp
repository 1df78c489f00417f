// Cross-checks the encoder against an independent decoder: Wireshark's CoAP dissector.
//
// A fixed set of messages (every type, token lengths 0-8, requests and responses, every
// registered option at its shortest and longest valid length, extended deltas and lengths,
// Block1/Block2 exchanges, payloads) is encoded with coap::encode and coap::MessageWriter,
// written into a classic pcap file as IPv4/UDP datagrams on port 5683, and dissected by tshark.
// tshark must find one CoAP message per frame, with the option count and payload length we
// encoded, and must report nothing malformed and no expert warning or error, except for the
// few known deviations of this tshark version listed in `known_deviations` (options it does not
// know yet, one table entry that disagrees with RFC 7252), which are printed, not hidden.
// On failure the test prints tshark's summary line and the bytes of each failing message, and
// keeps the capture file.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "coap/message.hpp"
#include "coap/option.hpp"

namespace coap {
namespace {

using ByteVector = std::vector<std::uint8_t>;

ByteVector to_bytes(std::string_view text) {
    return ByteVector(text.begin(), text.end());
}

ByteVector uint_bytes(std::uint32_t value) {
    UintValue encoded(value);
    return ByteVector(encoded.bytes().begin(), encoded.bytes().end());
}

ByteVector block_bytes(std::uint32_t num, bool more, std::uint8_t szx) {
    UintValue encoded = encode_block({.num = num, .more = more, .szx = szx});
    return ByteVector(encoded.bytes().begin(), encoded.bytes().end());
}

ByteVector pattern(std::size_t size, std::uint8_t seed) {
    ByteVector out(size);
    for (std::size_t i = 0; i < size; ++i)
        out[i] = static_cast<std::uint8_t>(seed + 7 * i);
    return out;
}

std::string hex(const ByteVector& data) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (std::uint8_t byte : data) {
        out += digits[byte >> 4];
        out += digits[byte & 0x0f];
    }
    return out;
}

// One encoded message and what tshark should find in it.
struct Sample {
    std::string name;
    ByteVector wire;
    std::size_t option_count = 0;
    std::size_t payload_size = 0;
    bool from_server = false;  // direction of the datagram (port 5683 is the source)
};

// Collects a message's parts (owning the option values) and encodes it with coap::encode.
class Builder {
  public:
    Builder(std::string name, MessageType type, Code code, std::uint16_t message_id,
            ByteVector token = {})
        : name_(std::move(name)),
          type_(type),
          code_(code),
          id_(message_id),
          token_(std::move(token)) {}

    Builder& option(OptionNumber number, ByteVector value) {
        options_.emplace_back(number, std::move(value));
        return *this;
    }
    Builder& option(OptionNumber number, std::string_view value) {
        return option(number, to_bytes(value));
    }
    Builder& uint_option(OptionNumber number, std::uint32_t value) {
        return option(number, uint_bytes(value));
    }
    Builder& payload(ByteVector payload) {
        payload_ = std::move(payload);
        return *this;
    }
    Builder& payload(std::string_view payload) { return this->payload(to_bytes(payload)); }

    Sample encode() const {
        // The options go to encode() in descending number order (equal numbers keep their
        // order), so that its sorting is exercised too.
        std::vector<Option> options;
        for (const auto& [number, value] : options_)
            options.push_back({number, value});
        std::stable_sort(options.begin(), options.end(), [](const Option& a, const Option& b) {
            return to_int(a.number) > to_int(b.number);
        });
        Message message{.type = type_,
                        .code = code_,
                        .message_id = id_,
                        .token = token_,
                        .options = options,
                        .payload = payload_};
        Sample sample{.name = name_,
                      .wire = ByteVector(encoded_size(message)),
                      .option_count = options_.size(),
                      .payload_size = payload_.size(),
                      .from_server = is_response(code_) || type_ == MessageType::ack ||
                                     type_ == MessageType::rst};
        auto written = coap::encode(message, sample.wire);
        EXPECT_TRUE(written.has_value()) << name_ << ": " << describe(written.error());
        if (written) {
            EXPECT_EQ(*written, sample.wire.size()) << name_;
        }
        return sample;
    }

  private:
    std::string name_;
    MessageType type_;
    Code code_;
    std::uint16_t id_;
    ByteVector token_;
    std::vector<std::pair<OptionNumber, ByteVector>> options_;
    ByteVector payload_;
};

// Valid values of a registered option: one at its shortest and one at its longest length
// (for uint options: the smallest value of that many bytes), meaningful where the option's RFC
// gives the value a structure.
std::vector<ByteVector> valid_values(const OptionDef& def) {
    std::size_t shortest = def.min_length;
    std::size_t longest = def.max_length;
    switch (def.number) {
        case OptionNumber::uri_host:  // a host name of labels, 1 and 255 characters
        {
            std::string host;
            while (host.size() < longest)
                host += host.empty() ? "a" : ".b";
            host.resize(longest);
            if (host.back() == '.') host.back() = 'c';
            return {to_bytes("h"), to_bytes(host)};
        }
        case OptionNumber::oscore:  // RFC 8613 §6.1: flags, Partial IV, kid context, kid
            return {{}, {0x09, 0x14}, {0x19, 0x05, 0x03, 'c', 't', 'x', 'k', 'i', 'd'}};
        case OptionNumber::observe:  // RFC 7641 §2: register and deregister in requests
            return {uint_bytes(0), uint_bytes(1)};
        case OptionNumber::proxy_uri: {
            std::string uri = "coap://example.com/";
            uri.resize(longest, 'p');
            return {to_bytes("coap://h"), to_bytes(uri)};
        }
        case OptionNumber::proxy_scheme: {
            std::string scheme = "coap";
            scheme.resize(longest, 'x');
            return {to_bytes("coap"), to_bytes(scheme)};
        }
        case OptionNumber::hop_limit:
            return {uint_bytes(1), uint_bytes(16), uint_bytes(255)};
        case OptionNumber::no_response:
            return {uint_bytes(0), uint_bytes(2), uint_bytes(26)};
        case OptionNumber::content_format:
        case OptionNumber::accept:  // text/plain, application/cbor, application/vnd.oma.lwm2m+tlv
            return {uint_bytes(0), uint_bytes(60), uint_bytes(11542)};
        case OptionNumber::block1:
        case OptionNumber::block2:
        case OptionNumber::q_block1:
        case OptionNumber::q_block2:
            return {block_bytes(0, false, 0), block_bytes(1, true, 6),
                    block_bytes(max_block_num, false, 2)};
        default:
            break;
    }
    std::vector<ByteVector> values;
    for (std::size_t length : {shortest, longest}) {
        if (!values.empty() && length == shortest) break;
        switch (def.format) {
            case OptionFormat::empty:
                values.emplace_back();
                break;
            case OptionFormat::opaque:
                values.push_back(pattern(length, 0xa0));
                break;
            case OptionFormat::string: {
                std::string text = def.number == OptionNumber::uri_query ? "k=" : "s";
                text.resize(length, 'v');
                values.push_back(to_bytes(text.substr(0, length)));
                break;
            }
            case OptionFormat::uint:
                values.push_back(
                    uint_bytes(length == 0 ? 0 : std::uint32_t{1} << (8 * (length - 1))));
                break;
        }
    }
    return values;
}

// Options a server puts in responses; every other registered option goes into a request.
bool is_response_option(OptionNumber number) {
    switch (number) {
        case OptionNumber::location_path:
        case OptionNumber::location_query:
        case OptionNumber::max_age:
        case OptionNumber::size2:
            return true;
        default:
            return false;
    }
}

std::vector<Sample> build_samples() {
    std::vector<Sample> samples;
    std::uint16_t id = 0x1000;
    // Every exchange gets its own token, so that tshark's request/response matching is exact.
    std::uint8_t token_seed = 0x31;
    auto token = [&](std::size_t length) {
        token_seed = static_cast<std::uint8_t>(token_seed + 0x1d);
        return pattern(length, token_seed);
    };

    // Requests with every method and token lengths 0-8, each answered by a piggybacked ACK.
    const std::pair<Code, const char*> methods[] = {
        {Code::get, "GET"},       {Code::post, "POST"},   {Code::put, "PUT"},
        {Code::del, "DELETE"},    {Code::fetch, "FETCH"}, {Code::patch, "PATCH"},
        {Code::ipatch, "iPATCH"}, {Code::get, "GET"},     {Code::get, "GET"},
    };
    for (std::size_t tkl = 0; tkl <= max_token_length; ++tkl) {
        auto [method, method_name] = methods[tkl];
        std::string name = std::string(method_name) + " token " + std::to_string(tkl);
        ByteVector exchange_token = token(tkl);
        Builder request(name, MessageType::con, method, id, exchange_token);
        request.option(OptionNumber::uri_path, "sensors").option(OptionNumber::uri_path, "temp");
        if (method != Code::get && method != Code::del)
            request.uint_option(OptionNumber::content_format, 0).payload("22.5");
        samples.push_back(request.encode());
        samples.push_back(
            Builder("ACK 2.05 for " + name, MessageType::ack, Code::content, id, exchange_token)
                .uint_option(OptionNumber::content_format, 0)
                .payload("22.3 C")
                .encode());
        ++id;
    }

    // Empty messages and the other message types.
    samples.push_back(Builder("CON ping", MessageType::con, Code::empty, id).encode());
    samples.push_back(Builder("RST pong", MessageType::rst, Code::empty, id++).encode());
    samples.push_back(Builder("empty ACK", MessageType::ack, Code::empty, id++).encode());
    samples.push_back(Builder("NON request", MessageType::non, Code::get, id++, token(4))
                          .option(OptionNumber::uri_path, "n")
                          .encode());
    samples.push_back(Builder("NON notification", MessageType::non, Code::content, id++, token(4))
                          .uint_option(OptionNumber::observe, 12)
                          .uint_option(OptionNumber::content_format, 50)
                          .payload(R"({"t":21})")
                          .encode());
    samples.push_back(
        Builder("CON separate response", MessageType::con, Code::content, id++, token(2))
            .payload("late")
            .encode());

    // Every registered response code, as an ACK with a diagnostic payload.
    const Code responses[] = {
        Code::created,
        Code::deleted,
        Code::valid,
        Code::changed,
        Code::content,
        Code::continue_,
        Code::bad_request,
        Code::unauthorized,
        Code::bad_option,
        Code::forbidden,
        Code::not_found,
        Code::method_not_allowed,
        Code::not_acceptable,
        Code::request_entity_incomplete,
        Code::conflict,
        Code::precondition_failed,
        Code::request_entity_too_large,
        Code::unsupported_content_format,
        Code::unprocessable_entity,
        Code::too_many_requests,
        Code::internal_server_error,
        Code::not_implemented,
        Code::bad_gateway,
        Code::service_unavailable,
        Code::gateway_timeout,
        Code::proxying_not_supported,
        Code::hop_limit_reached,
    };
    for (Code code : responses) {
        std::string name = "ACK " + std::string(code_text(code).view());
        Builder response(name, MessageType::ack, code, id++, token(1));
        if (code == Code::created)
            response.option(OptionNumber::location_path, "items")
                .option(OptionNumber::location_path, "7")
                .option(OptionNumber::location_query, "rev=1");
        if (code == Code::valid) response.option(OptionNumber::etag, pattern(4, 1));
        if (code == Code::request_entity_too_large) response.uint_option(OptionNumber::size1, 1024);
        if (code == Code::too_many_requests || code == Code::service_unavailable)
            response.uint_option(OptionNumber::max_age, 30);
        if (is_error(code)) response.payload(code_name(code));
        samples.push_back(response.encode());
    }

    // Every registered option, alone, with each of its valid values.
    for (const OptionDef& def : option_registry()) {
        std::vector<ByteVector> values = valid_values(def);
        EXPECT_FALSE(values.empty()) << def.name;
        for (const ByteVector& value : values) {
            std::string name = std::string(def.name) + " length " + std::to_string(value.size());
            bool response = is_response_option(def.number);
            Code code = response ? Code::content : Code::get;
            // RFC 8613 §4.2, §6.1: OSCORE requests are POSTs carrying a Partial IV, responses
            // are 2.04 and may have an empty option; both carry the ciphertext as payload.
            bool oscore = def.number == OptionNumber::oscore;
            if (oscore) {
                response = value.empty();
                code = response ? Code::changed : Code::post;
            }
            Builder message(name, response ? MessageType::ack : MessageType::con, code, id++,
                            token(2));
            if (oscore) message.payload(pattern(16, 0x77));
            message.option(def.number, value);
            samples.push_back(message.encode());
        }
    }

    // All registered request options at once; all registered response options at once.
    {
        Builder request("every request option", MessageType::con, Code::fetch, id++, token(8));
        Builder response("every response option", MessageType::ack, Code::content, id++, token(8));
        for (const OptionDef& def : option_registry()) {
            switch (def.number) {
                case OptionNumber::oscore:          // changes how the payload is read
                case OptionNumber::proxy_uri:       // excludes the Uri-* options (§5.10.2)
                case OptionNumber::q_block1:        // not combined with Block1/Block2
                case OptionNumber::q_block2:        // (RFC 9177 §4)
                case OptionNumber::content_format:  // added below, to match the payload
                case OptionNumber::observe:
                    continue;
                default:
                    break;
            }
            std::vector<ByteVector> values = valid_values(def);
            Builder& message = is_response_option(def.number) ? response : request;
            message.option(def.number, values.back());
            if (def.repeatable) message.option(def.number, values.front());
        }
        request.uint_option(OptionNumber::content_format, 42).uint_option(OptionNumber::observe, 0);
        response.option(OptionNumber::etag, pattern(8, 3))
            .uint_option(OptionNumber::content_format, 42)
            .uint_option(OptionNumber::observe, 0x123456);
        samples.push_back(request.payload(pattern(40, 9)).encode());
        samples.push_back(response.payload(pattern(40, 10)).encode());
    }

    // Extended option deltas and lengths around the 13 and 269 boundaries.
    for (std::size_t length : {12u, 13u, 14u, 255u}) {
        samples.push_back(Builder("Uri-Path length " + std::to_string(length), MessageType::con,
                                  Code::get, id++, token(3))
                              .option(OptionNumber::uri_path, std::string(length, 'x'))
                              .encode());
    }
    samples.push_back(Builder("delta 268 then 292", MessageType::con, Code::post, id++, token(3))
                          .option(OptionNumber::uri_path, "d")
                          .option(OptionNumber::echo, pattern(40, 5))
                          .option(OptionNumber::request_tag, pattern(8, 6))
                          .payload("x")
                          .encode());

    // A Block2 download (RFC 7959 §3.2) and a Block1 upload (§3.3), block by block.
    {
        ByteVector body = pattern(150, 0x40);
        ByteVector download = token(4);
        for (std::uint32_t num = 0; num < 3; ++num) {
            std::uint16_t mid = id++;
            samples.push_back(Builder("Block2 request " + std::to_string(num), MessageType::con,
                                      Code::get, mid, download)
                                  .option(OptionNumber::uri_path, "large")
                                  .option(OptionNumber::block2, block_bytes(num, false, 2))
                                  .encode());
            std::size_t begin = num * 64;
            std::size_t end = std::min<std::size_t>(begin + 64, body.size());
            bool more = end < body.size();
            Builder response("Block2 response " + std::to_string(num), MessageType::ack,
                             Code::content, mid, download);
            response.uint_option(OptionNumber::content_format, 42)
                .option(OptionNumber::block2, block_bytes(num, more, 2));
            if (num == 0) response.uint_option(OptionNumber::size2, 150);
            response.payload(ByteVector(body.begin() + begin, body.begin() + end));
            samples.push_back(response.encode());
        }
        ByteVector upload = token(5);
        for (std::uint32_t num = 0; num < 3; ++num) {
            std::uint16_t mid = id++;
            std::size_t begin = num * 32;
            std::size_t end = std::min<std::size_t>(begin + 32, 70);
            bool more = end < 70;
            Builder request("Block1 request " + std::to_string(num), MessageType::con, Code::put,
                            mid, upload);
            request.option(OptionNumber::uri_path, "upload")
                .uint_option(OptionNumber::content_format, 42)
                .option(OptionNumber::block1, block_bytes(num, more, 1));
            if (num == 0) request.uint_option(OptionNumber::size1, 70);
            request.payload(ByteVector(body.begin() + begin, body.begin() + end));
            samples.push_back(request.encode());
            samples.push_back(Builder("Block1 response " + std::to_string(num), MessageType::ack,
                                      more ? Code::continue_ : Code::changed, mid, upload)
                                  .option(OptionNumber::block1, block_bytes(num, more, 1))
                                  .encode());
        }
    }

    // Payload sizes.
    for (std::size_t size : {1u, 255u, 1024u}) {
        samples.push_back(Builder("payload " + std::to_string(size), MessageType::non,
                                  Code::content, id++, token(1))
                              .uint_option(OptionNumber::content_format, 42)
                              .payload(pattern(size, 0x11))
                              .encode());
    }

    // The same kind of messages written piece by piece with MessageWriter.
    auto write = [&](std::string name, std::size_t options, std::size_t payload_size,
                     bool from_server, auto&& steps) {
        Sample sample{.name = std::move(name),
                      .wire = ByteVector(1500),
                      .option_count = options,
                      .payload_size = payload_size,
                      .from_server = from_server};
        MessageWriter writer(sample.wire);
        steps(writer);
        auto written = writer.finish();
        EXPECT_TRUE(written.has_value()) << sample.name << ": " << describe(written.error());
        sample.wire.resize(written ? *written : 0);
        samples.push_back(std::move(sample));
    };
    ByteVector writer_token = token(6);
    std::uint16_t writer_id = id++;
    write("MessageWriter request", 5, 0, false, [&](MessageWriter& w) {
        w.header(MessageType::con, Code::get, writer_id, writer_token)
            .option(OptionNumber::uri_host, "example.com")
            .uint_option(OptionNumber::uri_port, 5683)
            .option(OptionNumber::uri_path, "a")
            .option(OptionNumber::uri_query, "x=1")
            .uint_option(OptionNumber::accept, 50);
    });
    constexpr std::string_view json = R"({"value":"22.3"})";
    write("MessageWriter response", 3, json.size(), true, [&](MessageWriter& w) {
        w.header(MessageType::ack, Code::content, writer_id, writer_token)
            .uint_option(OptionNumber::observe, 3)
            .uint_option(OptionNumber::content_format, 50)
            .uint_option(OptionNumber::max_age, 60)
            .payload(json);
    });
    write("MessageWriter RST", 0, 0, true,
          [&](MessageWriter& w) { w.header(MessageType::rst, Code::empty, id++); });
    return samples;
}

// --- pcap (https://wiki.wireshark.org/Development/LibpcapFileFormat), LINKTYPE_RAW -----------

void put16(std::string& out, std::uint16_t value, bool big_endian) {
    if (big_endian) {
        out += static_cast<char>(value >> 8);
        out += static_cast<char>(value & 0xff);
    } else {
        out += static_cast<char>(value & 0xff);
        out += static_cast<char>(value >> 8);
    }
}

void put32le(std::string& out, std::uint32_t value) {
    put16(out, static_cast<std::uint16_t>(value & 0xffff), false);
    put16(out, static_cast<std::uint16_t>(value >> 16), false);
}

std::uint16_t ipv4_checksum(std::string_view header) {
    std::uint32_t sum = 0;
    for (std::size_t i = 0; i + 1 < header.size(); i += 2)
        sum +=
            (static_cast<std::uint8_t>(header[i]) << 8) | static_cast<std::uint8_t>(header[i + 1]);
    while (sum > 0xffff)
        sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(~sum);
}

// The sample's message in a UDP datagram (checksum 0: none) in an IPv4 packet.
std::string ip_udp_datagram(const Sample& sample, std::uint16_t ip_id) {
    constexpr std::uint16_t client_port = 49152;
    constexpr std::uint16_t coap_port = 5683;
    const std::string client_ip("\xc0\x00\x02\x01", 4);  // 192.0.2.1 (TEST-NET-1)
    const std::string server_ip("\xc0\x00\x02\x02", 4);  // 192.0.2.2
    auto udp_length = static_cast<std::uint16_t>(8 + sample.wire.size());
    std::string ip;
    ip += '\x45';  // version 4, 5 words
    ip += '\x00';
    put16(ip, static_cast<std::uint16_t>(20 + udp_length), true);
    put16(ip, ip_id, true);
    put16(ip, 0x4000, true);  // don't fragment
    ip += '\x40';             // TTL 64
    ip += '\x11';             // UDP
    put16(ip, 0, true);
    ip += sample.from_server ? server_ip : client_ip;
    ip += sample.from_server ? client_ip : server_ip;
    std::uint16_t checksum = ipv4_checksum(ip);
    ip[10] = static_cast<char>(checksum >> 8);
    ip[11] = static_cast<char>(checksum & 0xff);
    put16(ip, sample.from_server ? coap_port : client_port, true);
    put16(ip, sample.from_server ? client_port : coap_port, true);
    put16(ip, udp_length, true);
    put16(ip, 0, true);
    ip.append(sample.wire.begin(), sample.wire.end());
    return ip;
}

std::string pcap_file(const std::vector<Sample>& samples) {
    constexpr std::uint32_t linktype_raw = 101;
    constexpr std::uint32_t base_time = 1700000000;  // fixed, so the capture is reproducible
    std::string out;
    put32le(out, 0xa1b2c3d4);  // magic, microsecond timestamps
    put16(out, 2, false);      // version 2.4
    put16(out, 4, false);
    put32le(out, 0);  // thiszone
    put32le(out, 0);  // sigfigs
    put32le(out, 65535);
    put32le(out, linktype_raw);
    for (std::size_t i = 0; i < samples.size(); ++i) {
        std::string packet = ip_udp_datagram(samples[i], static_cast<std::uint16_t>(i + 1));
        put32le(out, base_time + static_cast<std::uint32_t>(i));
        put32le(out, 0);
        put32le(out, static_cast<std::uint32_t>(packet.size()));
        put32le(out, static_cast<std::uint32_t>(packet.size()));
        out += packet;
    }
    return out;
}

// --- running tshark ----------------------------------------------------------------------

struct TempDir {
    std::filesystem::path path;
    bool keep = false;  // set when a test fails, so that the capture can be inspected
    TempDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "coap-tshark-XXXXXX");
        if (mkdtemp(pattern.data()) != nullptr) path = pattern;
    }
    ~TempDir() {
        std::error_code ignored;
        if (!path.empty() && !keep) std::filesystem::remove_all(path, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
};

bool tshark_available() {
    return std::system("tshark --version >/dev/null 2>&1") == 0;
}

// Runs `command` and returns its standard output, or nullopt when it could not run or failed.
std::optional<std::string> run(const std::string& command) {
    FILE* raw = popen(command.c_str(), "r");
    if (raw == nullptr) return std::nullopt;
    std::string output;
    char buffer[4096];
    std::size_t n;
    while ((n = std::fread(buffer, 1, sizeof buffer, raw)) > 0)
        output.append(buffer, n);
    int status = pclose(raw);
    if (status != 0) return std::nullopt;
    return output;
}

// tshark -V prints one unindented line per protocol layer; a frame starts at "Frame N:".
struct Frame {
    std::vector<std::string> lines;
    std::string coap_summary;
    std::size_t coap_layers = 0;
};

std::vector<Frame> split_frames(const std::string& output) {
    std::vector<Frame> frames;
    std::istringstream in(output);
    std::string line;
    while (std::getline(in, line)) {
        if (line.starts_with("Frame ")) frames.emplace_back();
        if (frames.empty()) continue;
        if (line.starts_with("Constrained Application Protocol")) {
            ++frames.back().coap_layers;
            frames.back().coap_summary = line;
        }
        frames.back().lines.push_back(line);
    }
    return frames;
}

// Expert infos that this tshark (4.0) raises on messages that are valid per their RFCs. Each
// is tolerated only inside the option named by `option` (when given) and is listed in the
// test output, so that a deviation is visible rather than hidden.
struct KnownDeviation {
    std::string_view message;  // the expert info text, as tshark prints it
    std::string_view option;   // the "Opt Name" line it must appear under, or "" for any
    std::string_view reason;
};

constexpr KnownDeviation known_deviations[] = {
    {"Invalid Option Number 19]", "Unknown Option (19)",
     "Q-Block1 (RFC 9177) is not known to this tshark, which flags unknown options"},
    {"Invalid Option Number 31]", "Unknown Option (31)",
     "Q-Block2 (RFC 9177) is not known to this tshark, which flags unknown options"},
    {"Invalid Option Number 252]", "No-Op",
     "Echo (RFC 9175) is not known to this tshark (it names 252 \"No-Op\" and flags it)"},
    {"Invalid Option Number 258]", "Unknown Option (258)",
     "No-Response (RFC 7967) is not known to this tshark, which flags unknown options"},
    {"Invalid Option Number 292]", "Unknown Option (292)",
     "Request-Tag (RFC 9175) is not known to this tshark, which flags unknown options"},
    {"Invalid Option Range: 0 (1 < x < 255)]",
     "Uri-Query:", "tshark wants Uri-Query to be 1-255 bytes; RFC 7252 §5.10 Table 4 allows 0-255"},
    {"can't decrypt]", "",
     "the OSCORE dissector cannot decrypt the payload without a security context"},
};

bool is_problem(std::string_view line) {
    return line.find("Malformed") != std::string_view::npos ||
           line.find("Expert Info (Error") != std::string_view::npos ||
           line.find("Expert Info (Warning") != std::string_view::npos;
}

std::size_t indentation(std::string_view line) {
    std::size_t n = line.find_first_not_of(' ');
    return n == std::string_view::npos ? line.size() : n;
}

// The lines of `frame` that report a problem, leaving out the known deviations (whose
// expert-info subtree is skipped); `tolerated` counts the deviations seen, by index.
std::vector<std::string> problems(const Frame& frame, std::vector<std::size_t>& tolerated) {
    std::vector<std::string> found;
    std::string_view option_line;
    for (std::size_t i = 0; i < frame.lines.size(); ++i) {
        std::string_view line = frame.lines[i];
        if (indentation(line) == 0) option_line = {};
        if (line.find("Opt Name: #") != std::string_view::npos) option_line = line;
        bool known = false;
        for (std::size_t k = 0; k < std::size(known_deviations) && !known; ++k) {
            const KnownDeviation& deviation = known_deviations[k];
            known = line.find("[Expert Info (") != std::string_view::npos &&
                    line.find(deviation.message) != std::string_view::npos &&
                    option_line.find(deviation.option) != std::string_view::npos;
            if (known) ++tolerated[k];
        }
        bool problem = !known && is_problem(line);
        if (problem) found.emplace_back(line);
        // An expert info's subtree repeats it ("[Group: Malformed]"): skip it either way.
        if (known || (problem && line.find("[Expert Info (") != std::string_view::npos)) {
            std::size_t depth = indentation(line);
            while (i + 1 < frame.lines.size() && indentation(frame.lines[i + 1]) > depth)
                ++i;
        }
    }
    return found;
}

std::size_t count_containing(const Frame& frame, std::string_view needle) {
    std::size_t n = 0;
    for (const std::string& line : frame.lines)
        if (line.find(needle) != std::string::npos) ++n;
    return n;
}

// tshark prints the payload length as "[Payload Length: N]", or "[Block Length: N]" when the
// message carries a Block option.
std::size_t payload_length_lines(const Frame& frame, std::size_t length) {
    std::string size = std::to_string(length) + "]";
    return count_containing(frame, "[Payload Length: " + size) +
           count_containing(frame, "[Block Length: " + size);
}

TEST(Tshark, DissectsEveryEncodedMessageWithoutErrors) {
    if (!tshark_available()) {
        std::printf("tshark not found in PATH: skipping the dissector cross-check\n");
        GTEST_SKIP() << "tshark is not installed (Debian package: tshark)";
    }

    std::vector<Sample> samples = build_samples();
    ASSERT_FALSE(HasFailure()) << "encoding the samples failed";

    TempDir dir;
    ASSERT_FALSE(dir.path.empty()) << "cannot create a temporary directory";
    std::filesystem::path capture = dir.path / "coap.pcap";
    {
        std::ofstream file(capture, std::ios::binary);
        std::string data = pcap_file(samples);
        file.write(data.data(), static_cast<std::streamsize>(data.size()));
        ASSERT_TRUE(file.good()) << "cannot write " << capture;
    }
    // -n: no name resolution; -V: the full protocol tree. stderr goes to a file so that
    // tshark's notices (e.g. about running as root) stay out of the parsed output.
    std::filesystem::path errors = dir.path / "tshark.err";
    std::string command = "tshark -n -V -r '" + capture.string() + "' 2>'" + errors.string() + "'";
    std::optional<std::string> output = run(command);
    ASSERT_TRUE(output.has_value()) << "tshark failed: " << command << "\n"
                                    << std::ifstream(errors).rdbuf();

    std::vector<Frame> frames = split_frames(*output);
    ASSERT_EQ(frames.size(), samples.size()) << *output;
    std::vector<std::size_t> tolerated(std::size(known_deviations));
    std::size_t coap_sections = 0;
    for (std::size_t i = 0; i < samples.size(); ++i) {
        const Sample& sample = samples[i];
        const Frame& frame = frames[i];
        coap_sections += frame.coap_layers;
        SCOPED_TRACE("frame " + std::to_string(i + 1) + " (" + sample.name +
                     "): " + frame.coap_summary + "\n  bytes: " + hex(sample.wire));
        EXPECT_EQ(frame.coap_layers, 1u);
        for (const std::string& line : problems(frame, tolerated))
            ADD_FAILURE() << "tshark reports: " << line;
        EXPECT_EQ(count_containing(frame, "Opt Name: #"), sample.option_count)
            << "options tshark found";
        if (sample.payload_size > 0) {
            EXPECT_EQ(payload_length_lines(frame, sample.payload_size), 1u)
                << "payload of " << sample.payload_size << " bytes not found";
        }
    }
    EXPECT_EQ(coap_sections, samples.size());

    std::printf("%zu messages dissected by tshark; known tshark deviations tolerated:\n",
                samples.size());
    for (std::size_t k = 0; k < std::size(known_deviations); ++k) {
        if (tolerated[k] > 0)
            std::printf("  %3zu x %s\n", tolerated[k],
                        std::string(known_deviations[k].reason).c_str());
    }
    if (HasFailure()) {
        dir.keep = true;
        std::printf("capture kept for inspection: tshark -n -V -r %s\n", capture.c_str());
    }
}

}  // namespace
}  // namespace coap
