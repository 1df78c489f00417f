// The client engine with injected time: NSTART (RFC 7252 §4.7), pipelined requests with
// unique handles and tokens, and the bound on unpolled completions.
#include <gtest/gtest.h>

#include <array>
#include <map>
#include <set>
#include <string>

#include "support/client_core_fixture.hpp"

namespace coap::detail {
namespace {

using namespace std::chrono_literals;
using namespace client_test;

// --- RFC 7252 §4.7: NSTART ----------------------------------------------------------------------

TEST_F(ClientCoreTest, NstartIsOneUntilTheServerAnswersThenMaxInFlight) {
    config_.max_in_flight = 4;
    make();
    std::vector<RequestHandle> handles;
    for (int i = 0; i < 5; ++i)  // 1 in flight, 4 queued
        handles.push_back(submit_ok(get_x()));
    std::vector<ByteVector> first = sent();
    ASSERT_EQ(first.size(), 1u) << "NSTART = 1 before any response";
    EXPECT_EQ(core_->active(), 5u);
    core_->on_timer(*core_->next_deadline());
    EXPECT_EQ(sent().size(), 1u) << "only the retransmission";

    receive(piggyback(first[0]).wire(), t0 + 3s);
    EXPECT_EQ(completion().handle, handles[0]);
    std::vector<ByteVector> next = sent();
    EXPECT_EQ(next.size(), 4u) << "up to max_in_flight once the server answered";
    EXPECT_EQ(core_->active(), 4u);
    std::set<ByteVector> tokens;
    for (const ByteVector& request : next)
        tokens.insert(token_of(request));
    EXPECT_EQ(tokens.size(), 4u);

    ASSERT_EQ(next.size(), 4u);
    receive(piggyback(next[2]).wire(), t0 + 4s);
    EXPECT_EQ(completion().handle, handles[3]) << "queued requests start oldest first";
    EXPECT_TRUE(sent().empty());
    submit_ok(get_x(), t0 + 5s);
    EXPECT_EQ(sent().size(), 1u) << "a free slot is used at once";
    submit_ok(get_x(), t0 + 5s);
    EXPECT_TRUE(sent().empty()) << "4 in flight: queued";
    EXPECT_EQ(core_->active(), 5u);
}

TEST_F(ClientCoreTest, QueueBeyondMaxInFlightIsBusy) {
    config_.max_in_flight = 2;
    make();
    ASSERT_TRUE(submit(get_x()));
    ASSERT_TRUE(submit(get_x()));
    ASSERT_TRUE(submit(get_x()));
    auto refused = submit(get_x());
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error(), ClientError::busy);
    EXPECT_EQ(core_->active(), 3u);

    std::vector<ByteVector> first = sent();
    ASSERT_EQ(first.size(), 1u);
    receive(piggyback(first[0]).wire());
    ASSERT_TRUE(core_->pop_completion());
    EXPECT_EQ(sent().size(), 2u);
    ASSERT_TRUE(submit(get_x()));
    ASSERT_TRUE(submit(get_x()));
    refused = submit(get_x());
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error(), ClientError::busy);
}

TEST_F(ClientCoreTest, EmptyAckIsAnAnswerThatOpensNstart) {
    // §4.7: a request stops being outstanding with its response or its ACK.
    config_.max_in_flight = 4;
    make();
    for (int i = 0; i < 3; ++i)
        submit_ok(get_x());
    ByteVector request = one_sent();
    receive(empty_message(MessageType::ack, mid_of(request)), t0 + 1s);
    EXPECT_TRUE(core_->server_answered());
    EXPECT_EQ(sent().size(), 2u) << "the queued requests start at once";
}

TEST_F(ClientCoreTest, TimeoutOfTheFirstRequestKeepsNstartAtOne) {
    config_.max_in_flight = 4;
    make();
    submit_ok(get_x());
    submit_ok(get_x());
    submit_ok(get_x());
    EXPECT_EQ(sent().size(), 1u);
    TimePoint now = t0;
    while (!core_->pop_completion()) {
        now = *core_->next_deadline();
        core_->on_timer(now);
    }
    EXPECT_FALSE(core_->server_answered());
    EXPECT_EQ(sent().size(), 5u) << "4 retransmissions, then the second request alone";
}

// --- Pipelining ----------------------------------------------------------------------------------

