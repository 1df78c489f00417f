// Block-wise transfers (RFC 7959) in the sans-I/O server: the transfer pool on its own, then
// Block2 slicing and Block1 reassembly through the server core, with injected time.
#include <gtest/gtest.h>

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "server/block_transfers.hpp"
#include "server/server_core.hpp"
#include "support/bytes.hpp"

namespace coap::detail {
namespace {

using namespace std::chrono_literals;
using test::ByteVector;

TimePoint at(Duration offset) {
    return TimePoint{} + offset;
}

Endpoint peer(std::uint16_t port) {
    return *Endpoint::from_literal("192.0.2.1", port);
}

ByteVector body_of_size(std::size_t size, std::uint8_t salt) {
    ByteVector body(size);
    for (std::size_t i = 0; i < size; ++i)
        body[i] = static_cast<std::uint8_t>((i * 31 + i / 251 + salt) & 0xff);
    return body;
}

// ---------------------------------------------------------------------------------------------
// The pool

TEST(BlockTransferPool, OpenFindReleaseAndFull) {
    BlockTransfers pool(2, 100, 60s);
    auto* a = pool.open(peer(1), 7, BlockTransfer::Kind::upload, at(0s));
    auto* b = pool.open(peer(2), 7, BlockTransfer::Kind::upload, at(0s));
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    EXPECT_NE(a, b);
    EXPECT_EQ(a->body_storage.size(), 100u);
    EXPECT_EQ(pool.open(peer(3), 7, BlockTransfer::Kind::upload, at(0s)), nullptr);
    EXPECT_EQ(pool.stats().refused_full, 1u);
    EXPECT_EQ(pool.find(peer(1), 7, at(1s)), a);
    EXPECT_EQ(pool.find(peer(1), 8, at(1s)), nullptr) << "another key";
    pool.release(*a, true);
    EXPECT_EQ(pool.find(peer(1), 7, at(1s)), nullptr);
    EXPECT_NE(pool.open(peer(3), 7, BlockTransfer::Kind::upload, at(1s)), nullptr);
    EXPECT_EQ(pool.stats().started, 3u);
    EXPECT_EQ(pool.stats().completed, 1u);
    EXPECT_EQ(pool.active(), 2u);
}

TEST(BlockTransferPool, ReopeningAnOperationReplacesIt) {
    BlockTransfers pool(2, 100, 60s);
    auto* first = pool.open(peer(1), 7, BlockTransfer::Kind::upload, at(0s));
    first->length = 50;
    auto* again = pool.open(peer(1), 7, BlockTransfer::Kind::download, at(1s));
    EXPECT_EQ(first, again);
    EXPECT_EQ(again->length, 0u);
    EXPECT_EQ(again->kind, BlockTransfer::Kind::download);
    EXPECT_EQ(pool.active(), 1u);
    EXPECT_EQ(pool.stats().incomplete, 1u);
}

TEST(BlockTransferPool, IdleTransfersExpireAndTouchingKeepsThemAlive) {
    BlockTransfers pool(2, 16, 60s);
    auto* a = pool.open(peer(1), 1, BlockTransfer::Kind::upload, at(0s));
    pool.open(peer(2), 2, BlockTransfer::Kind::upload, at(10s));
    pool.touch(*a, at(30s));  // now expires at 90 s, after the other one (70 s)
    EXPECT_NE(pool.find(peer(2), 2, at(69s)), nullptr);
    EXPECT_EQ(pool.find(peer(2), 2, at(70s)), nullptr);
    EXPECT_NE(pool.find(peer(1), 1, at(89s)), nullptr);
    EXPECT_EQ(pool.stats().expired, 1u);
    // A full pool reclaims an expired slot for a new transfer.
    pool.open(peer(3), 3, BlockTransfer::Kind::upload, at(89s));
    EXPECT_EQ(pool.open(peer(4), 4, BlockTransfer::Kind::upload, at(89s)), nullptr);
    EXPECT_NE(pool.open(peer(4), 4, BlockTransfer::Kind::upload, at(90s)), nullptr);
    EXPECT_EQ(pool.stats().expired, 2u);
}

TEST(BlockTransferPool, IndexSurvivesManyInsertsAndRemovals) {
    // Keys that collide in the index exercise the backward-shift deletion.
    constexpr std::uint32_t slots = 64;
    BlockTransfers pool(slots, 8, 60s);
    std::vector<BlockTransfer*> live(slots * 4, nullptr);
    std::uint64_t state = 12345;
    for (int round = 0; round < 20000; ++round) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        auto key = static_cast<std::uint32_t>(state >> 33) % live.size();
        if (live[key] != nullptr) {
            ASSERT_EQ(pool.find(peer(5), key, at(0s)), live[key]) << "round " << round;
            pool.release(*live[key], true);
            live[key] = nullptr;
            ASSERT_EQ(pool.find(peer(5), key, at(0s)), nullptr);
        } else {
            live[key] = pool.open(peer(5), key, BlockTransfer::Kind::download, at(0s));
            if (live[key] == nullptr) {
                ASSERT_EQ(pool.active(), slots) << "refused with room";
            }
        }
    }
    for (std::size_t key = 0; key < live.size(); ++key)
        EXPECT_EQ(pool.find(peer(5), key, at(0s)), live[key]) << key;
}

TEST(BlockTransferPool, AnEmptyPoolRefusesEverything) {
    BlockTransfers pool(0, 1024, 60s);
    EXPECT_EQ(pool.open(peer(1), 1, BlockTransfer::Kind::upload, at(0s)), nullptr);
    EXPECT_EQ(pool.find(peer(1), 1, at(0s)), nullptr);
}

// ---------------------------------------------------------------------------------------------
// Request keys and ETags

struct Spec {
    Code method = Code::get;
    MessageType type = MessageType::con;
    std::vector<std::string> path{"large"};
    std::optional<std::string> query;
    std::optional<std::uint32_t> content_format;
    std::optional<std::uint32_t> accept;
    std::optional<std::uint32_t> observe;
    std::optional<BlockValue> block2;
    std::optional<BlockValue> block1;
    std::optional<std::uint32_t> size1;
    std::optional<ByteVector> request_tag;
    ByteVector payload;
    ByteVector token{0x10};
};

ByteVector build(const Spec& spec, std::uint16_t message_id) {
    std::vector<std::uint8_t> out(2048);
    MessageWriter writer(out);
    writer.header(spec.type, spec.method, message_id, spec.token);
    if (spec.observe) writer.uint_option(OptionNumber::observe, *spec.observe);
    for (const std::string& segment : spec.path)
        writer.option(OptionNumber::uri_path, segment);
    if (spec.content_format) writer.uint_option(OptionNumber::content_format, *spec.content_format);
    if (spec.query) writer.option(OptionNumber::uri_query, *spec.query);
    if (spec.accept) writer.uint_option(OptionNumber::accept, *spec.accept);
    if (spec.block2) writer.option(OptionNumber::block2, encode_block(*spec.block2).bytes());
    if (spec.block1) writer.option(OptionNumber::block1, encode_block(*spec.block1).bytes());
    if (spec.size1) writer.uint_option(OptionNumber::size1, *spec.size1);
    if (spec.request_tag) writer.option(OptionNumber::request_tag, *spec.request_tag);
    writer.payload(spec.payload);
    out.resize(*writer.finish());
    return out;
}

std::uint64_t key_of(const Spec& spec, std::uint16_t message_id = 1) {
    ByteVector wire = build(spec, message_id);
    return block_request_key(*parse(wire));
}

TEST(BlockRequestKey, IgnoresTokenMessageIdBlockAndSizeOptions) {
    Spec base;
    std::uint64_t key = key_of(base);
    Spec other = base;
    other.token = {1, 2, 3};
    other.block2 = BlockValue{3, false, 2};
    other.block1 = BlockValue{1, true, 4};
    other.size1 = 4000;
    other.observe = 0;
    other.content_format = 42;
    other.payload = {1, 2, 3};
    EXPECT_EQ(key_of(other, 999), key);
}

TEST(BlockRequestKey, DependsOnMethodUriAcceptAndRequestTag) {
    Spec base;
    std::uint64_t key = key_of(base);
    std::vector<Spec> variants(6, base);
    variants[0].method = Code::post;
    variants[1].path = {"large", "x"};
    variants[2].query = "a=1";
    variants[3].accept = 0;
    variants[4].request_tag = ByteVector{};  // RFC 9175 §3.4: absent differs from empty
    variants[5].request_tag = ByteVector{1};
    for (std::size_t i = 0; i < variants.size(); ++i)
        EXPECT_NE(key_of(variants[i]), key) << "variant " << i;
    EXPECT_NE(key_of(variants[4]), key_of(variants[5]));
}

TEST(BodyHash, SameBodySameHashAndAnyChangeShows) {
    ByteVector body = body_of_size(1001, 3);
    EXPECT_EQ(body_hash(body), body_hash(ByteVector(body)));
    ByteVector changed = body;
    changed[1000] ^= 1;
    EXPECT_NE(body_hash(changed), body_hash(body));
    changed = body;
    changed[3] ^= 0x80;
    EXPECT_NE(body_hash(changed), body_hash(body));
    EXPECT_NE(body_hash(ByteVector(body.begin(), body.end() - 1)), body_hash(body));
}

// ---------------------------------------------------------------------------------------------
// Through the server core

std::optional<BlockValue> block_of(const MessageView& view, OptionNumber number) {
    auto option = view.find(number);
    if (!option) return std::nullopt;
    return decode_block(option->value);
}

ByteVector payload_of(const MessageView& view) {
    return ByteVector(view.payload().begin(), view.payload().end());
}

ByteVector etag_of(const MessageView& view) {
    auto option = view.find(OptionNumber::etag);
    return option ? ByteVector(option->value.begin(), option->value.end()) : ByteVector{};
}

class BlockCoreTest : public ::testing::Test {
  protected:
    BlockCoreTest() { rebuild(); }

