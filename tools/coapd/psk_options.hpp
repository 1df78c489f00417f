// coapd's coaps:// options: --psk-identity/--psk-key, --psk-file, --dtls-port.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "coap/server_config.hpp"

namespace coapd {

struct PskOptions {
    std::string identity;
    std::string key;
    std::string file;
    std::uint16_t port = 5684;
    std::string hint;

    void add_to(CLI::App& app);
    /// Fills config.dtls (enabled when any key was given). Throws std::runtime_error with a
    /// message naming the bad line or option.
    void apply(coap::ServerConfig& config) const;
};

/// A key as given on the command line or in a PSK file: "0x" and hex digits, or text whose
/// bytes are the key (as libcoap's -k). Throws std::runtime_error for bad hex.
std::vector<std::uint8_t> parse_psk_key(const std::string& text);

}  // namespace coapd
