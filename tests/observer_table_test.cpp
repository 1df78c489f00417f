// The server side of Observe (RFC 7641) through the sans-I/O observer table, with injected time:
// registration, notification rounds and pacing, CON/NON policy, the RFC 7252 §4.2
// retransmission schedule, RST/ACK matching, error notifications, Block2 (RFC 7959 §2.6) and
// sequence numbers (§4.4). Every datagram sent is parsed back and checked.
#include "server/observer_table.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "support/bytes.hpp"
#include "support/count_allocations.hpp"
#include "support/random.hpp"

namespace coap::detail {
namespace {

using namespace std::chrono_literals;
using test::ByteVector;

TimePoint at(Duration offset) {
    return TimePoint{} + offset;
}

Endpoint peer(std::uint32_t n) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(0x0a000000u + n / 50000);
    address.sin_port = htons(static_cast<std::uint16_t>(1024 + n % 50000));
    return *Endpoint::from_sockaddr(reinterpret_cast<const sockaddr*>(&address), sizeof address);
}

// 4 to 8 bytes; the first four name the observer.
ByteVector token_for(std::uint32_t n) {
    ByteVector token(4 + n % 5, 0xab);
    for (int i = 0; i < 4; ++i)
        token[i] = static_cast<std::uint8_t>(n >> (24 - 8 * i));
    return token;
}

std::uint32_t observer_of(Bytes token) {
    return token.size() < 4 ? ~0u
                            : (std::uint32_t(token[0]) << 24 | std::uint32_t(token[1]) << 16 |
                               std::uint32_t(token[2]) << 8 | token[3]);
}

// RFC 7641 §3.4: V2 is newer than V1 in 24-bit serial number arithmetic.
bool newer(std::uint32_t v1, std::uint32_t v2) {
    return (v1 < v2 && v2 - v1 < (1u << 23)) || (v1 > v2 && v1 - v2 > (1u << 23));
}

struct Note {
    Endpoint peer;
    TimePoint when;
    MessageType type;
    Code code;
    std::uint16_t mid;
    ByteVector token;
    std::optional<std::uint32_t> observe;
    std::string payload;
    std::optional<BlockValue> block2;
    std::optional<std::uint32_t> size2;
    std::vector<ByteVector> etags;
    std::optional<std::uint32_t> max_age;
    std::optional<std::uint32_t> content_format;
    std::uint32_t observer() const { return observer_of(token); }
};

class Sink final : public DatagramSink {
  public:
    bool send(const Endpoint& to, Bytes datagram) noexcept override {
        if (refuse) return false;
        EXPECT_TRUE(reachable(to)) << "a notification to an unreachable peer";
        auto message = parse(datagram);
        EXPECT_TRUE(message) << "unparseable notification";
        if (!message) return true;
        Note note{to,
                  now,
                  message->type(),
                  message->code(),
                  message->message_id(),
                  ByteVector(message->token().begin(), message->token().end()),
                  message->find_uint(OptionNumber::observe),
                  std::string(as_string(message->payload())),
                  std::nullopt,
                  message->find_uint(OptionNumber::size2),
                  {},
                  message->find_uint(OptionNumber::max_age),
                  message->find_uint(OptionNumber::content_format)};
        if (auto block = message->find(OptionNumber::block2))
            note.block2 = decode_block(block->value);
        for (const Option& etag : message->options(OptionNumber::etag))
            note.etags.emplace_back(etag.value.begin(), etag.value.end());
        notes.push_back(std::move(note));
        return true;
    }
    bool reachable(const Endpoint& to) const noexcept override {
        return std::find(gone.begin(), gone.end(), to) == gone.end();
    }
    TimePoint now{};
    bool refuse = false;
    std::vector<Endpoint> gone;  // peers whose DTLS session ended
    std::vector<Note> notes;
};

class ObserverTableTest : public ::testing::Test {
  protected:
    static constexpr std::uint32_t resource_count = 4;

    ObserverTableTest() : hub_(resource_count, 4096) {
        for (auto& id : ids_)
            id = *hub_.allocate();
        config_.max_observers = 64;
        config_.resource_count = resource_count;
        config_.con_interval = 0;
        config_.max_representation_bytes = 4096;
    }

    // Built on first use, so a test can change config_ first; synced with the hub like a worker
    // that started before anything was registered.
    ObserverTable& table() {
        if (!table_) {
            table_ = std::make_unique<ObserverTable>(config_, 42);
            table_->poll(hub_, sink_.now, sink_, mid_, 0);
        }
        return *table_;
    }
    Registration add(std::uint32_t n, std::uint32_t resource = 0,
                     std::optional<BlockValue> block2 = std::nullopt) {
        ByteVector token = token_for(n);
        return table().add(ids_[resource], peer(n), token, block2, sink_.now);
    }
    void publish(std::uint32_t resource, std::string_view text, Code code = Code::content) {
        Response response(code, as_bytes(text));
        response.content_format(ContentFormat::text_plain).max_age(30);
        ASSERT_TRUE(hub_.publish(ids_[resource], response));
    }
    std::size_t poll(Duration when, std::size_t budget = 1000) {
        table();
        sink_.now = at(when);
        std::size_t before = sink_.notes.size();
        table_->poll(hub_, sink_.now, sink_, mid_, budget);
        return sink_.notes.size() - before;
    }
    const Note& last() const { return sink_.notes.back(); }

