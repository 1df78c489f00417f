// The ETSI CoAP#4 plugtest resources, following ../shared/reference/etsi-td-coap4 base.yml and
// link.yml. Handlers copy shared state into the request arena under a mutex, so the payloads
// they return stay valid after the lock is released.
#include "plugtest.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string_view>

namespace coapd {

namespace {

using coap::Code;
using coap::ContentFormat;
using coap::HandlerResult;
using coap::OptionNumber;
using coap::Request;
using coap::Response;

// A small mutable resource: its bytes, whether it exists, and an ETag that changes with it.
class StoredResource {
  public:
    explicit StoredResource(std::string_view initial, bool exists = true) {
        assign(coap::as_bytes(initial));
        exists_ = exists;
    }

    void assign(coap::Bytes payload) {
        length_ = std::min(payload.size(), content_.size());
        if (length_ != 0) std::memcpy(content_.data(), payload.data(), length_);
        ++version_;
        exists_ = true;
    }
    void remove() {
        exists_ = false;
        ++version_;
    }
    bool exists() const { return exists_; }
    // The ETag is the 4-byte version number (RFC 7252 §5.10.6: opaque to clients).
    std::array<std::uint8_t, 4> etag() const {
        return {static_cast<std::uint8_t>(version_ >> 24),
                static_cast<std::uint8_t>(version_ >> 16), static_cast<std::uint8_t>(version_ >> 8),
                static_cast<std::uint8_t>(version_)};
    }
    bool etag_matches(coap::Bytes candidate) const {
        auto mine = etag();
        return candidate.size() == mine.size() &&
               std::equal(candidate.begin(), candidate.end(), mine.begin());
    }
    // Copies the content into the request arena so it outlives the lock.
    std::string_view copy_to(coap::Arena& arena) const {
        return arena.copy(
            std::string_view(reinterpret_cast<const char*>(content_.data()), length_));
    }

