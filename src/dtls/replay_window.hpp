// The DTLS anti-replay window of RFC 6347 §4.1.2.6 (the bit-mask procedure of RFC 4303
// §3.4.3), 64 records wide. Check with is_fresh() before authenticating a record and call
// mark_received() only after it authenticated, so forged records cannot move the window.
// One window per epoch: reset() when the read epoch changes.
#pragma once

#include <cstdint>

namespace coap::dtls {

class ReplayWindow {
  public:
    static constexpr std::uint64_t width = 64;

    /// True when `sequence` has not been received and is not left of the window.
    bool is_fresh(std::uint64_t sequence) const noexcept {
        if (sequence > highest_) return true;
        const std::uint64_t behind = highest_ - sequence;
        return behind < width && (received_ & (std::uint64_t{1} << behind)) == 0;
    }

    /// Records `sequence` as received, sliding the window right when it is the newest.
    void mark_received(std::uint64_t sequence) noexcept {
        if (sequence > highest_) {
            const std::uint64_t shift = sequence - highest_;
            received_ = shift >= width ? 0 : received_ << shift;
            highest_ = sequence;
            received_ |= 1;
            return;
        }
        const std::uint64_t behind = highest_ - sequence;
        if (behind < width) received_ |= std::uint64_t{1} << behind;
    }

    void reset() noexcept {
        highest_ = 0;
        received_ = 0;
    }

    /// The right edge: the highest sequence number marked so far (0 before any).
    std::uint64_t highest() const noexcept { return highest_; }

  private:
    std::uint64_t highest_ = 0;
    std::uint64_t received_ = 0;  // bit i set: highest_ - i was received
};

}  // namespace coap::dtls
