// libFuzzer target for the URI helpers (RFC 7252 §6.4, §6.5): split_uri, UriOptions and
// compose_uri, on any string.
//
// The input is a URI (any bytes). Where splitting and decomposing succeed, the URI is composed
// back from the options and split again: the second round must give the same host, port, scheme
// and Uri-Path/Uri-Query options, and composing once more must give the very same string (the
// composed form is a fixed point, RFC 7252 §6.3's normal form). The same input is also fed to
// append_path_and_query/append_path/append_query as a relative reference, on a builder that
// already holds options: a failed append must leave the builder exactly as it was.
// Everything split_uri returns must view the input. Any violated invariant traps.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

#include "coap/coap.hpp"
#include "coap/uri.hpp"
#include "fuzz_input.hpp"

namespace {

using coap::fuzz::check;

using Builder = coap::UriOptions<32, 1280>;

bool inside(std::string_view part, std::string_view whole) {
    if (part.empty()) return true;
    return part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size();
}

bool same_options(std::span<const coap::Option> a, std::span<const coap::Option> b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (a[i].number != b[i].number || a[i].value.size() != b[i].value.size()) return false;
        if (!a[i].value.empty() &&
            std::memcmp(a[i].value.data(), b[i].value.data(), a[i].value.size()) != 0)
            return false;
    }
    return true;
}

// The options without Uri-Host: whether a host is an option or the destination differs between
// rounds ("%31.2.3.4" is a reg-name, its decoded form "1.2.3.4" an IPv4 address).
std::vector<coap::Option> path_and_query(std::span<const coap::Option> options) {
    std::vector<coap::Option> out;
    for (const coap::Option& option : options)
        if (option.number != coap::OptionNumber::uri_host) out.push_back(option);
    return out;
}

// Options sorted by number, keeping the order among equal numbers (as on the wire).
std::vector<coap::Option> by_number(std::vector<coap::Option> options) {
    std::stable_sort(options.begin(), options.end(),
                     [](const coap::Option& x, const coap::Option& y) {
                         return coap::to_int(x.number) < coap::to_int(y.number);
                     });
    return options;
}

// The host a request goes to, as text: the decoded Uri-Host, else the URI's IP address.
std::string_view host_of(const coap::UriParts& parts, std::span<const coap::Option> options) {
    for (const coap::Option& option : options)
        if (option.number == coap::OptionNumber::uri_host) return option.as_string();
    return parts.host;
}

// The destination compose_uri needs when there is no Uri-Host: IP literals keep their brackets
// so that a zone ("%25...") and IPvFuture pass through as written.
struct Destination {
    std::array<char, 512> storage{};
    coap::UriDestination value;
    explicit Destination(const coap::UriParts& parts) {
        value.port = parts.port;
        value.secure = parts.secure;
        if (!parts.host_is_ip_literal()) {
            value.host = parts.host;
            return;
        }
        check(parts.host.size() + 2 <= storage.size());
        storage[0] = '[';
        std::memcpy(storage.data() + 1, parts.host.data(), parts.host.size());
        storage[parts.host.size() + 1] = ']';
        value.host = std::string_view(storage.data(), parts.host.size() + 2);
    }
};

// compose_uri over a span and over an encoded message must agree.
coap::Expected<std::size_t, coap::UriError> compose_both(std::span<const coap::Option> options,
                                                         const coap::UriDestination& destination,
                                                         std::span<char> out) {
    auto from_span = compose_uri(options, destination, out);
    std::array<std::uint8_t, 2048> datagram{};
    coap::Message message{coap::MessageType::con, coap::Code::get, 1, {}, options, {}};
    auto written = coap::encode(message, datagram);
    if (!written) return from_span;
    auto view = coap::parse(coap::Bytes(datagram.data(), *written));
    check(view.has_value());
    std::vector<char> other(out.size());
    auto from_message = compose_uri(*view, destination, other);
    check(from_message.has_value() == from_span.has_value());
    if (from_span) {
        check(*from_message == *from_span);
        check(std::memcmp(other.data(), out.data(), *from_span) == 0);
    } else {
        check(from_message.error() == from_span.error());
    }
    return from_span;
}

void round_trip(std::string_view uri) {
    auto parts = coap::split_uri(uri);
    if (!parts) return;
    check(inside(parts->host, uri) && inside(parts->path, uri) && inside(parts->query, uri));
    check(parts->path.empty() || parts->path.front() == '/');
    check(parts->has_query || parts->query.empty());
    check(!parts->host.empty());

    Builder first;
    if (!first.append_parts(*parts)) {
        check(first.empty() && first.bytes_used() == 0);
        return;
    }
    // A URI in normal form is at most three times its decoded bytes plus the fixed parts.
    std::vector<char> composed(3 * uri.size() + 600);
    Destination destination(*parts);
    auto length = compose_both(first.options(), destination.value, composed);
    if (!length) return;  // e.g. a decoded Uri-Host that is no valid reg-name (§6.5 step 2)
    std::string_view again(composed.data(), *length);

    auto second = coap::split_uri(again);
    check(second.has_value());
    check(second->secure == parts->secure && second->port == parts->port);
    Builder second_options;
    check(second_options.append_parts(*second).has_value());
    check(host_of(*second, second_options.options()) == host_of(*parts, first.options()));
    auto a = path_and_query(first.options());
    auto b = path_and_query(second_options.options());
    check(same_options(a, b));

    std::vector<char> recomposed(composed.size() + 600);
    Destination second_destination(*second);
    auto length2 = compose_both(second_options.options(), second_destination.value, recomposed);
    check(length2.has_value());
    check(std::string_view(recomposed.data(), *length2) == again);
}

// A builder that already holds two options keeps them, and a failed append changes nothing.
void relative(std::string_view text, int which) {
    Builder builder;
    check(builder.append_path("pre").has_value());
    check(builder.append_query("q=1").has_value());
    std::size_t count = builder.size();
    std::size_t used = builder.bytes_used();
    coap::Expected<std::size_t, coap::UriError> added = which == 0
                                                            ? builder.append_path_and_query(text)
                                                        : which == 1 ? builder.append_path(text)
                                                                     : builder.append_query(text);
    if (!added) {
        check(builder.size() == count && builder.bytes_used() == used);
        return;
    }
    check(builder.size() == count + *added);
    check(builder.options()[0].as_string() == "pre");
    check(builder.bytes_used() <= builder.byte_capacity());
    for (const coap::Option& option : builder.options())
        check(option.value.size() <= coap::max_uri_option_length);
    std::vector<char> composed(3 * text.size() + 600);
    coap::UriDestination destination{"192.0.2.1", 61616, false};
    auto length = compose_both(builder.options(), destination, composed);
    if (!length) return;
    // The composed URI decomposes into the same path and query (RFC 7252 §6.3 normal form).
    Builder back;
    auto parts = back.append_uri(std::string_view(composed.data(), *length));
    check(parts.has_value());
    check(parts->port == 61616 && parts->host == "192.0.2.1");
    check(same_options(by_number(path_and_query(builder.options())), back.options()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    round_trip(text);
    // The first byte picks the relative form; the rest is the reference.
    if (!text.empty()) relative(text.substr(1), static_cast<unsigned char>(text.front()) % 3);
    return 0;
}
