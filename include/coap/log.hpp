// A pluggable log sink with levels. The default prints to stderr.
#pragma once

#include <cstdarg>
#include <cstdint>
#include <string_view>

#include "coap/export.hpp"

namespace coap {

/// How important a log line is; a level lets through itself and the levels above it.
enum class LogLevel : std::uint8_t { error = 0, warn = 1, info = 2, debug = 3 };

/// "error", "warn", "info" or "debug".
COAP_API std::string_view level_name(LogLevel level) noexcept;
/// Parses "error", "warn", "info" or "debug".
COAP_API bool parse_log_level(std::string_view text, LogLevel& out) noexcept;

/// Receives one formatted line (no trailing newline). Called from any server thread, so it must
/// be thread-safe; the default sink writes whole lines to stderr with one write(2) each.
using LogSink = void (*)(void* context, LogLevel level, std::string_view line) noexcept;

/// Installs `sink` (nullptr restores the stderr sink) and the most verbose level that is passed
/// to it. Call at set-up, before servers start.
COAP_API void set_log_sink(LogSink sink, void* context = nullptr) noexcept;
/// Sets the most verbose level that reaches the sink (default: info).
COAP_API void set_log_level(LogLevel level) noexcept;
/// The level set by `set_log_level`.
COAP_API LogLevel log_level() noexcept;
/// True when a line at `level` would reach the sink; check it before costly formatting.
inline bool log_enabled(LogLevel level) noexcept {
    return level <= log_level();
}

/// printf-style logging into a fixed stack buffer (lines longer than 512 bytes are cut).
COAP_API void log(LogLevel level, const char* format, ...) noexcept
    __attribute__((format(printf, 2, 3)));

}  // namespace coap
