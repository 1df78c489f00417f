// Memory for the large per-worker tables (the deduplication index, entries and response ring):
// zero-filled, resident only where touched, and on transparent huge pages where the kernel
// allows. A loaded server looks up random places in tables of tens of MiB; with 4 KiB pages
// nearly every lookup also misses the TLB, which costs as much as the cache miss itself.
#pragma once

#include <cstddef>

namespace coap::detail {

class TableMemory {
  public:
    /// `bytes` of zeroed memory. Throws std::bad_alloc when the kernel refuses (set-up time).
    explicit TableMemory(std::size_t bytes);
    ~TableMemory();
    TableMemory(TableMemory&& other) noexcept;
    TableMemory& operator=(TableMemory&& other) noexcept;
    TableMemory(const TableMemory&) = delete;
    TableMemory& operator=(const TableMemory&) = delete;

    void* data() const noexcept { return memory_; }
    std::size_t size() const noexcept { return size_; }

  private:
    void release() noexcept;

    void* memory_ = nullptr;
    std::size_t size_ = 0;
};

}  // namespace coap::detail
