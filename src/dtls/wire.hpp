// Big-endian reading and writing of TLS presentation-language fields (RFC 5246 §4): uint8/16/
// 24/48 integers and variable-length vectors with a 1-, 2- or 3-byte length prefix.
// Both classes fail sticky: the first out-of-bounds access clears ok() and every later call is
// a harmless no-op, so a parser checks ok() once at the end instead of after every field.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "coap/bytes.hpp"

namespace coap::dtls {

class WireReader {
  public:
    explicit WireReader(Bytes input) noexcept : rest_(input) {}

    std::uint8_t u8() noexcept { return static_cast<std::uint8_t>(number(1)); }
    std::uint16_t u16() noexcept { return static_cast<std::uint16_t>(number(2)); }
    std::uint32_t u24() noexcept { return static_cast<std::uint32_t>(number(3)); }
    std::uint64_t u48() noexcept { return number(6); }

    /// The next `size` bytes as a view into the input (empty on failure).
    Bytes bytes(std::size_t size) noexcept {
        if (!ok_ || size > rest_.size()) return fail();
        Bytes taken = rest_.first(size);
        rest_ = rest_.subspan(size);
        return taken;
    }
    /// opaque x<0..2^8-1>, x<0..2^16-1>, x<0..2^24-1>.
    Bytes vector8() noexcept { return bytes(u8()); }
    Bytes vector16() noexcept { return bytes(u16()); }
    Bytes vector24() noexcept { return bytes(u24()); }

    bool ok() const noexcept { return ok_; }
    /// True when every byte was consumed and nothing failed.
    bool finished() const noexcept { return ok_ && rest_.empty(); }
    std::size_t remaining() const noexcept { return rest_.size(); }
    Bytes rest() const noexcept { return rest_; }

  private:
    std::uint64_t number(std::size_t size) noexcept {
        Bytes raw = bytes(size);
        std::uint64_t value = 0;
        for (std::uint8_t byte : raw)
            value = (value << 8) | byte;
        return value;
    }
    Bytes fail() noexcept {
        ok_ = false;
        rest_ = {};
        return {};
    }

    Bytes rest_;
    bool ok_ = true;
};

class WireWriter {
  public:
    explicit WireWriter(MutableBytes out) noexcept : out_(out) {}

    void u8(std::uint64_t value) noexcept { number(value, 1); }
    void u16(std::uint64_t value) noexcept { number(value, 2); }
    void u24(std::uint64_t value) noexcept { number(value, 3); }
    void u48(std::uint64_t value) noexcept { number(value, 6); }

    void bytes(Bytes data) noexcept {
        if (!reserve(data.size())) return;
        if (!data.empty()) std::memmove(out_.data() + size_, data.data(), data.size());
        size_ += data.size();
    }
    /// A vector with a length prefix of `prefix` bytes; fails if the data does not fit it.
    void vector(Bytes data, std::size_t prefix) noexcept {
        if (prefix < 8 && data.size() >> (8 * prefix) != 0) {
            ok_ = false;
            return;
        }
        number(data.size(), prefix);
        bytes(data);
    }

    bool ok() const noexcept { return ok_; }
    std::size_t size() const noexcept { return size_; }
    /// Where the next byte goes, for patching a length written earlier.
    std::uint8_t* at(std::size_t offset) noexcept { return out_.data() + offset; }

  private:
    bool reserve(std::size_t count) noexcept {
        if (!ok_ || count > out_.size() - size_) ok_ = false;
        return ok_;
    }
    void number(std::uint64_t value, std::size_t count) noexcept {
        if (!reserve(count)) return;
        for (std::size_t i = 0; i < count; ++i)
            out_[size_ + i] = static_cast<std::uint8_t>(value >> (8 * (count - 1 - i)));
        size_ += count;
    }

    MutableBytes out_;
    std::size_t size_ = 0;
    bool ok_ = true;
};

}  // namespace coap::dtls
