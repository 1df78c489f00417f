// The ETSI CoAP#4 plugtest resources (TD_COAP_CORE, TD_COAP_LINK) served by coapd.
#pragma once

#include "coap/router.hpp"
#include "separate_responder.hpp"

namespace coapd {

/// Adds the plugtest resources to `router`. Their state lives in static storage guarded by a
/// mutex, so the routes may be served from several threads.
/// `/separate` defers its requests to `responder`, which must outlive the router.
void add_plugtest_resources(coap::Router& router, SeparateResponder& responder);

}  // namespace coapd