TEST_F(ClientCoreTest, PipelinedRequestsCompleteInAnyOrderWithUniqueHandlesAndTokens) {
    config_.max_in_flight = 16;
    make();
    handshake();
    Random random{7};
    std::map<RequestHandle, std::string> expected;  // handle -> its query
    std::map<ByteVector, ByteVector> outstanding;   // token -> request
    std::vector<std::string> queries;
    std::size_t next_query = 0, completed = 0;
    std::uint16_t server_id = 0x8000;
    TimePoint now = t0;
    std::set<RequestHandle> seen_handles;
    std::vector<std::pair<std::uint16_t, ByteVector>> awaiting_separate;  // after an empty ACK
    std::set<ByteVector> in_use;  // tokens of requests not yet answered

    while (completed < 300) {
        // Keep the engine full: submit until busy.
        while (next_query < 300) {
            std::string query = "q=" + std::to_string(next_query);
            std::array<Option, 2> options{Option{OptionNumber::uri_path, as_bytes("x")},
                                          Option{OptionNumber::uri_query, as_bytes(query)}};
            auto handle = submit(RequestSpec{Code::get, options, {}, false}, now);
            if (!handle) {
                ASSERT_EQ(handle.error(), ClientError::busy);
                break;
            }
            ASSERT_TRUE(seen_handles.insert(*handle).second) << "handles are unique";
            expected[*handle] = query;
            ++next_query;
        }
        for (ByteVector& request : sent()) {
            if (view(request).type() != MessageType::con) continue;  // our ACKs
            ByteVector token = token_of(request);
            ASSERT_TRUE(in_use.insert(token).second) << "token reused while outstanding";
            outstanding[token] = request;
        }
        ASSERT_LE(outstanding.size() + awaiting_separate.size(), 16u);
        // Answer one outstanding request at random, in one of three ways.
        if (outstanding.empty() && awaiting_separate.empty()) break;
        now += 1ms;
        std::size_t pick = random.below(outstanding.size() + awaiting_separate.size());
        if (pick < outstanding.size()) {
            auto it = std::next(outstanding.begin(), static_cast<std::ptrdiff_t>(pick));
            ByteVector request = it->second;
            outstanding.erase(it);
            std::string query(view(request).find(OptionNumber::uri_query)->as_string());
            if (random.below(3) == 0) {
                receive(empty_message(MessageType::ack, mid_of(request)), now);
                awaiting_separate.emplace_back(server_id++, request);
            } else {
                in_use.erase(token_of(request));
                receive(piggyback(request).payload(query).wire(), now);
            }
        } else {
            auto it =
                awaiting_separate.begin() + static_cast<std::ptrdiff_t>(pick - outstanding.size());
            auto [id, request] = *it;
            awaiting_separate.erase(it);
            std::string query(view(request).find(OptionNumber::uri_query)->as_string());
            MessageType type = random.below(2) ? MessageType::con : MessageType::non;
            in_use.erase(token_of(request));
            receive(separate(request, type, id).payload(query).wire(), now);
        }
        while (auto c = core_->pop_completion()) {
            ASSERT_TRUE(expected.count(c->handle)) << "unknown or repeated handle";
            EXPECT_EQ(text_of(*c), expected[c->handle]);
            expected.erase(c->handle);
            ++completed;
        }
    }
    EXPECT_EQ(completed, 300u);
    EXPECT_TRUE(expected.empty());
    EXPECT_EQ(core_->active(), 0u);
}

// --- Unpolled completions -----------------------------------------------------------------------

TEST_F(ClientCoreTest, UnpolledCompletionsAreBoundedByInFlightPlusQueue) {
    config_.max_in_flight = 2;
    make();
    handshake();
    auto refused = [&] {
        auto result = submit(get_x());
        return !result && result.error() == ClientError::busy;
    };
    std::vector<RequestHandle> handles;
    for (int i = 0; i < 4; ++i)
        handles.push_back(submit_ok(get_x()));  // 2 in flight, 2 queued
    EXPECT_TRUE(refused());
    for (int round = 0; round < 2; ++round)
        for (const ByteVector& request : sent())
            receive(piggyback(request).payload("r").wire());
    EXPECT_EQ(core_->queued_completions(), 4u);
    EXPECT_EQ(core_->active(), 0u);
    EXPECT_TRUE(refused()) << "4 completions nobody took: as many as in flight plus queue";
    EXPECT_TRUE(core_->observe(get_x(), t0)) << "observations do not complete";
    sent();

    auto taken = core_->take_completion(handles[2]);
    ASSERT_TRUE(taken);
    EXPECT_EQ(taken->value().text(), "r");
    EXPECT_FALSE(core_->take_completion(handles[2])) << "taken once";
    EXPECT_TRUE(submit(get_x())) << "room again";
    EXPECT_TRUE(refused());
    std::vector<RequestHandle> order;
    while (auto c = core_->pop_completion())
        order.push_back(c->handle);
    EXPECT_EQ(order, (std::vector<RequestHandle>{handles[0], handles[1], handles[3]}))
        << "the others stay in order";
    EXPECT_TRUE(submit(get_x()));
}

}  // namespace
}  // namespace coap::detail
