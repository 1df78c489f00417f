// The client engine against the real server core over a simulated lossy link: a seeded PRNG
// drops, duplicates and reorders datagrams both ways. Time jumps to the next event (a delivery,
// a client deadline); nothing sleeps and nothing touches a socket.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "client/client_core.hpp"
#include "coap/router.hpp"
#include "server/server_core.hpp"
#include "support/bytes.hpp"
#include "support/random.hpp"

namespace coap::detail {
namespace {

using namespace std::chrono_literals;
using test::ByteVector;

using test::Random;

struct LinkStats {
    std::size_t sent = 0, dropped = 0, duplicated = 0;
};

// Datagrams in flight with a random latency (1-40 ms, so later ones can overtake earlier ones);
// each one is dropped with `drop_rate` and duplicated with `duplicate_rate`.
class LossyLink {
  public:
    struct Datagram {
        TimePoint at;
        std::uint64_t order;
        bool to_server;
        ByteVector bytes;
    };

    LossyLink(std::uint64_t seed, double drop_rate, double duplicate_rate)
        : random_{seed}, drop_rate_(drop_rate), duplicate_rate_(duplicate_rate) {}

    void send(bool to_server, Bytes datagram, TimePoint now) {
        ++stats_.sent;
        if (random_.chance(drop_rate_)) {
            ++stats_.dropped;
            return;
        }
        int copies = 1;
        if (random_.chance(duplicate_rate_)) {
            ++stats_.duplicated;
            copies = 2;
        }
        for (int i = 0; i < copies; ++i) {
            Duration latency = 1ms + std::chrono::microseconds(random_.below(39000));
            queue_.push_back(Datagram{now + latency, order_++, to_server,
                                      ByteVector(datagram.begin(), datagram.end())});
        }
    }
    std::optional<TimePoint> next() const {
        std::optional<TimePoint> earliest;
        for (const Datagram& d : queue_)
            if (!earliest || d.at < *earliest) earliest = d.at;
        return earliest;
    }
    // Everything due at `now`, in arrival order.
    std::vector<Datagram> take_due(TimePoint now) {
        std::vector<Datagram> due;
        auto split = std::stable_partition(queue_.begin(), queue_.end(),
                                           [now](const Datagram& d) { return d.at > now; });
        due.assign(std::make_move_iterator(split), std::make_move_iterator(queue_.end()));
        queue_.erase(split, queue_.end());
        std::sort(due.begin(), due.end(), [](const Datagram& a, const Datagram& b) {
            return a.at != b.at ? a.at < b.at : a.order < b.order;
        });
        return due;
    }
    const LinkStats& stats() const { return stats_; }

  private:
    Random random_;
    double drop_rate_;
    double duplicate_rate_;
    std::vector<Datagram> queue_;
    std::uint64_t order_ = 0;
    LinkStats stats_;
};

// CLIENT_SIM_SEED=n replays every simulation with other random choices.
std::uint64_t seed_offset() {
    const char* text = std::getenv("CLIENT_SIM_SEED");
    return text ? std::strtoull(text, nullptr, 10) * 1000003 : 0;
}

// RFC 7252 §4.8.2: EXCHANGE_LIFETIME = MAX_TRANSMIT_SPAN + 2 * MAX_LATENCY + PROCESSING_DELAY,
// for the client's transmission parameters (247 s with the defaults). A server that forgets a
// Message ID sooner would run a late retransmission's handler again.
Duration exchange_lifetime(const ClientConfig& client) {
    auto span = std::chrono::duration_cast<Duration>(
        client.ack_timeout * static_cast<double>((1u << client.max_retransmit) - 1) *
        client.ack_random_factor);
    return span + 2 * Duration(100s) + client.ack_timeout;
}

// The server does block-wise transfers itself unless `tweak` lists Block1/Block2 (27, 23) in
// recognized_options.
ServerConfig server_config(const ClientConfig& client,
                           const std::function<void(ServerConfig&)>& tweak) {
    ServerConfig config;
    config.exchange_lifetime = exchange_lifetime(client);
    // RFC 7959 §2.4, §2.5: transfer state may be dropped EXCHANGE_LIFETIME after the last block.
    // With 8 retransmissions over this link a block can take minutes, beyond the 60 s default.
    config.block_transfer_timeout = config.exchange_lifetime;
    config.exchange_count = 4096;
    config.exchange_cache_bytes = 8 * 1024 * 1024;
    config.max_arena_size = 4096;
    config.max_deferred = 64;
    if (tweak) tweak(config);
    return config;
}

// One ClientCore and one ServerCore joined by a LossyLink.
class Simulation final : private DatagramSink {
  public:
    Simulation(const ClientConfig& client_config, const Handler& handler, std::uint64_t seed,
               const std::function<void(ServerConfig&)>& tweak = {})
        : seed_(seed + seed_offset()),
          client_(client_config, seed_ * 3 + 1),
          server_(server_config(client_config, tweak), handler, false, seed_ * 5 + 2),
          link_(seed_ * 7 + 3, 0.30, 0.05) {}

    ClientCore& client() { return client_; }
    ServerCore& server() { return server_; }
    const LossyLink& link() const { return link_; }
    TimePoint now() const { return now_; }
    // Called after every batch of deliveries, e.g. to answer deferred requests.
    std::function<void()> after_deliveries;
    // A datagram from the server's side that the server core did not make (a notification).
    void send_to_client(Bytes datagram) { link_.send(false, datagram, now_); }

