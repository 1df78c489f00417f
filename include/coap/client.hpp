// The CoAP client: blocking calls, pipelined submit/poll, block-wise transfers, Echo retry,
// Observe (with block-wise notifications).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "coap/bytes.hpp"
#include "coap/codes.hpp"
#include "coap/content_format.hpp"
#include "coap/dtls.hpp"
#include "coap/expected.hpp"
#include "coap/export.hpp"
#include "coap/message.hpp"
#include "coap/time.hpp"

namespace coap {

/// Client settings; every field has a working default.
struct ClientConfig {
    /// Server: an IPv4 or IPv6 literal ("::1" or "[::1]") or a host name (getaddrinfo).
    std::string host = "127.0.0.1";
    std::uint16_t port = 5683;  ///< 5683 for coap://, coaps_default_port (5684) for coaps://.
    /// Requests outstanding at once once the server has answered (before that, NSTART = 1,
    /// RFC 7252 §4.7). Further submits wait in a queue of the same size; beyond it, `busy`.
    std::uint32_t max_in_flight = 32;
    /// Token length in bytes, 1-8. Tokens are random, unique among outstanding requests.
    std::uint8_t token_length = 4;
    /// Block size exponent for uploads and block-wise downloads: 2^(szx+4) bytes, 0-6.
    std::uint8_t block_szx = 6;
    /// Largest body reassembled from Block2 responses and block-wise notifications; larger ones
    /// fail with `too_large`.
    std::size_t max_body_size = 1024 * 1024;
    /// Largest datagram sent or received.
    std::uint32_t buffer_size = 1280;
    /// RFC 7252 §4.8 transmission parameters.
    Duration ack_timeout = std::chrono::seconds(2);
    double ack_random_factor = 1.5;    ///< ACK_RANDOM_FACTOR, at least 1.0.
    std::uint32_t max_retransmit = 4;  ///< MAX_RETRANSMIT.
    /// Notifications held for observations until next()/next_into() takes them. When full,
    /// the oldest one that does not end its observation is dropped (stale data is worth least).
    /// Each slot holds one datagram of buffer_size bytes; a slot that once held a reassembled
    /// block-wise notification keeps that size (at most max_body_size plus its header).
    std::uint32_t max_queued_notifications = 64;
    /// How long to wait for a response after a NON request (then `timeout`), or for a separate
    /// response after an empty ACK (then `no_separate_response`).
    Duration response_timeout = std::chrono::seconds(93);
    /// Speak coaps:// (DTLS 1.2 with a pre-shared key, RFC 7252 §9.1.3.1) to host:port instead
    /// of plain CoAP; set `port` too (coaps' default is 5684, coaps_default_port). The handshake
    /// runs on Client::connect() or with the first request; every datagram (requests, ACKs,
    /// RSTs, send_raw/recv_raw) then travels sealed in the session. A session the server closes
    /// ends the requests and observations outstanding (`session_closed`); the next request
    /// handshakes again, abbreviated when `dtls->resume` and the server still knows the session.
    std::optional<ClientDtlsConfig> dtls;
};

/// Why a request failed. Distinct values for the cases a caller treats differently.
enum class ClientError : std::uint8_t {
    timeout,  ///< No ACK after MAX_RETRANSMIT retransmissions (CON), or no response (NON) in time.
    no_separate_response,  ///< An empty ACK came (RFC 7252 §5.2.2), the response did not in time.
    reset,                 ///< The server answered with RST (RFC 7252 §4.2).
    malformed_response,    ///< A reply that does not parse or breaks the protocol.
    too_large,             ///< A block-wise body above max_body_size, or a request too big to send.
    inconsistent_blocks,   ///< Block2 blocks out of order or with a changed ETag (RFC 7959 §2.4).
    busy,                  ///< More requests submitted than in flight plus queued allows.
    network,               ///< The socket failed (e.g. ICMP port unreachable).
    invalid_request,       ///< Bad path, option or argument.
    cancelled,             ///< The request or observation was cancelled.
    /// The DTLS handshake failed: an alert, or no answer in time (a server that cannot
    /// authenticate our records, say with a wrong key, drops them). Client::dtls_status() says
    /// which.
    handshake_failed,
    /// The DTLS session ended while the request or observation was outstanding (the server sent
    /// close_notify or a fatal alert, or Client::disconnect() was called).
    session_closed,
};

/// A short English description, e.g. "no acknowledgement before the retransmissions ran out".
COAP_API std::string_view describe(ClientError error) noexcept;

/// How a DTLS handshake failed (ClientError::handshake_failed).
struct DtlsHandshakeFailure {
    /// What ended the handshake.
    enum class Cause : std::uint8_t {
        timeout,       ///< No (valid) answer after the handshake retransmissions ran out.
        server_alert,  ///< The server sent a fatal alert.
        client_alert,  ///< We sent one: the server's messages were wrong (bad Finished, ...).
        network,       ///< The server's port is unreachable (ICMP) or the socket failed.
    };
    Cause cause = Cause::timeout;  ///< What ended the handshake.
    /// The alert's description (RFC 5246 §7.2; 115 unknown_psk_identity, RFC 4279 §2); 0
    /// without an alert.
    std::uint8_t alert = 0;
};

/// One line in English, e.g. "the server sent a fatal alert: unknown_psk_identity (115)".
COAP_API std::string describe(const DtlsHandshakeFailure& failure);

/// The DTLS side of a Client (ClientConfig::dtls), for diagnostics and tests.
struct DtlsClientStatus {
    bool established = false;  ///< A session is up now.
    bool resumed = false;      ///< It (or the last one) came from an abbreviated handshake.
    std::uint32_t full_handshakes = 0;     ///< Completed full handshakes.
    std::uint32_t resumed_handshakes = 0;  ///< Completed abbreviated ones (RFC 5246 §7.3).
    std::uint32_t failed_handshakes = 0;   ///< Handshakes that failed (alert, timeout, network).
    /// Why the most recent handshake failed, if it did.
    std::optional<DtlsHandshakeFailure> last_failure;
};

/// A response received by the client. Owns its bytes; for block-wise responses, `payload()` is
/// the reassembled body and `message()` the last block's datagram.
class COAP_API ClientResponse {
  public:
    ClientResponse() = default;
    /// Made by the client: the (last) datagram, and the reassembled body when `reassembled`.
    ClientResponse(std::vector<std::uint8_t> datagram, std::vector<std::uint8_t> body,
                   bool reassembled);
    /// Copies re-point the message view into the copy's own bytes.
    ClientResponse(const ClientResponse& other);
    /// See the copy constructor.
    ClientResponse& operator=(const ClientResponse& other);
    ClientResponse(ClientResponse&&) noexcept = default;             ///< Keeps the views valid.
    ClientResponse& operator=(ClientResponse&&) noexcept = default;  ///< Keeps the views valid.

