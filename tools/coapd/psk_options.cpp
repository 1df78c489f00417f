// coapd's coaps:// options.
#include "psk_options.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace coapd {

namespace {

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// "identity key" lines; blank lines and lines starting with '#' are skipped.
std::vector<coap::PskCredentials> read_psk_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) throw std::runtime_error("--psk-file: cannot read " + path);
    std::vector<coap::PskCredentials> keys;
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        std::istringstream fields(line);
        std::string identity, key, extra;
        if (!(fields >> identity) || identity[0] == '#') continue;
        if (!(fields >> key) || (fields >> extra))
            throw std::runtime_error(path + ":" + std::to_string(number) +
                                     ": expected \"identity key\"");
        keys.push_back({identity, parse_psk_key(key)});
    }
    return keys;
}

}  // namespace

std::vector<std::uint8_t> parse_psk_key(const std::string& text) {
    if (text.size() < 2 || text[0] != '0' || (text[1] != 'x' && text[1] != 'X'))
        return {text.begin(), text.end()};
    std::vector<std::uint8_t> key;
    if (text.size() % 2 != 0) throw std::runtime_error("PSK key: odd number of hex digits");
    for (std::size_t i = 2; i < text.size(); i += 2) {
        const int high = hex_digit(text[i]), low = hex_digit(text[i + 1]);
        if (high < 0 || low < 0) throw std::runtime_error("PSK key: bad hex digit");
        key.push_back(static_cast<std::uint8_t>(high * 16 + low));
    }
    return key;
}

void PskOptions::add_to(CLI::App& app) {
    app.add_option("--psk-identity", identity,
                   "Serve coaps:// (DTLS 1.2 PSK) with this PSK identity (with --psk-key)");
    app.add_option("--psk-key", key,
                   "The pre-shared key: text (its bytes are the key) or 0x and hex digits");
    app.add_option("--psk-file", file,
                   "Serve coaps:// with the keys in this file: one \"identity key\" per line");
    app.add_option("--psk-hint", hint, "PSK identity hint sent to clients (RFC 4279 §2)");
    app.add_option("--dtls-port", port, "UDP port of coaps://; 0 picks a free one")
        ->capture_default_str();
}

void PskOptions::apply(coap::ServerConfig& config) const {
    if (identity.empty() != key.empty())
        throw std::runtime_error("--psk-identity and --psk-key go together");
    coap::ServerDtlsConfig& dtls = config.dtls;
    if (!identity.empty()) dtls.keys.push_back({identity, parse_psk_key(key)});
    if (!file.empty())
        for (coap::PskCredentials& credentials : read_psk_file(file))
            dtls.keys.push_back(std::move(credentials));
    dtls.enabled = !dtls.keys.empty();
    dtls.port = port;
    dtls.identity_hint = hint;
}

}  // namespace coapd
