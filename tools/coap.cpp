// coap: a command-line CoAP client, like curl for CoAP (libcoap's coap-client is the reference
// for what users expect). The response payload goes to stdout, byte for byte; diagnostics go to
// stderr. Exit codes: 0 for 2.xx, 4 for 4.xx, 5 for 5.xx, 2 for usage errors, 3 when the server
// cannot be reached (timeout, reset, network), 1 for anything else.
#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "coap/client.hpp"
#include "coap/codes.hpp"
#include "coap/content_format.hpp"
#include "coap/option.hpp"
#include "coap/uri.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr int exit_ok = 0;
constexpr int exit_other = 1;
constexpr int exit_usage = 2;
constexpr int exit_unreachable = 3;
constexpr int exit_client_error = 4;
constexpr int exit_server_error = 5;

// A failure that ends the program with `code` after printing `message` (without "coap: ").
struct Failure {
    int code;
    std::string message;
};

void say(const std::string& text) {
    std::fprintf(stderr, "coap: %s\n", text.c_str());
}

std::string format_seconds(double seconds) {
    char text[32];
    if (seconds < 1)
        std::snprintf(text, sizeof text, "%.1f ms", seconds * 1000);
    else if (seconds < 10)
        std::snprintf(text, sizeof text, "%.1f s", seconds);
    else
        std::snprintf(text, sizeof text, "%.0f s", seconds);
    return text;
}

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string hex_text(coap::Bytes bytes) {
    std::string out = "0x";
    char two[3];
    for (std::uint8_t byte : bytes) {
        std::snprintf(two, sizeof two, "%02x", byte);
        out += two;
    }
    return out;
}

std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// ---------------------------------------------------------------------------------------------
// Command line.

struct Arguments {
    std::string method;
    std::string uri;
    std::optional<std::string> text;
    std::optional<std::string> file;
    std::optional<std::string> content_format;
    std::optional<std::string> accept;
    std::vector<std::string> options;
    std::optional<unsigned> block_size;
    bool non_confirmable = false;
    std::optional<std::string> token;
    std::optional<double> observe_seconds;
    bool verbose = false;
    std::optional<double> timeout;
    std::optional<std::string> psk_identity;  // -u
    std::optional<std::string> psk_key;       // -k, as text
    std::optional<std::string> psk_key_hex;   // --psk-key-hex
};

constexpr const char* help_footer = R"(Methods:
  get, post, put, delete, fetch, patch   one request; the response payload goes to stdout
  observe                                GET with Observe (RFC 7641): each notification's payload
                                         on its own line, until -s SECONDS pass or Ctrl-C (which
                                         deregisters cleanly; before the first response it
                                         exits with 130); `get -s SECONDS` does the same

