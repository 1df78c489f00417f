// The public Client: the sans-I/O engine driven over a connected UDP socket.
#include "coap/client.hpp"

#include <algorithm>
#include <random>
#include <stdexcept>
#include <utility>

#include "client/client_impl.hpp"
#include "coap/uri.hpp"

namespace coap {

namespace {

TimePoint now() {
    return std::chrono::steady_clock::now();
}

std::uint64_t random_seed() {
    std::random_device device;
    return (std::uint64_t{device()} << 32) | device();
}

void validate_dtls(const ClientDtlsConfig& dtls, std::uint32_t buffer_size) {
    if (std::string problem = dtls.credentials.validate(); !problem.empty())
        throw std::invalid_argument("ClientConfig.dtls.credentials." + problem);
    if (dtls.handshake_initial_timeout <= Duration::zero())
        throw std::invalid_argument("ClientConfig.dtls.handshake_initial_timeout: must be > 0");
    if (buffer_size > 16384)  // RFC 5246 §6.2.1: one record carries at most 2^14 bytes
        throw std::invalid_argument("ClientConfig.buffer_size: at most 16384 with DTLS");
}

void validate(const ClientConfig& config) {
    if (config.token_length < 1 || config.token_length > 8)
        throw std::invalid_argument("ClientConfig.token_length: must be between 1 and 8");
    if (config.block_szx > 6)
        throw std::invalid_argument("ClientConfig.block_szx: must be between 0 and 6");
    if (config.max_in_flight == 0 || config.max_in_flight > 65536)
        throw std::invalid_argument("ClientConfig.max_in_flight: must be between 1 and 65536");
    if (config.buffer_size < 64 || config.buffer_size > 65507)
        throw std::invalid_argument("ClientConfig.buffer_size: must be between 64 and 65507");
    if ((16u << config.block_szx) + 64 > config.buffer_size)
        throw std::invalid_argument("ClientConfig.block_szx: a block must fit buffer_size");
    if (!(config.ack_random_factor >= 1.0) || config.ack_timeout <= Duration::zero())
        throw std::invalid_argument("ClientConfig: ack_timeout > 0 and ack_random_factor >= 1");
    if (config.dtls) validate_dtls(*config.dtls, config.buffer_size);
}

}  // namespace

std::string_view describe(ClientError error) noexcept {
    switch (error) {
        case ClientError::timeout:
            return "no acknowledgement (or NON response) before the retransmissions ran out";
        case ClientError::no_separate_response:
            return "acknowledged, but no response arrived within response_timeout";
        case ClientError::reset:
            return "the server answered with a reset (RST)";
        case ClientError::malformed_response:
            return "malformed response";
        case ClientError::too_large:
            return "message or body too large";
        case ClientError::inconsistent_blocks:
            return "block-wise transfer out of order or changed";
        case ClientError::busy:
            return "too many requests outstanding";
        case ClientError::network:
            return "network error (server port unreachable?)";
        case ClientError::invalid_request:
            return "invalid request";
        case ClientError::cancelled:
            return "cancelled";
        case ClientError::handshake_failed:
            return "the DTLS handshake failed (Client::dtls_status() says why)";
        case ClientError::session_closed:
            return "the DTLS session ended (the server closed it) while the request was "
                   "outstanding";
    }
    return "unknown client error";
}

ClientResponse::ClientResponse(std::vector<std::uint8_t> datagram, std::vector<std::uint8_t> body,
                               bool reassembled)
    : datagram_(std::move(datagram)), body_(std::move(body)), reassembled_(reassembled) {
    if (auto view = parse(datagram_)) view_ = *view;
}

ClientResponse::ClientResponse(const ClientResponse& other)
    : ClientResponse(other.datagram_, other.body_, other.reassembled_) {}

ClientResponse& ClientResponse::operator=(const ClientResponse& other) {
    if (this != &other) *this = ClientResponse(other);
    return *this;
}

Bytes ClientResponse::payload() const noexcept {
    return reassembled_ ? Bytes(body_) : view_.payload();
}

std::optional<ContentFormat> ClientResponse::content_format() const noexcept {
    auto value = view_.find_uint(OptionNumber::content_format);
    if (!value || *value > 0xffff) return std::nullopt;
    return static_cast<ContentFormat>(*value);
}

Client::Client(ClientConfig config) {
    validate(config);
    impl_ = std::make_unique<Impl>(config);
}

Client::~Client() = default;

std::string Client::peer_text() const {
    return impl_->socket.peer_text();
}

Expected<RequestHandle, ClientError> Client::submit(const RequestSpec& request) {
    auto handle = impl_->core.submit(request, now());
    impl_->flush();
    return handle;
}

std::optional<Completion> Client::poll(Duration timeout) {
    TimePoint deadline = now() + timeout;
    for (;;) {
        if (auto completion = impl_->core.pop_completion()) return completion;
        if (now() >= deadline) return std::nullopt;
        impl_->drive(deadline);
    }
}

std::size_t Client::pending() const noexcept {
    return impl_->core.active() + impl_->core.queued_completions();
}

ClientResult Client::call(const RequestSpec& request) {
    auto handle = submit(request);
    if (!handle) return unexpected(handle.error());
    return impl_->wait_for(*handle);
}

namespace {

// The response the engine copied into `buffer`, parsed in place.
Expected<MessageView, ClientError> view_in(Expected<std::size_t, ClientError> length,
                                           MutableBytes buffer) noexcept {
    if (!length) return unexpected(length.error());
    auto view = parse(Bytes(buffer.data(), *length));
    if (!view) return unexpected(ClientError::malformed_response);
    return *view;
}

}  // namespace

Expected<MessageView, ClientError> Client::call_into(const RequestSpec& request,
                                                     MutableBytes buffer) {
    auto handle = submit(request);
    if (!handle) return unexpected(handle.error());
    return view_in(impl_->wait_into(*handle, buffer), buffer);
}

std::optional<CompletionView> Client::poll_into(MutableBytes buffer, Duration timeout) {
    TimePoint deadline = now() + timeout;
    for (;;) {
        if (auto copy = impl_->core.pop_completion_into(buffer))
            return CompletionView{copy->handle, view_in(copy->length, buffer)};
        if (now() >= deadline) return std::nullopt;
        impl_->drive(deadline);
    }
}

namespace {

ClientResult request_by_path(Client& client, Code method, std::string_view path_and_query,
                             Bytes payload, std::optional<ContentFormat> format) {
    UriOptions<> uri;
    if (!uri.append_path_and_query(path_and_query)) return unexpected(ClientError::invalid_request);
    std::array<Option, 40> options{};
    std::size_t count = 0;
    for (const Option& option : uri.options())
        options[count++] = option;
    UintValue format_value(format ? to_int(*format) : 0);
    if (format) options[count++] = Option{OptionNumber::content_format, format_value.bytes()};
    return client.call({method, std::span(options.data(), count), payload, false});
}

}  // namespace

ClientResult Client::get(std::string_view path_and_query) {
    return request_by_path(*this, Code::get, path_and_query, {}, std::nullopt);
}
ClientResult Client::post(std::string_view path, Bytes payload, std::optional<ContentFormat> f) {
    return request_by_path(*this, Code::post, path, payload, f);
}
ClientResult Client::put(std::string_view path, Bytes payload, std::optional<ContentFormat> f) {
    return request_by_path(*this, Code::put, path, payload, f);
}
ClientResult Client::del(std::string_view path_and_query) {
    return request_by_path(*this, Code::del, path_and_query, {}, std::nullopt);
}
ClientResult Client::fetch(std::string_view path, Bytes payload, std::optional<ContentFormat> f) {
    return request_by_path(*this, Code::fetch, path, payload, f);
}
ClientResult Client::patch(std::string_view path, Bytes payload, std::optional<ContentFormat> f) {
    return request_by_path(*this, Code::patch, path, payload, f);
}

std::optional<ClientError> Client::cast(Code method, std::span<const Option> options,
                                        Bytes payload) {
    // A NON request whose response nobody waits for: encoded and sent directly.
    std::vector<std::uint8_t> datagram(impl_->config.buffer_size);
    std::uint64_t token = random_seed();
    Message message{
        MessageType::non,
        method,
        static_cast<std::uint16_t>(token >> 48),
        Bytes(reinterpret_cast<const std::uint8_t*>(&token), impl_->config.token_length),
        options,
        payload};
    auto written = encode(message, datagram);
    if (!written) return ClientError::too_large;
    return send_raw(Bytes(datagram.data(), *written));
}

std::optional<ClientError> Client::send_raw(Bytes datagram) {
    return impl_->send_datagram(datagram);
}

Expected<std::vector<std::uint8_t>, ClientError> Client::recv_raw(Duration timeout) {
    return impl_->receive_datagram(timeout);
}

std::optional<ClientError> Client::connect() {
    return impl_->connect();
}

void Client::disconnect() {
    impl_->disconnect();
}

DtlsClientStatus Client::dtls_status() const {
    return impl_->secure ? impl_->secure->status() : DtlsClientStatus{};
}

}  // namespace coap