    NotificationHub hub_;
    ResourceId ids_[resource_count];
    ObserverTableConfig config_;
    std::unique_ptr<ObserverTable> table_;
    Sink sink_;
    std::uint16_t mid_ = 0x4000;
};

TEST_F(ObserverTableTest, AddRefreshAndRemove) {
    EXPECT_EQ(add(1), Registration::added);
    EXPECT_EQ(add(1), Registration::refreshed);
    EXPECT_EQ(add(2), Registration::added);
    EXPECT_EQ(table().observers(), 2u);
    ByteVector token = token_for(1);  // the same token from another endpoint: another entry
    EXPECT_EQ(table().add(ids_[0], peer(3), token, std::nullopt, {}), Registration::added);
    // RFC 7641 §4.1: the same endpoint and token replace the entry, even for another resource.
    EXPECT_EQ(add(2, 1), Registration::refreshed);
    EXPECT_EQ(table().observers(ids_[0]), 2u);
    EXPECT_EQ(table().observers(ids_[1]), 1u);
    EXPECT_EQ(table().observers(), 3u);

    EXPECT_TRUE(table().remove(peer(2), token_for(2)));
    EXPECT_FALSE(table().remove(peer(2), token_for(2)));
    EXPECT_FALSE(table().remove(peer(4), token_for(1)));
    EXPECT_EQ(table().observers(), 2u);
    EXPECT_EQ(table().stats().added, 3u);
    EXPECT_EQ(table().stats().refreshed, 2u);
    EXPECT_EQ(table().stats().removed_by_request, 1u);
}

TEST_F(ObserverTableTest, AFullTableRefusesNewObservers) {
    config_.max_observers = 3;
    for (std::uint32_t n = 0; n < 3; ++n)
        EXPECT_EQ(add(n), Registration::added);
    EXPECT_EQ(add(3), Registration::full);
    EXPECT_EQ(add(1), Registration::refreshed) << "re-registration needs no new record";
    ByteVector long_token(9, 1);
    EXPECT_EQ(table().add(ids_[0], peer(9), long_token, std::nullopt, {}), Registration::full);
    ByteVector token = token_for(9);
    EXPECT_EQ(table().add(ResourceId{99}, peer(9), token, std::nullopt, {}), Registration::full);
    EXPECT_EQ(table().stats().refused, 3u);
    EXPECT_TRUE(table().remove(peer(0), token_for(0)));
    EXPECT_EQ(add(3), Registration::added);
    EXPECT_EQ(table().observers(), 3u);
}

// The (endpoint, token) index under heavy collisions: random registrations and removals
// checked against a model, so a broken backward-shift deletion loses entries.
TEST_F(ObserverTableTest, TheIndexStaysConsistentUnderRandomAddsAndRemoves) {
    config_.max_observers = 48;  // 128 index slots, long runs
    test::Random random{12345};
    std::set<std::uint32_t> model;
    for (int step = 0; step < 20000; ++step) {
        auto n = static_cast<std::uint32_t>(random.below(96));
        if (random.chance(0.5)) {
            Registration expected = model.count(n)      ? Registration::refreshed
                                    : model.size() < 48 ? Registration::added
                                                        : Registration::full;
            ASSERT_EQ(add(n), expected) << step;
            if (expected == Registration::added) model.insert(n);
        } else {
            ASSERT_EQ(table().remove(peer(n), token_for(n)), model.erase(n) == 1) << step;
        }
        ASSERT_EQ(table().observers(), model.size());
    }
}

TEST_F(ObserverTableTest, APublishReachesEveryObserverOnceWithItsTokenAndANewerObserve) {
    std::map<std::uint32_t, std::uint32_t> sequence;  // observer -> latest Observe value
    for (std::uint32_t n = 0; n < 5; ++n) {
        add(n);
        sequence[n] = table().next_sequence();  // the registration response's Observe
    }
    add(10, 1);  // another resource's observer hears nothing
    publish(0, "v1");
    for (const char* version : {"v1", "v2"}) {
        if (std::string(version) == "v2") publish(0, "v2");
        std::size_t first = sink_.notes.size();
        EXPECT_EQ(poll(1s), 5u);
        EXPECT_EQ(poll(2s), 0u) << "nothing new, nothing sent";
        std::set<std::uint16_t> mids;
        for (std::size_t i = first; i < sink_.notes.size(); ++i) {
            const Note& note = sink_.notes[i];
            std::uint32_t n = note.observer();
            ASSERT_TRUE(sequence.count(n));
            EXPECT_EQ(note.peer, peer(n));
            EXPECT_EQ(note.token, token_for(n));
            EXPECT_EQ(note.type, MessageType::non);
            EXPECT_EQ(note.code, Code::content);
            EXPECT_EQ(note.payload, version);
            EXPECT_EQ(note.content_format, 0u);
            EXPECT_EQ(note.max_age, 30u) << "TD_COAP_OBS_04: Max-Age passes through";
            EXPECT_FALSE(note.block2);
            ASSERT_TRUE(note.observe);
            EXPECT_TRUE(newer(sequence[n], *note.observe)) << sequence[n] << " " << *note.observe;
            sequence[n] = *note.observe;
            mids.insert(note.mid);
        }
        EXPECT_EQ(mids.size(), 5u);
    }
    EXPECT_EQ(table().stats().notifications_non, 10u);
    EXPECT_EQ(table().stats().rounds, 2u);
}

TEST_F(ObserverTableTest, TheSendBudgetPacesARoundAcrossPolls) {
    for (std::uint32_t n = 0; n < 10; ++n)
        add(n);
    publish(0, "v1");
    std::vector<std::size_t> per_poll;
    for (int i = 1; i < 10; ++i)
        if (std::size_t sent = poll(i * 1ms, 3)) {
            per_poll.push_back(sent);
        }
    EXPECT_EQ(per_poll, (std::vector<std::size_t>{3, 3, 3, 1}));
    std::map<std::uint32_t, int> received;
    for (const Note& note : sink_.notes)
        ++received[note.observer()];
    EXPECT_EQ(received.size(), 10u);
    for (auto [observer, count] : received)
        EXPECT_EQ(count, 1) << observer;
}

TEST_F(ObserverTableTest, ANewVersionMidRoundReachesEveryoneOnceWithoutDuplicates) {
    for (std::uint32_t n = 0; n < 10; ++n)
        add(n);
    publish(0, "v1");
    EXPECT_EQ(poll(1ms, 3), 3u);
    publish(0, "v2");
    std::vector<std::size_t> per_poll;
    for (int i = 2; i < 12; ++i)
        if (std::size_t sent = poll(i * 1ms, 3)) {
            per_poll.push_back(sent);
        }
    EXPECT_EQ(per_poll, (std::vector<std::size_t>{3, 3, 3, 1})) << "ten v2 at three a poll";

    std::map<std::uint32_t, std::vector<Note>> received;
    for (const Note& note : sink_.notes)
        received[note.observer()].push_back(note);
    ASSERT_EQ(received.size(), 10u);
    int v1 = 0;
    for (auto& [observer, notes] : received) {
        EXPECT_EQ(notes.back().payload, "v2") << "everyone ends with the newest state";
        std::set<std::string> versions;
        for (std::size_t i = 0; i < notes.size(); ++i) {
            EXPECT_TRUE(versions.insert(notes[i].payload).second) << "a version twice";
            if (i > 0) {
                EXPECT_TRUE(newer(*notes[i - 1].observe, *notes[i].observe));
            }
        }
        v1 += static_cast<int>(versions.count("v1"));
    }
    EXPECT_EQ(v1, 3);
}

// Versions faster than a round (a new one before every poll, the budget a tenth of the list):
// the round goes on from its cursor instead of restarting at the head, so the end of the list
// is not starved (RFC 7641 §4.5.2 allows skipping versions, not all of them).
TEST_F(ObserverTableTest, VersionsFasterThanARoundStillReachEveryObserver) {
    config_.max_observers = 128;
    for (std::uint32_t n = 0; n < 100; ++n)
        add(n);
    for (int i = 1; i <= 30; ++i) {
        publish(0, "v" + std::to_string(i));
        EXPECT_EQ(poll(i * 1ms, 10), 10u) << "poll " << i;
    }
    std::map<std::uint32_t, std::vector<Note>> received;
    for (const Note& note : sink_.notes)
        received[note.observer()].push_back(note);
    ASSERT_EQ(received.size(), 100u) << "every observer got something";
    for (auto& [observer, notes] : received) {
        EXPECT_GE(notes.size(), 2u) << observer << ": three laps of the list in 30 polls";
        for (std::size_t i = 1; i < notes.size(); ++i)
            EXPECT_TRUE(newer(*notes[i - 1].observe, *notes[i].observe)) << observer;
    }
}

TEST_F(ObserverTableTest, EveryNthNotificationToAnObserverIsConfirmable) {
    config_.con_interval = 3;
    add(0);
    add(1);
    std::string types;
    for (int v = 1; v <= 7; ++v) {
        publish(0, "v" + std::to_string(v));
        ASSERT_EQ(poll(v * 1s), 2u);
        for (std::size_t i = sink_.notes.size() - 2; i < sink_.notes.size(); ++i) {
            const Note& note = sink_.notes[i];
            if (note.type == MessageType::con) {
                EXPECT_TRUE(table().on_ack(note.peer, note.mid));
            }
            if (note.observer() == 0) types += note.type == MessageType::con ? 'C' : 'N';
        }
    }
    EXPECT_EQ(types, "NNCNNCN");
    EXPECT_EQ(table().in_flight(), 0u);
}

TEST_F(ObserverTableTest, AConfirmablePublishGoesToEveryObserverAsCon) {
    add(0);
    add(1);
    Response response = Response::ok("important");
    ASSERT_TRUE(hub_.publish(ids_[0], response, NotificationType::confirmable));
    ASSERT_EQ(poll(1s), 2u);
    for (const Note& note : sink_.notes) {
        EXPECT_EQ(note.type, MessageType::con);
        EXPECT_TRUE(table().on_ack(note.peer, note.mid));
    }
    publish(0, "routine");  // automatic, con_interval 0: NON again
    ASSERT_EQ(poll(2s), 2u);
    EXPECT_EQ(last().type, MessageType::non);
}

TEST_F(ObserverTableTest, ConIntervalZeroNeverConfirmsAndOneAlwaysDoes) {
    for (std::uint32_t interval : {0u, 1u}) {
        table_.reset();
        config_.con_interval = interval;
        add(0);
        for (int v = 1; v <= 4; ++v) {
            publish(0, "v");
            ASSERT_EQ(poll(v * 10s), 1u);
            EXPECT_EQ(last().type, interval == 0 ? MessageType::non : MessageType::con);
            if (interval == 1) {
                EXPECT_TRUE(table().on_ack(last().peer, last().mid));
            }
        }
    }
}

// RFC 7252 §4.2: first timeout in [ACK_TIMEOUT, ACK_TIMEOUT x ACK_RANDOM_FACTOR], doubling,
// MAX_RETRANSMIT retransmissions; RFC 7641 §4.5: then the observer is removed.
TEST_F(ObserverTableTest, ConRetransmissionFollowsTheScheduleThenRemovesTheObserver) {
    config_.con_interval = 1;
    add(0);
    publish(0, "v1");
    ASSERT_EQ(poll(0ms), 1u);
    // RFC 7641 §4.4: a retransmission carries the sequence number current when it is sent.
    std::uint32_t registration = table().next_sequence();
    TimePoint removed{};
    for (Duration t = 1ms; t <= 100s; t += 1ms) {
        poll(t);
        if (removed == TimePoint{} && table().observers() == 0) removed = at(t);
    }
    ASSERT_EQ(sink_.notes.size(), 5u);
    Duration first = sink_.notes[1].when - sink_.notes[0].when;
    EXPECT_GE(first, 2s);
    EXPECT_LE(first, 3s + 1ms);
    for (std::size_t k = 1; k < 4; ++k) {
        Duration gap = sink_.notes[k + 1].when - sink_.notes[k].when;
        EXPECT_GE(gap, first * (1 << k) - (1ms * (1 << k))) << k;
        EXPECT_LE(gap, first * (1 << k)) << k;
    }
    for (std::size_t i = 1; i < 5; ++i) {
        const Note& note = sink_.notes[i];
        EXPECT_EQ(note.type, MessageType::con);
        EXPECT_EQ(note.mid, sink_.notes[0].mid) << "same message";
        EXPECT_EQ(note.token, token_for(0));
        EXPECT_EQ(note.payload, "v1");
        EXPECT_EQ(note.observe, registration);
    }
    ASSERT_NE(removed, TimePoint{});
    Duration last_wait = removed - sink_.notes[4].when;
    EXPECT_GE(last_wait, first * 16 - 16ms);
    EXPECT_LE(last_wait, first * 16);
    EXPECT_EQ(table().stats().removed_by_timeout, 1u);
    EXPECT_EQ(table().stats().retransmissions, 4u);
    EXPECT_EQ(table().in_flight(), 0u);
}

// Without jitter the schedule is exact to the millisecond: 2,003 ms, then doubling. (2,003 is
// not a multiple of any timer bucket width, so a late bucket would show.)
TEST_F(ObserverTableTest, WithoutJitterRetransmissionsHappenExactlyOnTime) {
    config_.con_interval = 1;
    config_.transmission.ack_timeout = 2003ms;
    config_.transmission.ack_random_factor = 1.0;
    add(0);
    add(1);
    publish(0, "v1");
    ASSERT_EQ(poll(7ms, 1), 1u);  // one now, the other one a millisecond later
    ASSERT_EQ(poll(8ms, 1), 1u);
    std::map<std::uint32_t, std::vector<TimePoint>> sent;
    std::vector<Duration> removed;  // when the count of observers went down
    for (Duration t = 9ms; t <= 80s; t += 1ms) {
        std::uint32_t before = table().observers();
        poll(t);
        for (std::uint32_t n = table().observers(); n < before; ++n)
            removed.push_back(t);
    }
    for (const Note& note : sink_.notes)
        sent[note.observer()].push_back(note.when);
    for (auto& [observer, times] : sent) {
        ASSERT_EQ(times.size(), 5u);
        Duration gap = 2003ms;
        for (std::size_t k = 1; k < times.size(); ++k, gap *= 2)
            EXPECT_EQ(times[k] - times[k - 1], gap) << observer << " retransmission " << k;
    }
    // §4.2: after the last retransmission, one more (doubled) timeout, then §4.5 removal.
    EXPECT_EQ(removed, (std::vector<Duration>{7ms + 31 * 2003ms, 8ms + 31 * 2003ms}));
    EXPECT_EQ(table().stats().removed_by_timeout, 2u);
}

TEST_F(ObserverTableTest, AnAckEndsTheRetransmission) {
    config_.con_interval = 1;
    add(0);
    publish(0, "v1");
    ASSERT_EQ(poll(0ms), 1u);
    EXPECT_TRUE(table().on_ack(peer(0), last().mid));
    for (Duration t = 10ms; t <= 100s; t += 10ms)
        EXPECT_EQ(poll(t), 0u);
    EXPECT_EQ(table().observers(), 1u);
    EXPECT_EQ(table().in_flight(), 0u);
    std::uint16_t first_mid = last().mid;
    publish(0, "v2");
    ASSERT_EQ(poll(101s), 1u);
    EXPECT_EQ(last().type, MessageType::con);
    EXPECT_NE(last().mid, first_mid);
}

TEST_F(ObserverTableTest, AResetToAConOrNonNotificationRemovesTheObserver) {
    config_.con_interval = 2;  // NON, CON, NON, ...
    add(0);
    add(1);
    publish(0, "v1");
    ASSERT_EQ(poll(1s), 2u);
    const Note& non = sink_.notes[0].observer() == 0 ? sink_.notes[0] : sink_.notes[1];
    EXPECT_EQ(non.type, MessageType::non);
    EXPECT_TRUE(table().on_reset(peer(0), non.mid));
    EXPECT_EQ(table().observers(), 1u);

    publish(0, "v2");
    ASSERT_EQ(poll(2s), 1u);
    EXPECT_EQ(last().observer(), 1u);
    EXPECT_EQ(last().type, MessageType::con);
    EXPECT_TRUE(table().on_reset(peer(1), last().mid));
    EXPECT_EQ(table().observers(), 0u);
    EXPECT_EQ(table().in_flight(), 0u);
    for (Duration t = 2s; t <= 100s; t += 10ms)
        EXPECT_EQ(poll(t), 0u) << "no retransmission after RST";
    EXPECT_EQ(table().stats().removed_by_reset, 2u);
}

TEST_F(ObserverTableTest, AcksAndResetsThatMatchNoNotificationAreIgnored) {
    config_.con_interval = 1;
    add(0);
    add(1);
    publish(0, "v1");
    ASSERT_EQ(poll(0ms), 2u);
    const Note& mine = sink_.notes[0].observer() == 0 ? sink_.notes[0] : sink_.notes[1];
    const Note& other = sink_.notes[0].observer() == 0 ? sink_.notes[1] : sink_.notes[0];
    EXPECT_FALSE(table().on_reset(peer(0), static_cast<std::uint16_t>(mid_ + 7)));
    EXPECT_FALSE(table().on_reset(peer(5), mine.mid)) << "wrong endpoint";
    EXPECT_FALSE(table().on_reset(peer(0), other.mid)) << "another observer's Message ID";
    EXPECT_FALSE(table().on_ack(peer(5), mine.mid));
    EXPECT_FALSE(table().on_ack(peer(0), static_cast<std::uint16_t>(mine.mid - 100)));
    EXPECT_EQ(table().observers(), 2u);
    EXPECT_EQ(table().in_flight(), 2u);
    std::size_t retransmitted = 0;
    for (Duration t = 1ms; t <= 3100ms; t += 1ms)
        retransmitted += poll(t);
    EXPECT_EQ(retransmitted, 2u) << "both still retransmitted";
}

TEST_F(ObserverTableTest, AnErrorRepresentationEndsEveryObservationWithoutObserve) {
    for (std::uint32_t n = 0; n < 3; ++n)
        add(n);
    add(3, 1);
    publish(0, "gone", Code::not_found);
    ASSERT_EQ(poll(1s), 3u);
    std::set<std::uint32_t> told;
    for (const Note& note : sink_.notes) {
        EXPECT_EQ(note.code, Code::not_found);
        EXPECT_EQ(note.type, MessageType::con) << "the last notification must arrive";
        EXPECT_FALSE(note.observe) << "RFC 7641 §4.2: a non-2.xx notification has no Observe";
        EXPECT_EQ(note.token, token_for(note.observer()));
        EXPECT_EQ(note.payload, "gone");
        told.insert(note.observer());
    }
    EXPECT_EQ(told, (std::set<std::uint32_t>{0, 1, 2}));
    EXPECT_EQ(table().observers(ids_[0]), 0u);
    EXPECT_EQ(table().observers(), 1u);
    EXPECT_EQ(table().stats().removed_by_error_notification, 3u);
    publish(0, "back");
    EXPECT_EQ(poll(2s), 0u);
}

// TD_COAP_OBS_07: the final 4.04 goes out as a CON and is retransmitted until acknowledged.
TEST_F(ObserverTableTest, AConfirmableErrorNotificationIsRetransmittedUntilAcknowledged) {
    config_.con_interval = 1;
    add(0);
    publish(0, "v1");
    ASSERT_EQ(poll(0ms), 1u);
    EXPECT_TRUE(table().on_ack(peer(0), last().mid));
    publish(0, "", Code::not_found);
    ASSERT_EQ(poll(10ms), 1u);
    EXPECT_EQ(last().type, MessageType::con);
    EXPECT_EQ(last().code, Code::not_found);
    EXPECT_FALSE(last().observe);
    EXPECT_EQ(table().observers(), 0u);
    EXPECT_EQ(table().in_flight(), 1u);
    std::size_t sent = 0;
    for (Duration t = 11ms; t <= 3100ms && sent == 0; t += 1ms)
        sent = poll(t);
    ASSERT_EQ(sent, 1u);
    EXPECT_EQ(last().code, Code::not_found);
    EXPECT_EQ(last().mid, sink_.notes[1].mid);
    EXPECT_TRUE(table().on_ack(peer(0), last().mid));
    EXPECT_EQ(table().in_flight(), 0u);
    for (Duration t = 4s; t <= 100s; t += 10ms)
        EXPECT_EQ(poll(t), 0u);
}

// RFC 7959 §2.6: only the first block, at the observer's block size, with Size2 and an ETag.
TEST_F(ObserverTableTest, LargeBodiesGoOutAsTheirFirstBlockAtEachObserversSize) {
    config_.block_size = 512;
    add(0, 0, BlockValue{0, false, 2});  // asked for 64-byte blocks
    add(1);                              // no Block2 in the registration: the server's 512
    add(2, 0, BlockValue{0, false, 6});  // asked for 1024: capped at the server's 512
    std::string body;
    for (int i = 0; body.size() < 3000; ++i)
        body += std::to_string(i) + ",";
    body.resize(3000);
    publish(0, body);
    ASSERT_EQ(poll(1s), 3u);
    auto etag = body_etag(as_bytes(body));
    for (const Note& note : sink_.notes) {
        std::uint8_t szx = note.observer() == 0 ? 2 : 5;
        ASSERT_TRUE(note.block2);
        EXPECT_EQ(*note.block2, (BlockValue{0, true, szx}));
        EXPECT_EQ(note.payload, body.substr(0, 16u << szx));
        EXPECT_EQ(note.size2, 3000u);
        ASSERT_EQ(note.etags.size(), 1u);
        EXPECT_EQ(note.etags[0], ByteVector(etag.begin(), etag.end()));
        EXPECT_TRUE(note.observe);
        EXPECT_EQ(note.max_age, 30u);
        EXPECT_EQ(note.content_format, 0u);
    }

    publish(0, "short");
    ASSERT_EQ(poll(2s), 3u);
    EXPECT_FALSE(last().block2);
    EXPECT_FALSE(last().size2);
    EXPECT_TRUE(last().etags.empty()) << "no ETag invented for a single-block body";

    Response tagged = Response::ok(body);
    tagged.etag(test::bytes({1, 2, 3}));  // the representation's own ETag is kept
    ASSERT_TRUE(hub_.publish(ids_[0], tagged));
    ASSERT_EQ(poll(3s), 3u);
    ASSERT_EQ(last().etags.size(), 1u);
    EXPECT_EQ(last().etags[0], test::bytes({1, 2, 3}));
    EXPECT_TRUE(last().block2);
}

TEST_F(ObserverTableTest, TheObserveValueWrapsAt24Bits) {
    add(0);
    while (table().next_sequence() != 0xfffffe) {
    }
    publish(0, "a");
    ASSERT_EQ(poll(1s), 1u);
    EXPECT_EQ(last().observe, 0xffffffu);
    publish(0, "b");
    ASSERT_EQ(poll(2s), 1u);
    EXPECT_EQ(last().observe, 0u);
    EXPECT_TRUE(newer(0xffffff, 0)) << "§3.4: still newer across the wrap";
    EXPECT_EQ(table().next_sequence(), 1u);
}

// RFC 7641 §4.5.2: a new version while a CON is outstanding rides on its retransmission, under a
// new Message ID; a late ACK of the superseded message does not hurt.
TEST_F(ObserverTableTest, ARetransmissionCarriesTheNewestStateUnderANewMessageId) {
    config_.con_interval = 1;
    add(0);
    publish(0, "v1");
    ASSERT_EQ(poll(0ms), 1u);
    publish(0, "v2");
    EXPECT_EQ(poll(1s), 0u) << "NSTART 1: nothing while the CON is outstanding";
    std::size_t sent = 0;
    for (Duration t = 1001ms; t <= 3100ms && sent == 0; t += 1ms)
        sent = poll(t);
    ASSERT_EQ(sent, 1u);
    const Note& first = sink_.notes[0];
    EXPECT_EQ(last().payload, "v2");
    EXPECT_EQ(last().type, MessageType::con);
    EXPECT_NE(last().mid, first.mid);
    EXPECT_TRUE(newer(*first.observe, *last().observe));
    EXPECT_FALSE(table().on_ack(peer(0), first.mid)) << "superseded: ignored";
    EXPECT_EQ(table().observers(), 1u);
    EXPECT_TRUE(table().on_ack(peer(0), last().mid));
    EXPECT_EQ(table().in_flight(), 0u);
    EXPECT_EQ(table().stats().superseded, 1u);
    for (Duration t = 4s; t <= 60s; t += 10ms)
        EXPECT_EQ(poll(t), 0u);
}

TEST_F(ObserverTableTest, AnAckOfAnOutdatedConBringsTheNewVersion) {
    config_.con_interval = 1;
    add(0);
    add(1);
    publish(0, "v1");
    ASSERT_EQ(poll(0ms), 2u);
    std::uint16_t slow = sink_.notes[0].observer() == 0 ? sink_.notes[0].mid : sink_.notes[1].mid;
    std::uint16_t fast = sink_.notes[0].observer() == 1 ? sink_.notes[0].mid : sink_.notes[1].mid;
    EXPECT_TRUE(table().on_ack(peer(1), fast));
    publish(0, "v2");
    ASSERT_EQ(poll(100ms), 1u);
    EXPECT_EQ(last().observer(), 1u);
    EXPECT_TRUE(table().on_ack(peer(0), slow));
    ASSERT_EQ(poll(200ms), 1u);
    EXPECT_EQ(last().observer(), 0u);
    EXPECT_EQ(last().payload, "v2");
}

TEST_F(ObserverTableTest, ARefusedSendIsRetriedNextPoll) {
    for (std::uint32_t n = 0; n < 5; ++n)
        add(n);
    publish(0, "v1");
    sink_.refuse = true;
    EXPECT_EQ(poll(1ms), 0u);
    EXPECT_EQ(table().stats().send_failed, 1u);
    sink_.refuse = false;
    EXPECT_EQ(poll(2ms), 5u);
    std::set<std::uint32_t> told;
    for (const Note& note : sink_.notes)
        told.insert(note.observer());
    EXPECT_EQ(told.size(), 5u);
}

TEST_F(ObserverTableTest, ObserversOfPeersThatAreGoneAreDroppedAndTheRoundGoesOn) {
    for (std::uint32_t n = 0; n < 6; ++n)
        add(n);
    sink_.gone = {peer(1), peer(4)};
    publish(0, "v1");
    EXPECT_EQ(poll(1ms), 4u);
    EXPECT_EQ(table().stats().removed_unreachable, 2u);
    EXPECT_EQ(table().observers(), 4u);
    publish(0, "v2");
    EXPECT_EQ(poll(2ms), 4u) << "the dropped observers do not block later rounds";
}

TEST_F(ObserverTableTest, DeregistrationDuringARoundIsSafe) {
    for (std::uint32_t n = 0; n < 10; ++n)
        add(n);
    publish(0, "v1");
    ASSERT_EQ(poll(1ms, 3), 3u);
    std::set<std::uint32_t> told;
    for (const Note& note : sink_.notes)
        told.insert(note.observer());
    std::uint32_t next = 0;
    while (told.count(next))
        ++next;
    EXPECT_TRUE(table().remove(peer(next), token_for(next)));  // where the cursor stands
    EXPECT_TRUE(table().remove(peer(9), token_for(9)));
    EXPECT_EQ(poll(2ms), 10u - 3u - 2u);
    for (std::size_t i = 3; i < sink_.notes.size(); ++i) {
        EXPECT_TRUE(told.insert(sink_.notes[i].observer()).second);
        EXPECT_NE(sink_.notes[i].observer(), next);
        EXPECT_NE(sink_.notes[i].observer(), 9u);
    }
}

TEST_F(ObserverTableTest, RemoveAllForgetsOnlyThatResource) {
    for (std::uint32_t n = 0; n < 3; ++n)
        add(n);
    add(3, 1);
    table().remove_all(ids_[0]);
    EXPECT_EQ(table().observers(), 1u);
    publish(0, "v1");
    publish(1, "w1");
    ASSERT_EQ(poll(1s), 1u);
    EXPECT_EQ(last().observer(), 3u);
    EXPECT_EQ(table().stats().removed_with_resource, 3u);
}

// Counts datagrams without allocating (for the allocation test and the large table).
class CountingSink final : public DatagramSink {
  public:
    bool send(const Endpoint&, Bytes datagram) noexcept override {
        ++count;
        bytes += datagram.size();
        last_mid = static_cast<std::uint16_t>(datagram[2] << 8 | datagram[3]);
        return true;
    }
    std::size_t count = 0;
    std::size_t bytes = 0;
    std::uint16_t last_mid = 0;
};

TEST_F(ObserverTableTest, NothingIsAllocatedAfterConstruction) {
    config_.con_interval = 2;
    ObserverTable table(config_, 7);
    CountingSink sink;
    std::array<std::array<std::uint8_t, 4>, 32> tokens{};
    std::array<Endpoint, 32> peers{};
    for (std::uint32_t n = 0; n < 32; ++n) {
        tokens[n] = {1, 2, 3, std::uint8_t(n)};
        peers[n] = peer(n);
    }
    const std::string body(2000, 'x');
    test::AllocationCounter counter;
    for (std::uint32_t n = 0; n < 32; ++n)
        table.add(ids_[n % 2], peers[n], tokens[n], BlockValue{0, false, 3}, at(0s));
    table.add(ids_[0], peers[0], tokens[0], std::nullopt, at(0s));
    for (int round = 0; round < 4; ++round) {
        hub_.publish(ids_[0], Response::ok(body).max_age(5));
        hub_.publish(ids_[1], Response::ok("small"));
        table.poll(hub_, at(round * 1s), sink, mid_, 10);
        table.poll(hub_, at(round * 1s + 1ms), sink, mid_, 1000);
        table.on_ack(peers[round], sink.last_mid);
        table.on_reset(peers[round + 4], sink.last_mid);
        table.remove(peers[round + 8], tokens[round + 8]);
    }
    table.next_sequence();
    for (Duration t = 4s; t < 100s; t += 100ms)
        table.poll(hub_, at(t), sink, mid_, 1000);
    table.remove_all(ids_[1]);
    hub_.publish(ids_[0], Response::not_found());
    table.poll(hub_, at(100s), sink, mid_, 1000);
    counter.stop();
    EXPECT_EQ(test::AllocationCounter::count(), 0u);
    EXPECT_GT(sink.count, 32u);
    EXPECT_GT(table.stats().retransmissions, 0u);
}

// 100,000 observers of one resource: one publish reaches every one, and a small resource's
// round does not touch them.
TEST_F(ObserverTableTest, HundredThousandObserversOnOneResource) {
    constexpr std::uint32_t many = 100'000;
    config_.max_observers = many + 5;
    for (std::uint32_t n = 0; n < many; ++n)
        ASSERT_EQ(add(n), Registration::added);
    for (std::uint32_t n = many; n < many + 5; ++n)
        ASSERT_EQ(add(n, 1), Registration::added);

    publish(0, "22.5 C");
    ASSERT_EQ(poll(1s, 1'000'000), many);
    std::vector<bool> seen(many, false);
    for (const Note& note : sink_.notes) {
        std::uint32_t n = note.observer();
        ASSERT_LT(n, many);
        EXPECT_FALSE(seen[n]) << "twice: " << n;
        seen[n] = true;
        EXPECT_EQ(note.peer, peer(n));
        EXPECT_EQ(note.payload, "22.5 C");
    }

    // Timing with a sink that only counts (informational, never asserted).
    CountingSink counting;
    publish(0, "22.6 C");
    auto start = std::chrono::steady_clock::now();
    table().poll(hub_, at(2s), counting, mid_, 1'000'000);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(counting.count, many);
    std::printf("[ observe  ] %u notifications in %.1f ms: %.0f notifications/s, %zu bytes each\n",
                many, seconds * 1e3, many / seconds, counting.bytes / counting.count);
    std::printf("[ observe  ] %zu bytes per observer (record %zu + index), %zu bytes in all\n",
                (table().memory_bytes() -
                 ObserverTable(ObserverTableConfig{1, resource_count, 0, {}, 1280, 1024, 4096}, 1)
                     .memory_bytes()) /
                    many,
                ObserverTable::record_bytes, table().memory_bytes());

    std::uint64_t visited = table().stats().visited;
    publish(1, "small");
    ASSERT_EQ(poll(3s, 1'000'000), 5u);
    EXPECT_EQ(table().stats().visited - visited, 5u) << "work proportional to its observers";
    for (std::size_t i = sink_.notes.size() - 5; i < sink_.notes.size(); ++i)
        EXPECT_GE(sink_.notes[i].observer(), many);
}

}  // namespace
}  // namespace coap::detail
