// The latest representation of every observable resource (RFC 7641 §4.2), shared by all worker
// threads. Any thread publishes a new representation; each worker notices through one atomic
// load (generation) that something changed and copies what it has not seen yet. Memory is fixed
// at construction; publish is not on the request hot path, so a per-resource mutex is enough.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>

#include "coap/bytes.hpp"
#include "coap/observe.hpp"
#include "coap/response.hpp"

namespace coap::detail {

class NotificationHub {
  public:
    /// Room for `resource_count` resources, each holding one encoded representation (a CoAP
    /// message with an empty token) of up to `max_representation_bytes` bytes.
    NotificationHub(std::uint32_t resource_count, std::uint32_t max_representation_bytes);
    ~NotificationHub();
    NotificationHub(const NotificationHub&) = delete;
    NotificationHub& operator=(const NotificationHub&) = delete;

    /// Set-up time: the next free id (0, 1, ...); nullopt when every resource is allocated.
    /// Optional: publish() takes any id below resource_count().
    /// Thread-safe, but meant to be called before the workers start.
    std::optional<ResourceId> allocate() noexcept;

    /// Any thread: stores `response` (code, options, payload) as the resource's latest
    /// representation and bumps its version and the hub's generation. False, with nothing
    /// changed, for an id of resource_count() or more, an overflowed or empty-code response, or one
    /// that does not encode within max_representation_bytes.
    /// A `confirmable` representation is stored as a CON message, an `automatic` one as NON:
    /// the observer table reads the type back.
    bool publish(ResourceId resource, const Response& response,
                 NotificationType type = NotificationType::automatic) noexcept;

    /// Times `resource` was published (0 = never, or unknown id).
    std::uint64_t version(ResourceId resource) const noexcept;
    /// Total publishes so far: a worker that saw the same value last time has nothing to do.
    std::uint64_t generation() const noexcept {
        return generation_.load(std::memory_order_acquire);
    }

    /// Copies the latest representation into `out` and returns its version, with `length` set
    /// to the bytes copied. Returns 0 when never published or unknown (length 0), and also when
    /// `out` is too small (then `length` is the size needed and nothing is copied).
    std::uint64_t copy_latest(ResourceId resource, MutableBytes out,
                              std::size_t& length) const noexcept;

    std::uint32_t resource_count() const noexcept { return count_; }
    std::uint32_t allocated() const noexcept { return allocated_.load(std::memory_order_acquire); }
    std::uint32_t max_representation_bytes() const noexcept { return max_bytes_; }

  private:
    struct alignas(64) Slot {
        mutable std::mutex lock;
        std::atomic<std::uint64_t> version{0};
        std::uint32_t length = 0;  // guarded by lock
    };

    const Slot* find(ResourceId resource) const noexcept;
    std::uint8_t* bytes_of(const Slot& slot) const noexcept;

    std::unique_ptr<Slot[]> slots_;
    std::unique_ptr<std::uint8_t[]> bytes_;
    std::uint32_t count_;
    std::uint32_t max_bytes_;
    std::atomic<std::uint32_t> allocated_{0};
    alignas(64) std::atomic<std::uint64_t> generation_{0};
};

}  // namespace coap::detail
