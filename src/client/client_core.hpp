// The sans-I/O client engine (RFC 7252 §4, §5; RFC 7959 §2; RFC 9175 §2.3; RFC 7641): requests
// in, datagrams, completions and notifications out, time passed in. No sockets, no clock reads,
// no threads.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "client/completion_queue.hpp"
#include "client/notification_queue.hpp"
#include "coap/client.hpp"

namespace coap::detail {

class ClientCore {
  public:
    /// `random_seed` seeds Message IDs, tokens and retransmission jitter.
    ClientCore(const ClientConfig& config, std::uint64_t random_seed);

    /// Queues or sends a request; the handle identifies its completion. `busy` when requests in
    /// flight, queued and completed but not yet taken reach 2 * max_in_flight.
    Expected<RequestHandle, ClientError> submit(const RequestSpec& request, TimePoint now);
    /// Starts an observation (RFC 7641 §3.1): the request goes out with Observe = 0 and its
    /// responses arrive as notifications for the returned id, not as completions. A notification
    /// that is the first block of a larger representation (Block2 NUM 0, M 1) is completed with
    /// GETs for the further blocks and queued whole (RFC 7959 §2.6).
    Expected<RequestHandle, ClientError> observe(const RequestSpec& request, TimePoint now);
    /// Deregisters (RFC 7641 §3.6): a GET with Observe = 1 and the same token, which waits for
    /// NSTART like any request (RFC 7252 §4.7). Its answer, or a notification that comes
    /// before it is sent, ends the observation. While the registration itself is in flight, its
    /// answer ends the observation instead (later notifications get RST, §3.6). False when the
    /// observation is not active, or was still queued (it is then dropped: nothing was sent).
    bool cancel_observation(RequestHandle id, TimePoint now);
    /// The next notification for `id`, if one is queued.
    std::optional<Notification> pop_notification(RequestHandle id);
    /// The same without allocation: the datagram is copied into `buffer`. The length (or the
    /// error that ended the observation) and whether it was the last.
    struct NotificationCopy {
        Expected<std::size_t, ClientError> length;
        bool last;
    };
    std::optional<NotificationCopy> pop_notification_into(RequestHandle id, MutableBytes buffer);
    /// Notifications dropped because the queue was full.
    std::uint64_t notifications_dropped() const noexcept { return notifications_.dropped(); }
    /// Block-wise notifications abandoned before they were whole: a newer notification came, the
    /// representation changed (ETag), or a follow-up GET got an error answer (RFC 7959 §2.6).
    std::uint64_t notifications_abandoned() const noexcept { return notifications_abandoned_; }
    /// True while `id` is observing or has notifications queued.
    bool observation_open(RequestHandle id) const noexcept;
    /// One datagram from the server.
    void on_datagram(Bytes datagram, TimePoint now);
    /// Retransmissions and timeouts due at `now`.
    void on_timer(TimePoint now);
    /// Ends every outstanding request with `error` (the socket failed).
    void fail_all(ClientError error);
    /// The earliest time on_timer has work, if any.
    std::optional<TimePoint> next_deadline() const noexcept;

    /// Datagrams to send, oldest first.
    bool has_outgoing() const noexcept { return outgoing_count_ != 0; }
    Bytes front_outgoing() const noexcept;
    void pop_outgoing() noexcept;

    /// The oldest completion, as an owning ClientResponse (allocates).
    std::optional<Completion> pop_completion();
    /// The result of `handle` if it has completed; other completions stay queued.
    std::optional<ClientResult> take_completion(RequestHandle handle);
    /// The same without allocation: the response datagram is copied into `buffer` (a Block2
    /// response as one datagram holding the whole body, see write_reassembled). The length, or
    /// the request's error, or `too_large` when it does not fit (the completion is consumed).
    struct CompletionCopy {
        RequestHandle handle;
        Expected<std::size_t, ClientError> length;
    };
    std::optional<CompletionCopy> pop_completion_into(MutableBytes buffer);
    /// take_completion into `buffer`, as pop_completion_into.
    std::optional<Expected<std::size_t, ClientError>> take_completion_into(RequestHandle handle,
                                                                           MutableBytes buffer);
    /// Completions waiting for pop_completion.
    std::size_t queued_completions() const noexcept { return completions_.size(); }
    /// Requests submitted and not yet completed.
    std::size_t active() const noexcept { return active_; }
    /// True once any response arrived (NSTART then allows max_in_flight, RFC 7252 §4.7).
    bool server_answered() const noexcept { return server_answered_; }

  private:
    // fetch_waiting: an observation whose next request (the further blocks of a notification,
    // or the deregistration) waits for NSTART.
    enum class State : std::uint8_t {
        free,
        queued,
        awaiting_ack,
        awaiting_response,
        observing,
        fetch_waiting
    };

