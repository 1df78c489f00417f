// End-to-end tests of Observe (RFC 7641) on coapd's observable resources, following the ETSI
// CoAP#4 descriptions TD_COAP_OBS_*: libcoap's coap-client (`-s` observes for a while) for the
// plain observations, and a raw UDP peer where the test must act at a chosen moment (RST a
// notification, cancel, DELETE or update the resource meanwhile). coapd runs with a short
// observe period so that a few notifications arrive within a second or two.
#include <string>
#include <vector>

#include "e2e/libcoap_harness.hpp"

namespace {

using namespace coap::e2e;

constexpr auto period = 300ms;
// Nothing may arrive within this after an observation ended: three ticker periods.
constexpr auto quiet_period = 3 * period;

struct Notification {
    MessageType type;
    Code code;
    std::uint16_t mid;
    ByteVector token;
    std::optional<std::uint32_t> observe;
    std::optional<std::uint32_t> content_format;
    std::optional<std::uint32_t> max_age;
    std::string payload;
};

std::optional<Notification> decode(const ByteVector& datagram) {
    auto message = coap::parse(coap::Bytes(datagram.data(), datagram.size()));
    if (!message) return std::nullopt;
    Notification out{message->type(),
                     message->code(),
                     message->message_id(),
                     bytes_of(message->token()),
                     message->find_uint(OptionNumber::observe),
                     message->find_uint(OptionNumber::content_format),
                     message->find_uint(OptionNumber::max_age),
                     std::string(reinterpret_cast<const char*>(message->payload().data()),
                                 message->payload().size())};
    return out;
}

// RFC 7641 §3.4: V2 is newer than V1 in 24-bit serial arithmetic.
bool newer(std::uint32_t v1, std::uint32_t v2) {
    return (v1 < v2 && v2 - v1 < (1u << 23)) || (v1 > v2 && v1 - v2 > (1u << 23));
}

// One observer on a raw socket: registers, acknowledges CON notifications, cancels.
class RawObserver {
  public:
    RawObserver(Family family, std::uint16_t port) : udp_(family, port) {}

    // CON GET with Observe=0: the ACK must carry 2.05 and an Observe value (OBS_01 step 3).
    void register_on(std::string_view path) {
        path_ = std::string(path);
        std::uint16_t mid = udp_.next_mid();
        udp_.send(encode_message(MessageType::con, Code::get, mid, token_, request_options(0)));
        std::optional<Notification> reply = next_from_server(mid);
        ASSERT_TRUE(reply.has_value()) << "no answer to the registration";
        EXPECT_EQ(reply->type, MessageType::ack);
        EXPECT_EQ(reply->code, Code::content);
        EXPECT_EQ(reply->token, token_);
        ASSERT_TRUE(reply->observe.has_value()) << "the registration was not accepted";
        last_observe_ = *reply->observe;
    }

    // The next notification for this observation (CON ones are acknowledged), skipping nothing.
    std::optional<Notification> next(std::chrono::milliseconds timeout) {
        return next_from_server(std::nullopt, timeout);
    }

    // Sends `type` (ACK or RST) for `mid`.
    void answer(MessageType type, std::uint16_t mid) {
        udp_.send(encode_message(type, Code::empty, mid, {}, {}));
    }

    // GET with Observe=1 and the same token (OBS_12); returns the response.
    std::optional<Notification> cancel() {
        std::uint16_t mid = udp_.next_mid();
        udp_.send(encode_message(MessageType::con, Code::get, mid, token_, request_options(1)));
        return next_from_server(mid);
    }

    // True when nothing at all arrives for `quiet` (after a short drain of what was in flight).
    bool stays_silent(std::chrono::milliseconds quiet) {
        while (auto late = udp_.receive(100ms))
            acknowledge_if_con(*late);
        return !udp_.receive(quiet).has_value();
    }

    UdpPeer& udp() { return udp_; }
    const ByteVector& token() const { return token_; }
    std::uint32_t last_observe() const { return last_observe_; }
    void set_last_observe(std::uint32_t value) { last_observe_ = value; }

  private:
    std::vector<RawOption> request_options(std::uint32_t observe) const {
        std::vector<RawOption> options;
        options.push_back(
            {6, observe == 0 ? ByteVector{} : ByteVector{static_cast<std::uint8_t>(observe)}});
        std::size_t start = 1;
        while (start <= path_.size()) {
            std::size_t end = path_.find('/', start);
            if (end == std::string::npos) end = path_.size();
            options.push_back({11, text_value(path_.substr(start, end - start))});
            start = end + 1;
        }
        return options;
    }

