// Symbol visibility of the public API in the shared library.
//
// The library is compiled with -fvisibility=hidden, so only what is marked COAP_API is exported
// from libcoap.so. Mark every class that has member functions defined in a .cpp file, and every
// free function declared here and defined in a .cpp file. Inline, constexpr and template code
// is compiled into the caller and needs no mark.
#pragma once

/// Exports a class or function from the shared library. Consumers of the static library get
/// `COAP_STATIC_DEFINE` from CMake (or may define it themselves), which turns the mark off.
#if defined(COAP_STATIC_DEFINE) || !defined(__GNUC__)
#define COAP_API
#else
#define COAP_API __attribute__((visibility("default")))
#endif