  private:
    std::array<std::uint8_t, 1024> content_{};
    std::size_t length_ = 0;
    std::uint32_t version_ = 0;
    bool exists_ = true;
};

std::mutex state_mutex;
StoredResource test_resource("This is the /test resource of coapd.");
StoredResource validate_resource("Initial content of /validate.");
StoredResource create1_resource("", false);

HandlerResult test_get(Request& request) {
    std::lock_guard lock(state_mutex);
    return Response::content(ContentFormat::text_plain, test_resource.copy_to(request.arena()));
}

HandlerResult test_put(Request& request) {
    std::lock_guard lock(state_mutex);
    test_resource.assign(request.payload());
    return Response::changed();
}

// TD_COAP_CORE_04 and 18: the created resource is at /location1/location2/location3.
HandlerResult test_post(Request&) {
    return Response::created()
        .location_path("location1")
        .location_path("location2")
        .location_path("location3");
}

HandlerResult test_delete(Request&) {
    return Response::deleted();
}

HandlerResult query_get(Request& request) {
    // Echo the query arguments back, one per line.
    auto out = request.arena().bytes(512);
    std::size_t used = 0;
    for (const coap::Option& argument : request.query()) {
        std::size_t n = std::min(argument.value.size(), out.size() - used - 1);
        std::memcpy(out.data() + used, argument.value.data(), n);
        used += n;
        out[used++] = '\n';
        if (used + 1 >= out.size()) break;
    }
    if (used == 0) return Response::content(ContentFormat::text_plain, "no query");
    return Response::content(ContentFormat::text_plain, coap::Bytes(out.data(), used));
}

// TD_COAP_CORE_19.
HandlerResult location_query_post(Request&) {
    return Response::created().location_query("first=1").location_query("second=2");
}

// TD_COAP_CORE_20: text/plain or application/xml, chosen with Accept.
HandlerResult multi_format_get(Request& request) {
    auto accept = request.accept().value_or(ContentFormat::text_plain);
    if (accept == ContentFormat::text_plain)
        return Response::content(ContentFormat::text_plain, "multi-format: text");
    if (accept == ContentFormat::xml)
        return Response::content(ContentFormat::xml, "<multi-format>xml</multi-format>");
    return Response::not_acceptable();  // RFC 7252 §5.10.4
}

Response with_etag(Response response, const StoredResource& resource) {
    auto tag = resource.etag();
    response.etag(coap::Bytes(tag.data(), tag.size()));
    return response;
}

// TD_COAP_CORE_21: 2.03 Valid when the client's ETag is current (RFC 7252 §5.10.6.2).
HandlerResult validate_get(Request& request) {
    std::lock_guard lock(state_mutex);
    for (const coap::Option& etag : request.etags())
        if (validate_resource.etag_matches(etag.value))
            return with_etag(Response::valid(), validate_resource);
    return with_etag(
        Response::content(ContentFormat::text_plain, validate_resource.copy_to(request.arena())),
        validate_resource);
}

// TD_COAP_CORE_22: If-Match makes the update conditional (RFC 7252 §5.10.8.1).
HandlerResult validate_put(Request& request) {
    std::lock_guard lock(state_mutex);
    bool has_condition = false;
    bool matched = false;
    for (const coap::Option& condition : request.if_match()) {
        has_condition = true;
        if (condition.value.empty() ? validate_resource.exists()
                                    : validate_resource.etag_matches(condition.value))
            matched = true;
    }
    if (has_condition && !matched) return Response::precondition_failed();
    validate_resource.assign(request.payload());
    return with_etag(Response::changed(), validate_resource);
}

// TD_COAP_CORE_23: If-None-Match creates only when absent (RFC 7252 §5.10.8.2).
HandlerResult create1_put(Request& request) {
    std::lock_guard lock(state_mutex);
    if (request.if_none_match() && create1_resource.exists())
        return Response::precondition_failed();
    bool existed = create1_resource.exists();
    create1_resource.assign(request.payload());
    return existed ? Response::changed() : Response::created();
}

HandlerResult create1_get(Request& request) {
    std::lock_guard lock(state_mutex);
    if (!create1_resource.exists()) return Response::not_found();
    return Response::content(ContentFormat::text_plain, create1_resource.copy_to(request.arena()));
}

HandlerResult create1_delete(Request&) {
    std::lock_guard lock(state_mutex);
    create1_resource.remove();
    return Response::deleted();
}

HandlerResult echo(Request& request) {
    Response response(request.method() == Code::get ? Code::content : Code::changed,
                      request.payload());
    if (auto format = request.content_format()) response.content_format(*format);
    return response;
}

coap::Handler says(std::string_view text) {
    return [text](Request&) -> HandlerResult {
        return Response::content(ContentFormat::text_plain, text);
    };
}

// TD_COAP_LINK_09: /path lists its sub-resources in link-format.
constexpr std::string_view path_links = "</path/sub1>,</path/sub2>,</path/sub3>";

}  // namespace

void add_plugtest_resources(coap::Router& router, SeparateResponder& responder) {
    // TD_COAP_CORE_09, 11, 16, 17: acknowledged at once (CON), answered a moment later.
    router.get("/separate", [&responder](Request& request) -> HandlerResult {
        if (auto handle = request.defer()) responder.schedule(*handle);
        return std::nullopt;  // without a free slot the server answers 5.03 itself
    });
    // sz: /test holds at most 1024 bytes (StoredResource), for TD_COAP_LINK_06.
    router.get("/test", test_get, {.rt = "test", .sz = "1024", .title = "Default test resource"})
        .put("/test", test_put)
        .post("/test", test_post)
        .del("/test", test_delete)
        .get("/seg1/seg2/seg3", says("Hello from /seg1/seg2/seg3"))
        .get("/query", query_get)
        .post("/location-query", location_query_post)
        .get("/multi-format", multi_format_get, {.ct = "0 41"})
        .get("/validate", validate_get)
        .put("/validate", validate_put)
        .get("/create1", create1_get)
        .put("/create1", create1_put)
        .del("/create1", create1_delete)
        .get("/link1", says("link1"), {.rt = "Type1 Type2", .if_ = "If1"})
        .get("/link2", says("link2"), {.rt = "Type2 Type3", .if_ = "If2"})
        .get("/link3", says("link3"), {.rt = "Type1 Type3", .if_ = "foo"})
        .get("/path",
             [](Request&) -> HandlerResult {
                 return Response::content(ContentFormat::link_format, path_links);
             },
             {.ct = "40"})
        .get("/path/sub1", says("sub1"), {.hidden = true})
        .get("/path/sub2", says("sub2"), {.hidden = true})
        .get("/path/sub3", says("sub3"), {.hidden = true});
    for (coap::Code method :
         {Code::get, Code::post, Code::put, Code::del, Code::fetch, Code::patch, Code::ipatch})
        router.add(method, "/echo", echo);
}

}  // namespace coapd
