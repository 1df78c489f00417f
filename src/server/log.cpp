// Logging: a replaceable sink, stderr by default, one write(2) per line.
#include "coap/log.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>

#include "coap/handler.hpp"

namespace coap {

namespace {

void stderr_sink(void*, LogLevel level, std::string_view line) noexcept {
    char buffer[600];
    int n = std::snprintf(buffer, sizeof buffer, "coap %.*s: %.*s\n",
                          static_cast<int>(level_name(level).size()), level_name(level).data(),
                          static_cast<int>(line.size()), line.data());
    if (n <= 0) return;
    auto length = static_cast<std::size_t>(n) < sizeof buffer ? static_cast<std::size_t>(n)
                                                              : sizeof buffer - 1;
    [[maybe_unused]] ssize_t ignored = ::write(STDERR_FILENO, buffer, length);
}

std::atomic<LogSink> current_sink{&stderr_sink};
std::atomic<void*> current_context{nullptr};
std::atomic<LogLevel> current_level{LogLevel::info};

}  // namespace

std::string_view level_name(LogLevel level) noexcept {
    switch (level) {
        case LogLevel::error:
            return "error";
        case LogLevel::warn:
            return "warn";
        case LogLevel::info:
            return "info";
        case LogLevel::debug:
            return "debug";
    }
    return "?";
}

bool parse_log_level(std::string_view text, LogLevel& out) noexcept {
    for (LogLevel level : {LogLevel::error, LogLevel::warn, LogLevel::info, LogLevel::debug}) {
        if (text == level_name(level)) {
            out = level;
            return true;
        }
    }
    return false;
}

void set_log_sink(LogSink sink, void* context) noexcept {
    current_context.store(context);
    current_sink.store(sink ? sink : &stderr_sink);
}

void set_log_level(LogLevel level) noexcept {
    current_level.store(level);
}
LogLevel log_level() noexcept {
    return current_level.load(std::memory_order_relaxed);
}

void log(LogLevel level, const char* format, ...) noexcept {
    if (!log_enabled(level)) return;
    char line[512];
    va_list args;
    va_start(args, format);
    int n = std::vsnprintf(line, sizeof line, format, args);
    va_end(args);
    if (n < 0) return;
    std::size_t length =
        static_cast<std::size_t>(n) < sizeof line ? static_cast<std::size_t>(n) : sizeof line - 1;
    current_sink.load()(current_context.load(), level, std::string_view(line, length));
}

void report_handler_failure(const Request& request, const char* what) noexcept {
    char peer[endpoint_text_size];
    std::string_view text = request.peer().format(peer);
    CodeText method = code_text(request.method());
    log(LogLevel::error, "handler failed for %.4s request from %.*s: %s", method.text,
        static_cast<int>(text.size()), text.data(), what);
}

}  // namespace coap
