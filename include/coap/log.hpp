// A pluggable log sink with levels. The default prints to stderr.
#pragma once

#include <cstdarg>
#include <cstdint>
#include <string_view>

namespace coap {

enum class LogLevel : std::uint8_t { error = 0, warn = 1, info = 2, debug = 3 };

std::string_view level_name(LogLevel level) noexcept;
/// Parses "error", "warn", "info" or "debug".
bool parse_log_level(std::string_view text, LogLevel& out) noexcept;

/// Receives one formatted line (no trailing newline). Called from any server thread, so it must
/// be thread-safe; the default sink writes whole lines to stderr with one write(2) each.
using LogSink = void (*)(void* context, LogLevel level, std::string_view line) noexcept;

/// Installs `sink` (nullptr restores the stderr sink) and the most verbose level that is passed
/// to it. Call at set-up, before servers start.
void set_log_sink(LogSink sink, void* context = nullptr) noexcept;
void set_log_level(LogLevel level) noexcept;
LogLevel log_level() noexcept;
inline bool log_enabled(LogLevel level) noexcept {
    return level <= log_level();
}

/// printf-style logging into a fixed stack buffer (lines longer than 512 bytes are cut).
void log(LogLevel level, const char* format, ...) noexcept __attribute__((format(printf, 2, 3)));

}  // namespace coap
