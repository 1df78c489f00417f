// Latest representations of observable resources, shared by the workers (RFC 7641 §4.2).
#include "notification_hub.hpp"

#include <array>
#include <cstring>

#include "coap/message.hpp"

namespace coap::detail {

namespace {

constexpr std::size_t max_option_length = 65804;  // RFC 7252 §3.1: 269 + 65535

}  // namespace

NotificationHub::NotificationHub(std::uint32_t resource_count,
                                 std::uint32_t max_representation_bytes)
    : slots_(new Slot[resource_count == 0 ? 1 : resource_count]),
      bytes_(new std::uint8_t[std::size_t{resource_count} * max_representation_bytes + 1]),
      count_(resource_count),
      max_bytes_(max_representation_bytes) {}

NotificationHub::~NotificationHub() = default;

std::optional<ResourceId> NotificationHub::allocate() noexcept {
    std::uint32_t next = allocated_.load(std::memory_order_relaxed);
    while (next < count_) {
        if (allocated_.compare_exchange_weak(next, next + 1, std::memory_order_acq_rel))
            return ResourceId{next};
    }
    return std::nullopt;
}

const NotificationHub::Slot* NotificationHub::find(ResourceId resource) const noexcept {
    if (to_int(resource) >= count_) return nullptr;  // allocate() is a convenience only
    return &slots_[to_int(resource)];
}

std::uint8_t* NotificationHub::bytes_of(const Slot& slot) const noexcept {
    return bytes_.get() + static_cast<std::size_t>(&slot - slots_.get()) * max_bytes_;
}

bool NotificationHub::publish(ResourceId resource, const Response& response,
                              NotificationType type) noexcept {
    const Slot* found = find(resource);
    if (found == nullptr || response.overflowed() || response.code() == Code::empty) return false;
    Slot& slot = const_cast<Slot&>(*found);

    std::array<Option, Response::max_options> options;
    for (std::size_t i = 0; i < response.option_count(); ++i) {
        options[i] = response.option_at(i);
        if (options[i].value.size() > max_option_length) return false;
    }
    // MID 0 and an empty token: only the code, options and payload matter to the workers, and
    // the type: CON when every observer must get this version confirmably.
    MessageType message_type =
        type == NotificationType::confirmable ? MessageType::con : MessageType::non;
    Message message{message_type,
                    response.code(),
                    0,
                    {},
                    std::span(options.data(), response.option_count()),
                    response.payload()};
    // Checked before taking the lock, so encode cannot fail halfway and leave a torn slot.
    if (encoded_size(message) > max_bytes_) return false;

    {
        std::lock_guard guard(slot.lock);
        auto written = encode(message, MutableBytes(bytes_of(slot), max_bytes_));
        if (!written) return false;  // unreachable after the checks above
        slot.length = static_cast<std::uint32_t>(*written);
        slot.version.fetch_add(1, std::memory_order_release);
    }
    generation_.fetch_add(1, std::memory_order_release);
    return true;
}

std::uint64_t NotificationHub::version(ResourceId resource) const noexcept {
    const Slot* slot = find(resource);
    return slot == nullptr ? 0 : slot->version.load(std::memory_order_acquire);
}

std::uint64_t NotificationHub::copy_latest(ResourceId resource, MutableBytes out,
                                           std::size_t& length) const noexcept {
    length = 0;
    const Slot* slot = find(resource);
    if (slot == nullptr) return 0;
    std::lock_guard guard(slot->lock);
    std::uint64_t version = slot->version.load(std::memory_order_relaxed);
    if (version == 0) return 0;
    if (out.size() < slot->length) {
        length = slot->length;
        return 0;
    }
    std::memcpy(out.data(), bytes_of(*slot), slot->length);
    length = slot->length;
    return version;
}

}  // namespace coap::detail