namespace coap {

Expected<Observation, ClientError> Client::observe(const RequestSpec& request) {
    auto id = impl_->core.observe(request, std::chrono::steady_clock::now());
    impl_->flush();
    if (!id) return unexpected(id.error());
    return Observation(this, *id);
}

Expected<Observation, ClientError> Client::observe(std::string_view path_and_query) {
    UriOptions<> uri;
    if (!uri.append_path_and_query(path_and_query)) return unexpected(ClientError::invalid_request);
    return observe(RequestSpec{Code::get, uri.options(), {}, false});
}

Observation& Observation::operator=(Observation&& other) noexcept {
    if (this != &other) {
        if (client_ && !ended_) cancel();
        client_ = std::exchange(other.client_, nullptr);
        id_ = other.id_;
        ended_ = other.ended_;
    }
    return *this;
}

Observation::~Observation() {
    if (client_ && !ended_) cancel();
}

bool Observation::active() const noexcept {
    return client_ != nullptr && !ended_;
}

std::optional<Notification> Observation::next(Duration timeout) {
    if (!active()) return Notification{unexpected(ClientError::cancelled), true};
    auto& impl = *client_->impl_;
    TimePoint deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (auto notification = impl.core.pop_notification(id_)) {
            ended_ = notification->last;
            return notification;
        }
        if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
        impl.drive(deadline);
    }
}