URI: coap://host[:port]/path?query, host a name, an IPv4 address or an IPv6 address in brackets
     (coap://[::1]/test). coaps://host[:port]/... (default port 5684) speaks DTLS 1.2 with a
     pre-shared key (TLS_PSK_WITH_AES_128_CCM_8, RFC 7252 §9.1.3.1): give the PSK identity with
     -u and the key with -k (as text, like libcoap's coap-client) or --psk-key-hex.

Formats (-C, -A): a short name (text, link, xml, octet, json, cbor, senml-json, ...), a media
     type (application/json) or a number (0-65535).

Options (-O NUM,VALUE, repeatable): NUM is an option number or a registered name (If-Match,
     ETag, Uri-Query, Max-Age, ...). VALUE is text; 0x-prefixed hex for bytes (-O 4,0x0a0b); a
     decimal number for uint options (-O 14,60). -O NUM alone adds an empty option
     (-O If-None-Match). Observe, Block1, Block2, Size1 and Echo are managed by the client.

Output: the payload exactly as received (a newline is added only when stdout is a terminal;
     /.well-known/core links are then shown one per line). Error responses print their code,
     and a diagnostic payload, on stderr. -v adds the request, response code, options and
     timing on stderr.

Exit status: 0 for a 2.xx response, 4 for 4.xx, 5 for 5.xx, 2 for usage errors, 3 when the
     server could not be reached (no response, reset, port unreachable, unknown host), 1 for
     other failures (malformed response, body too large, unreadable file). A failed DTLS
     handshake (wrong key, unknown identity, no DTLS server) exits with 3 and says why.

Examples:
  coap get coap://127.0.0.1/.well-known/core
  coap put -C json -e '{"on":true}' coap://[::1]:5683/lamp
  coap post -f image.cbor -C cbor -b 256 coap://host/upload
  coap observe -s 60 coap://host/time
  coap get -u device-1 -k secretPSK coaps://host/sensors/temp
  echo hi | coap post -f - coap://host/echo)";

// Parses the command line; returns the exit code to use when the program should stop.
std::optional<int> parse_command_line(int argc, char** argv, Arguments& args) {
    CLI::App app{"coap - a command-line CoAP client (RFC 7252, 7641, 7959)", "coap"};
    app.footer(help_footer);
    app.get_formatter()->column_width(22);
    app.add_option("method", args.method, "get, post, put, delete, fetch, patch or observe")
        ->required()
        ->check(CLI::IsMember({"get", "post", "put", "delete", "fetch", "patch", "observe"},
                              CLI::ignore_case));
    app.add_option("uri", args.uri, "coap://host[:port]/path?query")->required();
    app.add_option("-e", args.text, "Payload given as text")->type_name("TEXT");
    app.add_option("-f", args.file, "Payload read from FILE ('-' reads stdin)")->type_name("FILE");
    app.add_option("-C", args.content_format, "Content-Format of the payload")->type_name("FORMAT");
    app.add_option("-A", args.accept, "Accept: the format wanted in the response")
        ->type_name("FORMAT");
    app.add_option("-O", args.options, "Adds an option (repeatable); see below")
        ->type_name("NUM,VALUE")
        ->allow_extra_args(false);
    app.add_option("-b", args.block_size,
                   "Block size for block-wise transfers: 16, 32, ..., 1024 (default 1024)")
        ->type_name("SIZE");
    app.add_flag("-N", args.non_confirmable, "Send the request as NON (no retransmission)");
    app.add_option("-T", args.token,
                   "Token in hex, up to 8 bytes (e.g. -T cafe); default: a random one")
        ->type_name("TOKEN");
    app.add_option("-s", args.observe_seconds, "How long to observe (default: until interrupted)")
        ->type_name("SECONDS");
    app.add_flag("-v", args.verbose, "Verbose: request, response code, options, timing on stderr");
    app.add_option("--timeout", args.timeout,
                   "Overall deadline: stop waiting for the response after SECONDS")
        ->type_name("SECONDS");
    app.add_option("-u", args.psk_identity, "coaps://: the PSK identity")->type_name("IDENTITY");
    app.add_option("-k", args.psk_key, "coaps://: the pre-shared key, as text")->type_name("KEY");
    app.add_option("--psk-key-hex", args.psk_key_hex, "coaps://: the pre-shared key in hex")
        ->type_name("HEX");
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& help) {
        app.exit(help);
        return exit_ok;
    } catch (const CLI::CallForAllHelp& help) {
        app.exit(help);
        return exit_ok;
    } catch (const CLI::ParseError& error) {
        app.exit(error);
        return exit_usage;
    }
    args.method = lower(args.method);
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Building the request.

std::optional<std::vector<std::uint8_t>> parse_hex(std::string_view digits) {
    if (digits.size() % 2 != 0) return std::nullopt;
    std::vector<std::uint8_t> out;
    for (std::size_t i = 0; i < digits.size(); i += 2) {
        unsigned value = 0;
        for (std::size_t j = i; j < i + 2; ++j) {
            char c = digits[j];
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
        out.push_back(static_cast<std::uint8_t>(value));
    }
    return out;
}

std::optional<std::uint32_t> parse_decimal(std::string_view text) {
    if (text.empty() || text.size() > 10) return std::nullopt;
    std::uint64_t value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value > 0xffffffffu) return std::nullopt;
    return static_cast<std::uint32_t>(value);
}

std::vector<std::uint8_t> uint_bytes(std::uint32_t value) {
    coap::UintValue encoded(value);
    return {encoded.bytes().begin(), encoded.bytes().end()};
}

coap::ContentFormat parse_format(const std::string& text, const char* flag) {
    if (auto format = coap::parse_content_format(text)) return *format;
    if (auto number = parse_decimal(text); number && *number <= 0xffff)
        return static_cast<coap::ContentFormat>(*number);
    throw Failure{exit_usage, std::string(flag) + ": unknown format '" + text +
                                  "' (use a name such as text, json, cbor, link, xml, or a "
                                  "number 0-65535)"};
}

std::string format_name(std::uint32_t number) {
    std::string out = std::to_string(number);
    if (number <= 0xffff)
        if (const auto* def = coap::find_content_format(static_cast<coap::ContentFormat>(number)))
            out += " (" + std::string(def->media_type) + ")";
    return out;
}

std::optional<coap::OptionNumber> option_by_name(std::string_view name) {
    for (const coap::OptionDef& def : coap::option_registry())
        if (lower(def.name) == lower(name)) return def.number;
    return std::nullopt;
}

struct ExtraOption {
    coap::OptionNumber number;
    std::vector<std::uint8_t> value;
};

// "-O NUM,VALUE" (see the help text).
ExtraOption parse_extra_option(const std::string& spec) {
    std::size_t comma = spec.find(',');
    std::string name = spec.substr(0, comma);
    std::optional<std::string> value;
    if (comma != std::string::npos) value = spec.substr(comma + 1);

    std::optional<coap::OptionNumber> number;
    if (auto decimal = parse_decimal(name); decimal && *decimal <= 0xffff)
        number = static_cast<coap::OptionNumber>(*decimal);
    else
        number = option_by_name(name);
    if (!number)
        throw Failure{exit_usage, "-O " + spec + ": '" + name +
                                      "' is neither an option number (0-65535) nor a "
                                      "registered option name"};
    switch (*number) {
        case coap::OptionNumber::observe:
            throw Failure{exit_usage, "-O " + spec + ": use `coap observe URI` to observe"};
        case coap::OptionNumber::block1:
        case coap::OptionNumber::block2:
        case coap::OptionNumber::size1:
            throw Failure{exit_usage, "-O " + spec +
                                          ": block-wise transfer is managed by the client; "
                                          "use -b SIZE for the block size"};
        case coap::OptionNumber::echo:
            throw Failure{exit_usage,
                          "-O " + spec + ": Echo is managed by the client (RFC 9175 retry)"};
        default:
            break;
    }

    ExtraOption option{*number, {}};
    if (!value || value->empty()) return option;
    if (value->size() >= 2 && (*value)[0] == '0' && ((*value)[1] == 'x' || (*value)[1] == 'X')) {
        auto bytes = parse_hex(std::string_view(*value).substr(2));
        if (!bytes)
            throw Failure{exit_usage, "-O " + spec + ": '" + *value +
                                          "' is not valid hex (two digits per byte)"};
        option.value = std::move(*bytes);
        return option;
    }
    const coap::OptionDef* def = coap::find_option_def(*number);
    if (def != nullptr && def->format == coap::OptionFormat::uint) {
        if (auto decimal = parse_decimal(*value)) {
            option.value = uint_bytes(*decimal);
            return option;
        }
        if (*number == coap::OptionNumber::content_format ||
            *number == coap::OptionNumber::accept) {
            option.value = uint_bytes(coap::to_int(parse_format(*value, "-O")));
            return option;
        }
        throw Failure{exit_usage, "-O " + spec + ": " + std::string(def->name) +
                                      " takes a number (or 0x-prefixed hex)"};
    }
    option.value.assign(value->begin(), value->end());
    return option;
}

std::vector<std::uint8_t> read_payload_file(const std::string& path) {
    std::FILE* file = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
    if (file == nullptr)
        throw Failure{exit_other, "cannot read " + path + ": " + std::strerror(errno)};
    std::vector<std::uint8_t> data;
    std::uint8_t chunk[65536];
    for (;;) {
        std::size_t n = std::fread(chunk, 1, sizeof chunk, file);
        data.insert(data.end(), chunk, chunk + n);
        if (n < sizeof chunk) break;
    }
    bool failed = std::ferror(file) != 0;
    int error = errno;
    if (file != stdin) std::fclose(file);
    if (failed)
        throw Failure{exit_other, "cannot read " + (path == "-" ? std::string("stdin") : path) +
                                      ": " + std::strerror(error)};
    return data;
}

coap::Code method_code(const std::string& method) {
    if (method == "post") return coap::Code::post;
    if (method == "put") return coap::Code::put;
    if (method == "delete") return coap::Code::del;
    if (method == "fetch") return coap::Code::fetch;
    if (method == "patch") return coap::Code::patch;
    return coap::Code::get;
}

// ---------------------------------------------------------------------------------------------
// Printing.

std::string option_value_text(const coap::Option& option) {
    const coap::OptionDef* def = coap::find_option_def(option.number);
    if (option.number == coap::OptionNumber::block1 ||
        option.number == coap::OptionNumber::block2) {
        if (auto block = coap::decode_block(option.value))
            return std::to_string(block->num) + (block->more ? "/M/" : "/_/") +
                   std::to_string(block->size());
    }
    if (def != nullptr && def->format == coap::OptionFormat::uint) {
        if (auto value = coap::decode_uint(option.value)) {
            if (option.number == coap::OptionNumber::content_format ||
                option.number == coap::OptionNumber::accept)
                return format_name(*value);
            return std::to_string(*value);
        }
    }
    if (def != nullptr && def->format == coap::OptionFormat::string) {
        return "\"" + std::string(option.as_string()) + "\"";
    }
    if (option.value.empty()) return "(empty)";
    return hex_text(option.value);
}

std::string option_name(coap::OptionNumber number) {
    if (const coap::OptionDef* def = coap::find_option_def(number)) return std::string(def->name);
    return "Option " + std::to_string(coap::to_int(number));
}

void print_options(std::span<const coap::Option> unsorted) {
    std::vector<coap::Option> options(unsorted.begin(), unsorted.end());
    std::stable_sort(options.begin(), options.end(), [](const auto& a, const auto& b) {
        return coap::to_int(a.number) < coap::to_int(b.number);
    });
    for (const coap::Option& option : options)
        say("  " + option_name(option.number) + ": " + option_value_text(option));
}

std::string code_line(coap::Code code) {
    std::string out(coap::code_text(code).view());
    std::string_view name = coap::code_name(code);
    if (!name.empty()) out += " " + std::string(name);
    return out;
}

void print_response_details(const coap::ClientResponse& response, double seconds) {
    const coap::MessageView& message = response.message();
    say("<- " + std::string(coap::type_name(message.type())) + " " + code_line(message.code()) +
        " after " + format_seconds(seconds) + ", token " + hex_text(message.token()) + ", " +
        std::to_string(response.payload().size()) + " payload bytes");
    std::vector<coap::Option> options(message.options().begin(), message.options().end());
    print_options(options);
}

// Splits a link-format document into its links (commas inside <> or quotes do not count).
std::vector<std::string_view> split_links(std::string_view text) {
    std::vector<std::string_view> links;
    bool in_uri = false;
    bool in_quotes = false;
    std::size_t start = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (in_quotes) {
            if (c == '\\' && i + 1 < text.size())
                ++i;
            else if (c == '"')
                in_quotes = false;
        } else if (in_uri) {
            if (c == '>') in_uri = false;
        } else if (c == '<') {
            in_uri = true;
        } else if (c == '"') {
            in_quotes = true;
        } else if (c == ',') {
            links.push_back(text.substr(start, i - start));
            start = i + 1;
        }
    }
    links.push_back(text.substr(start));
    return links;
}

bool stdout_is_terminal() {
    static const bool terminal = ::isatty(STDOUT_FILENO) == 1;
    return terminal;
}

void write_stdout(std::string_view bytes) {
    if (!bytes.empty()) std::fwrite(bytes.data(), 1, bytes.size(), stdout);
}

// The payload of a one-shot request: exact bytes, plus a newline on a terminal.
void print_payload(const coap::ClientResponse& response, bool link_format) {
    std::string_view body = response.text();
    if (stdout_is_terminal() && link_format) {
        for (std::string_view link : split_links(body)) {
            write_stdout(link);
            write_stdout("\n");
        }
    } else {
        write_stdout(body);
        if (stdout_is_terminal() && !body.empty() && body.back() != '\n') write_stdout("\n");
    }
    std::fflush(stdout);
}

int exit_code_for(coap::Code code) {
    switch (coap::code_class(code)) {
        case 2:
            return exit_ok;
        case 4:
            return exit_client_error;
        case 5:
            return exit_server_error;
        default:
            return exit_other;
    }
}

// ---------------------------------------------------------------------------------------------
// Running the request.

struct Request {
    const coap::Client* client = nullptr;  // for the DTLS status in messages
    Arguments args;
    coap::UriParts parts;
    std::string peer;  // "127.0.0.1:5683", for messages
    coap::ClientConfig config;
    std::vector<ExtraOption> extra;
    std::vector<std::uint8_t> payload;
    bool has_payload = false;
    std::optional<std::vector<std::uint8_t>> token;  // -T, as bytes
};

std::optional<coap::Bytes> token_of(const Request& request) {
    if (!request.token) return std::nullopt;
    return coap::Bytes(*request.token);
}

void print_dtls_session(const Request& request) {
    if (!request.config.dtls || request.client == nullptr) return;
    coap::DtlsClientStatus status = request.client->dtls_status();
    if (!status.established) return;
    say("DTLS session with " + request.peer + ": PSK identity \"" +
        request.config.dtls->credentials.identity + "\", TLS_PSK_WITH_AES_128_CCM_8, " +
        (status.resumed ? "resumed" : "full handshake"));
}

Failure client_failure(coap::ClientError error, const Request& request, double seconds,
                       bool non_confirmable) {
    const std::string& peer = request.peer;
    switch (error) {
        case coap::ClientError::timeout:
            if (non_confirmable)
                return {exit_unreachable, "no response from " + peer +
                                              " to the NON request within " +
                                              format_seconds(seconds)};
            return {exit_unreachable, "no response from " + peer + " after " +
                                          std::to_string(request.config.max_retransmit) +
                                          " retransmissions (" + format_seconds(seconds) + ")"};
        case coap::ClientError::no_separate_response:
            return {exit_unreachable, peer + " acknowledged the request, but no response came " +
                                          "(gave up after " + format_seconds(seconds) + ")"};
        case coap::ClientError::reset:
            return {exit_unreachable, "reset by " + peer};
        case coap::ClientError::network:
            return {exit_unreachable, "cannot reach " + peer +
                                          ": nothing is listening on that port (ICMP port "
                                          "unreachable) or the network is down"};
        case coap::ClientError::malformed_response:
            return {exit_other, "malformed response from " + peer};
        case coap::ClientError::too_large:
            return {exit_other,
                    "too large: the request does not fit a datagram, or the "
                    "response body exceeds " +
                        std::to_string(request.config.max_body_size) + " bytes"};
        case coap::ClientError::inconsistent_blocks:
            return {exit_other, "block-wise transfer from " + peer +
                                    " broke off: blocks out of order or the resource changed"};
        case coap::ClientError::busy:
            return {exit_other, "too many requests outstanding"};
        case coap::ClientError::invalid_request:
            return {exit_usage, "invalid request (check the URI and -O options)"};
        case coap::ClientError::cancelled:
            return {exit_other, "cancelled"};
        case coap::ClientError::handshake_failed: {
            auto failure =
                request.client ? request.client->dtls_status().last_failure : std::nullopt;
            return {exit_unreachable,
                    "DTLS handshake with " + peer + " failed: " +
                        (failure ? coap::describe(*failure) : std::string("no reason known"))};
        }
        case coap::ClientError::session_closed:
            return {exit_unreachable, peer + " closed the DTLS session before answering"};
    }
    return {exit_other, std::string(coap::describe(error))};
}

std::atomic<bool> interrupted{false};

extern "C" void on_interrupt(int) {
    interrupted.store(true);
}

extern "C" void on_cancel_watchdog(int) {
    static const char message[] = "coap: no answer to the deregistration in time; giving up\n";
    [[maybe_unused]] ssize_t ignored = ::write(STDERR_FILENO, message, sizeof message - 1);
    ::_exit(exit_unreachable);
}

void install_interrupt_handler() {
    struct sigaction action {};
    action.sa_handler = on_interrupt;
    action.sa_flags = SA_RESETHAND;  // a second Ctrl-C ends the program at once
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
}

// Bounds Observation::cancel(), which waits for the deregistration's answer.
void arm_watchdog(double seconds) {
    struct sigaction action {};
    action.sa_handler = on_cancel_watchdog;
    sigemptyset(&action.sa_mask);
    sigaction(SIGALRM, &action, nullptr);
    itimerval timer{};
    auto whole = static_cast<long>(seconds);
    timer.it_value.tv_sec = whole;
    timer.it_value.tv_usec = static_cast<long>((seconds - static_cast<double>(whole)) * 1e6);
    if (timer.it_value.tv_sec == 0 && timer.it_value.tv_usec == 0) timer.it_value.tv_usec = 1;
    setitimer(ITIMER_REAL, &timer, nullptr);
}

// Ends the program without running destructors: while the registration is still in flight,
// destroying the Observation would wait for its answer (or for its retransmissions to run out),
// past the deadline the user asked for. Nothing is left to deregister.
[[noreturn]] void quit_now(int code) {
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(code);
}

std::vector<coap::Option> request_options(const Request& request, const coap::UriOptionsBase& uri,
                                          std::vector<coap::UintValue>& uints) {
    std::vector<coap::Option> options(uri.options().begin(), uri.options().end());
    uints.reserve(2);
    if (request.args.content_format) {
        uints.emplace_back(coap::to_int(parse_format(*request.args.content_format, "-C")));
        options.push_back({coap::OptionNumber::content_format, uints.back().bytes()});
    }
    if (request.args.accept) {
        uints.emplace_back(coap::to_int(parse_format(*request.args.accept, "-A")));
        options.push_back({coap::OptionNumber::accept, uints.back().bytes()});
    }
    for (const ExtraOption& extra : request.extra)
        options.push_back({extra.number, extra.value});
    return options;
}

void print_request(const Request& request, const std::string& method,
                   std::span<const coap::Option> options) {
    say("-> " + std::string(request.args.non_confirmable ? "NON " : "CON ") + method + " " +
        request.args.uri + " to " + request.peer + ", " + std::to_string(request.payload.size()) +
        " payload bytes, block size " + std::to_string(16u << request.config.block_szx));
    print_options(options);
}

int run_request(Request& request, coap::Client& client, const coap::UriOptionsBase& uri) {
    std::vector<coap::UintValue> uints;
    std::vector<coap::Option> options = request_options(request, uri, uints);
    coap::Code method = method_code(request.args.method);
    if (request.args.verbose) {
        std::string name(coap::code_name(method));
        print_request(request, name, options);
    }
    auto start = Clock::now();
    auto handle = client.submit(
        {method, options, request.payload, request.args.non_confirmable, token_of(request)});
    if (!handle)
        throw client_failure(handle.error(), request, seconds_since(start),
                             request.args.non_confirmable);
    std::optional<Clock::time_point> deadline;
    if (request.args.timeout)
        deadline = start + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(*request.args.timeout));
    std::optional<coap::Completion> done;
    while (!done) {
        auto slice = coap::Duration(std::chrono::seconds(1));
        if (deadline) {
            if (Clock::now() >= *deadline)
                throw Failure{exit_unreachable, "no response from " + request.peer + " within " +
                                                    format_seconds(*request.args.timeout) +
                                                    " (--timeout)"};
            slice = std::min<coap::Duration>(slice, *deadline - Clock::now());
        }
        done = client.poll(slice);
    }
    double elapsed = seconds_since(start);
    if (!done->result)
        throw client_failure(done->result.error(), request, elapsed, request.args.non_confirmable);
    const coap::ClientResponse& response = *done->result;
    if (request.args.verbose) {
        print_dtls_session(request);
        print_response_details(response, elapsed);
    }

    coap::Code code = response.code();
    auto format = response.content_format();
    if (!coap::is_success(code)) {
        // A payload without Content-Format is a diagnostic message (RFC 7252 §5.5.2).
        if (!format && !response.payload().empty()) {
            say(code_line(code) + ": " + std::string(response.text()));
            return exit_code_for(code);
        }
        say(code_line(code));
    }
    bool link_format = format == coap::ContentFormat::link_format;
    print_payload(response, link_format);
    return exit_code_for(code);
}

