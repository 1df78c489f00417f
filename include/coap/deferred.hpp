// A handle for a response that a handler will give later (RFC 7252 §5.2.2 separate responses).
#pragma once

#include <cstdint>

namespace coap {

/// Identifies one deferred request. Cheap to copy and safe to hand to another thread; give it to
/// `Server::respond` exactly once. A handle whose request was answered, or abandoned because the
/// peer stopped acknowledging, is simply refused by `respond`.
class DeferredResponse {
  public:
    /// A handle that names no request; `Server::respond` refuses it.
    DeferredResponse() noexcept = default;
    /// Made by the server; applications get handles from `Request::defer()`.
    DeferredResponse(std::uint32_t worker, std::uint32_t slot, std::uint32_t generation) noexcept
        : worker_(worker), slot_(slot), generation_(generation) {}

    /// The worker thread that owns the request.
    std::uint32_t worker() const noexcept { return worker_; }
    /// The deferral slot in that worker.
    std::uint32_t slot() const noexcept { return slot_; }
    /// Tells a reused slot's new request from the old one.
    std::uint32_t generation() const noexcept { return generation_; }

  private:
    std::uint32_t worker_ = 0;
    std::uint32_t slot_ = 0;
    std::uint32_t generation_ = 0;
};

}  // namespace coap
