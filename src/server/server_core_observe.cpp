// The server core's side of Observe (RFC 7641): registrations and deregistrations decided after
// the handler ran. Notifications themselves go out from the ObserverTable in on_timers().
#include "server_core.hpp"

namespace coap::detail {

namespace {

// RFC 7641 §2 defines Observe for GET; RFC 8132 §2.4 extends it to FETCH.
bool observable_method(Code method) noexcept {
    return method == Code::get || method == Code::fetch;
}

}  // namespace

bool ServerCore::observe(const Request& request, ResourceId resource) noexcept {
    if (to_int(resource) >= hub_->resource_count()) return false;
    observe_resource_ = resource;
    auto observe = request.message().find_uint(OptionNumber::observe);
    return observe == 0u && observable_method(request.method());
}

// §3.1/§4.1: Observe=0 on an observable resource with a 2.xx answer registers (or refreshes the
// registration with the same token); §3.6: Observe=1 deregisters. A registration the table has
// no room for is answered without Observe, which tells the client it is not registered. `sent`
// is the code that goes out, which may differ from the handler's (see answer()).
std::optional<std::uint32_t> ServerCore::settle_observation(const Request& request,
                                                            const BlockLayer::Plan& plan,
                                                            Code sent) noexcept {
    const MessageView& message = request.message();
    auto observe = message.find_uint(OptionNumber::observe);
    if (!observe || *observe > 1 || !observable_method(request.method())) return std::nullopt;
    if (*observe == 0 && observe_resource_ && is_success(sent)) {
        Registration registration =
            observers_.add(*observe_resource_, request.peer(), message.token(), plan.block2, now_);
        if (registration != Registration::full) return observers_.next_sequence();
        ++stats_.observe_refused;
        return std::nullopt;
    }
    // Observe=1, or a registration answered without Observe (an error, §4.2, or a resource that
    // is not observable): the client takes the observation as ended (§3.2), so an earlier entry
    // with this token must not go on notifying it.
    observers_.remove(request.peer(), message.token());
    return std::nullopt;
}

}  // namespace coap::detail
