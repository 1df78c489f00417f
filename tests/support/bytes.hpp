// Small helpers for writing byte strings in tests.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <vector>

namespace coap::test {

using ByteVector = std::vector<std::uint8_t>;

inline ByteVector bytes(std::initializer_list<int> values) {
    ByteVector out;
    for (int v : values)
        out.push_back(static_cast<std::uint8_t>(v));
    return out;
}

inline ByteVector bytes(std::string_view text) {
    return ByteVector(text.begin(), text.end());
}

inline ByteVector concat(std::initializer_list<ByteVector> parts) {
    ByteVector out;
    for (const ByteVector& part : parts)
        out.insert(out.end(), part.begin(), part.end());
    return out;
}

}  // namespace coap::test