void print_notification_line(const coap::ClientResponse& response) {
    std::string_view body = response.text();
    write_stdout(body);
    if (body.empty() || body.back() != '\n') write_stdout("\n");
    std::fflush(stdout);
}

int run_observe(Request& request, coap::Client& client, const coap::UriOptionsBase& uri) {
    std::vector<coap::UintValue> uints;
    std::vector<coap::Option> options = request_options(request, uri, uints);
    if (request.args.verbose) print_request(request, "GET (Observe: 0)", options);
    install_interrupt_handler();
    auto start = Clock::now();
    auto observation = client.observe({coap::Code::get, options, request.payload,
                                       request.args.non_confirmable, token_of(request)});
    if (!observation)
        throw client_failure(observation.error(), request, 0, request.args.non_confirmable);
    std::optional<Clock::time_point> until;
    if (request.args.observe_seconds)
        until = start + std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double>(*request.args.observe_seconds));
    std::optional<Clock::time_point> first_deadline;
    if (request.args.timeout)
        first_deadline = start + std::chrono::duration_cast<Clock::duration>(
                                     std::chrono::duration<double>(*request.args.timeout));
    std::size_t received = 0;
    for (;;) {
        if (interrupted.load()) break;
        auto now = Clock::now();
        if (until && now >= *until) break;
        if (received == 0 && first_deadline && now >= *first_deadline) {
            say("no response from " + request.peer + " within " +
                format_seconds(*request.args.timeout) + " (--timeout)");
            quit_now(exit_unreachable);
        }
        coap::Duration slice = 200ms;
        if (until) slice = std::min<coap::Duration>(slice, *until - now);
        auto notification = observation->next(slice);
        if (!notification) continue;
        if (!notification->result)
            throw client_failure(notification->result.error(), request, seconds_since(start),
                                 request.args.non_confirmable);
        const coap::ClientResponse& response = *notification->result;
        ++received;
        if (request.args.verbose) {
            if (received == 1) print_dtls_session(request);
            print_response_details(response, seconds_since(start));
        }
        coap::Code code = response.code();
        if (!coap::is_success(code)) {
            if (!response.content_format() && !response.payload().empty())
                say(code_line(code) + ": " + std::string(response.text()));
            else
                say(code_line(code));
            if (response.content_format() && !response.payload().empty())
                print_notification_line(response);
            return exit_code_for(code);
        }
        print_notification_line(response);
        if (notification->last) {
            if (received == 1)
                say("the server does not offer " + request.args.uri +
                    " for observation (its response had no Observe option)");
            else
                say("the server ended the observation");
            return exit_code_for(code);
        }
    }
    if (!observation->active()) return exit_ok;
    if (received == 0) {
        if (interrupted.load()) {
            say("interrupted before " + request.peer + " answered the registration");
            quit_now(128 + SIGINT);
        }
        say("no response from " + request.peer + " within " +
            format_seconds(*request.args.observe_seconds) + " (-s)");
        quit_now(exit_unreachable);
    }
    // Deregister (RFC 7641 §3.6), bounded by the watchdog when the server stays silent.
    arm_watchdog(request.args.timeout.value_or(5.0));
    auto cancel_start = Clock::now();
    if (auto error = observation->cancel()) {
        Failure failure = client_failure(*error, request, seconds_since(cancel_start),
                                         request.args.non_confirmable);
        failure.message = "deregistration failed: " + failure.message;
        throw failure;
    }
    itimerval off{};
    setitimer(ITIMER_REAL, &off, nullptr);
    if (request.args.verbose)
        say("observation cancelled after " + std::to_string(received) + " notification(s)");
    return exit_ok;
}

