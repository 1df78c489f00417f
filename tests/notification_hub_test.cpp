// The notification hub: latest representations of observable resources, published from any
// thread and copied by the workers (RFC 7641 §4.2).
#include "server/notification_hub.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "coap/message.hpp"

namespace coap::detail {
namespace {

struct Copy {
    std::uint64_t version = 0;
    std::vector<std::uint8_t> bytes;
};

Copy latest(const NotificationHub& hub, ResourceId id, std::size_t room = 4096) {
    Copy copy;
    copy.bytes.resize(room);
    std::size_t length = 0;
    copy.version = hub.copy_latest(id, copy.bytes, length);
    copy.bytes.resize(copy.version == 0 ? 0 : length);
    return copy;
}

TEST(NotificationHubTest, AllocatesEveryIdOnceThenRefuses) {
    NotificationHub hub(3, 256);
    for (std::uint32_t expected = 0; expected < 3; ++expected) {
        auto id = hub.allocate();
        ASSERT_TRUE(id);
        EXPECT_EQ(to_int(*id), expected);
    }
    EXPECT_FALSE(hub.allocate());
    EXPECT_EQ(hub.allocated(), 3u);
}

TEST(NotificationHubTest, PublishStoresTheResponseAsAMessageAndBumpsVersions) {
    NotificationHub hub(2, 256);
    ResourceId first = *hub.allocate();
    ResourceId second = *hub.allocate();
    EXPECT_EQ(hub.version(first), 0u);
    EXPECT_EQ(latest(hub, first).version, 0u) << "never published";

    ASSERT_TRUE(
        hub.publish(first, Response::content(ContentFormat::text_plain, "22.5 C").max_age(60)));
    EXPECT_EQ(hub.version(first), 1u);
    EXPECT_EQ(hub.version(second), 0u);
    EXPECT_EQ(hub.generation(), 1u);

    Copy copy = latest(hub, first);
    EXPECT_EQ(copy.version, 1u);
    auto message = parse(copy.bytes);
    ASSERT_TRUE(message);
    EXPECT_EQ(message->code(), Code::content);
    EXPECT_TRUE(message->token().empty());
    EXPECT_EQ(message->find_uint(OptionNumber::content_format), 0u);
    EXPECT_EQ(message->find_uint(OptionNumber::max_age), 60u);
    EXPECT_EQ(as_string(message->payload()), "22.5 C");

    ASSERT_TRUE(hub.publish(second, Response::not_found()));
    ASSERT_TRUE(hub.publish(first, Response::ok("23.0 C")));
    EXPECT_EQ(hub.version(first), 2u);
    EXPECT_EQ(hub.version(second), 1u);
    EXPECT_EQ(hub.generation(), 3u);
    EXPECT_EQ(as_string(parse(latest(hub, first).bytes)->payload()), "23.0 C");
    EXPECT_EQ(parse(latest(hub, second).bytes)->code(), Code::not_found);
}

TEST(NotificationHubTest, IdsBeyondTheResourceCountAreRefused) {
    NotificationHub hub(2, 256);
    EXPECT_FALSE(hub.publish(ResourceId{2}, Response::ok("x")));
    EXPECT_FALSE(hub.publish(ResourceId{7}, Response::ok("x")));
    EXPECT_EQ(hub.version(ResourceId{7}), 0u);
    EXPECT_EQ(latest(hub, ResourceId{7}).version, 0u);
    EXPECT_EQ(hub.generation(), 0u);
    // allocate() is optional: any id below resource_count() may be published.
    EXPECT_TRUE(hub.publish(ResourceId{1}, Response::ok("x")));
    EXPECT_EQ(hub.version(ResourceId{1}), 1u);
}

TEST(NotificationHubTest, TheNotificationTypeIsStoredAsTheMessageType) {
    NotificationHub hub(1, 256);
    ASSERT_TRUE(hub.publish(ResourceId{0}, Response::ok("a")));
    EXPECT_EQ(parse(latest(hub, ResourceId{0}).bytes)->type(), MessageType::non);
    ASSERT_TRUE(hub.publish(ResourceId{0}, Response::ok("b"), NotificationType::confirmable));
    EXPECT_EQ(parse(latest(hub, ResourceId{0}).bytes)->type(), MessageType::con);
}

TEST(NotificationHubTest, OversizeAndBrokenResponsesChangeNothing) {
    NotificationHub hub(1, 64);
    ResourceId id = *hub.allocate();
    ASSERT_TRUE(hub.publish(id, Response::ok("small")));

    std::string big(61, 'x');  // 4 header + 1 marker + 61 = 66 > 64
    EXPECT_FALSE(hub.publish(id, Response::ok(big)));
    std::string fits(59, 'y');  // exactly 64
    Response overflowed = Response::ok("z");
    for (int i = 0; i < 20; ++i)
        overflowed.uint_option(OptionNumber::max_age, 1);
    ASSERT_TRUE(overflowed.overflowed());
    EXPECT_FALSE(hub.publish(id, overflowed));
    EXPECT_FALSE(hub.publish(id, Response::with_code(Code::empty)));

    EXPECT_EQ(hub.version(id), 1u);
    EXPECT_EQ(hub.generation(), 1u);
    EXPECT_EQ(as_string(parse(latest(hub, id).bytes)->payload()), "small");

    EXPECT_TRUE(hub.publish(id, Response::ok(fits)));
    EXPECT_EQ(latest(hub, id).bytes.size(), 64u);
}

TEST(NotificationHubTest, CopyIntoATooSmallBufferReportsTheSizeNeeded) {
    NotificationHub hub(1, 256);
    ResourceId id = *hub.allocate();
    ASSERT_TRUE(hub.publish(id, Response::ok("0123456789")));  // 4 + 1 + 10
    std::vector<std::uint8_t> small(10);
    std::size_t length = 99;
    EXPECT_EQ(hub.copy_latest(id, small, length), 0u);
    EXPECT_EQ(length, 15u);
}

// Four publishers and a reader at once (run under ASan/UBSan; the mutex makes each copy whole).
TEST(NotificationHubTest, ConcurrentPublishersAndAReaderSeeWholeRepresentations) {
    constexpr int publishers = 4;
    constexpr int per_thread = 2000;
    NotificationHub hub(2, 512);
    ResourceId ids[2] = {*hub.allocate(), *hub.allocate()};
    std::atomic<bool> done{false};
    std::atomic<int> torn{0};
    std::atomic<int> copies{0};

    std::thread reader([&] {
        std::vector<std::uint8_t> buffer(512);
        std::uint64_t last_version[2] = {0, 0};
        for (bool last = false; !last;) {  // one more pass after the writers finish
            last = done.load();
            for (int r = 0; r < 2; ++r) {
                std::size_t length = 0;
                std::uint64_t version = hub.copy_latest(ids[r], buffer, length);
                if (version == 0) continue;
                if (version < last_version[r]) ++torn;  // versions never go back
                last_version[r] = version;
                auto message = parse(Bytes(buffer.data(), length));
                // Every payload is one letter repeated as often as the letter's offset + 1.
                std::string_view text = message ? as_string(message->payload()) : "";
                if (text.empty() || text.size() != std::size_t(text[0] - 'a' + 1) ||
                    text.find_first_not_of(text[0]) != std::string_view::npos)
                    ++torn;
                ++copies;
            }
        }
    });
    std::vector<std::thread> writers;
    for (int t = 0; t < publishers; ++t) {
        writers.emplace_back([&, t] {
            std::string text;
            for (int i = 0; i < per_thread; ++i) {
                text.assign(std::size_t((t * 7 + i) % 26 + 1), char('a' + (t * 7 + i) % 26));
                EXPECT_TRUE(hub.publish(ids[i % 2], Response::ok(text)));
            }
        });
    }
    for (auto& writer : writers)
        writer.join();
    done = true;
    reader.join();

    EXPECT_EQ(torn.load(), 0);
    EXPECT_GT(copies.load(), 0);
    EXPECT_EQ(hub.version(ids[0]) + hub.version(ids[1]), std::uint64_t{publishers} * per_thread);
    EXPECT_EQ(hub.generation(), std::uint64_t{publishers} * per_thread);
}

}  // namespace
}  // namespace coap::detail
