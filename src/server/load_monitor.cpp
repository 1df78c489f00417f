// The load level state machine; see load_monitor.hpp for the transitions.
#include "load_monitor.hpp"

#include <algorithm>

namespace coap::detail {

std::string_view level_name(LoadLevel level) noexcept {
    switch (level) {
        case LoadLevel::normal:
            return "normal";
        case LoadLevel::throttled:
            return "throttled";
        case LoadLevel::shedding:
            return "shedding";
    }
    return "?";
}

std::uint32_t percent(std::uint64_t used, std::uint64_t capacity) noexcept {
    if (capacity == 0) return 0;
    if (used >= capacity) return 100;
    __extension__ using Wide = unsigned __int128;  // used * 100 may not fit 64 bits
    return static_cast<std::uint32_t>(Wide{used} * 100 / capacity);
}

LoadMonitor::LoadMonitor(std::uint8_t throttle_pct, std::uint8_t critical_pct,
                         std::uint8_t recover_pct) noexcept
    : throttle_(throttle_pct),
      critical_(std::max(critical_pct, throttle_pct)),
      recover_(std::min(recover_pct, throttle_pct)) {}

LoadLevel LoadMonitor::next_level(std::uint32_t used) const noexcept {
    if (used >= critical_) return LoadLevel::shedding;
    if (used < recover_) return LoadLevel::normal;
    // In the hysteresis band: rise to throttled, but never step down here.
    if (level_ == LoadLevel::normal && used >= throttle_) return LoadLevel::throttled;
    return level_;
}

LoadLevel LoadMonitor::update(std::uint32_t used_percent_max) noexcept {
    LoadLevel next = next_level(used_percent_max);
    if (next != level_) {
        level_ = next;
        ++transitions_;
    }
    return level_;
}

}  // namespace coap::detail
