// Codec micro-benchmarks: parse, encode and MessageWriter on two typical messages.
//
//   GET      CON GET, 4-byte token, Uri-Path "sensors", Uri-Path "temp", Uri-Query "unit=C",
//            Accept 50 (application/json): 30 bytes.
//   Content  ACK 2.05, 4-byte token, Content-Format 50, Max-Age 30, 32-byte payload: 45 bytes.
//
// Target (see BENCHMARKS.md): under 50 ns per parse and per encode.
#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

#include "coap/message.hpp"
#include "coap/option.hpp"

namespace {

constexpr std::array<std::uint8_t, 4> token{0x5a, 0x17, 0xc3, 0x09};
constexpr std::string_view payload_text = R"({"temperature":22.5,"unit":"C"})";
static_assert(payload_text.size() == 31);
constexpr std::array<std::uint8_t, 32> payload = [] {
    std::array<std::uint8_t, 32> out{};
    for (std::size_t i = 0; i < payload_text.size(); ++i)
        out[i] = static_cast<std::uint8_t>(payload_text[i]);
    out[31] = '\n';
    return out;
}();

const coap::UintValue accept_json(50);
const coap::UintValue content_format_json(50);
const coap::UintValue max_age(30);

// Options in ascending number order, as a caller building a message usually has them.
const std::array get_options{
    coap::Option{coap::OptionNumber::uri_path, coap::as_bytes("sensors")},
    coap::Option{coap::OptionNumber::uri_path, coap::as_bytes("temp")},
    coap::Option{coap::OptionNumber::uri_query, coap::as_bytes("unit=C")},
    coap::Option{coap::OptionNumber::accept, accept_json.bytes()},
};
const std::array content_options{
    coap::Option{coap::OptionNumber::content_format, content_format_json.bytes()},
    coap::Option{coap::OptionNumber::max_age, max_age.bytes()},
};

const coap::Message get_message{
    .type = coap::MessageType::con,
    .code = coap::Code::get,
    .message_id = 0x7d34,
    .token = token,
    .options = get_options,
    .payload = {},
};
const coap::Message content_message{
    .type = coap::MessageType::ack,
    .code = coap::Code::content,
    .message_id = 0x7d34,
    .token = token,
    .options = content_options,
    .payload = payload,
};

using Buffer = std::array<std::uint8_t, 128>;

// The wire form of a message, encoded once; aborts if the codec cannot encode it.
struct Wire {
    Buffer bytes{};
    std::size_t size = 0;
    explicit Wire(const coap::Message& message) {
        auto written = coap::encode(message, bytes);
        if (!written) std::abort();
        size = *written;
    }
    coap::Bytes view() const { return {bytes.data(), size}; }
};

const Wire get_wire(get_message);
const Wire content_wire(content_message);

void parse(benchmark::State& state, const Wire& wire) {
    coap::Bytes datagram = wire.view();
    for (auto _ : state) {
        benchmark::DoNotOptimize(datagram);
        auto message = coap::parse(datagram);
        benchmark::DoNotOptimize(message);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * wire.size));
}

void parse_and_iterate(benchmark::State& state, const Wire& wire) {
    coap::Bytes datagram = wire.view();
    for (auto _ : state) {
        benchmark::DoNotOptimize(datagram);
        auto message = coap::parse(datagram);
        if (!message) {
            state.SkipWithError("parse failed");
            break;
        }
        std::uint32_t sum = 0;
        for (const coap::Option& option : message->options()) {
            sum += coap::to_int(option.number) + static_cast<std::uint32_t>(option.value.size());
            benchmark::DoNotOptimize(option.value.data());
        }
        benchmark::DoNotOptimize(sum);
    }
}

void encode(benchmark::State& state, const coap::Message& message) {
    Buffer out{};
    std::size_t size = 0;
    for (auto _ : state) {
        auto written = coap::encode(message, out);
        benchmark::DoNotOptimize(written);
        benchmark::ClobberMemory();
        size = written.value_or(0);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * size));
}

void write_get(benchmark::State& state) {
    Buffer out{};
    for (auto _ : state) {
        coap::MessageWriter writer(out);
        writer.header(coap::MessageType::con, coap::Code::get, 0x7d34, token)
            .option(coap::OptionNumber::uri_path, "sensors")
            .option(coap::OptionNumber::uri_path, "temp")
            .option(coap::OptionNumber::uri_query, "unit=C")
            .uint_option(coap::OptionNumber::accept, 50);
        auto written = writer.finish();
        benchmark::DoNotOptimize(written);
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * get_wire.size));
}

void write_content(benchmark::State& state) {
    Buffer out{};
    for (auto _ : state) {
        coap::MessageWriter writer(out);
        writer.header(coap::MessageType::ack, coap::Code::content, 0x7d34, token)
            .uint_option(coap::OptionNumber::content_format, 50)
            .uint_option(coap::OptionNumber::max_age, 30)
            .payload(payload);
        auto written = writer.finish();
        benchmark::DoNotOptimize(written);
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * content_wire.size));
}

BENCHMARK_CAPTURE(parse, get, get_wire);
BENCHMARK_CAPTURE(parse, content, content_wire);
BENCHMARK_CAPTURE(encode, get, get_message);
BENCHMARK_CAPTURE(encode, content, content_message);
BENCHMARK(write_get)->Name("writer/get");
BENCHMARK(write_content)->Name("writer/content");
BENCHMARK_CAPTURE(parse_and_iterate, get, get_wire);
BENCHMARK_CAPTURE(parse_and_iterate, content, content_wire);

}  // namespace

BENCHMARK_MAIN();
