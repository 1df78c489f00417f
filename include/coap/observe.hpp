// Observable resources on the server side (RFC 7641).
#pragma once

#include <cstdint>

namespace coap {

/// An observable resource: `ResourceId{n}` for n below ServerConfig::max_observe_resources, or
/// one handed out by Server::allocate_resource() (use one style, not both).
///
/// A strong type over a small index (0 to the configured resource count - 1), so it cannot be
/// mixed up with a count or a Message ID. Hand it to the handler that serves the resource, so a
/// GET with Observe=0 can register the client, and publish each new representation for it
/// from any thread: every worker then notifies its observers of that resource.
enum class ResourceId : std::uint32_t {};

/// How Server::notify sends a notification (RFC 7641 §4.5).
enum class NotificationType : std::uint8_t {
    /// NON, except every ServerConfig::observe_con_interval-th notification to an observer,
    /// which is CON so that observers that went away are noticed and removed.
    automatic,
    /// CON to every observer: for changes a client must not miss (and the ETSI /obs resource).
    confirmable,
};

/// The index behind a ResourceId.
constexpr std::uint32_t to_int(ResourceId id) noexcept {
    return static_cast<std::uint32_t>(id);
}

}  // namespace coap