    void acknowledge_if_con(const ByteVector& datagram) {
        auto message = decode(datagram);
        if (message && message->type == MessageType::con) answer(MessageType::ack, message->mid);
    }

    // The next datagram; with `reply_to`, the response to that request (notifications that
    // arrive first are acknowledged and skipped).
    std::optional<Notification> next_from_server(std::optional<std::uint16_t> reply_to,
                                                 std::chrono::milliseconds timeout = 3000ms) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            std::optional<ByteVector> datagram = udp_.receive(std::max(left, 1ms));
            if (!datagram) return std::nullopt;
            std::optional<Notification> message = decode(*datagram);
            if (!message) continue;
            if (message->type == MessageType::con) answer(MessageType::ack, message->mid);
            if (reply_to && !(message->type == MessageType::ack && message->mid == *reply_to))
                continue;
            return message;
        }
        return std::nullopt;
    }

    UdpPeer udp_;
    ByteVector token_ = token_bytes();
    std::string path_;
    std::uint32_t last_observe_ = 0;
};

class ObserveE2E : public CoapdE2E, public ::testing::WithParamInterface<Family> {
  protected:
    static void SetUpTestSuite() {
        start_coapd({"--observe-period-ms", std::to_string(period.count())});
    }

    std::string uri(std::string_view path) const {
        return "coap://" + std::string(GetParam() == Family::ipv4 ? "127.0.0.1" : "[::1]") + ":" +
               std::to_string(port()) + std::string(path);
    }

    // coap-client observing `path` for `seconds`: the registration's ACK and the notifications.
    ClientRun observe(std::string_view path, int seconds, std::vector<std::string> extra = {}) {
        std::vector<std::string> args{"-s", std::to_string(seconds), "-B",
                                      std::to_string(seconds + 3)};
        args.insert(args.end(), extra.begin(), extra.end());
        args.push_back(uri(path));
        return coap_client(args);
    }

    // A CON request from a fresh socket, e.g. to change the observed resource meanwhile.
    std::optional<Notification> request(Code method, std::string_view path,
                                        std::optional<std::uint32_t> format = std::nullopt,
                                        std::string_view payload = {}) {
        UdpPeer other(GetParam(), port());
        std::uint16_t mid = other.next_mid();
        std::vector<RawOption> options{{11, text_value(path.substr(1))}};
        if (format) options.push_back({12, {static_cast<std::uint8_t>(*format)}});
        other.send(encode_message(MessageType::con, method, mid, token_bytes(), options, payload));
        std::optional<ByteVector> reply = other.receive(reply_timeout);
        if (!reply) return std::nullopt;
        return decode(*reply);
    }

    // Gives /obs back to the ticker after a test changed it (an empty PUT, see coapd).
    void restore_obs() {
        auto reply = request(Code::put, "/obs", 0);
        EXPECT_TRUE(reply.has_value());
    }

    // Notifications from the server in `run` (libcoap prints them as received CON/NON 2.05).
    static std::vector<const Pdu*> notifications(const ClientRun& run) {
        std::vector<const Pdu*> out;
        for (std::size_t i = 1; i < run.received.size(); ++i)
            if (run.received[i].type == "CON" || run.received[i].type == "NON")
                out.push_back(&run.received[i]);
        return out;
    }

    static void check_increasing(const std::vector<const Pdu*>& pdus) {
        std::optional<std::uint32_t> previous;
        for (const Pdu* pdu : pdus) {
            auto observe = pdu->value("Observe");
            ASSERT_TRUE(observe.has_value()) << pdu->line;
            std::uint32_t value = static_cast<std::uint32_t>(std::stoul(*observe));
            if (previous) {
                EXPECT_TRUE(newer(*previous, value)) << *previous << " then " << value;
            }
            previous = value;
        }
    }
};

std::string family_param_name(const ::testing::TestParamInfo<Family>& info) {
    return family_name(info.param);
}

INSTANTIATE_TEST_SUITE_P(Plugtest, ObserveE2E, ::testing::Values(Family::ipv4, Family::ipv6),
                         family_param_name);

