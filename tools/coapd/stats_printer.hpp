// coapd --stats-interval: prints the server's counters to stdout every interval.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "coap/server.hpp"

namespace coapd {

class StatsPrinter {
  public:
    /// Starts printing `server`'s stats every `interval`; nothing when interval is 0.
    StatsPrinter(const coap::Server& server, std::chrono::seconds interval);
    /// Stops and joins the thread; call before the server is destroyed.
    ~StatsPrinter();
    StatsPrinter(const StatsPrinter&) = delete;
    StatsPrinter& operator=(const StatsPrinter&) = delete;

    /// One line with every counter (also printed at shutdown).
    static void print(const coap::ServerStats& stats);

  private:
    void run();

    const coap::Server& server_;
    std::chrono::seconds interval_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace coapd
