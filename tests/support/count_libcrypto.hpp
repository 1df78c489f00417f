// Counts libcrypto's own allocations: it allocates through CRYPTO_malloc, which the operator new
// counter (count_allocations.hpp) does not see. Including this header installs the hooks before
// main(), as OpenSSL requires; one test binary includes it from one file.
#pragma once

#include <openssl/crypto.h>

#include <atomic>
#include <cstddef>
#include <cstdlib>

namespace coap::test {

inline std::atomic<std::size_t> libcrypto_allocations{0};
inline std::atomic<std::size_t> libcrypto_bytes{0};

inline void* libcrypto_counting_malloc(std::size_t size, const char*, int) {
    ++libcrypto_allocations;
    libcrypto_bytes += size;
    return std::malloc(size);
}
inline void* libcrypto_counting_realloc(void* p, std::size_t size, const char*, int) {
    ++libcrypto_allocations;
    return std::realloc(p, size);
}
inline void libcrypto_counting_free(void* p, const char*, int) {
    std::free(p);
}

/// True when the hooks are installed (OpenSSL refuses once it has allocated).
inline const bool libcrypto_hooks =
    CRYPTO_set_mem_functions(libcrypto_counting_malloc, libcrypto_counting_realloc,
                             libcrypto_counting_free) == 1;

}  // namespace coap::test
