// Answers deferred requests after a delay, from its own thread: coapd's /separate resource
// (ETSI TD_COAP_CORE_09, 11, 16, 17).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "coap/server.hpp"

namespace coapd {

class SeparateResponder {
  public:
    explicit SeparateResponder(std::chrono::milliseconds delay);
    ~SeparateResponder();
    SeparateResponder(const SeparateResponder&) = delete;
    SeparateResponder& operator=(const SeparateResponder&) = delete;

    /// The server to answer through; set before it starts serving.
    void attach(coap::Server* server) { server_.store(server); }
    /// Queues `handle` to be answered `delay` from now. Called from a handler (any worker).
    void schedule(coap::DeferredResponse handle);

  private:
    struct Pending {
        std::chrono::steady_clock::time_point due;
        coap::DeferredResponse handle;
    };
    void run();

    std::chrono::milliseconds delay_;
    std::atomic<coap::Server*> server_{nullptr};
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Pending> queue_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace coapd