    // Advances to the next event and handles it; false when nothing is left to happen.
    bool step() {
        flush_client();
        std::optional<TimePoint> next = link_.next();
        if (auto deadline = client_.next_deadline(); deadline && (!next || *deadline < *next))
            next = deadline;
        if (!next) return false;
        now_ = std::max(now_, *next);
        for (LossyLink::Datagram& d : link_.take_due(now_)) {
            if (d.to_server) {
                std::size_t n = server_.on_datagram(peer_, d.bytes, now_, reply_);
                if (n > 0) link_.send(false, Bytes(reply_.data(), n), now_);
            } else {
                client_.on_datagram(d.bytes, now_);
            }
        }
        if (after_deliveries) after_deliveries();
        server_.on_timers(now_, *this);
        client_.on_timer(now_);
        flush_client();
        return true;
    }
    // step(), but never past `limit`: with nothing due by then, time moves to `limit` and only
    // the timers run. The server's own retransmissions (CON notifications) are no event here.
    void step_until(TimePoint limit) {
        flush_client();
        std::optional<TimePoint> next = link_.next();
        if (auto deadline = client_.next_deadline(); deadline && (!next || *deadline < *next))
            next = deadline;
        if (next && *next <= limit) {
            step();
            return;
        }
        now_ = std::max(now_, limit);
        server_.on_timers(now_, *this);
        client_.on_timer(now_);
        flush_client();
    }

  private:
    bool send(const Endpoint&, Bytes datagram) noexcept override {
        link_.send(false, datagram, now_);
        return true;
    }
    void flush_client() {
        while (client_.has_outgoing()) {
            link_.send(true, client_.front_outgoing(), now_);
            client_.pop_outgoing();
        }
    }