    /// The response code: Code::content (2.05), Code::not_found (4.04), ...
    Code code() const noexcept { return view_.code(); }
    /// ACK (piggybacked), CON or NON (separate or NON responses).
    MessageType type() const noexcept { return view_.type(); }
    /// The body: the reassembled one for a block-wise response.
    Bytes payload() const noexcept;
    /// The body as text (no validation).
    std::string_view text() const noexcept { return as_string(payload()); }
    /// The whole parsed datagram (the last block's, for a block-wise response).
    const MessageView& message() const noexcept { return view_; }
    /// The first option with `number`, if any.
    std::optional<Option> option(OptionNumber number) const noexcept { return view_.find(number); }
    /// Every option with `number`, in order.
    OptionRange options(OptionNumber number) const noexcept { return view_.options(number); }
    /// The Content-Format option, if any.
    std::optional<ContentFormat> content_format() const noexcept;

  private:
    std::vector<std::uint8_t> datagram_;
    std::vector<std::uint8_t> body_;
    bool reassembled_ = false;
    MessageView view_{};
};

/// A response, or why there is none.
using ClientResult = Expected<ClientResponse, ClientError>;

/// Identifies a submitted request.
using RequestHandle = std::uint64_t;

/// A finished request, from `Client::poll`.
struct Completion {
    RequestHandle handle;  ///< As returned by Client::submit.
    ClientResult result;   ///< Its response or error.
};

/// A finished request, from `Client::poll_into`: the allocation-free form of Completion.
struct CompletionView {
    RequestHandle handle;  ///< As returned by Client::submit.
    /// The response parsed in place in the buffer given to poll_into (valid until that buffer is
    /// reused), or why there is none.
    Expected<MessageView, ClientError> result;
};

/// A request to send: method, options (any order) and payload. Views must stay valid until the
/// call returns (submit copies what it needs).
struct RequestSpec {
    Code method = Code::get;            ///< GET, POST, PUT, DELETE, FETCH, PATCH or iPATCH.
    std::span<const Option> options{};  ///< Uri-Path, Uri-Query, Content-Format, ...
    Bytes payload{};                    ///< Uploaded block-wise when larger than a block.
    /// NON instead of CON (RFC 7252 §4.3): no retransmission; the response is awaited for
    /// ClientConfig::response_timeout.
    bool non_confirmable = false;
    /// The token (0-8 bytes); by default the client picks a random one of
    /// ClientConfig::token_length bytes. A chosen token must not belong to another outstanding
    /// request (`busy` otherwise); random ones are safer against spoofing (RFC 7252 §5.3.1).
    std::optional<Bytes> token{};
};

class Client;

/// One notification of an observation (RFC 7641), or how the observation ended.
///
/// A notification that the server sent as the first block of a larger representation (RFC 7959
/// §2.6) is completed with GETs for the further blocks (a token of their own, ETag checked)
/// and delivered once, whole: the first block's code and options (Observe, ETag, ...) without
/// Block2, and the whole body as its payload. Such a notification is skipped, and the
/// observation goes on, when a newer one arrives first, the ETag changes (the newer state will
/// be notified) or a follow-up GET gets an error answer. A follow-up GET that fails (no answer,
/// RST, blocks out of order) ends the observation with that error, as does a body above
/// max_body_size (`too_large`).
struct Notification {
    ClientResult result;  ///< The notification, or the error that ended the observation.
    /// True for the last one: the server ended the observation (a non-2.xx, or a response
    /// without Observe), or it failed (`result` holds the error).
    bool last = false;
};

/// A running observation, from `Client::observe`. Move-only; cancels itself when destroyed.
class COAP_API Observation {
  public:
    Observation() = default;
    /// Made by Client::observe.
    Observation(Client* client, RequestHandle id) : client_(client), id_(id) {}
    /// Takes over the observation; `other` becomes inactive.
    Observation(Observation&& other) noexcept { *this = std::move(other); }
    /// Cancels the current observation, if any, and takes over `other`'s.
    Observation& operator=(Observation&& other) noexcept;
    Observation(const Observation&) = delete;
    Observation& operator=(const Observation&) = delete;
    ~Observation();

