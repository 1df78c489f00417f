// Umbrella header: everything in the public API.
#pragma once

#include "coap/bytes.hpp"
#include "coap/client.hpp"
#include "coap/codes.hpp"
#include "coap/content_format.hpp"
#include "coap/expected.hpp"
#include "coap/message.hpp"
#include "coap/option.hpp"
#include "coap/router.hpp"
#include "coap/uri.hpp"
