// coapd started on "::" and a free port for an end-to-end test, its port read from the start-up
// line ("coapd: serving coap://[::]:PORT with N thread(s)").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace coap::test {

class CoapdProcess {
  public:
    /// Starts `coapd_path --port 0 --bind :: extra_args...`; throws std::runtime_error with
    /// coapd's stderr when no start-up line comes within 10 s.
    explicit CoapdProcess(const std::string& coapd_path, std::vector<std::string> extra_args = {});

    std::uint16_t port() const { return port_; }
    /// The coaps:// port, read from the second start-up line when PSK options were given.
    std::uint16_t secure_port() const { return secure_port_; }
    Process& process() { return process_; }

  private:
    Process process_;
    std::uint16_t port_ = 0;
    std::uint16_t secure_port_ = 0;
};

}  // namespace coap::test
