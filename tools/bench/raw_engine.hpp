// coap-bench --engine raw: the original load generator, kept as the ceiling of what one thread
// of this machine can send and receive (BENCHMARKS.md). It patches Message ID and token into a
// pre-encoded request and matches answers itself; nothing is retransmitted: a request that gets
// no answer within --timeout is written off as a timeout and replaced, so its figures are about
// the server alone. The default engine (bench_driver.hpp) is the client library's ClientCore,
// which does what a real client does (retransmission, NSTART, deduplication of responses) and
// costs more CPU per request: on the 2-core VM of BENCHMARKS.md, against coapd and the
// reflector with 256 endpoints x window 8, about 4.1-4.8 us of load-generator CPU per request
// against 3.5-3.9 us here (Nov 2026). Most of the difference is inside ClientCore (linear scans
// of its exchanges on every submit and response, a heap-allocated response per completion), so
// this engine stays for measuring the ceiling, and comparing the two shows what a real client
// costs.
//
// Protocol honesty: each endpoint numbers its requests with its own incrementing Message IDs
// from a random start and never reuses one within the run; an endpoint that would wrap stops
// sending (and the report says so). Tokens are 4 bytes: the slot index in the window and the
// Message ID, so they are unique among an endpoint's requests in flight.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_types.hpp"
#include "bench/udp_endpoints.hpp"
#include "coap/message.hpp"

namespace coap::bench {

class RawDriver {
  public:
    RawDriver(const BenchOptions& options, const RequestShape& request);
    ~RawDriver();
    RawDriver(const RawDriver&) = delete;
    RawDriver& operator=(const RawDriver&) = delete;

    /// Encodes the request template and opens the sockets; an error message or "".
    std::string open(const Destination& destination);
    /// Warm-up, then the measured window (closed loop only).
    RunResult run();

  private:
    enum class SlotState : std::uint8_t { idle, in_flight, acked };
    struct Slot {
        std::uint64_t sent_ns = 0;
        std::uint32_t token = 0;
        std::uint16_t message_id = 0;
        SlotState state = SlotState::idle;
    };
    struct Endpoint {
        int fd = -1;
        std::uint16_t next_message_id = 0;
        std::uint32_t message_ids_used = 0;
        bool exhausted = false;
        std::uint64_t exhausted_at_ns = 0;
        std::vector<Slot> slots;
        std::vector<std::uint16_t> free_slots;  // a stack of idle slot indices
    };

    void scan(std::uint64_t now);
    void release(Endpoint& endpoint, std::size_t slot);
    void refill(Endpoint& endpoint);
    void flush(Endpoint& endpoint);
    void drain(Endpoint& endpoint);
    void handle(Endpoint& endpoint, Bytes datagram, std::uint64_t now);
    void handle_ack(Endpoint& endpoint, const MessageView& message, std::uint64_t now);
    Slot* find_by_token(Endpoint& endpoint, Bytes token) noexcept;
    Slot* find_by_message_id(Endpoint& endpoint, std::uint16_t message_id) noexcept;
    void complete(Endpoint& endpoint, Slot& slot, Code code, std::uint64_t now);
    void send_empty_ack(Endpoint& endpoint, std::uint16_t message_id);
    void finish(std::uint64_t run_start);

    const BenchOptions& options_;
    RequestShape request_shape_;
    std::vector<std::uint8_t> request_;  // encoded with Message ID 0 and a zero token
    std::vector<Endpoint> endpoints_;
    SocketSet sockets_;
    std::uint64_t timeout_ns_ = 0;
    bool measuring_ = false;
    std::size_t started_ = 0;
    Counters counters_;
    RunResult result_;
    std::unique_ptr<ReceiveBatch> receive_;
    SendBatch send_;
    std::vector<std::uint16_t> batch_slots_;  // the slot of each datagram in send_
};

}  // namespace coap::bench
