#include "support/coapd_process.hpp"

#include <chrono>
#include <stdexcept>

namespace coap::test {

namespace {

bool serves_coaps(const std::vector<std::string>& args) {
    for (const std::string& arg : args)
        if (arg == "--psk-identity" || arg == "--psk-file") return true;
    return false;
}

std::vector<std::string> command(const std::string& path, std::vector<std::string> extra) {
    std::vector<std::string> argv{path, "--port", "0", "--bind", "::"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
}

}  // namespace

CoapdProcess::CoapdProcess(const std::string& coapd_path, std::vector<std::string> extra_args)
    : process_(command(coapd_path, extra_args)) {
    std::optional<std::string> line = process_.read_line(std::chrono::seconds(10));
    if (!line)
        throw std::runtime_error("coapd printed no start-up line; stderr: " +
                                 process_.stderr_text());
    std::size_t colon = line->find("]:");
    if (line->rfind("coapd: serving coap://", 0) != 0 || colon == std::string::npos)
        throw std::runtime_error("unexpected coapd start-up line: " + *line);
    port_ = static_cast<std::uint16_t>(std::stoul(line->substr(colon + 2)));
    if (port_ == 0) throw std::runtime_error("coapd reported port 0: " + *line);
    if (!serves_coaps(extra_args)) return;
    // "coapd: serving coaps:// on port N (...)"
    line = process_.read_line(std::chrono::seconds(10));
    const std::string prefix = "coapd: serving coaps:// on port ";
    if (!line || line->rfind(prefix, 0) != 0)
        throw std::runtime_error("coapd printed no coaps:// start-up line; stderr: " +
                                 process_.stderr_text());
    secure_port_ = static_cast<std::uint16_t>(std::stoul(line->substr(prefix.size())));
}

}  // namespace coap::test
