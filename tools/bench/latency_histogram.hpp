// Latency samples for coap-bench: a log-linear histogram with fixed storage, so recording a
// sample never allocates.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>

namespace coap::bench {

/// 32 linear sub-buckets per power of two (about 3% resolution), values in nanoseconds.
class LatencyHistogram {
  public:
    void record(std::uint64_t value) noexcept {
        ++counts_[index(value)];
        ++total_;
        sum_ += value;
        max_ = std::max(max_, value);
    }
    std::uint64_t count() const noexcept { return total_; }
    std::uint64_t max() const noexcept { return max_; }
    double mean() const noexcept {
        return total_ == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(total_);
    }
    /// The midpoint of the bucket holding the q-quantile (0 < q <= 1), capped at the maximum.
    double quantile(double q) const noexcept {
        if (total_ == 0) return 0.0;
        auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total_)));
        rank = std::clamp<std::uint64_t>(rank, 1, total_);
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < counts_.size(); ++i) {
            seen += counts_[i];
            if (seen >= rank) {
                double mid =
                    static_cast<double>(lower_bound(i)) + static_cast<double>(width(i) - 1) / 2.0;
                return std::min(mid, static_cast<double>(max_));
            }
        }
        return static_cast<double>(max_);
    }
    void clear() noexcept { *this = LatencyHistogram{}; }

  private:
    static constexpr unsigned sub_bits = 5;
    static constexpr std::size_t sub_count = std::size_t{1} << sub_bits;

    static std::size_t index(std::uint64_t value) noexcept {
        if (value < sub_count) return static_cast<std::size_t>(value);
        unsigned exponent = 63u - static_cast<unsigned>(std::countl_zero(value));
        unsigned shift = exponent - sub_bits;
        std::size_t sub = static_cast<std::size_t>(value >> shift) & (sub_count - 1);
        return (exponent - sub_bits + 1) * sub_count + sub;
    }
    static std::uint64_t lower_bound(std::size_t i) noexcept {
        if (i < sub_count) return i;
        unsigned shift = static_cast<unsigned>(i / sub_count - 1);
        return (sub_count + i % sub_count) << shift;
    }
    static std::uint64_t width(std::size_t i) noexcept {
        if (i < sub_count) return 1;
        return std::uint64_t{1} << (i / sub_count - 1);
    }

    std::array<std::uint64_t, (64 - sub_bits + 1) * sub_count> counts_{};
    std::uint64_t total_ = 0;
    std::uint64_t sum_ = 0;
    std::uint64_t max_ = 0;
};

}  // namespace coap::bench