std::optional<Expected<MessageView, ClientError>> Observation::next_into(MutableBytes buffer,
                                                                         Duration timeout) {
    using Result = Expected<MessageView, ClientError>;
    if (!active()) return Result(unexpected(ClientError::cancelled));
    auto& impl = *client_->impl_;
    TimePoint deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        // Copied straight from the engine's fixed notification slots: no allocation.
        if (auto copy = impl.core.pop_notification_into(id_, buffer)) {
            ended_ = copy->last;
            if (!copy->length) return Result(unexpected(copy->length.error()));
            auto view = parse(Bytes(buffer.data(), *copy->length));
            if (!view) return Result(unexpected(ClientError::malformed_response));
            return Result(*view);
        }
        if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
        impl.drive(deadline);
    }
}

std::optional<ClientError> Observation::cancel() {
    if (!active()) return std::nullopt;
    auto& impl = *client_->impl_;
    if (!impl.core.cancel_observation(id_, std::chrono::steady_clock::now())) {
        ended_ = true;
        return std::nullopt;
    }
    impl.flush();
    // Wait for the deregistration's answer (or its failure), bounded by the retransmissions.
    for (;;) {
        auto notification = next(std::chrono::seconds(1));
        if (notification && notification->last) {
            ended_ = true;
            if (!notification->result) return notification->result.error();
            return std::nullopt;
        }
    }
}

}  // namespace coap
