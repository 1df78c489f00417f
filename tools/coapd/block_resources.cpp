// Block-wise plugtest resources. The server core does the block-wise work (RFC 7959); these
// handlers only see and return whole bodies. Shared state is guarded by one mutex and copied
// into the request arena before the lock is released.
#include "block_resources.hpp"

#include <array>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>

namespace coapd {

namespace {

using coap::ContentFormat;
using coap::HandlerResult;
using coap::Request;
using coap::Response;

constexpr std::size_t max_body = 64 * 1024;  // ServerConfig::max_block_payload's default

// 2,048 bytes of numbered lines, so a reassembled body shows where a block went missing.
std::string make_large_text() {
    std::string text;
    for (int line = 0; text.size() < 2048; ++line) {
        char buffer[64];
        int n = std::snprintf(buffer, sizeof buffer, "%04d This is the /large resource of coapd.\n",
                              line);
        text.append(buffer, static_cast<std::size_t>(n));
    }
    text.resize(2048);
    return text;
}

const std::string large_text = make_large_text();

struct Body {
    std::array<std::uint8_t, max_body> bytes{};
    std::size_t length = 0;
    bool exists = false;

    void assign(coap::Bytes payload) {
        length = std::min(payload.size(), bytes.size());
        if (length != 0) std::memcpy(bytes.data(), payload.data(), length);
        exists = true;
    }
    coap::Bytes copy_to(coap::Arena& arena) const {
        auto out = arena.bytes(length);
        if (out.size() != length) return {};
        if (length != 0) std::memcpy(out.data(), bytes.data(), length);
        return out;
    }
};

constexpr std::size_t created_slots = 8;

std::mutex block_mutex;
Body large_update;
std::array<Body, created_slots> created;
std::size_t next_created = 0;

HandlerResult large_get(Request&) {
    return Response::content(ContentFormat::text_plain, large_text);
}

// TD_COAP_BLOCK_03.
HandlerResult large_update_put(Request& request) {
    if (request.payload().size() > max_body) return Response::request_entity_too_large();
    std::lock_guard lock(block_mutex);
    large_update.assign(request.payload());
    return Response::changed();
}

HandlerResult large_update_get(Request& request) {
    std::lock_guard lock(block_mutex);
    if (!large_update.exists) return Response::content(ContentFormat::text_plain, large_text);
    auto body = large_update.copy_to(request.arena());
    if (body.size() != large_update.length) return Response::internal_server_error();
    return Response::content(ContentFormat::text_plain, body);
}

// TD_COAP_BLOCK_04: each POST creates /large-create/N (N cycles through a few slots).
HandlerResult large_create_post(Request& request) {
    if (request.payload().size() > max_body) return Response::request_entity_too_large();
    std::size_t slot;
    {
        std::lock_guard lock(block_mutex);
        slot = next_created++ % created_slots;
        created[slot].assign(request.payload());
    }
    auto name = request.arena().bytes(1);
    if (name.empty()) return Response::internal_server_error();
    name[0] = static_cast<std::uint8_t>('0' + slot);
    return Response::created()
        .location_path("large-create")
        .location_path(std::string_view(reinterpret_cast<const char*>(name.data()), 1));
}

HandlerResult large_create_get(Request& request) {
    auto id = request.param("id").value_or("");
    if (id.size() != 1 || id[0] < '0' || id[0] >= static_cast<char>('0' + created_slots))
        return Response::not_found();
    std::lock_guard lock(block_mutex);
    const Body& body = created[static_cast<std::size_t>(id[0] - '0')];
    if (!body.exists) return Response::not_found();
    auto copy = body.copy_to(request.arena());
    if (copy.size() != body.length) return Response::internal_server_error();
    return Response::content(ContentFormat::text_plain, copy);
}

// TD_COAP_BLOCK_05: a large request answered with a large response (2.04 with the body back).
HandlerResult large_post(Request& request) {
    Response response(coap::Code::changed, request.payload());
    if (auto format = request.content_format()) response.content_format(*format);
    return response;
}

}  // namespace

void add_block_resources(coap::Router& router) {
    router.get("/large", large_get, {.rt = "block", .sz = "2048", .title = "Large resource"})
        .get("/large-update", large_update_get, {.rt = "block", .title = "Large update"})
        .put("/large-update", large_update_put)
        .post("/large-create", large_create_post, {.rt = "block", .title = "Large create"})
        .get("/large-create/:id", large_create_get, {.hidden = true})
        .post("/large-post", large_post, {.rt = "block", .title = "Large post"});
}

}  // namespace coapd
