// End-to-end tests of block-wise transfers (RFC 7959): coapd's /large, /large-update,
// /large-create and /large-post driven by libcoap's coap-client (`-b` sets the block size),
// following the ETSI CoAP#4 descriptions TD_COAP_BLOCK_01-06. The server does the block-wise
// work; the resources see whole bodies.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "e2e/coapd_bodies.hpp"
#include "e2e/libcoap_harness.hpp"

namespace {

using namespace coap::e2e;

// A body of `size` bytes that differs per call, written to a file for coap-client -f.
class UploadFile {
  public:
    explicit UploadFile(std::size_t size) {
        std::string word = random_word();
        while (body_.size() < size)
            body_ += word + "-" + std::to_string(body_.size()) + "\n";
        body_.resize(size);
        path_ = std::filesystem::path(::testing::TempDir()) /
                ("coapd_block_" + std::to_string(::getpid()) + "_" + word);
        std::ofstream(path_, std::ios::binary) << body_;
    }
    ~UploadFile() { std::filesystem::remove(path_); }
    const std::string& body() const { return body_; }
    std::string path() const { return path_.string(); }

  private:
    std::string body_;
    std::filesystem::path path_;
};

struct BlockValue {
    unsigned num = 0;
    bool more = false;
    unsigned size = 0;
};

// libcoap prints Block1/Block2 as NUM/M/SIZE, M being "M" or "_".
std::optional<BlockValue> block(const Pdu& pdu, std::string_view name) {
    auto text = pdu.value(name);
    if (!text) return std::nullopt;
    BlockValue out;
    char more = 0;
    if (std::sscanf(text->c_str(), "%u/%c/%u", &out.num, &more, &out.size) != 3)
        return std::nullopt;
    out.more = more == 'M';
    return out;
}

class BlockE2E : public CoapdE2E, public ::testing::WithParamInterface<Family> {
  protected:
    std::string uri(std::string_view path) const {
        return "coap://" + std::string(GetParam() == Family::ipv4 ? "127.0.0.1" : "[::1]") + ":" +
               std::to_string(port()) + std::string(path);
    }

    // Every response of a Block2 download: NUM counts up from 0, M on all but the last, the
    // same ETag throughout, Size2 giving the total where present.
    static void check_block2_sequence(const std::vector<const Pdu*>& responses, unsigned block_size,
                                      std::size_t total) {
        ASSERT_FALSE(responses.empty());
        std::optional<std::string> etag = responses.front()->value("ETag");
        EXPECT_TRUE(etag.has_value()) << "a block-wise response carries an ETag";
        for (std::size_t i = 0; i < responses.size(); ++i) {
            auto value = block(*responses[i], "Block2");
            ASSERT_TRUE(value.has_value()) << responses[i]->line;
            EXPECT_EQ(value->num, i) << responses[i]->line;
            EXPECT_EQ(value->size, block_size) << responses[i]->line;
            EXPECT_EQ(value->more, i + 1 < responses.size()) << responses[i]->line;
            EXPECT_EQ(responses[i]->value("ETag"), etag) << responses[i]->line;
            if (auto size2 = responses[i]->value("Size2")) {
                EXPECT_EQ(*size2, std::to_string(total));
            }
        }
        EXPECT_EQ(responses.front()->value("Size2"), std::to_string(total))
            << "the first block announces the size (RFC 7959 §4)";
        EXPECT_EQ(responses.size(), (total + block_size - 1) / block_size);
    }

    static std::vector<const Pdu*> with_code(const ClientRun& run, std::string_view code) {
        std::vector<const Pdu*> out;
        for (const Pdu& pdu : run.received)
            if (pdu.code == code) out.push_back(&pdu);
        return out;
    }

    void download(std::string_view path, std::optional<unsigned> block_size,
                  const std::string& expected, unsigned served_size) {
        std::vector<std::string> args{"-m", "get"};
        if (block_size) args.insert(args.end(), {"-b", std::to_string(*block_size)});
        args.push_back(uri(path));
        ClientRun run = coap_client(args);
        EXCHANGE_TRACE(run);
        ASSERT_FALSE(run.process.timed_out);
        EXPECT_TRUE(same_body(run.payload, expected));
        if (block_size) {
            for (const Pdu& request : run.sent)
                EXPECT_TRUE(block(request, "Block2").has_value())
                    << "early negotiation: every request asks for a block size";
        } else {
            ASSERT_FALSE(run.sent.empty());
            EXPECT_FALSE(run.sent.front().has("Block2")) << "late negotiation";
        }
        check_block2_sequence(with_code(run, "2.05"), served_size, expected.size());
    }