    std::uint64_t seed_;
    ClientCore client_;
    ServerCore server_;
    LossyLink link_;
    TimePoint now_ = TimePoint{} + 1000s;
    Endpoint peer_ = *Endpoint::from_literal("127.0.0.1", 40000);
    std::array<std::uint8_t, 1280> reply_{};
};

ByteVector body_of_size(std::size_t size, std::uint8_t salt) {
    ByteVector body(size);
    for (std::size_t i = 0; i < size; ++i)
        body[i] = static_cast<std::uint8_t>((i * 131 + i / 977 + salt) & 0xff);
    return body;
}

std::uint32_t block_option(BlockValue block) {
    return (block.num << 4) | (block.more ? 8u : 0u) | block.szx;
}

// Runs one request to completion through the simulation.
ClientResult run_one(Simulation& sim, const RequestSpec& spec) {
    auto handle = sim.client().submit(spec, sim.now());
    if (!handle) return unexpected(handle.error());
    for (;;) {
        while (auto completion = sim.client().pop_completion())
            if (completion->handle == *handle) return std::move(completion->result);
        if (!sim.step()) return unexpected(ClientError::cancelled);  // must not happen
    }
}

TEST(ClientSimTest, TwoHundredConRequestsOverALossyLinkRunEachHandlerAtMostOnce) {
    constexpr int count = 200;
    std::vector<std::string> payloads;
    for (int i = 0; i < count; ++i)
        payloads.push_back("x-" + std::to_string(i));
    std::vector<int> calls(count, 0);
    std::vector<DeferredResponse> deferred;
    std::vector<int> deferred_index;

    auto index_of = [&](Request& request) -> int {
        auto n = request.query_value("n");
        if (!n) return -1;
        int value = std::stoi(std::string(*n));
        return value >= 0 && value < count ? value : -1;
    };
    Router router;
    router.get("/x", [&](Request& request) -> HandlerResult {
        int i = index_of(request);
        if (i < 0) return Response::bad_request();
        ++calls[static_cast<std::size_t>(i)];
        return Response::ok(payloads[static_cast<std::size_t>(i)]);
    });
    // Every fourth request is answered separately (RFC 7252 §5.2.2): an empty ACK first, then
    // a CON response that the server retransmits until the client acknowledges it.
    router.get("/slow", [&](Request& request) -> HandlerResult {
        int i = index_of(request);
        if (i < 0) return Response::bad_request();
        ++calls[static_cast<std::size_t>(i)];
        if (auto handle = request.defer()) {
            deferred.push_back(*handle);
            deferred_index.push_back(i);
            return std::nullopt;
        }
        return Response::ok(payloads[static_cast<std::size_t>(i)]);
    });
    Handler handler(std::move(router));

    ClientConfig config;
    ASSERT_EQ(exchange_lifetime(config), Duration(247s));
    Simulation sim(config, handler, 2024);
    sim.after_deliveries = [&] {
        for (std::size_t k = 0; k < deferred.size(); ++k)
            sim.server().complete(
                deferred[k], Response::ok(payloads[static_cast<std::size_t>(deferred_index[k])]));
        deferred.clear();
        deferred_index.clear();
    };

    std::map<RequestHandle, int> handles;
    std::vector<std::string> queries;
    for (int i = 0; i < count; ++i)
        queries.push_back("n=" + std::to_string(i));
    int next = 0, done = 0, ok = 0, timeouts = 0;
    std::size_t max_pending = 0;
    while (done < count) {
        while (next < count) {
            std::string_view path = next % 4 == 3 ? "slow" : "x";
            std::array<Option, 2> options{
                Option{OptionNumber::uri_path, as_bytes(path)},
                Option{OptionNumber::uri_query, as_bytes(queries[static_cast<std::size_t>(next)])}};
            auto handle =
                sim.client().submit(RequestSpec{Code::get, options, {}, false}, sim.now());
            if (!handle) {
                ASSERT_EQ(handle.error(), ClientError::busy);
                break;
            }
            ASSERT_TRUE(handles.emplace(*handle, next).second) << "handles are unique";
            ++next;
        }
        max_pending = std::max(max_pending, sim.client().active());
        while (auto completion = sim.client().pop_completion()) {
            auto it = handles.find(completion->handle);
            ASSERT_NE(it, handles.end()) << "a completion for an unknown or finished handle";
            auto i = static_cast<std::size_t>(it->second);
            handles.erase(it);
            ++done;
            if (completion->result) {
                ++ok;
                EXPECT_EQ(completion->result->code(), Code::content);
                EXPECT_EQ(completion->result->text(), payloads[i]) << "request " << i;
                EXPECT_EQ(calls[i], 1) << "request " << i;
            } else {
                ++timeouts;  // no ACK, or (for /slow) the ACK but no separate response
                EXPECT_TRUE(completion->result.error() == ClientError::timeout ||
                            completion->result.error() == ClientError::no_separate_response)
                    << "request " << i;
            }
        }
        if (done < count) {
            ASSERT_TRUE(sim.step()) << "the simulation stalled";
        }
    }
    // Let the server's last retransmissions play out; nothing may run a handler again.
    while (sim.step()) {
    }
    for (int i = 0; i < count; ++i)
        EXPECT_LE(calls[static_cast<std::size_t>(i)], 1) << "request " << i << " ran twice";
    EXPECT_FALSE(sim.client().pop_completion());
    EXPECT_EQ(sim.client().active(), 0u);
    EXPECT_LE(max_pending, std::size_t{config.max_in_flight} * 2);
    // The link did its job: lossy, and lossy enough to exercise duplicates and timeouts.
    EXPECT_GT(sim.link().stats().dropped, sim.link().stats().sent / 8);
    EXPECT_GT(sim.link().stats().duplicated, 0u);
    EXPECT_GT(sim.server().stats().duplicates, 0u);
    EXPECT_GE(ok, count * 8 / 10);
    EXPECT_EQ(ok + timeouts, count);
    std::cout << "ok " << ok << ", timeouts " << timeouts << ", datagrams "
              << sim.link().stats().sent << ", dropped " << sim.link().stats().dropped
              << ", server duplicates " << sim.server().stats().duplicates << "\n";
}

TEST(ClientSimTest, NonRequestsOverALossyLinkCompleteOrTimeOut) {
    std::vector<int> calls(100, 0);
    Router router;
    router.get("/n/:i", [&](Request& request) -> HandlerResult {
        int i = std::stoi(std::string(*request.param("i")));
        ++calls[static_cast<std::size_t>(i)];
        return Response::ok(*request.param("i"));
    });
    Handler handler(std::move(router));
    ClientConfig config;
    config.response_timeout = 5s;
    Simulation sim(config, handler, 77);
    int ok = 0;
    for (int i = 0; i < 100; ++i) {
        std::string segment = std::to_string(i);
        std::array<Option, 2> options{Option{OptionNumber::uri_path, as_bytes("n")},
                                      Option{OptionNumber::uri_path, as_bytes(segment)}};
        ClientResult result = run_one(sim, RequestSpec{Code::get, options, {}, true});
        if (result) {
            ++ok;
            EXPECT_EQ(result->text(), segment);
            EXPECT_EQ(result->type(), MessageType::non);
        } else {
            EXPECT_EQ(result.error(), ClientError::timeout);
        }
        EXPECT_LE(calls[static_cast<std::size_t>(i)], 1) << "a duplicated NON ran twice";
    }
    EXPECT_GT(ok, 20);
    EXPECT_LT(ok, 100);
}

// Serves a body block-wise (RFC 7959 §2.4) with an ETag, at the size the client asks for: a
// handler that does the block-wise work itself, with 23 and 27 in recognized_options.
class BlockServer {
  public:
    explicit BlockServer(ByteVector body) : body_(std::move(body)) {}

    HandlerResult get(Request& request) {
        ++calls;
        BlockValue want{0, false, 6};
        if (auto option = request.option(OptionNumber::block2)) {
            auto decoded = decode_block(option->value);
            if (!decoded) return Response::bad_option();
            want = *decoded;
        }
        if (want.offset() >= body_.size()) return Response::bad_option();
        std::size_t offset = static_cast<std::size_t>(want.offset());
        std::size_t length = std::min<std::size_t>(want.size(), body_.size() - offset);
        bool more = offset + length < body_.size();
        Response response = Response::ok(Bytes(body_).subspan(offset, length));
        response.etag(etag_);
        response.uint_option(OptionNumber::block2, block_option({want.num, more, want.szx}));
        return response;
    }

    // Assembles a Block1 upload (RFC 7959 §2.5) atomically, in order, asking for `szx`.
    HandlerResult post(Request& request) {
        ++calls;
        auto option = request.option(OptionNumber::block1);
        if (!option) {
            upload.assign(request.payload().begin(), request.payload().end());
            return Response::changed();
        }
        auto block = decode_block(option->value);
        if (!block) return Response::bad_option();
        if (block->num == 0) upload.clear();
        if (block->offset() != upload.size())
            return Response::with_code(Code::request_entity_incomplete);
        upload.insert(upload.end(), request.payload().begin(), request.payload().end());
        std::uint8_t szx = std::min(block->szx, preferred_szx);
        if (block->more) {
            Response response = Response::with_code(Code::continue_);
            response.uint_option(OptionNumber::block1, block_option({block->num, true, szx}));
            return response;
        }
        Response response = Response::changed();
        response.uint_option(OptionNumber::block1, block_option({block->num, false, block->szx}));
        return response.payload("stored");
    }

