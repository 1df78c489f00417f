// The ETSI CoAP#4 block-wise resources (TD_COAP_BLOCK_01-06) served by coapd.
#pragma once

#include "coap/router.hpp"

namespace coapd {

/// Adds /large (a 2 KiB read-only text), /large-update (PUT), /large-create (POST, then GET at
/// the returned location) and /large-post (POST answered with a large body: both directions).
/// Bodies arrive whole: the server reassembles Block1 uploads and slices large responses.
void add_block_resources(coap::Router& router);

}  // namespace coapd
