// Server configuration validation: clear messages at set-up instead of surprises later.
#include <string>

#include "coap/server_config.hpp"

namespace coap {

namespace {

// Room a block-wise response needs besides its block: header, token and options.
constexpr std::uint32_t block_overhead = 128;

std::string field_error(const char* field, const std::string& problem) {
    return std::string("ServerConfig.") + field + ": " + problem;
}

}  // namespace

std::string ServerConfig::validate() const {
    if (bind_address.empty()) return field_error("bind_address", "must not be empty");
    if (buffer_size < 64)
        return field_error("buffer_size",
                           "must be at least 64 bytes, got " + std::to_string(buffer_size));
    if (buffer_size > 65507)
        return field_error("buffer_size", "must be at most 65507 bytes (largest UDP payload)");
    if (buffer_count == 0 || buffer_count > 32768)
        return field_error("buffer_count", "must be between 1 and 32768");
    if (exchange_count == 0) return field_error("exchange_count", "must be at least 1");
    if (exchange_cache_bytes < buffer_size)
        return field_error("exchange_cache_bytes",
                           "must hold at least one response of buffer_size");
    if (exchange_lifetime <= Duration::zero())
        return field_error("exchange_lifetime", "must be positive");
    if (ack_timeout <= Duration::zero()) return field_error("ack_timeout", "must be positive");
    if (!(ack_random_factor >= 1.0 && ack_random_factor <= 10.0))
        return field_error("ack_random_factor", "must be between 1.0 and 10.0 (RFC 7252 §4.8)");
    if (max_retransmit > 20) return field_error("max_retransmit", "must be at most 20");
    if (deferred_answer_timeout <= Duration::zero())
        return field_error("deferred_answer_timeout", "must be positive");
    if (max_block_size < 16 || max_block_size > 1024 || (max_block_size & (max_block_size - 1)))
        return field_error("max_block_size",
                           "must be a power of two from 16 to 1024 (RFC 7959 §2.2), got " +
                               std::to_string(max_block_size));
    if (buffer_size < max_block_size + block_overhead)
        return field_error("max_block_size", "needs buffer_size >= max_block_size + " +
                                                 std::to_string(block_overhead) +
                                                 " for the header and options");
    if (block_transfer_timeout <= Duration::zero())
        return field_error("block_transfer_timeout", "must be positive");
    if (max_observe_resources == 0 || max_observe_resources > 65536)
        return field_error("max_observe_resources", "must be between 1 and 65536");
    if (max_notification_bytes < 16 || max_notification_bytes > 1024 * 1024)
        return field_error("max_notification_bytes", "must be between 16 bytes and 1 MiB");
    if (echo_freshness <= Duration::zero() || echo_freshness > std::chrono::hours(24))
        return field_error("echo_freshness", "must be positive and at most 24 hours");
    if (thread_count == 0 || thread_count > 1024)
        return field_error("thread_count", "must be between 1 and 1024");
    if (max_arena_size < 1024) return field_error("max_arena_size", "must be at least 1024 bytes");
    if (load_shed_throttle_pct > 100 || load_shed_critical_pct > 100)
        return field_error("load_shed_*_pct", "percentages must be at most 100");
    if (!(load_shed_recover_pct < load_shed_throttle_pct &&
          load_shed_throttle_pct <= load_shed_critical_pct))
        return field_error("load_shed_*_pct", "need recover < throttle <= critical");
    if (rate_limit_ip_count != 0 && (rate_limit_tokens_per_sec == 0 || rate_limit_burst == 0))
        return field_error("rate_limit_*", "tokens_per_sec and burst must be positive");
    for (std::uint16_t number : recognized_options)
        if ((number & 1) == 0)
            return field_error(
                "recognized_options",
                std::to_string(number) + " is elective; list critical (odd) numbers");
    for (int cpu : cpu_affinity)
        if (cpu < 0) return field_error("cpu_affinity", "CPU numbers must not be negative");
    if (dtls.enabled) {
        if (std::string problem = dtls.validate(); !problem.empty())
            return field_error("dtls", problem);
        if (dtls.port != 0 && dtls.port == port)
            return field_error("dtls.port", "must differ from port");
    }
    return {};
}

}  // namespace coap
