// Load levels with hysteresis, from the fullest of the pools the server core watches (receive
// buffers, exchange cache, separate-response slots, block transfers, observers...). Sans-I/O:
// the core passes the utilisation in; nothing here reads pools or clocks.
#pragma once

#include <cstdint>
#include <string_view>

namespace coap::detail {

/// What the core does with new requests.
enum class LoadLevel : std::uint8_t {
    normal,     ///< Everything is served.
    throttled,  ///< Per-IP rate limits apply (RateLimiter).
    shedding,   ///< New requests are refused; duplicates are still answered from the cache.
};

/// "normal", "throttled" or "shedding", for logs.
std::string_view level_name(LoadLevel level) noexcept;

/// `used` as a whole percentage of `capacity`, rounded down and at most 100. A pool of capacity
/// 0 counts as empty (0), since it holds nothing that could fill up.
std::uint32_t percent(std::uint64_t used, std::uint64_t capacity) noexcept;

/// The load level state machine. With u = the highest pool utilisation in percent:
///   normal    -> throttled  when u >= throttle
///   normal    -> shedding   when u >= critical (directly, a sudden spike)
///   throttled -> shedding   when u >= critical
///   throttled -> normal     when u <  recover
///   shedding  -> normal     when u <  recover
/// and otherwise the level stays. Shedding steps straight down to normal: below `recover` the
/// utilisation is below `throttle` too, so a stop at throttled would be left at the next update
/// anyway, adding latency and a transition but no protection. Between `recover` and `critical`
/// shedding stays on: a pool drained just below `critical` by refusing requests would fill up
/// again at once if they were accepted.
///
/// The thresholds are made consistent at construction: critical >= throttle >= recover (critical
/// is raised to throttle, recover lowered to throttle), so the hysteresis gaps are never negative.
/// A threshold above 100 is never reached.
class LoadMonitor {
  public:
    LoadMonitor(std::uint8_t throttle_pct, std::uint8_t critical_pct,
                std::uint8_t recover_pct) noexcept;

    /// Feeds the highest pool utilisation (percent) and returns the new level.
    LoadLevel update(std::uint32_t used_percent_max) noexcept;

    LoadLevel level() const noexcept { return level_; }
    /// Level changes since construction.
    std::uint64_t transitions() const noexcept { return transitions_; }

    std::uint8_t throttle_pct() const noexcept { return throttle_; }
    std::uint8_t critical_pct() const noexcept { return critical_; }
    std::uint8_t recover_pct() const noexcept { return recover_; }

  private:
    LoadLevel next_level(std::uint32_t used) const noexcept;

    std::uint8_t throttle_;
    std::uint8_t critical_;
    std::uint8_t recover_;
    LoadLevel level_ = LoadLevel::normal;
    std::uint64_t transitions_ = 0;
};

}  // namespace coap::detail
