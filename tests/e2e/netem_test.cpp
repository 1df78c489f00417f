// Loss tests over real sockets: the test process moves into a network namespace of its own
// (unshare), impairs its loopback with `tc qdisc add dev lo root netem loss 30% delay 5ms
// duplicate 5% reorder 10%`, and runs coapd and the clients there: a CON GET with the `coap`
// tool, a 64 KiB block-wise PUT checked by reading it back, and an observation that must
// deliver at least three notifications in order.
//
// Where sch_netem is missing but iptables works, 30% random loss (statistic match) stands in
// for netem, without delay, duplication or reordering; the test says which it used. Without
// CAP_SYS_ADMIN/CAP_NET_ADMIN (or with neither netem nor iptables) every test is skipped with
// the reason.
//
// At 30% loss each way a round trip succeeds with p = 0.49, so an exchange fails after
// MAX_RETRANSMIT = 4 (RFC 7252 §4.8) with p = 0.51^5 = 3.5%, and a 64-block transfer almost
// always has one such exchange. The clients therefore use a short ACK_TIMEOUT (the link's
// round trip is ~10 ms) and more retransmissions (§4.8.1 lets an application change both),
// and an operation that still times out is started again, within a deadline; the attempts
// are printed.
#include <sched.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "coap/client.hpp"
#include "coap/content_format.hpp"
#include "support/coapd_process.hpp"
#include "support/process.hpp"

namespace {

using namespace std::chrono_literals;
using coap::test::run_process;
using Clock = std::chrono::steady_clock;

constexpr const char* netem_args[] = {"loss",      "30%", "delay",   "5ms",
                                      "duplicate", "5%",  "reorder", "10%"};

struct Impairment {
    bool ready = false;
    std::string description;                 // what the link does, when ready
    std::string skip_reason;                 // why not, otherwise
    std::vector<std::string> stats_command;  // prints what the impairment dropped
};

// Runs a set-up command; empty when it succeeded, else what it printed.
std::string setup_command(std::vector<std::string> argv) {
    try {
        coap::test::ProcessResult result = run_process(argv, 10s);
        if (result.exit_status == 0) return {};
        std::string output = result.err + result.out;
        return argv[0] + " exited with " + std::to_string(result.exit_status) + ": " + output;
    } catch (const std::exception& error) {
        return argv[0] + ": " + error.what();
    }
}

Impairment skipped(std::string reason) {
    Impairment result;
    result.skip_reason = std::move(reason);
    return result;
}

Impairment ready(std::string description, std::vector<std::string> stats_command) {
    Impairment result;
    result.ready = true;
    result.description = std::move(description);
    result.stats_command = std::move(stats_command);
    return result;
}

Impairment set_up_namespace() {
    // unshare() moves only the calling thread; the test has no other threads yet.
    if (::unshare(CLONE_NEWNET) != 0)
        return skipped(std::string("cannot create a network namespace: unshare: ") +
                       std::strerror(errno) + " (needs CAP_SYS_ADMIN)");
    if (std::string error = setup_command({"ip", "link", "set", "lo", "up"}); !error.empty())
        return skipped("cannot bring up lo in the namespace: " + error);
    std::vector<std::string> tc{"tc", "qdisc", "add", "dev", "lo", "root", "netem"};
    tc.insert(tc.end(), std::begin(netem_args), std::end(netem_args));
    std::string netem_error = setup_command(tc);
    if (netem_error.empty())
        return ready("tc netem loss 30% delay 5ms duplicate 5% reorder 10% on lo",
                     {"tc", "-s", "qdisc", "show", "dev", "lo"});
    // Each datagram crosses INPUT once on lo, so this is 30% loss each way.
    std::string iptables_error =
        setup_command({"iptables", "-A", "INPUT", "-p", "udp", "-m", "statistic", "--mode",
                       "random", "--probability", "0.3", "-j", "DROP"});
    if (iptables_error.empty())
        return ready(
            "iptables statistic: 30% UDP loss only (no delay, duplication or "
            "reordering), because netem is unavailable: " +
                netem_error,
            {"iptables", "-L", "INPUT", "-v", "-n", "-x"});
    return skipped("tc netem is unavailable (" + netem_error + ") and so is iptables (" +
                   iptables_error + ")");
}

// Once per process: every test shares the namespace.
const Impairment& impairment() {
    static const Impairment result = set_up_namespace();
    return result;
}

class NetemE2E : public ::testing::Test {
  protected:
    void SetUp() override {
        const Impairment& link = impairment();
        if (!link.ready) GTEST_SKIP() << link.skip_reason;
        std::printf("link: %s\n", link.description.c_str());
        coapd_ = std::make_unique<coap::test::CoapdProcess>(
            COAPD_PATH, std::vector<std::string>{"--observe-period-ms", "200"});
    }
    void TearDown() override {
        if (!coapd_) return;
        auto stats = run_process(impairment().stats_command, 10s);
        std::printf("%s", stats.out.c_str());
        coapd_->process().drain();
        EXPECT_TRUE(coapd_->process().running()) << "coapd exited";
        if (HasFailure())
            std::printf("coapd stderr:\n%s\n", coapd_->process().stderr_text().c_str());
    }