    struct Exchange {
        State state = State::free;
        RequestHandle handle = 0;
        bool confirmable = true;
        Code method = Code::get;
        std::array<std::uint8_t, max_token_length> token{};
        std::uint8_t token_length = 0;
        bool chosen_token = false;  // given by the caller, not drawn by new_token
        std::uint16_t message_id = 0;
        std::vector<std::uint8_t> base;      // header + token + the caller's options
        std::vector<std::uint8_t> body;      // the request payload
        std::vector<std::uint8_t> datagram;  // the current transmission
        std::uint32_t retransmissions = 0;
        Duration timeout{};
        TimePoint deadline{};
        // RFC 7959 Block1: upload progress.
        bool block1 = false;
        bool has_request_tag = false;  // RFC 9175 §3
        std::array<std::uint8_t, 4> request_tag{};
        std::uint8_t block1_szx = 6;
        std::size_t block1_offset = 0;
        std::size_t block1_sent = 0;  // size of the block in flight
        // RFC 7959 Block2: download progress.
        bool block2 = false;
        std::uint8_t block2_szx = 6;
        std::vector<std::uint8_t> received;
        std::array<std::uint8_t, 8> etag{};
        std::uint8_t etag_length = 0;
        bool has_etag = false;
        // RFC 9175 §2.3: one automatic retry with the Echo value of a 4.01.
        std::vector<std::uint8_t> echo;
        bool echo_retried = false;
        // RFC 7641: observation state.
        bool observe = false;
        bool deregistering = false;
        bool registered = false;
        std::uint32_t last_sequence = 0;
        TimePoint last_notification{};
        // RFC 7959 §2.6: fetching the rest of a notification that came as its first block, with
        // a token of its own (the observation's token belongs to the notifications, §3.4).
        bool fetching = false;    // the transmission in flight is a follow-up GET
        bool fetch_ends = false;  // the first block had no Observe: the whole body is the last
        std::array<std::uint8_t, max_token_length> fetch_token{};
        std::vector<std::uint8_t> first_block;  // the notification's datagram
    };

    Exchange* find_free() noexcept;
    Exchange* find_by_message_id(std::uint16_t message_id, bool include_non = false) noexcept;
    Exchange* find_by_token(Bytes token) noexcept;
    Bytes wire_token(const Exchange& exchange) const noexcept;
    static bool holds_token(State state) noexcept;
    std::size_t in_flight() const noexcept;
    std::size_t tokens_in_use() const noexcept;
    void start_queued(TimePoint now);
    void transmit(Exchange& exchange, TimePoint now);
    bool build_datagram(Exchange& exchange);
    void handle_response(Exchange& exchange, const MessageView& response, TimePoint now);
    bool continue_upload(Exchange& exchange, const MessageView& response, TimePoint now);
    bool continue_download(Exchange& exchange, const MessageView& response, TimePoint now);
    void complete(Exchange& exchange, ClientError error, TimePoint now);
    void release(Exchange& exchange, TimePoint now);
    void handle_notification(Exchange& exchange, const MessageView& response, TimePoint now);
    void end_observation(Exchange& exchange, Bytes datagram, std::optional<ClientError> error,
                         TimePoint now);
    void prepare_fetch(Exchange& exchange, const MessageView& first, bool ends, TimePoint now);
    void start_fetch(Exchange& exchange, TimePoint now);
    void continue_fetch(Exchange& exchange, const MessageView& response, TimePoint now);
    void finish_fetch(Exchange& exchange, TimePoint now);
    void drop_fetch(Exchange& exchange, TimePoint now);
    void abandon_fetch(Exchange& exchange) noexcept;
    void remember_etag(Exchange& exchange, const MessageView& response) noexcept;
    Expected<RequestHandle, ClientError> start(const RequestSpec& request, bool observe,
                                               TimePoint now);
    void complete_with(Exchange& exchange, const MessageView& response, TimePoint now);
    void send_empty(MessageType type, std::uint16_t message_id);
    void queue_outgoing(Bytes datagram);
    void new_token(Exchange& exchange) noexcept;
    void draw_token(std::array<std::uint8_t, max_token_length>& token) noexcept;
    std::size_t requests_outstanding() const noexcept;
    Duration initial_timeout() noexcept;
    std::uint64_t next_random() noexcept;
    bool seen(std::uint16_t message_id, MessageType type) const noexcept;
    void remember(std::uint16_t message_id, MessageType type) noexcept;

    ClientConfig config_;
    std::vector<Exchange> exchanges_;
    std::vector<std::vector<std::uint8_t>> outgoing_;
    std::vector<std::uint16_t> outgoing_length_;
    std::size_t outgoing_head_ = 0;
    std::size_t outgoing_count_ = 0;
    CompletionQueue completions_;  // bounded by submit (requests_outstanding)
    NotificationQueue notifications_;
    std::uint64_t notifications_abandoned_ = 0;
    struct SeenMessage {
        std::uint16_t message_id;
        MessageType type;
    };
    std::array<SeenMessage, 32> seen_{};  // CON and NON responses processed (§4.5)
    std::size_t seen_next_ = 0;
    std::size_t seen_count_ = 0;
    std::uint64_t random_state_;
    RequestHandle next_handle_ = 1;
    std::uint16_t next_message_id_;
    std::size_t active_ = 0;
    bool server_answered_ = false;
};

}  // namespace coap::detail