// -u with -k or --psk-key-hex, for coaps:// (RFC 7252 §9.1.3.1: PSK mode).
coap::ClientDtlsConfig dtls_settings(const Arguments& args) {
    if (args.psk_key && args.psk_key_hex)
        throw Failure{exit_usage, "-k and --psk-key-hex both give the key; use one of them"};
    if (!args.psk_identity || (!args.psk_key && !args.psk_key_hex))
        throw Failure{exit_usage,
                      "coaps:// needs a pre-shared key: -u IDENTITY -k KEY (or --psk-key-hex HEX)"};
    coap::ClientDtlsConfig dtls;
    dtls.credentials.identity = *args.psk_identity;
    if (args.psk_key) {
        dtls.credentials.key.assign(args.psk_key->begin(), args.psk_key->end());
    } else {
        std::string_view digits = *args.psk_key_hex;
        if (digits.starts_with("0x")) digits.remove_prefix(2);
        auto bytes = parse_hex(digits);
        if (!bytes)
            throw Failure{exit_usage, "--psk-key-hex " + *args.psk_key_hex +
                                          ": not valid hex (two digits per byte)"};
        dtls.credentials.key = std::move(*bytes);
    }
    if (std::string problem = dtls.credentials.validate(); !problem.empty())
        throw Failure{exit_usage, "pre-shared " + problem};
    return dtls;
}