    // PUT or POST of `file` in `block_size` blocks: 2.31 Continue with Block1 NUM/M/SZX for all
    // but the last block, then `final_code` with Block1 M=0 (RFC 7959 §2.3). Returns the last
    // response.
    Pdu upload(std::string_view method, std::string_view path, const UploadFile& file,
               unsigned block_size, std::string_view final_code) {
        ClientRun run = coap_client({"-m", std::string(method), "-b", std::to_string(block_size),
                                     "-f", file.path(), uri(path)});
        EXCHANGE_TRACE(run);
        EXPECT_FALSE(run.process.timed_out);
        std::size_t blocks = (file.body().size() + block_size - 1) / block_size;
        std::vector<const Pdu*> continues = with_code(run, "2.31");
        EXPECT_EQ(continues.size(), blocks - 1);
        for (std::size_t i = 0; i < continues.size(); ++i) {
            auto value = block(*continues[i], "Block1");
            EXPECT_TRUE(value && value->num == i && value->more && value->size == block_size)
                << continues[i]->line;
        }
        std::vector<const Pdu*> finals = with_code(run, final_code);
        if (finals.empty()) {
            ADD_FAILURE() << "no " << final_code << " response";
            return Pdu{};
        }
        auto value = block(*finals.front(), "Block1");
        EXPECT_TRUE(value && value->num == blocks - 1 && !value->more) << finals.front()->line;
        return *finals.front();
    }
};

std::string family_param_name(const ::testing::TestParamInfo<Family>& info) {
    return family_name(info.param);
}

INSTANTIATE_TEST_SUITE_P(Plugtest, BlockE2E, ::testing::Values(Family::ipv4, Family::ipv6),
                         family_param_name);

// Early negotiation: the client asks for 64-byte blocks from the start.
TEST_P(BlockE2E, TD_COAP_BLOCK_01) {
    download("/large", 64, large_text(), 64);
}

// Late negotiation: a plain GET gets the first 1,024-byte block and the client continues.
TEST_P(BlockE2E, TD_COAP_BLOCK_02) {
    download("/large", std::nullopt, large_text(), 1024);
}

TEST_P(BlockE2E, TD_COAP_BLOCK_03) {
    UploadFile file(1500);
    upload("put", "/large-update", file, 64, "2.04");
    ClientRun check = coap_client({"-m", "get", uri("/large-update")});
    EXCHANGE_TRACE(check);
    EXPECT_TRUE(same_body(check.payload, file.body())) << "the server holds the whole body";
}

TEST_P(BlockE2E, TD_COAP_BLOCK_04) {
    UploadFile file(700);
    Pdu created = upload("post", "/large-create", file, 128, "2.01");
    std::vector<std::string> location = created.values("Location-Path");
    ASSERT_EQ(location.size(), 2u) << created.line;
    EXPECT_EQ(location[0], "large-create");
    ClientRun check = coap_client({"-m", "get", uri("/" + location[0] + "/" + location[1])});
    EXCHANGE_TRACE(check);
    EXPECT_TRUE(same_body(check.payload, file.body()));
}

// Both directions in one exchange: a large POST answered with a large 2.04.
TEST_P(BlockE2E, TD_COAP_BLOCK_05) {
    UploadFile file(2500);  // larger than the server's 1,024-byte blocks, so both ways
    ClientRun run = coap_client({"-m", "post", "-b", "64", "-f", file.path(), uri("/large-post")});
    EXCHANGE_TRACE(run);
    ASSERT_FALSE(run.process.timed_out);
    EXPECT_TRUE(same_body(run.payload, file.body())) << "the response comes back whole";
    std::vector<const Pdu*> changed = with_code(run, "2.04");
    ASSERT_FALSE(changed.empty());
    auto first = block(*changed.front(), "Block1");
    EXPECT_TRUE(first && !first->more) << "the final Block1 answer: " << changed.front()->line;
    check_block2_sequence(changed, 1024, file.body().size());
}

// Early negotiation with the smallest block size, 16 bytes: 128 blocks.
TEST_P(BlockE2E, TD_COAP_BLOCK_06) {
    download("/large", 16, large_text(), 16);
}

// RFC 7959 §2.9.3: an upload announced (Size1) above the server's limit gets 4.13 with the
// limit in Size1, before any data is stored.
TEST_P(BlockE2E, UploadAboveLimitGets413WithSize1) {
    UploadFile file(70 * 1024);
    ClientRun run =
        coap_client({"-m", "put", "-b", "1024", "-f", file.path(), uri("/large-update")});
    EXCHANGE_TRACE(run);
    std::vector<const Pdu*> too_large = with_code(run, "4.13");
    ASSERT_FALSE(too_large.empty());
    EXPECT_EQ(too_large.front()->value("Size1"), std::to_string(64 * 1024));
}

}  // namespace