// CON notifications with the registration's token, increasing Observe values, the same
// Content-Format, and Max-Age (OBS_04); each acknowledged by the client.
TEST_P(ObserveE2E, TD_COAP_OBS_01) {
    ClientRun run = observe("/obs", 2);
    EXCHANGE_TRACE(run);
    ASSERT_FALSE(run.received.empty());
    const Pdu& first = run.received.front();
    EXPECT_EQ(first.type, "ACK");
    EXPECT_EQ(first.code, "2.05");
    EXPECT_TRUE(first.has("Observe")) << "the registration is confirmed with Observe";
    std::vector<const Pdu*> pushed = notifications(run);
    EXPECT_GE(pushed.size(), 3u) << "a notification every " << period.count() << " ms";
    for (const Pdu* pdu : pushed) {
        EXPECT_EQ(pdu->type, "CON") << pdu->line;
        EXPECT_EQ(pdu->token, first.token);
        EXPECT_EQ(pdu->value("Content-Format"), first.value("Content-Format"));
        EXPECT_TRUE(pdu->has("Max-Age")) << pdu->line;
    }
    std::vector<const Pdu*> all{&first};
    all.insert(all.end(), pushed.begin(), pushed.end());
    check_increasing(all);
}

// NON notifications (the server may still make an occasional one CON: RFC 7641 §4.5).
TEST_P(ObserveE2E, TD_COAP_OBS_02) {
    ClientRun run = observe("/obs-non", 2, {"-N"});
    EXCHANGE_TRACE(run);
    std::vector<const Pdu*> pushed = notifications(run);
    ASSERT_GE(pushed.size(), 3u);
    std::size_t non = 0;
    for (const Pdu* pdu : pushed)
        non += pdu->type == "NON";
    EXPECT_GE(non, pushed.size() - 1) << "at most an occasional CON";
    check_increasing(pushed);
}

// A RST to a notification ends the observation (RFC 7641 §3.6).
TEST_P(ObserveE2E, TD_COAP_OBS_06) {
    RawObserver observer(GetParam(), port());
    ASSERT_NO_FATAL_FAILURE(observer.register_on("/obs"));
    // Read notifications without acknowledging: reject the first with RST.
    std::optional<ByteVector> datagram = observer.udp().receive(5 * period);
    ASSERT_TRUE(datagram.has_value()) << "no notification";
    auto notification = decode(*datagram);
    ASSERT_TRUE(notification.has_value());
    EXPECT_EQ(notification->token, observer.token());
    observer.answer(MessageType::rst, notification->mid);
    EXPECT_TRUE(observer.stays_silent(quiet_period)) << "notifications after the RST";
}

// DELETE of the resource: a 4.04 notification without Observe, then nothing (RFC 7641 §3.2).
TEST_P(ObserveE2E, TD_COAP_OBS_07) {
    RawObserver observer(GetParam(), port());
    ASSERT_NO_FATAL_FAILURE(observer.register_on("/obs"));
    ASSERT_TRUE(observer.next(5 * period).has_value()) << "no first notification";
    auto deleted = request(Code::del, "/obs");
    ASSERT_TRUE(deleted.has_value());
    EXPECT_EQ(deleted->code, Code::deleted);
    std::optional<Notification> last;
    while (auto notification = observer.next(5 * period)) {
        if (notification->code != Code::content) {
            last = notification;
            break;
        }
    }
    ASSERT_TRUE(last.has_value()) << "no notification of the deletion";
    EXPECT_EQ(last->code, Code::not_found);
    EXPECT_EQ(last->type, MessageType::con);
    EXPECT_FALSE(last->observe.has_value()) << "a final notification carries no Observe";
    EXPECT_TRUE(observer.stays_silent(quiet_period));
    restore_obs();
}

// A new Content-Format: 4.06 ends the observation.
TEST_P(ObserveE2E, TD_COAP_OBS_08) {
    RawObserver observer(GetParam(), port());
    ASSERT_NO_FATAL_FAILURE(observer.register_on("/obs"));
    auto updated = request(Code::put, "/obs", 50, "{\"value\":1}");
    ASSERT_TRUE(updated.has_value());
    EXPECT_EQ(updated->code, Code::changed);
    std::optional<Notification> last;
    while (auto notification = observer.next(5 * period)) {
        if (notification->code != Code::content) {
            last = notification;
            break;
        }
    }
    ASSERT_TRUE(last.has_value());
    EXPECT_EQ(last->code, Code::not_acceptable);
    EXPECT_FALSE(last->observe.has_value());
    EXPECT_TRUE(observer.stays_silent(quiet_period));
    restore_obs();
}