// Checks the arguments, builds the request and runs it.
int run(Arguments args) {
    if (args.text && args.file)
        throw Failure{exit_usage, "-e and -f both give a payload; use one of them"};
    if (args.observe_seconds) {
        if (!(*args.observe_seconds > 0))
            throw Failure{exit_usage, "-s: the observation time must be positive"};
        if (args.method == "get") args.method = "observe";  // coap-client compatible
        if (args.method != "observe")
            throw Failure{exit_usage, "-s applies only to observe (or get)"};
    }
    if (args.timeout && !(*args.timeout > 0 && *args.timeout < 1e6))
        throw Failure{exit_usage, "--timeout: must be a positive number of seconds"};

    Request request;
    request.args = args;
    coap::UriOptions<> uri;
    auto parts = uri.append_uri(args.uri);
    if (!parts)
        throw Failure{exit_usage, "invalid URI '" + args.uri +
                                      "': " + std::string(coap::describe(parts.error())) +
                                      " (expected coap://host[:port]/path?query)"};
    request.parts = *parts;
    if (parts->secure)
        request.config.dtls = dtls_settings(args);
    else if (args.psk_identity || args.psk_key || args.psk_key_hex)
        throw Failure{exit_usage, "-u, -k and --psk-key-hex apply to coaps:// URIs only"};

    if (args.block_size) {
        unsigned size = *args.block_size;
        bool power_of_two = size != 0 && (size & (size - 1)) == 0;
        if (size < 16 || size > 1024 || !power_of_two)
            throw Failure{exit_usage, "-b " + std::to_string(size) +
                                          ": the block size must be 16, 32, 64, 128, 256, 512 "
                                          "or 1024"};
        request.config.block_szx = static_cast<std::uint8_t>(std::countr_zero(size) - 4);
    }
    for (const std::string& spec : args.options)
        request.extra.push_back(parse_extra_option(spec));
    if (args.token) {
        std::string_view digits = *args.token;
        if (digits.starts_with("0x")) digits.remove_prefix(2);
        request.token = parse_hex(digits);
        if (!request.token || request.token->size() > coap::max_token_length)
            throw Failure{exit_usage, "-T " + *args.token +
                                          ": the token is up to 8 bytes of hex (e.g. -T cafe)"};
    }
    if (args.content_format) parse_format(*args.content_format, "-C");
    if (args.accept) parse_format(*args.accept, "-A");
    if (args.text) request.payload.assign(args.text->begin(), args.text->end());
    if (args.file) request.payload = read_payload_file(*args.file);

    request.config.host = std::string(parts->host);
    request.config.port = parts->port;
    if (args.timeout) {
        // Retransmit sooner so that several attempts fit in the deadline, and never wait for a
        // separate or NON response longer than the deadline.
        auto deadline = std::chrono::duration_cast<coap::Duration>(
            std::chrono::duration<double>(*args.timeout));
        request.config.ack_timeout =
            std::clamp<coap::Duration>(deadline / 8, 50ms, request.config.ack_timeout);
        request.config.response_timeout = std::min(request.config.response_timeout, deadline);
        if (request.config.dtls) {
            // Three handshake flights (1 + 2 + 4 timeouts) give up at 7/8 of the deadline, so a
            // wrong key is reported as such rather than as a timeout.
            request.config.dtls->handshake_initial_timeout =
                std::clamp<coap::Duration>(deadline / 8, 50ms, 1s);
            request.config.dtls->handshake_retransmissions = 2;
        }
    }

    std::optional<coap::Client> client;
    try {
        client.emplace(request.config);
    } catch (const std::invalid_argument& error) {
        throw Failure{exit_usage, error.what()};
    } catch (const std::exception& error) {
        throw Failure{exit_unreachable, error.what()};
    }
    request.client = &*client;
    request.peer = client->peer_text();
    if (request.peer.empty()) request.peer = std::string(parts->host);

    if (args.method == "observe") return run_observe(request, *client, uri);
    return run_request(request, *client, uri);
}

}  // namespace

int main(int argc, char** argv) {
    Arguments args;
    if (auto code = parse_command_line(argc, argv, args)) return *code;
    try {
        return run(std::move(args));
    } catch (const Failure& failure) {
        say(failure.message);
        return failure.code;
    } catch (const std::exception& error) {
        say(error.what());
        return exit_other;
    }
}
