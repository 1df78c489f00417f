// Names of message types and codes (RFC 7252 §12.1, RFC 7959, RFC 8132, RFC 8323, RFC 8516,
// RFC 8768).
#include "coap/codes.hpp"

namespace coap {

std::string_view type_name(MessageType type) noexcept {
    switch (type) {
        case MessageType::con:
            return "CON";
        case MessageType::non:
            return "NON";
        case MessageType::ack:
            return "ACK";
        case MessageType::rst:
            return "RST";
    }
    return "???";
}

std::string_view code_name(Code code) noexcept {
    switch (code) {
        case Code::empty:
            return "Empty";
        case Code::get:
            return "GET";
        case Code::post:
            return "POST";
        case Code::put:
            return "PUT";
        case Code::del:
            return "DELETE";
        case Code::fetch:
            return "FETCH";
        case Code::patch:
            return "PATCH";
        case Code::ipatch:
            return "iPATCH";
        case Code::created:
            return "Created";
        case Code::deleted:
            return "Deleted";
        case Code::valid:
            return "Valid";
        case Code::changed:
            return "Changed";
        case Code::content:
            return "Content";
        case Code::continue_:
            return "Continue";
        case Code::bad_request:
            return "Bad Request";
        case Code::unauthorized:
            return "Unauthorized";
        case Code::bad_option:
            return "Bad Option";
        case Code::forbidden:
            return "Forbidden";
        case Code::not_found:
            return "Not Found";
        case Code::method_not_allowed:
            return "Method Not Allowed";
        case Code::not_acceptable:
            return "Not Acceptable";
        case Code::request_entity_incomplete:
            return "Request Entity Incomplete";
        case Code::conflict:
            return "Conflict";
        case Code::precondition_failed:
            return "Precondition Failed";
        case Code::request_entity_too_large:
            return "Request Entity Too Large";
        case Code::unsupported_content_format:
            return "Unsupported Content-Format";
        case Code::unprocessable_entity:
            return "Unprocessable Entity";
        case Code::too_many_requests:
            return "Too Many Requests";
        case Code::internal_server_error:
            return "Internal Server Error";
        case Code::not_implemented:
            return "Not Implemented";
        case Code::bad_gateway:
            return "Bad Gateway";
        case Code::service_unavailable:
            return "Service Unavailable";
        case Code::gateway_timeout:
            return "Gateway Timeout";
        case Code::proxying_not_supported:
            return "Proxying Not Supported";
        case Code::hop_limit_reached:
            return "Hop Limit Reached";
        case Code::csm:
            return "CSM";
        case Code::ping:
            return "Ping";
        case Code::pong:
            return "Pong";
        case Code::release:
            return "Release";
        case Code::abort:
            return "Abort";
    }
    return {};
}

}  // namespace coap