// An update with the same Content-Format reaches the observer.
TEST_P(ObserveE2E, TD_COAP_OBS_09) {
    RawObserver observer(GetParam(), port());
    ASSERT_NO_FATAL_FAILURE(observer.register_on("/obs"));
    std::string value = "updated-" + random_word();
    auto updated = request(Code::put, "/obs", 0, value);
    ASSERT_TRUE(updated.has_value());
    EXPECT_EQ(updated->code, Code::changed);
    bool seen = false;
    while (auto notification = observer.next(5 * period)) {
        ASSERT_EQ(notification->code, Code::content);
        ASSERT_TRUE(notification->observe.has_value());
        EXPECT_TRUE(newer(observer.last_observe(), *notification->observe));
        observer.set_last_observe(*notification->observe);
        if (notification->payload == value) {
            seen = true;
            break;
        }
    }
    EXPECT_TRUE(seen) << "no notification carried the new value";
    restore_obs();
}

// A GET without Observe from the same endpoint does not end the observation.
TEST_P(ObserveE2E, TD_COAP_OBS_10) {
    RawObserver observer(GetParam(), port());
    ASSERT_NO_FATAL_FAILURE(observer.register_on("/obs"));
    std::uint16_t mid = observer.udp().next_mid();
    ByteVector other_token = token_bytes();
    observer.udp().send(
        encode_message(MessageType::con, Code::get, mid, other_token, {{11, text_value("obs")}}));
    bool answered = false;
    int later = 0;
    auto deadline = std::chrono::steady_clock::now() + 10 * period;
    while ((later < 2 || !answered) && std::chrono::steady_clock::now() < deadline) {
        auto notification = observer.next(5 * period);
        ASSERT_TRUE(notification.has_value()) << "notifications stopped";
        if (notification->type == MessageType::ack && notification->mid == mid) {
            answered = true;
            EXPECT_EQ(notification->token, other_token);
            EXPECT_FALSE(notification->observe.has_value());
        } else if (answered) {
            EXPECT_EQ(notification->token, observer.token());
            ++later;
        }
    }
    EXPECT_TRUE(answered);
    EXPECT_GE(later, 2) << "notifications continue after the plain GET";
}

// GET with Observe=1 and the registration's token ends the observation.
TEST_P(ObserveE2E, TD_COAP_OBS_12) {
    RawObserver observer(GetParam(), port());
    ASSERT_NO_FATAL_FAILURE(observer.register_on("/obs"));
    ASSERT_TRUE(observer.next(5 * period).has_value());
    auto answer = observer.cancel();
    ASSERT_TRUE(answer.has_value());
    EXPECT_EQ(answer->code, Code::content);
    EXPECT_EQ(answer->token, observer.token());
    EXPECT_TRUE(observer.stays_silent(quiet_period)) << "notifications after the cancellation";
}

// A large observable: the registration answer and every notification carry the first block;
// coap-client fetches the rest with Block2 (RFC 7959 §2.6).
TEST_P(ObserveE2E, TD_COAP_OBS_13) {
    ClientRun run = observe("/obs-large", 2);
    EXCHANGE_TRACE(run);
    ASSERT_FALSE(run.received.empty());
    EXPECT_TRUE(run.received.front().has("Observe"));
    EXPECT_EQ(run.received.front().value("Block2"), "0/M/1024");
    std::vector<const Pdu*> pushed = notifications(run);
    EXPECT_GE(pushed.size(), 2u);
    for (const Pdu* pdu : pushed)
        EXPECT_EQ(pdu->value("Block2"), "0/M/1024") << pdu->line;
    bool fetched_rest = false;
    for (const Pdu& sent : run.sent)
        fetched_rest |= sent.code == "GET" && sent.value("Block2").value_or("").rfind("1/", 0) == 0;
    EXPECT_TRUE(fetched_rest) << "the client fetched block 1";
}

// Sizes alternate: some notifications need Block2, others do not.
TEST_P(ObserveE2E, TD_COAP_OBS_14) {
    ClientRun run = observe("/obs-pumping", 2);
    EXCHANGE_TRACE(run);
    std::vector<const Pdu*> pushed = notifications(run);
    ASSERT_GE(pushed.size(), 3u);
    std::size_t blocked = 0;
    for (const Pdu* pdu : pushed)
        blocked += pdu->has("Block2");
    EXPECT_GT(blocked, 0u);
    EXPECT_LT(blocked, pushed.size());
    check_increasing(pushed);
}

}  // namespace