    void rebuild() {
        core_.reset();
        core_ = std::make_unique<ServerCore>(config_, handler_, false, 77);
    }

    // Sends one request with a fresh Message ID; the reply bytes (empty when none).
    ByteVector send(const Spec& spec, Duration when = 0s, std::uint16_t port = 40000) {
        return send_wire(build(spec, next_id_++), when, port);
    }
    ByteVector send_wire(const ByteVector& wire, Duration when = 0s, std::uint16_t port = 40000) {
        std::array<std::uint8_t, 2048> reply{};
        std::size_t n = core_->on_datagram(peer(port), wire, at(when), reply);
        return ByteVector(reply.begin(), reply.begin() + n);
    }

    // Retrieves a body like a client: the first request as given, then the next block at the
    // size the server used (or `later_szx` when smaller), with a fresh token each time. Checks
    // order, block sizes and that the ETag never changes.
    // `from` is the byte offset of the first block asked for.
    ByteVector download(Spec spec, std::optional<std::uint8_t> later_szx = {},
                        std::uint16_t port = 40000, std::size_t from = 0) {
        ByteVector body;
        ByteVector etag;
        for (int i = 0; i < 300; ++i) {
            ByteVector wire = send(spec, 0s, port);
            MessageView reply = *parse(wire);
            EXPECT_TRUE(is_success(reply.code())) << code_text(reply.code()).text;
            auto block = block_of(reply, OptionNumber::block2);
            if (!block) {
                ByteVector payload = payload_of(reply);
                body.insert(body.end(), payload.begin(), payload.end());
                return body;
            }
            EXPECT_EQ(block->offset(), from + body.size());
            if (block->more) {
                EXPECT_EQ(reply.payload().size(), block->size());
            }
            if (i == 0) etag = etag_of(reply);
            EXPECT_EQ(etag_of(reply), etag) << "block " << block->num;
            EXPECT_EQ(reply.find_uint(OptionNumber::size2), expected_size2_);
            ByteVector payload = payload_of(reply);
            body.insert(body.end(), payload.begin(), payload.end());
            if (!block->more) return body;
            std::uint8_t szx = later_szx ? std::min(*later_szx, block->szx) : block->szx;
            auto next = static_cast<std::uint32_t>((from + body.size()) >> (szx + 4));
            spec.block2 = BlockValue{next, false, szx};
            spec.token = {static_cast<std::uint8_t>(i + 1)};
            spec.block1.reset();
            spec.payload.clear();
            spec.observe.reset();
        }
        ADD_FAILURE() << "the download never ended";
        return body;
    }

