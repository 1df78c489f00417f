// Counts heap allocations on this thread while a scope is active. Link
// support/count_allocations.cpp into the test binary: it replaces the global operator new.
#pragma once

#include <cstddef>

namespace coap::test {

/// Allocations made on this thread since the last `start()`, while counting.
class AllocationCounter {
  public:
    AllocationCounter() { start(); }
    ~AllocationCounter() { stop(); }
    AllocationCounter(const AllocationCounter&) = delete;
    AllocationCounter& operator=(const AllocationCounter&) = delete;

    static void start() noexcept;
    static void stop() noexcept;
    static std::size_t count() noexcept;
};

}  // namespace coap::test
