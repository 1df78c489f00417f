// Request routing by method and Uri-Path, with automatic resource discovery at
// /.well-known/core in the CoRE Link Format (RFC 6690).
//
// A Router is built once at set-up (allocation is fine there) and then used as a Handler:
//
//     coap::Router router;
//     router.get("/sensors/temp", read_temp, {.rt = "temperature-c", .if_ = "sensor", .obs = true})
//           .put("/config/:key", write_config)
//           .get("/files/*", serve_file);
//     coap::Handler handler(std::move(router));
//
// Dispatching a request never allocates and never throws by itself (a handler it calls may
// throw; wrap such handlers with coap::safe_wrap).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "coap/codes.hpp"
#include "coap/export.hpp"
#include "coap/handler.hpp"

namespace coap {

/// The target attributes of a route's link in /.well-known/core (RFC 6690 §2, §3).
/// An empty string means "no such attribute".
struct LinkAttributes {
    /// Resource Type(s), separated by spaces (RFC 6690 §3.1); written as a quoted string.
    std::string rt{};
    /// Interface Description(s), separated by spaces (RFC 6690 §3.2); written as a quoted string.
    std::string if_{};
    /// Content-Format number(s) (RFC 7252 §7.2.1): "40", or several separated by spaces
    /// ("0 41", written quoted). Only digits and spaces are accepted.
    std::string ct{};
    /// Maximum size estimate in bytes (RFC 6690 §3.3); written as a bare number.
    std::string sz{};
    /// A human-readable title (RFC 5988 §5.4); written as a quoted string.
    std::string title{};
    /// Further link-params written verbatim after the others, e.g. `rel="alternate"` or
    /// `anchor="/sensors";foo=bar` (a leading ';' is optional). They take part in filtering.
    std::string extra{};
    /// The resource is observable (RFC 7641 §6); written as the flag `obs`.
    bool obs = false;
    /// Leave the route out of /.well-known/core.
    bool hidden = false;

    /// True when any attribute is given (`hidden` aside).
    bool any() const noexcept {
        return !rt.empty() || !if_.empty() || !ct.empty() || !sz.empty() || !title.empty() ||
               !extra.empty() || obs;
    }
};

/// Dispatches requests to handlers by method and Uri-Path pattern, and answers GET
/// /.well-known/core with the CoRE Link Format document of its routes (RFC 6690 §4).
///
/// Patterns are written like paths and split into segments once, by `add`:
///   - "/seg1/seg2/seg3"  literal segments, compared bytewise with the (decoded) Uri-Path options;
///   - "/sensor/:id"      a `:name` segment matches any one non-empty segment and is captured:
///                        `request.param("id")` gives it to the handler;
///   - "/files/*"         a final `*` matches zero or more remaining segments; nothing is
///                        captured for it (`request.param("*")` is nullopt), the handler reads
///                        `request.path()` itself;
///   - "/"                the root: a request without Uri-Path options, or with the single empty
///                        one (both compose to the same URI, RFC 7252 §6.5).
/// A trailing slash is a final empty segment ("/a/" is the Uri-Path options "a" and "",
/// RFC 7252 §6.4). Only a whole `*` segment is a wildcard and only a leading ':' makes a
/// parameter; "/a*b" and "/a:b" are literals.
///
/// Dispatch: of the patterns that match the request's Uri-Path, the most specific one that has
/// a handler for the request's method is called, after the request's parameters have been
/// cleared and the pattern's parameters captured. Specificity compares segment by segment from
/// the left: a literal beats a parameter, which beats the wildcard, and an exact end of the path
/// beats a wildcard matching nothing. Patterns equally specific (e.g. "/:a" and "/:b") are tried
/// in the order they were added. When patterns match but none has the method, the answer is 4.05
/// Method Not Allowed; when none matches, 4.04 Not Found.
///
/// /.well-known/core, unless a route for exactly that pattern was added, is answered by the
/// router itself: GET gives the link-format document (Content-Format 40), filtered by the
/// query as RFC 6690 §4.1 describes; any other method gives 4.05. See `link_format`.
class COAP_API Router {
  public:
    /// The longest pattern, in segments (a request with more segments can still match a
    /// wildcard pattern).
    static constexpr std::size_t max_segments = 32;
    /// The most filter arguments accepted on /.well-known/core; more give 4.00 Bad Request.
    static constexpr std::size_t max_filters = 8;

    Router();
    ~Router();
    /// Takes the routes of another router, which becomes empty.
    Router(Router&&) noexcept;
    /// Replaces the routes with those of another router, which becomes empty.
    Router& operator=(Router&&) noexcept;
    Router(const Router&) = delete;
    Router& operator=(const Router&) = delete;

    /// Adds `handler` for `method` on `pattern`. Adding another method to the same pattern
    /// (spelled the same) extends that route; its non-empty link attributes replace the earlier
    /// ones field by field, and `obs` and `hidden` stick once set.
    ///
    /// Throws std::invalid_argument for a method that is not a request code, an empty handler,
    /// a pattern not starting with '/', a `*` that is not the last segment, an empty or repeated
    /// parameter name, more than Request::max_params parameters or max_segments segments, a
    /// method already routed on that pattern, or `ct`/`sz`/`extra` that are not valid
    /// link-format.
    Router& add(Code method, std::string_view pattern, Handler handler, LinkAttributes link = {});

    /// `add` for GET.
    Router& get(std::string_view pattern, Handler handler, LinkAttributes link = {}) {
        return add(Code::get, pattern, std::move(handler), std::move(link));
    }
    /// `add` for POST.
    Router& post(std::string_view pattern, Handler handler, LinkAttributes link = {}) {
        return add(Code::post, pattern, std::move(handler), std::move(link));
    }
    /// `add` for PUT.
    Router& put(std::string_view pattern, Handler handler, LinkAttributes link = {}) {
        return add(Code::put, pattern, std::move(handler), std::move(link));
    }
    /// `add` for DELETE.
    Router& del(std::string_view pattern, Handler handler, LinkAttributes link = {}) {
        return add(Code::del, pattern, std::move(handler), std::move(link));
    }
    /// `add` for FETCH.
    Router& fetch(std::string_view pattern, Handler handler, LinkAttributes link = {}) {
        return add(Code::fetch, pattern, std::move(handler), std::move(link));
    }
    /// `add` for PATCH.
    Router& patch(std::string_view pattern, Handler handler, LinkAttributes link = {}) {
        return add(Code::patch, pattern, std::move(handler), std::move(link));
    }
    /// `add` for iPATCH.
    Router& ipatch(std::string_view pattern, Handler handler, LinkAttributes link = {}) {
        return add(Code::ipatch, pattern, std::move(handler), std::move(link));
    }

    /// Serves `document` at /.well-known/core instead of the generated one (still filtered by
    /// the query). Throws std::invalid_argument when it is not CoRE Link Format (RFC 6690 §2).
    Router& well_known_core(std::string document);

    /// The whole, unfiltered document served at /.well-known/core: the one given to
    /// `well_known_core`, or else one link per route pattern, in the order the patterns were
    /// first added, with the route's attributes. Left out: hidden routes, /.well-known/core
    /// itself, and patterns with a `:name` or `*` segment unless they were given link attributes
    /// (they are then listed as written, e.g. `</sensor/:id>;rt="sensor"`). Characters a URI
    /// path cannot hold are percent-encoded in the href (RFC 3986 §3.3).
    std::string link_format() const;

    /// Dispatches `request` as the class comment describes.
    HandlerResult operator()(Request& request) const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace coap