    // Sends a body block-wise like a client, moving to a smaller size when the server asks
    // (RFC 7959 §2.5); returns the reply to the last request sent.
    ByteVector upload(Spec spec, const ByteVector& body, std::uint8_t szx, Duration when = 0s) {
        std::size_t offset = 0;
        for (;;) {
            std::size_t size = 16u << szx;
            std::size_t n = std::min(size, body.size() - offset);
            bool more = offset + n < body.size();
            spec.block1 = BlockValue{static_cast<std::uint32_t>(offset / size), more, szx};
            spec.payload.assign(body.begin() + static_cast<std::ptrdiff_t>(offset),
                                body.begin() + static_cast<std::ptrdiff_t>(offset + n));
            ByteVector reply = send(spec, when);
            if (!more) return reply;
            MessageView view = *parse(reply);
            if (view.code() != Code::continue_) return reply;
            auto ack = block_of(view, OptionNumber::block1);
            EXPECT_TRUE(ack && ack->more) << "2.31 without Block1 M=1";
            offset += n;
            if (ack && ack->szx < szx) szx = ack->szx;
        }
    }

    ServerConfig config_ = [] {
        ServerConfig c;
        c.exchange_count = 512;
        c.exchange_cache_bytes = 512 * 1024;
        c.max_arena_size = 16 * 1024;
        c.max_block_transfers = 4;
        c.max_block_payload = 8192;
        return c;
    }();
    ByteVector resource_ = body_of_size(2500, 1);
    std::optional<std::uint32_t> expected_size2_ = 2500;
    int calls_ = 0;
    ByteVector received_;  // the body the handler last saw
    std::function<HandlerResult(Request&)> behaviour_ = [this](Request& r) -> HandlerResult {
        if (r.method() == Code::get) return Response::ok(Bytes(resource_));
        received_.assign(r.payload().begin(), r.payload().end());
        return Response::changed();
    };
    Handler handler_ = [this](Request& r) {
        ++calls_;
        return behaviour_(r);
    };
    std::uint16_t next_id_ = 0x100;
    std::unique_ptr<ServerCore> core_;
};

TEST_F(BlockCoreTest, LargeResponseIsSlicedAtTheDefaultSizeWithSize2AndEtag) {
    ByteVector wire = send(Spec{});
    MessageView first = *parse(wire);
    EXPECT_EQ(first.code(), Code::content);
    EXPECT_EQ(block_of(first, OptionNumber::block2), (BlockValue{0, true, 6}));
    EXPECT_EQ(first.find_uint(OptionNumber::size2), 2500u);
    EXPECT_EQ(etag_of(first).size(), 8u);
    EXPECT_EQ(payload_of(first), ByteVector(resource_.begin(), resource_.begin() + 1024));
    EXPECT_EQ(core_->block_transfers().active(), 1u);
}

TEST_F(BlockCoreTest, FollowUpsWithFreshTokensComeFromTheStoredBody) {
    EXPECT_EQ(download(Spec{}), resource_);
    EXPECT_EQ(calls_, 1) << "the handler ran for a follow-up block";
    EXPECT_EQ(core_->stats().block2_served, 3u);
    EXPECT_EQ(core_->block_transfers().active(), 0u) << "released after the last block";
    EXPECT_EQ(core_->block_transfers().stats().completed, 1u);

    // The representation is kept for the whole transfer, even when the resource changes.
    ByteVector original = resource_;
    ByteVector first = send(Spec{});
    resource_ = body_of_size(2500, 9);
    Spec next;
    next.block2 = BlockValue{1, false, 6};
    ByteVector second = send(next);
    EXPECT_EQ(etag_of(*parse(second)), etag_of(*parse(first)));
    EXPECT_EQ(payload_of(*parse(second)),
              ByteVector(original.begin() + 1024, original.begin() + 2048));
}

TEST_F(BlockCoreTest, EarlyNegotiationUsesTheClientsSmallerSize) {
    // RFC 7959 §2.4 and Figure 3 (TD_COAP_BLOCK_01/06): Block2 0/0/64 in the first request.
    Spec spec;
    spec.block2 = BlockValue{0, false, 2};
    ByteVector first_wire = send(spec);
    MessageView first = *parse(first_wire);
    EXPECT_EQ(block_of(first, OptionNumber::block2), (BlockValue{0, true, 2}));
    EXPECT_EQ(first.payload().size(), 64u);
    spec.block2 = BlockValue{0, false, 0};  // 16 bytes, the smallest
    EXPECT_EQ(download(spec), resource_);
    EXPECT_EQ(core_->stats().block2_served, 1u + (2500 + 15) / 16);
}

TEST_F(BlockCoreTest, LateNegotiationContinuesAtTheSameByteOffset) {
    // Figure 4 (TD_COAP_BLOCK_02): 1024 bytes first, then 2:4/0/256 and on.
    EXPECT_EQ(download(Spec{}, 4), resource_);
    EXPECT_EQ(core_->stats().block2_served, 1u + (2500 - 1024 + 255) / 256);
    EXPECT_EQ(calls_, 1);
}

TEST_F(BlockCoreTest, TheServerNeverExceedsItsOwnBlockSize) {
    config_.max_block_size = 256;
    rebuild();
    Spec spec;
    spec.block2 = BlockValue{0, false, 6};
    ByteVector first_wire = send(spec);
    MessageView first = *parse(first_wire);
    EXPECT_EQ(block_of(first, OptionNumber::block2), (BlockValue{0, true, 4}));
    EXPECT_EQ(first.payload().size(), 256u);
    // A client that keeps asking for 1024-byte blocks gets the same bytes in 256-byte ones.
    spec.block2 = BlockValue{1, false, 6};
    ByteVector next_wire = send(spec);
    MessageView next = *parse(next_wire);
    EXPECT_EQ(block_of(next, OptionNumber::block2), (BlockValue{4, true, 4}));
    EXPECT_EQ(payload_of(next), ByteVector(resource_.begin() + 1024, resource_.begin() + 1280));
}

TEST_F(BlockCoreTest, AFullPoolFallsBackToRunningTheHandlerForEveryBlock) {
    config_.max_block_transfers = 1;
    rebuild();
    ByteVector stored_wire = send(Spec{}, 0s, 1);  // peer 1 holds the only slot
    EXPECT_EQ(core_->block_transfers().active(), 1u);
    EXPECT_EQ(download(Spec{}, std::nullopt, 2), resource_);
    EXPECT_EQ(calls_, 4) << "one call for peer 1, one per block for peer 2";
    EXPECT_GE(core_->block_transfers().stats().refused_full, 1u);
    // Both ways give the same ETag for the same body.
    ByteVector stateless_wire = send(Spec{}, 0s, 2);
    EXPECT_EQ(etag_of(*parse(stateless_wire)), etag_of(*parse(stored_wire)));
}

TEST_F(BlockCoreTest, StatelessBlocksOfAChangedResourceCarryAnotherEtag) {
    config_.max_block_transfers = 0;
    rebuild();
    ByteVector first = send(Spec{});
    resource_ = body_of_size(2500, 2);
    Spec next;
    next.block2 = BlockValue{1, false, 6};
    ByteVector second = send(next);
    EXPECT_EQ(block_of(*parse(second), OptionNumber::block2), (BlockValue{1, true, 6}));
    EXPECT_NE(etag_of(*parse(second)), etag_of(*parse(first)));
    EXPECT_EQ(calls_, 2);
}

TEST_F(BlockCoreTest, BodiesLargerThanASlotAreServedStatelessly) {
    config_.max_block_payload = 2048;
    rebuild();
    EXPECT_EQ(download(Spec{}), resource_);
    EXPECT_EQ(calls_, 3);
    EXPECT_EQ(core_->block_transfers().stats().started, 0u);
}

TEST_F(BlockCoreTest, ABlockBeyondTheEndIsABadOption) {
    send(Spec{});
    Spec past;
    past.block2 = BlockValue{3, false, 6};  // 3072 > 2500
    EXPECT_EQ(parse(send(past))->code(), Code::bad_option);
    config_.max_block_transfers = 0;  // the same without stored state
    rebuild();
    EXPECT_EQ(parse(send(past))->code(), Code::bad_option);
    resource_ = body_of_size(10, 1);  // a body that fits one block has no block 1 either
    past.block2 = BlockValue{1, false, 6};
    EXPECT_EQ(parse(send(past))->code(), Code::bad_option);
    past.block2 = BlockValue{0, false, 6};
    EXPECT_EQ(block_of(*parse(send(past)), OptionNumber::block2), std::nullopt);
}

TEST_F(BlockCoreTest, SmallResponsesAndErrorsAreNotSliced) {
    behaviour_ = [](Request&) -> HandlerResult {
        static const std::string big(2000, 'e');
        return Response::not_found().payload(big);
    };
    EXPECT_EQ(parse(send(Spec{}))->code(), Code::internal_server_error) << "too big, not sliced";
    behaviour_ = [](Request&) -> HandlerResult { return Response::ok("small"); };
    ByteVector wire = send(Spec{});
    EXPECT_FALSE(parse(wire)->has(OptionNumber::block2));
    EXPECT_FALSE(parse(wire)->has(OptionNumber::etag));
}

TEST_F(BlockCoreTest, AnUnsafeFollowUpWithoutStoredStateIsIncomplete) {
    Spec spec;
    spec.method = Code::post;
    spec.block2 = BlockValue{1, false, 6};
    EXPECT_EQ(parse(send(spec))->code(), Code::request_entity_incomplete);
    EXPECT_EQ(calls_, 0) << "a POST must not be enacted again for a later block";
}

TEST_F(BlockCoreTest, NonRequestsGetNonBlocks) {
    Spec spec;
    spec.type = MessageType::non;
    ByteVector wire = send(spec);
    EXPECT_EQ(parse(wire)->type(), MessageType::non);
    EXPECT_EQ(block_of(*parse(wire), OptionNumber::block2), (BlockValue{0, true, 6}));
    EXPECT_EQ(download(spec), resource_);
}

TEST_F(BlockCoreTest, OnlyTheFirstBlockOfAnObserveResponseCarriesObserve) {
    behaviour_ = [this](Request&) -> HandlerResult {
        return Response::ok(Bytes(resource_)).uint_option(OptionNumber::observe, 12);
    };
    Spec spec;
    spec.observe = 0;
    ByteVector first = send(spec);
    EXPECT_EQ(parse(first)->find_uint(OptionNumber::observe), 12u);
    spec.observe.reset();
    spec.block2 = BlockValue{1, false, 6};
    ByteVector second = send(spec);
    EXPECT_FALSE(parse(second)->has(OptionNumber::observe));  // RFC 7959 §2.6, Figure 12
    EXPECT_EQ(etag_of(*parse(second)), etag_of(*parse(first)));
}

TEST_F(BlockCoreTest, AHandlersOwnEtagAndOptionsAreKeptForEveryBlock) {
    behaviour_ = [this](Request&) -> HandlerResult {
        return Response::content(ContentFormat::octet_stream, Bytes(resource_))
            .etag(test::bytes({0xe7, 0x01}))
            .max_age(33);
    };
    for (std::uint32_t num : {0u, 1u, 2u}) {
        Spec spec;
        if (num) spec.block2 = BlockValue{num, false, 6};
        ByteVector wire = send(spec);
        MessageView view = *parse(wire);
        EXPECT_EQ(etag_of(view), test::bytes({0xe7, 0x01}));
        EXPECT_EQ(view.count(OptionNumber::etag), 1u);
        EXPECT_EQ(view.find_uint(OptionNumber::max_age), 33u);
        EXPECT_EQ(view.find_uint(OptionNumber::content_format), 42u);
    }
    EXPECT_EQ(calls_, 1);
}

TEST_F(BlockCoreTest, ARetransmittedBlockRequestGetsTheSameReply) {
    ByteVector wire = build(Spec{}, 0x4242);
    ByteVector first = send_wire(wire);
    ByteVector again = send_wire(wire, 1s);
    EXPECT_EQ(first, again);
    EXPECT_EQ(core_->stats().block2_served, 1u);
    EXPECT_EQ(core_->stats().duplicates, 1u);
}

// Block1

Spec post(std::string path = "upload") {
    Spec spec;
    spec.method = Code::post;
    spec.path = {std::move(path)};
    return spec;
}

TEST_F(BlockCoreTest, AnUploadInOrderIsAcknowledgedThenHandledOnceWithTheWholeBody) {
    // RFC 7959 §2.5 and Figure 7 (TD_COAP_BLOCK_03/04).
    ByteVector body = body_of_size(3000, 4);
    Spec spec = post();
    for (std::uint32_t num : {0u, 1u}) {
        spec.block1 = BlockValue{num, true, 6};
        spec.payload.assign(body.begin() + num * 1024, body.begin() + (num + 1) * 1024);
        ByteVector wire = send(spec);
        MessageView reply = *parse(wire);
        EXPECT_EQ(reply.code(), Code::continue_);
        EXPECT_EQ(block_of(reply, OptionNumber::block1), (BlockValue{num, true, 6}));
        EXPECT_TRUE(reply.payload().empty());
    }
    EXPECT_EQ(calls_, 0);
    spec.block1 = BlockValue{2, false, 6};
    spec.payload.assign(body.begin() + 2048, body.end());
    ByteVector wire = send(spec);
    MessageView reply = *parse(wire);
    EXPECT_EQ(reply.code(), Code::changed);
    EXPECT_EQ(block_of(reply, OptionNumber::block1), (BlockValue{2, false, 6}));
    EXPECT_EQ(calls_, 1);
    EXPECT_EQ(body_hash(received_), body_hash(body));
    EXPECT_EQ(received_, body);
    EXPECT_EQ(core_->stats().block1_continues, 2u);
    EXPECT_EQ(core_->block_transfers().active(), 0u);
    EXPECT_EQ(core_->block_transfers().stats().completed, 1u);
}

TEST_F(BlockCoreTest, TheHandlerStillSeesTheLastDatagramAsTheMessage) {
    std::size_t datagram_payload = 0;
    behaviour_ = [&](Request& r) -> HandlerResult {
        datagram_payload = r.message().payload().size();
        received_.assign(r.payload().begin(), r.payload().end());
        return Response::changed();
    };
    upload(post(), body_of_size(1100, 1), 6);
    EXPECT_EQ(received_.size(), 1100u);
    EXPECT_EQ(datagram_payload, 76u);
}

TEST_F(BlockCoreTest, ASingleBlockUploadIsTheWholeBody) {
    Spec spec = post();
    spec.block1 = BlockValue{0, false, 6};
    spec.payload = test::bytes("just this");
    ByteVector wire = send(spec);
    EXPECT_EQ(parse(wire)->code(), Code::changed);
    EXPECT_EQ(block_of(*parse(wire), OptionNumber::block1), (BlockValue{0, false, 6}));
    EXPECT_EQ(received_, test::bytes("just this"));
    EXPECT_EQ(core_->block_transfers().stats().started, 0u);
}

TEST_F(BlockCoreTest, BlocksOutOfOrderAreIncompleteAndTheTransferWaitsForTheRightOne) {
    ByteVector body = body_of_size(3000, 5);
    Spec spec = post();
    spec.block1 = BlockValue{0, true, 6};
    spec.payload.assign(body.begin(), body.begin() + 1024);
    EXPECT_EQ(parse(send(spec))->code(), Code::continue_);
    spec.block1 = BlockValue{2, false, 6};  // block 1 is missing
    spec.payload.assign(body.begin() + 2048, body.end());
    EXPECT_EQ(parse(send(spec))->code(), Code::request_entity_incomplete);
    spec.block1 = BlockValue{1, true, 6};
    spec.payload.assign(body.begin() + 1024, body.begin() + 2048);
    EXPECT_EQ(parse(send(spec))->code(), Code::continue_);
    spec.block1 = BlockValue{2, false, 6};
    spec.payload.assign(body.begin() + 2048, body.end());
    EXPECT_EQ(parse(send(spec))->code(), Code::changed);
    EXPECT_EQ(received_, body);
    EXPECT_EQ(core_->stats().block_incomplete, 1u);
}

TEST_F(BlockCoreTest, ALaterBlockWithoutATransferIsIncomplete) {
    Spec spec = post();
    spec.block1 = BlockValue{3, true, 6};
    spec.payload = body_of_size(1024, 0);
    EXPECT_EQ(parse(send(spec))->code(), Code::request_entity_incomplete);
    spec.block1 = BlockValue{1, false, 6};
    spec.payload = test::bytes("end");
    EXPECT_EQ(parse(send(spec))->code(), Code::request_entity_incomplete);
    EXPECT_EQ(calls_, 0);
    EXPECT_EQ(core_->stats().block_incomplete, 2u);
}

TEST_F(BlockCoreTest, ABlockWithAnotherContentFormatIsIncomplete) {
    // RFC 7959 §2.3: blocks with mismatching Content-Format "MUST NOT" be assembled.
    Spec spec = post();
    spec.content_format = 0;
    spec.block1 = BlockValue{0, true, 4};
    spec.payload = body_of_size(256, 1);
    EXPECT_EQ(parse(send(spec))->code(), Code::continue_);
    spec.content_format = 50;
    spec.block1 = BlockValue{1, false, 4};
    EXPECT_EQ(parse(send(spec))->code(), Code::request_entity_incomplete);
    spec.content_format = 0;
    EXPECT_EQ(parse(send(spec))->code(), Code::changed);
}

TEST_F(BlockCoreTest, AnAnnouncedSize1AboveTheLimitIsRefusedAtOnce) {
    Spec spec = post();
    spec.block1 = BlockValue{0, true, 6};
    spec.size1 = 8193;
    spec.payload = body_of_size(1024, 0);
    ByteVector wire = send(spec);
    EXPECT_EQ(parse(wire)->code(), Code::request_entity_too_large);
    EXPECT_EQ(parse(wire)->find_uint(OptionNumber::size1), 8192u);  // RFC 7959 §2.9.3
    EXPECT_EQ(core_->block_transfers().active(), 0u);
    spec.size1 = 8192;
    EXPECT_EQ(parse(send(spec))->code(), Code::continue_);
    EXPECT_EQ(core_->stats().block_too_large, 1u);
}

TEST_F(BlockCoreTest, ABodyGrowingBeyondTheLimitIsRefusedAndForgotten) {
    config_.max_block_payload = 2048;
    rebuild();
    ByteVector wire = upload(post(), body_of_size(3000, 6), 6);
    EXPECT_EQ(parse(wire)->code(), Code::request_entity_too_large);
    EXPECT_EQ(parse(wire)->find_uint(OptionNumber::size1), 2048u);
    EXPECT_EQ(calls_, 0);
    EXPECT_EQ(core_->block_transfers().active(), 0u);
    EXPECT_EQ(core_->block_transfers().stats().incomplete, 1u);
}

TEST_F(BlockCoreTest, AFullPoolDelaysNewUploadsWithServiceUnavailable) {
    config_.max_block_transfers = 1;
    config_.block_busy_max_age = 7;
    rebuild();
    Spec spec = post();
    spec.block1 = BlockValue{0, true, 6};
    spec.payload = body_of_size(1024, 0);
    EXPECT_EQ(parse(send(spec, 0s, 1))->code(), Code::continue_);
    ByteVector wire = send(spec, 0s, 2);
    EXPECT_EQ(parse(wire)->code(), Code::service_unavailable);  // RFC 9175 §3.3
    EXPECT_EQ(parse(wire)->find_uint(OptionNumber::max_age), 7u);
    EXPECT_EQ(core_->stats().block_busy, 1u);
}

TEST_F(BlockCoreTest, ABlockRestatedWithANewMessageIdIsAcknowledgedAgainAndStoredOnce) {
    ByteVector body = body_of_size(2500, 7);
    Spec spec = post();
    for (std::uint32_t num : {0u, 1u, 1u, 1u}) {
        spec.block1 = BlockValue{num, true, 6};
        spec.payload.assign(body.begin() + num * 1024, body.begin() + (num + 1) * 1024);
        ByteVector wire = send(spec);
        EXPECT_EQ(parse(wire)->code(), Code::continue_);
        EXPECT_EQ(block_of(*parse(wire), OptionNumber::block1), (BlockValue{num, true, 6}));
    }
    spec.block1 = BlockValue{2, false, 6};
    spec.payload.assign(body.begin() + 2048, body.end());
    EXPECT_EQ(parse(send(spec))->code(), Code::changed);
    EXPECT_EQ(received_, body);
}

TEST_F(BlockCoreTest, ARetransmittedBlockIsAnsweredFromTheExchangeCache) {
    Spec spec = post();
    spec.block1 = BlockValue{0, true, 6};
    spec.payload = body_of_size(1024, 0);
    ByteVector wire = build(spec, 0x777);
    EXPECT_EQ(send_wire(wire), send_wire(wire, 2s));
    EXPECT_EQ(core_->stats().block1_continues, 1u);
    EXPECT_EQ(core_->stats().duplicates, 1u);
}

TEST_F(BlockCoreTest, RequestTagsKeepConcurrentUploadsApart) {
    // RFC 9175 §3.3: one endpoint, one resource, two operations.
    ByteVector body_a = body_of_size(2100, 10);
    ByteVector body_b = body_of_size(2100, 20);
    std::vector<ByteVector> handled;
    behaviour_ = [&](Request& r) -> HandlerResult {
        handled.emplace_back(r.payload().begin(), r.payload().end());
        return Response::changed();
    };
    Spec a = post();
    a.request_tag = test::bytes({0xa});
    Spec b = post();
    b.request_tag = test::bytes({0xb});
    for (std::uint32_t num : {0u, 1u, 2u}) {
        for (auto [spec, body] : {std::pair{&a, &body_a}, std::pair{&b, &body_b}}) {
            std::size_t begin = num * 1024;
            std::size_t end = std::min<std::size_t>(begin + 1024, body->size());
            spec->block1 = BlockValue{num, end < body->size(), 6};
            spec->payload.assign(body->begin() + static_cast<std::ptrdiff_t>(begin),
                                 body->begin() + static_cast<std::ptrdiff_t>(end));
            Code expected = end < body->size() ? Code::continue_ : Code::changed;
            EXPECT_EQ(parse(send(*spec))->code(), expected) << "block " << num;
        }
    }
    ASSERT_EQ(handled.size(), 2u);
    EXPECT_EQ(handled[0], body_a);
    EXPECT_EQ(handled[1], body_b);
}

TEST_F(BlockCoreTest, ASmallerServerBlockSizeRenumbersTheUpload) {
    // RFC 7959 §2.5 and Figure 9: 1:0/1/1024 is acknowledged as 1:0/1/256 and the client goes
    // on with 1:4/1/256.
    config_.max_block_size = 256;
    rebuild();
    ByteVector body = body_of_size(3000, 8);
    Spec spec = post();
    spec.block1 = BlockValue{0, true, 6};
    spec.payload.assign(body.begin(), body.begin() + 1024);
    ByteVector first = send(spec);
    EXPECT_EQ(parse(first)->code(), Code::continue_);
    EXPECT_EQ(block_of(*parse(first), OptionNumber::block1), (BlockValue{0, true, 4}));
    spec.block1 = BlockValue{4, true, 4};
    spec.payload.assign(body.begin() + 1024, body.begin() + 1280);
    ByteVector second = send(spec);
    EXPECT_EQ(block_of(*parse(second), OptionNumber::block1), (BlockValue{4, true, 4}));
    // The whole exchange through the client-like helper, then the final acknowledgement.
    ByteVector last = upload(post(), body, 6);
    EXPECT_EQ(parse(last)->code(), Code::changed);
    EXPECT_EQ(block_of(*parse(last), OptionNumber::block1), (BlockValue{11, false, 4}));
    EXPECT_EQ(received_, body);
}

TEST_F(BlockCoreTest, AnUploadAnsweredWithALargeBodyGoesBothWays) {
    // RFC 7959 §2.7 and Figure 10 (TD_COAP_BLOCK_05): the final block's answer carries Block1
    // and block 0 of the response; POSTs with Block2 and no payload fetch the rest.
    behaviour_ = [](Request& r) -> HandlerResult {
        return Response(Code::changed, r.payload()).content_format(ContentFormat::octet_stream);
    };
    ByteVector body = body_of_size(3000, 11);
    expected_size2_ = 3000;
    ByteVector wire = upload(post("large-post"), body, 6);
    MessageView last = *parse(wire);
    EXPECT_EQ(last.code(), Code::changed);
    EXPECT_EQ(block_of(last, OptionNumber::block1), (BlockValue{2, false, 6}));
    EXPECT_EQ(block_of(last, OptionNumber::block2), (BlockValue{0, true, 6}));
    EXPECT_EQ(last.find_uint(OptionNumber::size2), 3000u);
    EXPECT_EQ(payload_of(last), ByteVector(body.begin(), body.begin() + 1024));
    Spec follow = post("large-post");
    follow.block2 = BlockValue{1, false, 5};  // late negotiation: 512-byte blocks from 1024 on
    follow.block2->num = 2;
    ByteVector rest = download(follow, std::nullopt, 40000, 1024);
    EXPECT_EQ(rest, ByteVector(body.begin() + 1024, body.end()));
    EXPECT_EQ(calls_, 1);
    EXPECT_EQ(core_->block_transfers().active(), 0u);
}

TEST_F(BlockCoreTest, EarlyNegotiationInTheFinalUploadBlock) {
    // Figure 11: 1:2/0/128 with 2:0/0/64 gets 1:2/0/128 and 2:0/1/64.
    behaviour_ = [](Request& r) -> HandlerResult { return Response(Code::changed, r.payload()); };
    Spec spec = post("large-post");
    spec.block2 = BlockValue{0, false, 2};
    ByteVector body = body_of_size(300, 3);
    ByteVector wire = upload(spec, body, 3);
    EXPECT_EQ(block_of(*parse(wire), OptionNumber::block1), (BlockValue{2, false, 3}));
    EXPECT_EQ(block_of(*parse(wire), OptionNumber::block2), (BlockValue{0, true, 2}));
    EXPECT_EQ(parse(wire)->payload().size(), 64u);
}

TEST_F(BlockCoreTest, AnIdleUploadTimesOutAndItsNextBlockIsIncomplete) {
    ByteVector body = body_of_size(3000, 12);
    Spec spec = post();
    spec.block1 = BlockValue{0, true, 6};
    spec.payload.assign(body.begin(), body.begin() + 1024);
    send(spec, 0s);
    spec.block1 = BlockValue{1, true, 6};
    spec.payload.assign(body.begin() + 1024, body.begin() + 2048);
    Duration timeout = ServerConfig{}.block_transfer_timeout;
    EXPECT_EQ(parse(send(spec, timeout - 1s))->code(), Code::continue_)
        << "just before the timeout after the first block";
    spec.block1 = BlockValue{2, false, 6};
    spec.payload.assign(body.begin() + 2048, body.end());
    EXPECT_EQ(parse(send(spec, 2 * timeout - 1s))->code(), Code::request_entity_incomplete);
    EXPECT_EQ(core_->block_transfers().active(), 0u) << "the slot was reclaimed";
    EXPECT_EQ(core_->block_transfers().stats().expired, 1u);
    EXPECT_EQ(calls_, 0);
}

TEST_F(BlockCoreTest, TimersReclaimIdleTransfers) {
    struct Sink final : DatagramSink {
        bool send(const Endpoint&, Bytes) noexcept override { return true; }
    } sink;
    config_.block_transfer_timeout = 10s;
    rebuild();
    send(Spec{});
    EXPECT_EQ(core_->block_transfers().active(), 1u);
    core_->on_timers(at(9s), sink);
    EXPECT_EQ(core_->block_transfers().active(), 1u);
    core_->on_timers(at(10s), sink);
    EXPECT_EQ(core_->block_transfers().active(), 0u);
    // A later block of the expired GET transfer is served statelessly.
    Spec next;
    next.block2 = BlockValue{1, false, 6};
    EXPECT_EQ(block_of(*parse(send(next, 11s)), OptionNumber::block2), (BlockValue{1, true, 6}));
    EXPECT_EQ(calls_, 2);
}

TEST_F(BlockCoreTest, AnUploadWhoseHandlerDefersOrStaysSilentFreesItsSlot) {
    behaviour_ = [](Request& r) -> HandlerResult {
        r.defer();
        return std::nullopt;
    };
    ByteVector wire = upload(post(), body_of_size(2000, 1), 6);
    EXPECT_EQ(parse(wire)->code(), Code::empty);  // the ACK of a separate response
    EXPECT_EQ(core_->block_transfers().active(), 0u);
}

}  // namespace
}  // namespace coap::detail
