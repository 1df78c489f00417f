// Routing by method and Uri-Path pattern, and /.well-known/core (RFC 6690 §4).
#include "coap/router.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "server/link_format.hpp"

namespace coap {

namespace {

enum class SegmentKind : std::uint8_t { literal, param, wildcard };

struct Segment {
    SegmentKind kind;
    std::string text;  // the literal, or the parameter name without ':'
};

struct MethodHandler {
    Code method;
    Handler handler;
};

struct Resource {
    std::string pattern;  // normalised: "/" followed by the segments joined with '/'
    std::vector<Segment> segments;
    std::vector<MethodHandler> methods;
    LinkAttributes link;
    bool templated = false;  // has a `:name` or `*` segment
};

constexpr std::string_view well_known = ".well-known";
constexpr std::string_view core = "core";

std::vector<Segment> split_pattern(std::string_view pattern) {
    if (pattern.empty() || pattern.front() != '/')
        throw std::invalid_argument("route pattern must start with '/'");
    std::vector<Segment> segments;
    if (pattern == "/") return segments;  // the root: no Uri-Path options
    std::string_view rest = pattern.substr(1);
    std::size_t params = 0;
    for (;;) {
        std::size_t slash = rest.find('/');
        std::string_view text = rest.substr(0, slash);
        if (!segments.empty() && segments.back().kind == SegmentKind::wildcard)
            throw std::invalid_argument("route pattern: '*' must be the last segment");
        if (text == "*") {
            segments.push_back({SegmentKind::wildcard, {}});
        } else if (!text.empty() && text.front() == ':') {
            std::string_view name = text.substr(1);
            if (name.empty()) throw std::invalid_argument("route pattern: empty parameter name");
            for (const Segment& segment : segments)
                if (segment.kind == SegmentKind::param && segment.text == name)
                    throw std::invalid_argument("route pattern: repeated parameter name");
            if (++params > Request::max_params)
                throw std::invalid_argument("route pattern: too many parameters");
            segments.push_back({SegmentKind::param, std::string(name)});
        } else {
            segments.push_back({SegmentKind::literal, std::string(text)});
        }
        if (segments.size() > Router::max_segments)
            throw std::invalid_argument("route pattern: too many segments");
        if (slash == std::string_view::npos) break;
        rest = rest.substr(slash + 1);
    }
    return segments;
}

std::string join(const std::vector<Segment>& segments) {
    if (segments.empty()) return "/";
    std::string out;
    for (const Segment& segment : segments) {
        out += '/';
        switch (segment.kind) {
            case SegmentKind::literal:
                out += segment.text;
                break;
            case SegmentKind::param:
                out += ':';
                out += segment.text;
                break;
            case SegmentKind::wildcard:
                out += '*';
                break;
        }
    }
    return out;
}

bool is_well_known_core(const std::vector<Segment>& segments) {
    return segments.size() == 2 && segments[0].kind == SegmentKind::literal &&
           segments[0].text == well_known && segments[1].kind == SegmentKind::literal &&
           segments[1].text == core;
}

// Later non-empty attributes replace earlier ones; the flags stick.
LinkAttributes merge(const LinkAttributes& old, LinkAttributes update) {
    LinkAttributes out = old;
    if (!update.rt.empty()) out.rt = std::move(update.rt);
    if (!update.if_.empty()) out.if_ = std::move(update.if_);
    if (!update.ct.empty()) out.ct = std::move(update.ct);
    if (!update.sz.empty()) out.sz = std::move(update.sz);
    if (!update.title.empty()) out.title = std::move(update.title);
    if (!update.extra.empty()) out.extra = std::move(update.extra);
    out.obs = old.obs || update.obs;
    out.hidden = old.hidden || update.hidden;
    return out;
}

// Specificity of a pattern at segment position i: lower is more specific. Past its end a
// pattern ranks first, so "/files" beats "/files/*" for the path "/files".
int rank(const Resource& resource, std::size_t i) noexcept {
    if (i >= resource.segments.size()) return 0;
    switch (resource.segments[i].kind) {
        case SegmentKind::literal:
            return 1;
        case SegmentKind::param:
            return 2;
        case SegmentKind::wildcard:
            return 3;
    }
    return 3;
}

// For two patterns that match the same path, the first difference from the left decides.
bool more_specific(const Resource& a, const Resource& b) noexcept {
    std::size_t length = std::max(a.segments.size(), b.segments.size());
    for (std::size_t i = 0; i < length; ++i) {
        int ra = rank(a, i);
        int rb = rank(b, i);
        if (ra != rb) return ra < rb;
    }
    return false;
}

// The request path: up to max_segments segments are kept, `total` counts all of them. A
// pattern has at most max_segments segments, so the ones beyond are only ever consumed by a
// wildcard and never looked at.
struct PathView {
    std::array<std::string_view, Router::max_segments> segments{};
    std::size_t total = 0;
};

bool matches(const Resource& resource, const PathView& path) noexcept {
    const std::size_t count = resource.segments.size();
    for (std::size_t i = 0; i < count; ++i) {
        const Segment& segment = resource.segments[i];
        if (segment.kind == SegmentKind::wildcard) return true;  // zero or more segments
        if (i >= path.total) return false;
        if (segment.kind == SegmentKind::literal) {
            if (path.segments[i] != segment.text) return false;
        } else if (path.segments[i].empty()) {
            return false;  // a parameter matches one non-empty segment
        }
    }
    return count == path.total;
}

}  // namespace

struct Router::Impl {
    std::vector<Resource> resources;        // in the order patterns were first added
    std::vector<std::uint32_t> precedence;  // indices into resources, most specific first
    links::Document generated;
    std::optional<links::Document> custom;  // from well_known_core()
    bool well_known_routed = false;         // the user routed /.well-known/core itself

