// Places bytes at the very end of a readable page followed by an inaccessible page, so any
// read past the end faults at once instead of silently reading neighbouring memory.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>

namespace coap::test {

class GuardedBuffer {
  public:
    explicit GuardedBuffer(std::span<const std::uint8_t> bytes) {
        page_ = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
        if (bytes.size() > page_) throw std::length_error("GuardedBuffer holds one page at most");
        void* mapping =
            mmap(nullptr, 2 * page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (mapping == MAP_FAILED) throw std::runtime_error("mmap failed");
        base_ = static_cast<std::uint8_t*>(mapping);
        if (mprotect(base_ + page_, page_, PROT_NONE) != 0) throw std::runtime_error("mprotect");
        data_ = base_ + page_ - bytes.size();
        if (!bytes.empty()) std::memcpy(data_, bytes.data(), bytes.size());
        size_ = bytes.size();
    }
    ~GuardedBuffer() { munmap(base_, 2 * page_); }
    GuardedBuffer(const GuardedBuffer&) = delete;
    GuardedBuffer& operator=(const GuardedBuffer&) = delete;

    std::span<const std::uint8_t> bytes() const { return {data_, size_}; }

  private:
    std::uint8_t* base_ = nullptr;
    std::uint8_t* data_ = nullptr;
    std::size_t size_ = 0;
    std::size_t page_ = 0;
};

}  // namespace coap::test
