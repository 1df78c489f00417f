#include "separate_responder.hpp"

namespace coapd {

SeparateResponder::SeparateResponder(std::chrono::milliseconds delay)
    : delay_(delay), thread_([this] { run(); }) {}

SeparateResponder::~SeparateResponder() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

void SeparateResponder::schedule(coap::DeferredResponse handle) {
    {
        std::lock_guard lock(mutex_);
        queue_.push_back({std::chrono::steady_clock::now() + delay_, handle});
    }
    wake_.notify_all();
}

void SeparateResponder::run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        if (queue_.empty()) {
            wake_.wait(lock);
            continue;
        }
        Pending next = queue_.front();
        if (wake_.wait_until(lock, next.due) != std::cv_status::timeout) continue;
        queue_.pop_front();
        lock.unlock();
        if (coap::Server* server = server_.load()) {
            server->respond(next.handle,
                            coap::Response::content(coap::ContentFormat::text_plain,
                                                    "This is the delayed answer of /separate."));
        }
        lock.lock();
    }
}

}  // namespace coapd
