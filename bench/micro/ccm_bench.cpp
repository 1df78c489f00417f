// DTLS record protection micro-benchmarks: TLS_PSK_WITH_AES_128_CCM_8 (RFC 6655) over OpenSSL's
// libcrypto, with the same CcmContext the record path uses.
//
//   dtls/seal_record_100B  seal_record: header, explicit nonce, AES-128-CCM-8 of a 100-byte
//                          plaintext (a small CoAP message) with a new sequence number each time;
//   dtls/open_record_100B  open_record of such a record: tag verified, plaintext written out;
//   dtls/ccm8_seal_100B    CcmContext::seal alone (no record header), for comparison.
#include <benchmark/benchmark.h>

#include <array>
#include <cstddef>
#include <cstdint>

#include "dtls/ccm.hpp"
#include "dtls/cipher_suite.hpp"
#include "dtls/crypto.hpp"
#include "dtls/record.hpp"

namespace {

using namespace coap::dtls;

constexpr std::size_t plaintext_size = 100;
const CipherSuite& suite = tls_psk_with_aes_128_ccm_8;

TrafficKeys bench_keys() {
    TrafficKeys keys;
    for (std::size_t i = 0; i < suite.key_size; ++i)
        keys.key[i] = static_cast<std::uint8_t>(i * 7);
    for (std::size_t i = 0; i < suite.fixed_iv_size; ++i)
        keys.iv[i] = static_cast<std::uint8_t>(0xa0 + i);
    return keys;
}

std::array<std::uint8_t, plaintext_size> bench_plaintext() {
    std::array<std::uint8_t, plaintext_size> text{};
    for (std::size_t i = 0; i < text.size(); ++i)
        text[i] = static_cast<std::uint8_t>(i);
    return text;
}

RecordHeader application_data(std::uint64_t sequence) {
    RecordHeader header;
    header.type = ContentType::application_data;
    header.epoch = 1;
    header.sequence = sequence;
    return header;
}

using SealedRecord = std::array<std::uint8_t, sealed_record_size(suite, plaintext_size)>;

void seal_record_100(benchmark::State& state) {
    CcmContext ccm;
    const TrafficKeys keys = bench_keys();
    const auto plaintext = bench_plaintext();
    SealedRecord out{};
    std::uint64_t sequence = 0;
    for (auto _ : state) {
        auto size = seal_record(ccm, suite, keys, application_data(++sequence), plaintext, out);
        if (!size) {
            state.SkipWithError("seal_record failed");
            break;
        }
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * plaintext_size));
}

void open_record_100(benchmark::State& state) {
    CcmContext ccm;
    const TrafficKeys keys = bench_keys();
    const auto plaintext = bench_plaintext();
    SealedRecord sealed{};
    if (!seal_record(ccm, suite, keys, application_data(1), plaintext, sealed)) {
        state.SkipWithError("seal_record failed");
        return;
    }
    RecordReader reader(sealed);
    auto record = reader.next();
    if (!record) {
        state.SkipWithError("the sealed record does not parse");
        return;
    }
    std::array<std::uint8_t, plaintext_size> out{};
    for (auto _ : state) {
        auto opened = open_record(ccm, suite, keys, *record, out);
        if (!opened) {
            state.SkipWithError("open_record failed");
            break;
        }
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    if (out != plaintext) state.SkipWithError("open_record gave other bytes");
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * plaintext_size));
}

void ccm8_seal_100(benchmark::State& state) {
    CcmContext ccm;
    const TrafficKeys keys = bench_keys();
    const auto plaintext = bench_plaintext();
    std::array<std::uint8_t, 12> nonce{};
    const std::array<std::uint8_t, 13> aad{};
    std::array<std::uint8_t, plaintext_size + ccm_8_tag_size> out{};
    std::uint64_t counter = 0;
    for (auto _ : state) {
        ++counter;
        for (std::size_t i = 0; i < 8; ++i)
            nonce[4 + i] = static_cast<std::uint8_t>(counter >> (8 * i));
        if (!ccm.seal(coap::Bytes(keys.key).first(ccm_key_size), nonce, aad, plaintext, out)) {
            state.SkipWithError("seal failed");
            break;
        }
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * plaintext_size));
}

BENCHMARK(seal_record_100)->Name("dtls/seal_record_100B");
BENCHMARK(open_record_100)->Name("dtls/open_record_100B");
BENCHMARK(ccm8_seal_100)->Name("dtls/ccm8_seal_100B");

}  // namespace

BENCHMARK_MAIN();