    // ACK_TIMEOUT of 15 ms (no random factor) over a ~10 ms round trip, and up to 8
    // retransmissions: an exchange takes ~70 ms on average and gives up with p = 0.51^9 = 0.2%,
    // after 7.7 s.
    coap::Client client() const {
        coap::ClientConfig config;
        config.host = "127.0.0.1";
        config.port = coapd_->port();
        config.ack_timeout = 15ms;
        config.ack_random_factor = 1.0;
        config.max_retransmit = 8;
        return coap::Client(config);
    }

    std::unique_ptr<coap::test::CoapdProcess> coapd_;
};

// Calls `attempt` until it returns true or `budget` has passed; returns the attempts made, 0
// when none succeeded.
template <typename Attempt>
int retry_within(std::chrono::seconds budget, Attempt attempt) {
    auto deadline = Clock::now() + budget;
    for (int n = 1; Clock::now() < deadline; ++n)
        if (attempt()) return n;
    return 0;
}

TEST_F(NetemE2E, ConGetWithTheCoapTool) {
    std::string uri = "coap://127.0.0.1:" + std::to_string(coapd_->port()) + "/test";
    coap::test::ProcessResult last;
    int attempts = retry_within(40s, [&] {
        last = run_process({COAP_CLI_PATH, "get", "--timeout", "5", uri}, 15s);
        return last.exit_status == 0;
    });
    ASSERT_GT(attempts, 0) << "coap get never succeeded; last exit " << last.exit_status << ": "
                           << last.err;
    std::printf("coap get: %d attempt(s)\n", attempts);
    EXPECT_EQ(last.out, "This is the /test resource of coapd.");
}

// RFC 7959 §2.5: an atomic Block1 upload of 64 blocks, then a Block2 download of the same body.
TEST_F(NetemE2E, BlockwisePutOf64KiBArrivesWhole) {
    std::string body;
    for (int line = 0; body.size() < 64 * 1024; ++line) {
        char text[32];
        std::snprintf(text, sizeof text, "line %05d of the upload\n", line);
        body += text;
    }
    body.resize(64 * 1024);  // exactly max_block_payload
    coap::Bytes payload(reinterpret_cast<const std::uint8_t*>(body.data()), body.size());
    coap::Client lossy = client();

    std::string last_error;
    int puts = retry_within(40s, [&] {
        auto reply = lossy.put("/large-update", payload, coap::ContentFormat::text_plain);
        if (reply && reply->code() == coap::Code::changed) return true;
        last_error = reply ? std::string(coap::code_text(reply->code()).view())
                           : std::string(coap::describe(reply.error()));
        return false;
    });
    ASSERT_GT(puts, 0) << "the PUT never completed; last: " << last_error;

    std::string stored;
    int gets = retry_within(40s, [&] {
        auto reply = lossy.get("/large-update");
        if (reply && reply->code() == coap::Code::content) {
            stored = std::string(reply->text());
            return true;
        }
        last_error = reply ? std::string(coap::code_text(reply->code()).view())
                           : std::string(coap::describe(reply.error()));
        return false;
    });
    ASSERT_GT(gets, 0) << "the GET never completed; last: " << last_error;
    std::printf("64 KiB PUT: %d attempt(s); GET: %d attempt(s)\n", puts, gets);
    EXPECT_EQ(stored.size(), body.size());
    EXPECT_TRUE(stored == body) << "the body read back differs from the one uploaded";
}

// RFC 7641: /obs-non changes every 200 ms; at least three notifications must follow the
// registration's response, each newer than the one before (§3.4: duplicates and reordered
// ones are not delivered). NON notifications (every 20th is CON): a lost CON notification of
// /obs would hold the next ones back for a 2-3 s retransmission timeout of the server's.
TEST_F(NetemE2E, ObserveDeliversNotificationsInOrder) {
    coap::Client lossy = client();
    std::vector<std::uint32_t> values;
    int attempts = retry_within(30s, [&] {
        values.clear();
        auto observation = lossy.observe("/obs-non");
        if (!observation) return false;
        auto deadline = Clock::now() + 10s;
        while (values.size() < 4 && Clock::now() < deadline) {
            auto notification = observation->next(2s);
            if (!notification) continue;
            if (!notification->result) return false;
            auto observe = notification->result->option(coap::OptionNumber::observe);
            if (!observe) return false;
            values.push_back(observe->as_uint().value_or(0));
            if (notification->last) return false;
        }
        return values.size() >= 4;  // the registration's response and three notifications
    });
    ASSERT_GT(attempts, 0) << "fewer than three notifications arrived; got " << values.size();
    std::printf("observe: %d attempt(s)\n", attempts);
    for (std::size_t i = 1; i < values.size(); ++i)
        EXPECT_GT(values[i], values[i - 1]) << "notification " << i << " is not newer";
}

}  // namespace