    ByteVector upload;
    std::uint8_t preferred_szx = 6;
    int calls = 0;

  private:
    ByteVector body_;
    ByteVector etag_{0x42, 0x17};
};

TEST(ClientSimTest, NonBlock2DownloadsOverALossyLinkCompleteOrTimeOut) {
    // NON requests are not retransmitted, so most of these fail; the point is that a duplicated
    // or late block never breaks (or corrupts) a transfer that does get through (RFC 7252 §4.5).
    ByteVector body = body_of_size(2500, 5);
    Router router;
    router.get("/big", [&](Request&) -> HandlerResult { return Response::ok(Bytes(body)); });
    Handler handler(std::move(router));
    ClientConfig config;
    config.response_timeout = 2s;
    Simulation sim(config, handler, 909);
    std::array<Option, 1> options{Option{OptionNumber::uri_path, as_bytes("big")}};
    int ok = 0;
    for (int i = 0; i < 400; ++i) {
        ClientResult result = run_one(sim, RequestSpec{Code::get, options, {}, true});
        if (!result) {
            ASSERT_EQ(result.error(), ClientError::timeout) << "attempt " << i;
            continue;
        }
        ++ok;
        ASSERT_EQ(result->payload().size(), body.size());
        EXPECT_TRUE(std::equal(body.begin(), body.end(), result->payload().begin()));
    }
    EXPECT_GT(ok, 10);
    EXPECT_GT(sim.link().stats().duplicated, 10u);
    EXPECT_GT(sim.server().stats().block2_served, 400u);
}

TEST(ClientSimTest, SixtyFourKibBlock2DownloadOverALossyLink) {
    ByteVector body = body_of_size(64 * 1024, 1);
    for (std::uint8_t szx : {std::uint8_t{6}, std::uint8_t{4}}) {
        int calls = 0;
        Router router;
        router.get("/big", [&](Request&) -> HandlerResult {
            ++calls;
            return Response::ok(Bytes(body));
        });
        Handler handler(std::move(router));
        ClientConfig config;
        config.block_szx = szx;  // 4: late negotiation from the server's 1024-byte first block
        // 64 or more round trips each need one of their transmissions and its answer through
        // a link that drops 30% each way: 8 retransmissions make a lost block rare, and a
        // transfer that times out anyway is started again.
        config.max_retransmit = 8;
        Simulation sim(config, handler, 4000 + szx);
        std::array<Option, 1> options{Option{OptionNumber::uri_path, as_bytes("big")}};
        bool done = false;
        int attempts = 0;
        for (; attempts < 8 && !done; ++attempts) {
            ClientResult result = run_one(sim, RequestSpec{Code::get, options, {}, false});
            if (!result) {
                EXPECT_EQ(result.error(), ClientError::timeout) << "szx " << int{szx};
                continue;
            }
            ASSERT_EQ(result->code(), Code::content);
            ASSERT_EQ(result->payload().size(), body.size());
            EXPECT_TRUE(std::equal(body.begin(), body.end(), result->payload().begin()))
                << "szx " << int{szx};
            done = true;
        }
        EXPECT_TRUE(done) << "no attempt got through, szx " << int{szx};
        EXPECT_GT(sim.link().stats().dropped, sim.link().stats().sent / 8);
        // The first block is 1024 bytes whatever the client wants (late negotiation); the
        // others come from the body the server kept, so the handler ran once per attempt.
        EXPECT_GE(sim.server().stats().block2_served, 1 + (body.size() - 1024) / (16u << szx));
        EXPECT_LE(calls, attempts);
        std::cout << "szx " << int{szx} << ": " << attempts << " attempt(s), datagrams "
                  << sim.link().stats().sent << ", dropped " << sim.link().stats().dropped
                  << ", server duplicates " << sim.server().stats().duplicates << "\n";
    }
}

TEST(ClientSimTest, SixtyFourKibBlock1UploadOverALossyLink) {
    ByteVector body = body_of_size(64 * 1024, 2);
    ByteVector received;
    int calls = 0;
    Router router;
    router.post("/upload", [&](Request& r) -> HandlerResult {
        ++calls;  // once per upload: the server reassembles the blocks
        received.assign(r.payload().begin(), r.payload().end());
        return Response::changed().payload("stored");
    });
    Handler handler(std::move(router));
    ClientConfig config;
    config.max_retransmit = 8;
    // The server asks for 512-byte blocks after the client's first 1024-byte one.
    Simulation sim(config, handler, 5150, [](ServerConfig& c) { c.max_block_size = 512; });
    std::array<Option, 1> options{Option{OptionNumber::uri_path, as_bytes("upload")}};
    bool done = false;
    int attempts = 0;
    for (; attempts < 8 && !done; ++attempts) {
        ClientResult result = run_one(sim, RequestSpec{Code::post, options, body, false});
        if (!result) {
            EXPECT_EQ(result.error(), ClientError::timeout);
            continue;
        }
        ASSERT_EQ(result->code(), Code::changed);
        EXPECT_EQ(result->text(), "stored");
        done = true;
    }
    ASSERT_TRUE(done) << "no attempt got through";
    std::cout << attempts << " attempt(s), datagrams " << sim.link().stats().sent << ", dropped "
              << sim.link().stats().dropped << ", server duplicates "
              << sim.server().stats().duplicates << "\n";
    ASSERT_EQ(received.size(), body.size());
    EXPECT_EQ(received, body);
    // 1 block of 1024, then 126 of 512, each acknowledged with 2.31; never a duplicate stored.
    EXPECT_GE(sim.server().stats().block1_continues, 126u);
    EXPECT_GE(calls, 1);
    EXPECT_LE(calls, attempts);
    EXPECT_GT(sim.server().stats().duplicates, 0u);
}

// A 1 MiB body up (Block1) and down again (Block2) through 30% loss each way: 1024 round trips
// each way, so the client is given 16 retransmissions (a block then fails with p = 0.51^17).
TEST(ClientSimTest, OneMebibyteUpAndDownOverALossyLink) {
    const ByteVector body = body_of_size(1024 * 1024, 3);
    ByteVector stored;
    int uploads = 0;
    Router router;
    router.put("/blob", [&](Request& r) -> HandlerResult {
        ++uploads;
        stored.assign(r.payload().begin(), r.payload().end());
        return Response::changed();
    });
    router.get("/blob", [&](Request&) -> HandlerResult { return Response::ok(Bytes(stored)); });
    Handler handler(std::move(router));
    ClientConfig config;
    config.max_retransmit = 16;
    Simulation sim(config, handler, 6100, [](ServerConfig& c) {
        c.max_block_payload = 1024 * 1024;
        c.max_block_transfers = 4;
    });
    std::array<Option, 1> options{Option{OptionNumber::uri_path, as_bytes("blob")}};
    ClientResult put = run_one(sim, RequestSpec{Code::put, options, body, false});
    ASSERT_TRUE(put.has_value()) << describe(put.error());
    ASSERT_EQ(put->code(), Code::changed);
    EXPECT_EQ(uploads, 1) << "reassembled once, however many blocks were retransmitted";
    ASSERT_EQ(stored, body);
    ClientResult get = run_one(sim, RequestSpec{Code::get, options, {}, false});
    ASSERT_TRUE(get.has_value()) << describe(get.error());
    ASSERT_EQ(get->payload().size(), body.size());
    EXPECT_TRUE(std::equal(body.begin(), body.end(), get->payload().begin()));
    EXPECT_GT(sim.link().stats().dropped, sim.link().stats().sent / 4);
    std::cout << "datagrams " << sim.link().stats().sent << ", dropped "
              << sim.link().stats().dropped << ", server duplicates "
              << sim.server().stats().duplicates << "\n";
}

TEST(ClientSimTest, UploadWithBlockWiseAnswerOverALossyLink) {
    // Block1 upload whose final response is itself block-wise (RFC 7959 §2.7, §3.3).
    ByteVector body = body_of_size(5000, 3);
    ByteVector answer = body_of_size(7000, 4);
    ByteVector received;
    Router router;
    router.post("/both", [&](Request& r) -> HandlerResult {
        received.assign(r.payload().begin(), r.payload().end());
        return Response(Code::changed, Bytes(answer));
    });
    Handler handler(std::move(router));
    ClientConfig config;
    config.max_retransmit = 8;
    Simulation sim(config, handler, 31337);
    std::array<Option, 1> options{Option{OptionNumber::uri_path, as_bytes("both")}};
    bool done = false;
    for (int attempt = 0; attempt < 8 && !done; ++attempt) {
        ClientResult result = run_one(sim, RequestSpec{Code::post, options, body, false});
        if (!result) {
            EXPECT_EQ(result.error(), ClientError::timeout);
            continue;
        }
        ASSERT_EQ(result->code(), Code::changed);
        ASSERT_EQ(result->payload().size(), answer.size());
        EXPECT_TRUE(std::equal(answer.begin(), answer.end(), result->payload().begin()));
        done = true;
    }
    ASSERT_TRUE(done);
    EXPECT_EQ(received, body);
}

TEST(ClientSimTest, HandlerImplementedBlockWiseOverALossyLink) {
    // Applications that list Block1 and Block2 in recognized_options do the work themselves.
    ByteVector body = body_of_size(5000, 3);
    ByteVector answer = body_of_size(7000, 4);
    BlockServer download(answer);
    BlockServer upload({});
    upload.preferred_szx = 5;
    Router router;
    router.post("/both", [&](Request& r) -> HandlerResult {
        if (r.option(OptionNumber::block2)) {  // follow-up blocks: 2.04 too (RFC 7959 §3.3)
            HandlerResult block = download.get(r);
            if (block && block->code() == Code::content) block->code(Code::changed);
            return block;
        }
        HandlerResult result = upload.post(r);
        if (!result || result->code() != Code::changed) return result;
        // The answer to the final block carries block 0 of the response body.
        BlockValue last = *decode_block(r.option(OptionNumber::block1)->value);
        HandlerResult first = download.get(r);
        first->code(Code::changed);
        first->uint_option(OptionNumber::block1, block_option(last));
        return first;
    });
    Handler handler(std::move(router));
    ClientConfig config;
    config.max_retransmit = 8;
    Simulation sim(config, handler, 31338, [](ServerConfig& c) {
        c.recognized_options = {23, 27};
    });
    std::array<Option, 1> options{Option{OptionNumber::uri_path, as_bytes("both")}};
    bool done = false;
    for (int attempt = 0; attempt < 8 && !done; ++attempt) {
        ClientResult result = run_one(sim, RequestSpec{Code::post, options, body, false});
        if (!result) {
            EXPECT_EQ(result.error(), ClientError::timeout);
            continue;
        }
        ASSERT_EQ(result->code(), Code::changed);
        ASSERT_EQ(result->payload().size(), answer.size());
        EXPECT_TRUE(std::equal(answer.begin(), answer.end(), result->payload().begin()));
        done = true;
    }
    ASSERT_TRUE(done);
    EXPECT_EQ(upload.upload, body);
    EXPECT_EQ(sim.server().stats().block2_served, 0u);
    EXPECT_EQ(sim.server().stats().block1_continues, 0u);
}

// RFC 7959 §2.6 over the lossy link: each change of a resource is notified (NON, by the test
// playing the server's notifying side) with the first block; the server core serves the
// follow-up GETs from whatever version is current, so versions change under running fetches.
// Every notification the client delivers must be one whole, consistent version.
TEST(ClientSimTest, BlockWiseNotificationsOverALossyLinkArriveAsWholeVersions) {
    auto body_of = [](std::uint32_t v) {
        return body_of_size(2000 + 300 * (v % 5), static_cast<std::uint8_t>(v));
    };
    auto etag_of = [](std::uint32_t v) { return ByteVector{0xe7, static_cast<std::uint8_t>(v)}; };
    std::uint32_t version = 1;
    ByteVector current = body_of(version), etag = etag_of(version), token;
    Router router;
    router.get("/obs", [&](Request& r) -> HandlerResult {
        BlockValue want{0, false, 6};
        if (auto option = r.option(OptionNumber::block2)) want = *decode_block(option->value);
        if (want.offset() >= current.size()) return Response::bad_option();  // it shrank
        auto offset = static_cast<std::size_t>(want.offset());
        std::size_t length = std::min<std::size_t>(want.size(), current.size() - offset);
        Response response = Response::ok(Bytes(current).subspan(offset, length));
        response.etag(etag);
        response.uint_option(OptionNumber::block2,
                             block_option({want.num, offset + length < current.size(), want.szx}));
        if (r.option(OptionNumber::observe)) {  // the registration
            token.assign(r.message().token().begin(), r.message().token().end());
            response.uint_option(OptionNumber::observe, version);
        }
        return response;
    });
    Handler handler(std::move(router));
    ClientConfig config;
    config.max_retransmit = 12;  // a fetch that times out would end the observation
    Simulation sim(config, handler, 7641,
                   [](ServerConfig& c) { c.recognized_options = {23}; });  // blocks by hand
    Random random{7959 + seed_offset()};
    std::array<Option, 1> path{Option{OptionNumber::uri_path, as_bytes("obs")}};
    auto id = sim.client().observe(RequestSpec{Code::get, path, {}, false}, sim.now());
    ASSERT_TRUE(id);

    constexpr std::uint32_t final_version = 40;
    std::uint16_t message_id = 0xa000;
    auto notify = [&] {  // the first block of the current version
        std::array<std::uint8_t, 1280> datagram{};
        UintValue block = encode_block({0, true, 6});
        auto n = MessageWriter(datagram)
                     .header(MessageType::non, Code::content, message_id++, token)
                     .option(OptionNumber::etag, etag)
                     .uint_option(OptionNumber::observe, version)
                     .option(OptionNumber::block2, block.bytes())
                     .payload(Bytes(current).first(1024))
                     .finish();
        sim.send_to_client(Bytes(datagram.data(), *n));
    };
    std::uint32_t delivered = 0, last_seen = 0;
    TimePoint next_change = sim.now() + 1s;
    for (int steps = 0; last_seen != final_version; ++steps) {
        ASSERT_LT(steps, 200000) << "stalled at version " << version;
        while (auto n = sim.client().pop_notification(*id)) {
            ASSERT_TRUE(n->result) << describe(n->result.error());
            ASSERT_FALSE(n->last) << "the observation ended";
            const MessageView& message = n->result->message();
            auto sequence = message.find_uint(OptionNumber::observe);
            ASSERT_TRUE(sequence);
            EXPECT_GT(*sequence, last_seen) << "in order, each version at most once";
            ByteVector body(n->result->payload().begin(), n->result->payload().end());
            EXPECT_EQ(body, body_of(*sequence)) << "version " << *sequence;
            auto tag = message.find(OptionNumber::etag);
            ASSERT_TRUE(tag);
            EXPECT_EQ(ByteVector(tag->value.begin(), tag->value.end()), etag_of(*sequence));
            EXPECT_FALSE(message.has(OptionNumber::block2));
            last_seen = *sequence;
            ++delivered;
        }
        bool busy = sim.step();
        if (token.empty()) continue;  // not registered yet
        if (sim.now() >= next_change && version < final_version) {
            ++version;
            current = body_of(version);
            etag = etag_of(version);
            next_change = sim.now() + std::chrono::milliseconds(random.below(1000));
            notify();
        } else if (!busy) {
            notify();  // the last notification was lost: the server's state is sent again
        }
    }
    // A change every 0.5 s on average against retransmissions after 2-3 s: many fetches lose
    // the race, and that is the point.
    EXPECT_GE(delivered, 2u);
    EXPECT_GT(sim.client().notifications_abandoned(), 0u) << "versions changed under fetches";
    EXPECT_EQ(sim.client().notifications_dropped(), 0u);
    std::cout << delivered << " of " << final_version << " versions delivered whole, "
              << sim.client().notifications_abandoned() << " abandoned, datagrams "
              << sim.link().stats().sent << ", dropped " << sim.link().stats().dropped << "\n";
}

// RFC 7641 over the lossy link, both ends real: the client core observes a resource of the
// server core, and the test publishes 50 versions through the server's hub. Notifications are
// lost, duplicated and reordered; the client must see versions in increasing order, none twice
// (RFC 7641 §3.4, RFC 7252 §4.5), and in the end the last one (§4.5: "eventually observes the
// latest state"). The server sends NON except every 4th notification to an observer and the
// versions published as confirmable, among them the last: a lost final NON would never be
// repeated, so the application publishes its final state confirmable (§4.5's example).
TEST(ClientSimTest, AnObservationOverALossyLinkEndsWithTheLatestVersion) {
    constexpr int versions = 50;
    std::string current = "0";
    Router router;
    router.get("/obs", [&](Request& r) -> HandlerResult {
        r.observe(ResourceId{0});
        return Response::ok(current);
    });
    Handler handler(std::move(router));
    ClientConfig config;
    config.max_retransmit = 12;  // the registration has to get through
    Simulation sim(config, handler, 76410, [](ServerConfig& c) {
        c.observe_con_interval = 4;
        c.max_retransmit = 12;  // a CON notification lost 13 times would end the observation
    });
    Random random{4141 + seed_offset()};
    std::array<Option, 1> path{Option{OptionNumber::uri_path, as_bytes("obs")}};
    auto id = sim.client().observe(RequestSpec{Code::get, path, {}, false}, sim.now());
    ASSERT_TRUE(id);

    std::vector<int> seen;
    auto drain = [&] {
        while (auto n = sim.client().pop_notification(*id)) {
            ASSERT_TRUE(n->result) << describe(n->result.error());
            ASSERT_FALSE(n->last) << "the observation ended";
            ASSERT_TRUE(n->result->message().has(OptionNumber::observe));
            seen.push_back(std::stoi(std::string(n->result->text())));
        }
    };
    int published = 0;
    TimePoint next_publish = sim.now();
    std::optional<TimePoint> give_up;
    for (int steps = 0; !(published == versions && !seen.empty() && seen.back() == versions);
         ++steps) {
        ASSERT_LT(steps, 1000000);
        drain();
        if (give_up && sim.now() > *give_up) break;
        // Versions are published once the registration's answer arrived, so none of them can
        // reach the client both as that answer and as a notification.
        if (!seen.empty() && published < versions && sim.now() >= next_publish) {
            ++published;
            current = std::to_string(published);
            bool confirmable = published % 10 == 0 || published == versions;
            ASSERT_TRUE(sim.server().hub().publish(
                ResourceId{0}, Response::ok(current),
                confirmable ? NotificationType::confirmable : NotificationType::automatic));
            next_publish = sim.now() + std::chrono::milliseconds(random.below(1000));
            if (published == versions) give_up = sim.now() + 30min;
        }
        sim.step_until(sim.now() + 100ms);  // on_timers at least every 100 ms
    }
    drain();
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(seen.front(), 0) << "the registration's answer";
    for (std::size_t i = 1; i < seen.size(); ++i)
        EXPECT_LT(seen[i - 1], seen[i]) << "out of order or twice, at " << i;
    EXPECT_EQ(seen.back(), versions) << "the latest version never arrived";
    EXPECT_EQ(sim.server().observers().observers(), 1u);
    EXPECT_GT(sim.server().observers().stats().retransmissions, 0u);
    std::cout << seen.size() - 1 << " of " << versions << " versions seen, server sent "
              << sim.server().observers().stats().notifications_non << " NON and "
              << sim.server().observers().stats().notifications_con << " CON notifications, "
              << sim.server().observers().stats().retransmissions << " retransmissions ("
              << sim.server().observers().stats().superseded << " superseded), datagrams "
              << sim.link().stats().sent << ", dropped " << sim.link().stats().dropped << "\n";
}

// RFC 7641 §4.5 (ETSI TD_COAP_OBS_05, "client OFF"): the client goes away without a word. The
// next CON notification is retransmitted MAX_RETRANSMIT times at ACK_TIMEOUT x [1, 1.5]
// doubling (RFC 7252 §4.2), and when the last one times out the observer is removed: between
// 62 and 93 seconds after the first transmission with the default parameters.
TEST(ClientSimTest, AnObserverThatWentAwayIsRemovedAfterTheConNotificationTimesOut) {
    Router router;
    router.get("/obs", [&](Request& r) -> HandlerResult {
        r.observe(ResourceId{0});
        return Response::ok("0");
    });
    Handler handler(std::move(router));
    ClientConfig config;
    config.max_retransmit = 12;
    Simulation sim(config, handler, 76411);
    std::array<Option, 1> path{Option{OptionNumber::uri_path, as_bytes("obs")}};
    auto id = sim.client().observe(RequestSpec{Code::get, path, {}, false}, sim.now());
    ASSERT_TRUE(id);
    while (!sim.client().pop_notification(*id))
        ASSERT_TRUE(sim.step()) << "the registration never completed";
    ASSERT_EQ(sim.server().observers().observers(), 1u);

    // From now on the client neither receives nor sends: only the server's timers run.
    struct Void final : DatagramSink {
        bool send(const Endpoint&, Bytes) noexcept override {
            ++sent;
            return true;
        }
        int sent = 0;
    } nowhere;
    TimePoint gone = sim.now() + 1s;
    ASSERT_TRUE(sim.server().hub().publish(ResourceId{0}, Response::ok("1"),
                                           NotificationType::confirmable));
    std::optional<Duration> removed_after;
    for (TimePoint t = gone; t <= gone + 120s; t += 100ms) {
        sim.server().on_timers(t, nowhere);
        if (!removed_after && sim.server().observers().observers() == 0) removed_after = t - gone;
    }
    EXPECT_EQ(nowhere.sent, 5) << "one transmission and MAX_RETRANSMIT (4) retransmissions";
    ASSERT_TRUE(removed_after) << "the observer was never removed";
    EXPECT_GE(*removed_after, 62s);
    EXPECT_LE(*removed_after, 93s + 200ms);
    EXPECT_EQ(sim.server().observers().stats().removed_by_timeout, 1u);
    EXPECT_EQ(sim.server().observers().in_flight(), 0u);
}

// RFC 7959 §2.6 with both ends real: the server core sends each large version as its first
// block, with an ETag computed from the body (no representation sets one), and answers the
// client's follow-up GETs for the other blocks; the client must assemble whole, consistent
// versions, in order, and in the end the last one. `tweak` configures the server.
void run_large_notifications(std::uint64_t seed, const std::function<void(ServerConfig&)>& tweak) {
    constexpr int versions = 20;
    auto body_of = [](int v) {
        return body_of_size(2000 + 300 * static_cast<std::size_t>(v % 3),
                            static_cast<std::uint8_t>(v));
    };
    ByteVector current = body_of(0);
    Router router;
    router.get("/obs", [&](Request& r) -> HandlerResult {
        r.observe(ResourceId{0});
        return Response::ok(Bytes(current));
    });
    Handler handler(std::move(router));
    ClientConfig config;
    config.max_retransmit = 12;
    Simulation sim(config, handler, seed, [&](ServerConfig& c) {
        c.max_retransmit = 12;
        tweak(c);
    });
    Random random{seed + 1 + seed_offset()};
    std::array<Option, 1> path{Option{OptionNumber::uri_path, as_bytes("obs")}};
    auto id = sim.client().observe(RequestSpec{Code::get, path, {}, false}, sim.now());
    ASSERT_TRUE(id);

    std::vector<int> seen;
    auto drain = [&] {
        while (auto n = sim.client().pop_notification(*id)) {
            ASSERT_TRUE(n->result) << describe(n->result.error());
            ASSERT_FALSE(n->last) << "the observation ended";
            ByteVector body(n->result->payload().begin(), n->result->payload().end());
            int version = -1;
            for (int v = 0; v <= versions && version < 0; ++v)
                if (body == body_of(v)) version = v;
            ASSERT_GE(version, 0) << "a notification that is no whole version";
            seen.push_back(version);
        }
    };
    int published = 0;
    TimePoint next_publish = sim.now();
    std::optional<TimePoint> give_up;
    for (int steps = 0; !(published == versions && !seen.empty() && seen.back() == versions);
         ++steps) {
        ASSERT_LT(steps, 1000000);
        drain();
        if (give_up && sim.now() > *give_up) break;
        if (!seen.empty() && published < versions && sim.now() >= next_publish) {
            ++published;
            current = body_of(published);
            bool confirmable = published % 5 == 0 || published == versions;
            ASSERT_TRUE(sim.server().hub().publish(
                ResourceId{0}, Response::ok(Bytes(current)),
                confirmable ? NotificationType::confirmable : NotificationType::automatic));
            next_publish = sim.now() + std::chrono::milliseconds(1000 + random.below(4000));
            if (published == versions) give_up = sim.now() + 30min;
        }
        sim.step_until(sim.now() + 100ms);
    }
    drain();
    ASSERT_FALSE(seen.empty());
    for (std::size_t i = 1; i < seen.size(); ++i)
        EXPECT_LT(seen[i - 1], seen[i]) << "out of order or twice, at " << i;
    EXPECT_EQ(seen.back(), versions) << "the latest version never arrived whole";
    std::cout << seen.size() << " of " << versions + 1 << " versions seen whole, "
              << sim.client().notifications_abandoned() << " abandoned, block2 served "
              << sim.server().stats().block2_served << ", datagrams " << sim.link().stats().sent
              << ", dropped " << sim.link().stats().dropped << "\n";
}

// Without transfer slots every follow-up runs the handler again: each block is cut from the
// current body and carries its ETag, which must be the notification's for the same body.
TEST(ClientSimTest, LargeNotificationsArriveWholeWhenFollowUpsRunTheHandlerAgain) {
    run_large_notifications(76412, [](ServerConfig& c) { c.max_block_transfers = 0; });
}

// Known bug (block layer, not fixed here): when the client abandons a fetch (a newer
// notification came), the body kept for that fetch stays in its transfer slot, and every later
// notification's "Block2 NUM 1" is served from it, with the old ETag; each such request keeps
// the slot alive, so no later version is ever completed. Enable once the block layer no longer
// keeps bodies of observable resources (or the client restarts a fetch at NUM 0).
TEST(ClientSimTest, LargeNotificationsArriveWholeWithKeptBodies) {
    run_large_notifications(76413, [](ServerConfig&) {});
}

}  // namespace
}  // namespace coap::detail
