// Anonymous mappings: the kernel hands out zero pages lazily, so a table sized for the worst
// case costs only what traffic touches. MADV_HUGEPAGE is a hint; without THP it is ignored.
#include "table_memory.hpp"

#include <sys/mman.h>

#include <new>
#include <utility>

namespace coap::detail {

namespace {

constexpr std::size_t huge_page_size = std::size_t{2} << 20;

}  // namespace

TableMemory::TableMemory(std::size_t bytes) : size_(bytes == 0 ? 1 : bytes) {
    void* memory =
        ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) throw std::bad_alloc();
    memory_ = memory;
    if (size_ >= huge_page_size) (void)::madvise(memory_, size_, MADV_HUGEPAGE);
}

TableMemory::~TableMemory() {
    release();
}

TableMemory::TableMemory(TableMemory&& other) noexcept
    : memory_(std::exchange(other.memory_, nullptr)), size_(std::exchange(other.size_, 0)) {}

TableMemory& TableMemory::operator=(TableMemory&& other) noexcept {
    if (this != &other) {
        release();
        memory_ = std::exchange(other.memory_, nullptr);
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

void TableMemory::release() noexcept {
    if (memory_ != nullptr) ::munmap(memory_, size_);
    memory_ = nullptr;
}

}  // namespace coap::detail
