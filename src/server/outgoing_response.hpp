// A response on its way to the encoder: the handler's Response plus the options the server adds.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "coap/response.hpp"

namespace coap::detail {

/// A response as it goes on the wire. Option values point into a Response, a transfer slot or
/// this object, so it is filled in place and never copied.
class OutgoingResponse {
  public:
    // Block1, Block2, Size1/Size2, ETag, Observe and Echo may come on top of the handler's.
    static constexpr std::size_t max_options = Response::max_options + 6;
    static constexpr std::size_t max_echo_size = 40;  // RFC 9175 §2.2.1

    OutgoingResponse() noexcept = default;
    OutgoingResponse(const OutgoingResponse&) = delete;
    OutgoingResponse& operator=(const OutgoingResponse&) = delete;

    /// Takes the code, options and payload of `response`, which must outlive this object.
    void assign(const Response& response) noexcept;
    /// Drops everything: code 2.05, no options, no payload.
    void clear() noexcept;
    /// Adds an option whose value is borrowed.
    void add(OptionNumber number, Bytes value) noexcept;
    /// Adds a uint or Block option whose value is held here.
    void add_uint(OptionNumber number, std::uint32_t value) noexcept;
    void add_block(OptionNumber number, BlockValue block) noexcept {
        add_uint(number,
                 static_cast<std::uint32_t>((block.num << 4) | (block.more ? 8u : 0u) | block.szx));
    }
    /// Adds an 8-byte ETag held here.
    void add_etag(std::uint64_t tag) noexcept;
    /// Adds an Echo option (RFC 9175 §2) whose value is copied here.
    void add_echo(Bytes value) noexcept;

    std::span<const Option> options() const noexcept { return {options_.data(), count_}; }
    /// True when an option did not fit (or the assigned Response had overflowed).
    bool overflowed() const noexcept { return overflowed_; }

    Code code = Code::content;
    Bytes payload{};

  private:
    std::array<Option, max_options> options_{};
    std::array<UintValue, 5> uints_{UintValue(0), UintValue(0), UintValue(0), UintValue(0),
                                    UintValue(0)};
    std::array<std::uint8_t, max_echo_size> echo_{};
    std::array<std::uint8_t, 8> etag_{};
    std::uint8_t count_ = 0;
    std::uint8_t uint_count_ = 0;
    bool overflowed_ = false;
};

}  // namespace coap::detail