    bool listed(const Resource& resource) const {
        if (resource.link.hidden || is_well_known_core(resource.segments)) return false;
        return !resource.templated || resource.link.any();
    }

    void regenerate() {
        std::vector<std::string> hrefs;
        std::vector<links::Entry> entries;
        hrefs.reserve(resources.size());
        for (const Resource& resource : resources) {
            if (!listed(resource)) continue;
            hrefs.push_back(links::encode_href(resource.pattern));
        }
        std::size_t next = 0;
        for (const Resource& resource : resources)
            if (listed(resource)) entries.push_back({hrefs[next++], &resource.link});
        generated = links::Document(links::serialize(entries));
    }

    const links::Document& document() const noexcept { return custom ? *custom : generated; }

    HandlerResult discovery(Request& request) const noexcept;
};

Router::Router() : impl_(std::make_unique<Impl>()) {}
Router::~Router() = default;
Router::Router(Router&&) noexcept = default;
Router& Router::operator=(Router&&) noexcept = default;

Router& Router::add(Code method, std::string_view pattern, Handler handler, LinkAttributes link) {
    if (!is_request(method)) throw std::invalid_argument("route method is not a request code");
    if (!handler) throw std::invalid_argument("route handler is empty");
    if (!impl_) impl_ = std::make_unique<Impl>();
    std::vector<Segment> segments = split_pattern(pattern);
    std::string normalised = join(segments);

    auto found = std::find_if(impl_->resources.begin(), impl_->resources.end(),
                              [&](const Resource& r) { return r.pattern == normalised; });
    LinkAttributes merged =
        found == impl_->resources.end() ? std::move(link) : merge(found->link, std::move(link));
    if (found != impl_->resources.end()) {
        for (const MethodHandler& existing : found->methods)
            if (existing.method == method)
                throw std::invalid_argument("route: method already routed on this pattern");
    }
    (void)links::serialize(links::encode_href(normalised), merged);  // validates; may throw

    if (found == impl_->resources.end()) {
        Resource resource;
        resource.pattern = std::move(normalised);
        resource.templated = std::any_of(segments.begin(), segments.end(), [](const Segment& s) {
            return s.kind != SegmentKind::literal;
        });
        if (is_well_known_core(segments)) impl_->well_known_routed = true;
        resource.segments = std::move(segments);
        resource.link = std::move(merged);
        resource.methods.push_back({method, std::move(handler)});
        impl_->resources.push_back(std::move(resource));
        impl_->precedence.push_back(static_cast<std::uint32_t>(impl_->resources.size() - 1));
        const std::vector<Resource>& all = impl_->resources;
        std::stable_sort(
            impl_->precedence.begin(), impl_->precedence.end(),
            [&all](std::uint32_t a, std::uint32_t b) { return more_specific(all[a], all[b]); });
    } else {
        found->link = std::move(merged);
        found->methods.push_back({method, std::move(handler)});
    }
    impl_->regenerate();
    return *this;
}

Router& Router::well_known_core(std::string document) {
    links::Document parsed(std::move(document));  // may throw: then nothing changes
    if (!impl_) impl_ = std::make_unique<Impl>();
    impl_->custom = std::move(parsed);
    return *this;
}

std::string Router::link_format() const {
    if (!impl_) return {};
    return std::string(impl_->document().text());
}

// RFC 6690 §4: GET /.well-known/core returns the links in the CoRE Link Format, optionally
// filtered by the query (§4.1).
HandlerResult Router::Impl::discovery(Request& request) const noexcept {
    if (request.method() != Code::get) return Response::method_not_allowed();
    // RFC 7252 §5.10.4: the one representation is application/link-format.
    if (auto accept = request.accept(); accept && *accept != ContentFormat::link_format)
        return Response::not_acceptable();

    // RFC 6690 §4.1 defines a single name/value search argument; several are all applied.
    std::array<links::Filter, max_filters> filters{};
    std::size_t count = 0;
    for (const Option& argument : request.query()) {
        if (argument.value.empty()) continue;
        if (count == filters.size()) return Response::bad_request();
        filters[count++] = links::parse_filter(argument.as_string());
    }

    // Filtered links are written into the request arena; if they do not fit, 5.00 is better
    // than a truncated (and so wrong) list.
    std::optional<std::string_view> payload =
        document().filter(std::span<const links::Filter>(filters.data(), count), request.arena());
    if (!payload) return Response::internal_server_error();
    // When no link matches, RFC 6690 §4 says "In the absence of any links, a zero-length payload
    // is returned". §4.1 asks not to answer a *multicast* request whose filter matches nothing,
    // "except in cases where the IP stack interface is not able to indicate that the destination
    // address was multicast": a Request does not tell, so the empty 2.05 is always sent.
    return Response::content(ContentFormat::link_format, *payload);
}

HandlerResult Router::operator()(Request& request) const {
    request.clear_params();
    if (!impl_) return Response::not_found();

    PathView path;
    for (const Option& option : request.path()) {
        if (path.total < path.segments.size()) path.segments[path.total] = option.as_string();
        ++path.total;
    }
    // RFC 7252 §6.5: no Uri-Path and a single empty Uri-Path both compose to "/".
    if (path.total == 1 && path.segments[0].empty()) path.total = 0;

    if (!impl_->well_known_routed && path.total == 2 && path.segments[0] == well_known &&
        path.segments[1] == core)
        return impl_->discovery(request);

    bool path_matched = false;
    const Code method = request.method();
    for (std::uint32_t index : impl_->precedence) {
        const Resource& resource = impl_->resources[index];
        if (!matches(resource, path)) continue;
        path_matched = true;
        for (const MethodHandler& route : resource.methods) {
            if (route.method != method) continue;
            for (std::size_t i = 0; i < resource.segments.size(); ++i) {
                const Segment& segment = resource.segments[i];
                if (segment.kind == SegmentKind::param)
                    request.add_param(segment.text, path.segments[i]);
            }
            return route.handler(request);
        }
    }
    return path_matched ? Response::method_not_allowed() : Response::not_found();
}

}  // namespace coap
