// Shared by the fuzz targets: reads an input front to back as small integers and byte runs, so
// that the seed scripts (make_*_corpus.py) can write records field by field. Past the end every
// read gives zeros.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>

#include "coap/bytes.hpp"

namespace coap::fuzz {

/// Traps, after naming the file and line of the failed check (the caller's, through the
/// default arguments), so that a crash report says which invariant broke.
[[noreturn]] inline void fail(const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
    std::fprintf(stderr, "invariant violated at %s:%d\n", file, line);
    __builtin_trap();
}

inline void check(bool condition, const char* file = __builtin_FILE(),
                  int line = __builtin_LINE()) {
    if (!condition) fail(file, line);
}

class Input {
  public:
    Input(const std::uint8_t* data, std::size_t size) noexcept : data_(data), size_(size) {}

    bool empty() const noexcept { return pos_ >= size_; }
    std::uint8_t u8() noexcept { return pos_ < size_ ? data_[pos_++] : 0; }
    std::uint16_t u16() noexcept {  // big-endian, like the wire
        std::uint16_t high = u8();
        return static_cast<std::uint16_t>((high << 8) | u8());
    }
    std::uint32_t u24() noexcept {
        std::uint32_t high = u16();
        return (high << 8) | u8();
    }
    /// Up to `count` bytes (fewer at the end of the input), viewing the input.
    Bytes bytes(std::size_t count) noexcept {
        std::size_t left = size_ - pos_;
        if (count > left) count = left;
        Bytes out(data_ + pos_, count);
        pos_ += count;
        return out;
    }

  private:
    const std::uint8_t* data_;
    std::size_t size_;
    std::size_t pos_ = 0;
};

}  // namespace coap::fuzz
