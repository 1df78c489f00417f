// The ETSI CoAP#4 observable resources (TD_COAP_OBS_01-14) served by coapd: /obs, /obs-non,
// /obs-large and /obs-pumping, changed by a ticker thread every `period`.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "coap/router.hpp"
#include "coap/server.hpp"

namespace coapd {

class ObservableResources {
  public:
    explicit ObservableResources(std::chrono::milliseconds period);
    ~ObservableResources();
    ObservableResources(const ObservableResources&) = delete;
    ObservableResources& operator=(const ObservableResources&) = delete;

    /// Adds the routes. The object must outlive the router.
    void add_to(coap::Router& router);
    /// The server to notify through; starts the ticker. Call before the server serves.
    void attach(coap::Server* server);
    /// Stops and joins the ticker; no notify() after this returns. Call before the server dies.
    void stop();

  private:
    void run();
    void tick();

    std::chrono::milliseconds period_;
    std::atomic<coap::Server*> server_{nullptr};
    std::mutex stop_mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace coapd
