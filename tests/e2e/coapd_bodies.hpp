// The bodies coapd's block-wise and observable plugtest resources serve, rebuilt independently
// of coapd so that the end-to-end tests can check what arrives byte for byte.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdio>
#include <string>

namespace coap::e2e {

/// coapd's /large: 2,048 bytes of numbered lines (tools/coapd/block_resources.cpp).
inline std::string large_text() {
    std::string text;
    for (int line = 0; text.size() < 2048; ++line) {
        char buffer[64];
        int n = std::snprintf(buffer, sizeof buffer, "%04d This is the /large resource of coapd.\n",
                              line);
        text.append(buffer, static_cast<std::size_t>(n));
    }
    text.resize(2048);
    return text;
}

/// coapd's /obs-large and /obs-pumping bodies at ticker count `count`
/// (tools/coapd/observe_resources.cpp).
inline std::string sized_text(unsigned long long count, std::size_t size) {
    std::string text = "tick " + std::to_string(count) + "\n";
    for (int line = 1; text.size() < size; ++line)
        text += "line " + std::to_string(line) + " of an observable resource\n";
    text.resize(size);
    return text;
}

/// Compares bodies without printing kilobytes: the lengths and the first differing offset.
inline ::testing::AssertionResult same_body(const std::string& actual,
                                            const std::string& expected) {
    if (actual == expected) return ::testing::AssertionSuccess();
    std::size_t at = 0;
    while (at < actual.size() && at < expected.size() && actual[at] == expected[at])
        ++at;
    return ::testing::AssertionFailure() << "body of " << actual.size() << " bytes, expected "
                                         << expected.size() << "; first difference at byte " << at;
}

}  // namespace coap::e2e
