// A bump allocator over memory reserved at start-up, reset after every handler call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

namespace coap {

/// Per-request scratch memory for handlers: build payloads and strings here instead of on the
/// heap. Everything allocated is released at once when the handler's response has been sent.
/// Allocation fails (returns empty/nullptr) when the arena is full; it never throws.
class Arena {
  public:
    /// An arena without memory: every allocation fails.
    Arena() noexcept = default;
    /// An arena over `memory`, which must outlive it.
    explicit Arena(std::span<std::byte> memory) noexcept : memory_(memory) {}

    /// `size` bytes aligned to `alignment` (a power of two), or nullptr when full.
    void* allocate(std::size_t size, std::size_t alignment = alignof(std::max_align_t)) noexcept {
        std::size_t start = (used_ + alignment - 1) & ~(alignment - 1);
        if (start > memory_.size() || memory_.size() - start < size) return nullptr;
        used_ = start + size;
        return memory_.data() + start;
    }
    /// A writable byte buffer, or an empty span when full.
    std::span<std::uint8_t> bytes(std::size_t size) noexcept {
        auto* p = static_cast<std::uint8_t*>(allocate(size, 1));
        return p ? std::span<std::uint8_t>(p, size) : std::span<std::uint8_t>();
    }
    /// A copy of `text` that lives until the reset, or an empty view when full.
    std::string_view copy(std::string_view text) noexcept {
        auto out = bytes(text.size());
        if (out.size() != text.size()) return {};
        if (!text.empty()) std::memcpy(out.data(), text.data(), text.size());
        return {reinterpret_cast<const char*>(out.data()), out.size()};
    }

    /// Bytes handed out since the last reset, alignment padding included.
    std::size_t used() const noexcept { return used_; }
    /// Size of the memory the arena manages.
    std::size_t capacity() const noexcept { return memory_.size(); }
    /// Releases everything at once; earlier allocations must no longer be used.
    void reset() noexcept { used_ = 0; }

  private:
    std::span<std::byte> memory_{};
    std::size_t used_ = 0;
};

}  // namespace coap
