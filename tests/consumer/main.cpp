// A program outside the project: encodes a request from a URI, parses it back, builds a
// response and a router, and prints what it saw. Every public header is included, so a header
// that needs an internal one fails here. Exits non-zero when a round trip disagrees.
#include <coap/arena.hpp>
#include <coap/bytes.hpp>
#include <coap/client.hpp>
#include <coap/coap.hpp>
#include <coap/codes.hpp>
#include <coap/content_format.hpp>
#include <coap/deferred.hpp>
#include <coap/endpoint.hpp>
#include <coap/expected.hpp>
#include <coap/export.hpp>
#include <coap/handler.hpp>
#include <coap/log.hpp>
#include <coap/message.hpp>
#include <coap/observe.hpp>
#include <coap/option.hpp>
#include <coap/request.hpp>
#include <coap/response.hpp>
#include <coap/router.hpp>
#include <coap/server.hpp>
#include <coap/server_config.hpp>
#include <coap/time.hpp>
#include <coap/uri.hpp>

#include <array>
#include <cstdint>
#include <cstdio>
#include <string_view>

namespace {

int fail(const char* what, std::string_view why) {
    std::printf("coap consumer: %s failed: %.*s\n", what, static_cast<int>(why.size()), why.data());
    return 1;
}

// A CON GET built from a URI survives encode, parse and compose_uri (RFC 7252 §6.4, §6.5).
int request_round_trip() {
    coap::UriOptions<> uri;
    auto parts = uri.append_uri("coap://example.com/sensors/temp?unit=c");
    if (!parts) return fail("append_uri", coap::describe(parts.error()));

    const std::array<std::uint8_t, 2> token{0xca, 0xfe};
    coap::Message request{.type = coap::MessageType::con,
                          .code = coap::Code::get,
                          .message_id = 0x1234,
                          .token = token,
                          .options = uri.options()};
    std::array<std::uint8_t, 256> datagram{};
    auto size = coap::encode(request, datagram);
    if (!size) return fail("encode", coap::describe(size.error()));
    if (*size != coap::encoded_size(request)) return fail("encoded_size", "differs from encode");

    auto view = coap::parse(coap::Bytes(datagram.data(), *size));
    if (!view) return fail("parse", coap::describe(view.error()));
    std::array<char, 128> text{};
    auto length = coap::compose_uri(*view, coap::UriDestination{.host = "192.0.2.1"}, text);
    if (!length) return fail("compose_uri", coap::describe(length.error()));
    std::string_view composed(text.data(), *length);
    if (composed != "coap://example.com/sensors/temp?unit=c") return fail("compose_uri", composed);

    std::printf("request: %.*s %.*s mid=0x%04x token=%zu bytes options=%zu %.*s\n",
                static_cast<int>(coap::type_name(view->type()).size()),
                coap::type_name(view->type()).data(),
                static_cast<int>(coap::code_name(view->code()).size()),
                coap::code_name(view->code()).data(), view->message_id(), view->token().size(),
                view->count(coap::OptionNumber::uri_path), static_cast<int>(composed.size()),
                composed.data());
    return 0;
}

// A piggybacked 2.05 with a Content-Format, written with MessageWriter and parsed back.
int response_round_trip() {
    std::array<std::uint8_t, 128> datagram{};
    auto size = coap::MessageWriter(datagram)
                    .header(coap::MessageType::ack, coap::Code::content, 0x1234)
                    .uint_option(coap::OptionNumber::content_format,
                                 coap::to_int(coap::ContentFormat::json))
                    .payload(std::string_view(R"({"t":22.5})"))
                    .finish();
    if (!size) return fail("MessageWriter", coap::describe(size.error()));
    auto view = coap::parse(coap::Bytes(datagram.data(), *size));
    if (!view) return fail("parse", coap::describe(view.error()));

    auto format = view->find_uint(coap::OptionNumber::content_format);
    const coap::ContentFormatDef* def =
        format ? coap::find_content_format(static_cast<coap::ContentFormat>(*format)) : nullptr;
    if (!def || def->id != coap::parse_content_format("json")) return fail("content format", "");
    const coap::OptionDef* option = coap::find_option_def(coap::OptionNumber::content_format);
    if (!option) return fail("find_option_def", "Content-Format");

    auto payload = coap::as_string(view->payload());
    std::printf("response: %.4s %.*s=%.*s %.*s\n", coap::code_text(view->code()).text,
                static_cast<int>(option->name.size()), option->name.data(),
                static_cast<int>(def->media_type.size()), def->media_type.data(),
                static_cast<int>(payload.size()), payload.data());
    return 0;
}

coap::Router make_router() {
    coap::Router router;
    router.get("/sensors/temp",
               [](coap::Request&) -> coap::HandlerResult {
                   return coap::Response::content(coap::ContentFormat::text_plain, "22.5");
               },
               {.rt = "temperature-c", .obs = true});
    return router;
}

}  // namespace

int main() {
    coap::set_log_level(coap::LogLevel::warn);
    if (int failed = request_round_trip()) return failed;
    if (int failed = response_round_trip()) return failed;

    coap::Router router = make_router();
    std::printf("links: %s\n", router.link_format().c_str());

#if COAP_CONSUMER_USE_SERVER
    // Constructing a server only validates the configuration: no socket, no ring.
    coap::ServerConfig config;
    config.port = 0;
    coap::Server server(config, std::move(router));
    auto timeout = coap::describe(coap::ClientError::timeout);
    std::printf("server: port %u before listen; client error: %.*s\n",
                static_cast<unsigned>(server.local_port()), static_cast<int>(timeout.size()),
                timeout.data());
#endif
    std::printf("coap consumer: ok\n");
    return 0;
}
