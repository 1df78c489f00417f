// The handshake flight timer of RFC 6347 §4.2.4 and §4.2.4.1: 1 s initial timeout, doubled on
// each retransmission up to 60 s, a bounded number of retransmissions, and the current value
// retained for the next flight until a flight gets through without loss. Time is passed in.
#pragma once

#include <algorithm>
#include <chrono>
#include <optional>

#include "coap/time.hpp"

namespace coap::dtls {

struct HandshakeTiming {
    Duration initial_timeout = std::chrono::seconds(1);  // RFC 6347 §4.2.4.1 (RFC 7925 §11: 9 s)
    Duration max_timeout = std::chrono::seconds(60);
    /// Retransmissions of one flight before the handshake is abandoned. With the defaults the
    /// peer has 1+2+4+8+16+32 = 63 s to answer (the worst case RFC 7925 §11 works with).
    unsigned max_retransmissions = 5;
};

class RetransmitTimer {
  public:
    enum class Expiry { none, retransmit, give_up };

    /// Arms the timer for a flight just sent.
    void start(TimePoint now, const HandshakeTiming& timing) noexcept {
        // §4.2.4.1: keep the backed-off value until a transmission without loss.
        if (retransmissions_ == 0 || timeout_ == Duration::zero())
            timeout_ = timing.initial_timeout;
        retransmissions_ = 0;
        deadline_ = now + timeout_;
        armed_ = true;
    }

    /// The peer retransmitted its flight and ours was resent: wait a full timeout again.
    void restart(TimePoint now) noexcept {
        if (armed_) deadline_ = now + timeout_;
    }

    void stop() noexcept { armed_ = false; }

    /// What is due at `now`: nothing, a retransmission (the timer is re-armed with the doubled
    /// timeout) or giving up (the timer stops).
    Expiry poll(TimePoint now, const HandshakeTiming& timing) noexcept {
        if (!armed_ || now < deadline_) return Expiry::none;
        if (retransmissions_ >= timing.max_retransmissions) {
            armed_ = false;
            return Expiry::give_up;
        }
        ++retransmissions_;
        timeout_ = std::min(timeout_ * 2, timing.max_timeout);
        deadline_ = now + timeout_;
        return Expiry::retransmit;
    }

    std::optional<TimePoint> deadline() const noexcept {
        return armed_ ? std::optional<TimePoint>(deadline_) : std::nullopt;
    }
    unsigned retransmissions() const noexcept { return retransmissions_; }

  private:
    TimePoint deadline_{};
    Duration timeout_{};
    unsigned retransmissions_ = 0;
    bool armed_ = false;
};

}  // namespace coap::dtls