    /// The next notification (the first is the registration's own response), waiting up to
    /// `timeout`; nullopt when none came in time. Stale (reordered) notifications are dropped
    /// (RFC 7641 §3.4). After the last one, every call returns a `cancelled` error at once.
    std::optional<Notification> next(Duration timeout);
    /// The same without allocation: the notification's datagram is copied into `buffer` and the
    /// returned view points into it (valid until `buffer` is reused). nullopt on timeout; an
    /// error when the observation has ended or the datagram does not fit `buffer` (`too_large`;
    /// the notification is consumed). A block-wise notification's datagram holds the whole
    /// representation: size `buffer` for the largest one expected.
    std::optional<Expected<MessageView, ClientError>> next_into(MutableBytes buffer,
                                                                Duration timeout);
    /// True until the last notification has been returned.
    bool active() const noexcept;
    /// Deregisters with a GET carrying Observe = 1 (RFC 7641 §3.6) and waits for its answer.
    std::optional<ClientError> cancel();

  private:
    Client* client_ = nullptr;
    RequestHandle id_ = 0;
    bool ended_ = false;
};

/// A client talking to one server over a connected UDP socket. Not thread-safe: use one per
/// thread (or guard it). Blocking calls and submit/poll share one engine and can be mixed.
///
/// Memory: call_into(), submit() with poll_into(), and Observation::next_into() are the
/// allocation-free forms. Every buffer they use is sized from ClientConfig at construction, so
/// in steady state (plain or DTLS, CON or NON, a payload that fits one block) a request makes
/// no heap allocation. get/post/put/del/fetch/patch/call/poll and Observation::next return an
/// owning ClientResponse and allocate for it. Block-wise transfers and Echo retries may grow
/// an internal buffer the first time a body is larger than any before; it keeps that size.
class COAP_API Client {
  public:
    /// Resolves the host and connects the socket. Throws std::invalid_argument for a bad
    /// configuration and std::system_error when the host cannot be resolved or reached.
    explicit Client(ClientConfig config);
    /// With DTLS, sends close_notify first (RFC 5246 §7.2.1).
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    /// Blocking requests by path and query ("/sensors?type=temp&floor=2"), as CON.
    ClientResult get(std::string_view path_and_query);
    /// POST `payload`, with a Content-Format option when `format` is given.
    ClientResult post(std::string_view path_and_query, Bytes payload,
                      std::optional<ContentFormat> format = std::nullopt);
    /// PUT, as post().
    ClientResult put(std::string_view path_and_query, Bytes payload,
                     std::optional<ContentFormat> format = std::nullopt);
    /// DELETE.
    ClientResult del(std::string_view path_and_query);
    /// FETCH (RFC 8132), as post().
    ClientResult fetch(std::string_view path_and_query, Bytes payload,
                       std::optional<ContentFormat> format = std::nullopt);
    /// PATCH (RFC 8132), as post().
    ClientResult patch(std::string_view path_and_query, Bytes payload,
                       std::optional<ContentFormat> format = std::nullopt);

    /// The raw blocking form. A payload larger than the block size is uploaded block-wise
    /// (RFC 7959 Block1); a Block2 response is reassembled.
    ClientResult call(const RequestSpec& request);
    /// call() without allocation: the response datagram is copied into `buffer` and the
    /// returned view points into it (valid until `buffer` is reused). A Block2 response comes
    /// as one datagram holding the whole reassembled body as its payload, with the last block's
    /// header and options minus Block2: size `buffer` for the largest body expected. Errors as
    /// for call(), and `too_large` when the response does not fit `buffer`.
    Expected<MessageView, ClientError> call_into(const RequestSpec& request, MutableBytes buffer);
    /// Block-wise upload: the same as call(); named for readability.
    ClientResult upload(Code method, std::span<const Option> options, Bytes payload) {
        return call({method, options, payload, false});
    }
    /// Fire and forget: one NON request; any response is ignored.
    std::optional<ClientError> cast(Code method, std::span<const Option> options,
                                    Bytes payload = {});

    /// Pipelining: submit returns at once; poll drives the I/O and timers for up to `timeout`
    /// and returns the next finished request, or nullopt if none finished in time.
    /// Finished requests wait for poll: submit fails with `busy` once requests in flight, queued
    /// and finished-but-not-polled reach 2 * max_in_flight (so poll to make room). Blocking calls
    /// are submits too and get `busy` the same way.
    Expected<RequestHandle, ClientError> submit(const RequestSpec& request);
    /// See submit().
    std::optional<Completion> poll(Duration timeout);
    /// poll() without allocation: the finished request's response is copied into `buffer`, as
    /// call_into() does; its result is `too_large` when it does not fit (the completion is
    /// consumed all the same). nullopt when none finished within `timeout`.
    std::optional<CompletionView> poll_into(MutableBytes buffer, Duration timeout);
    /// Requests submitted and not yet returned by poll (or a blocking call).
    std::size_t pending() const noexcept;

    /// Starts observing (RFC 7641): sends the request with Observe = 0 and returns at once.
    /// CON notifications are acknowledged automatically; notifications that arrive after the
    /// observation ended are answered with RST.
    Expected<Observation, ClientError> observe(const RequestSpec& request);
    /// observe() of a GET of `path_and_query`.
    Expected<Observation, ClientError> observe(std::string_view path_and_query);

    /// Raw datagrams with no protocol handling (no ACKs, no matching, no retransmission).
    std::optional<ClientError> send_raw(Bytes datagram);
    /// The next datagram from the server (opened, with DTLS), waiting up to `timeout`.
    Expected<std::vector<std::uint8_t>, ClientError> recv_raw(Duration timeout);

    /// The server's address as text, e.g. "127.0.0.1:5683", for messages.
    std::string peer_text() const;

    /// With DTLS: runs the handshake now, waiting for it (bounded by the handshake timeouts of
    /// ClientDtlsConfig); nothing when a session is up. `handshake_failed` (see dtls_status())
    /// or `network` on failure. Without DTLS it does nothing.
    std::optional<ClientError> connect();
    /// With DTLS: sends close_notify and ends the session; outstanding requests fail with
    /// `session_closed`, and the next request (or connect()) handshakes again, resuming the
    /// session when ClientDtlsConfig::resume is set. Without DTLS it does nothing.
    void disconnect();
    /// The DTLS state; all zero without DTLS.
    DtlsClientStatus dtls_status() const;

  private:
    friend class Observation;
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace coap
