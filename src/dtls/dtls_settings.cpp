// Validation of the public DTLS settings (include/coap/dtls.hpp): clear messages at set-up.
#include <string>

#include "coap/dtls.hpp"

namespace coap {

std::string PskCredentials::validate() const {
    if (identity.size() > max_psk_identity_size)
        return "identity: at most " + std::to_string(max_psk_identity_size) + " bytes";
    if (key.empty()) return "key: must not be empty";
    if (key.size() > max_psk_key_size)
        return "key: at most " + std::to_string(max_psk_key_size) + " bytes";
    return {};
}

std::string ServerDtlsConfig::validate() const {
    if (keys.empty() && !resolver) return "keys or resolver: give at least one PSK";
    for (const PskCredentials& credentials : keys)
        if (std::string problem = credentials.validate(); !problem.empty())
            return "keys[" + credentials.identity + "]." + problem;
    if (identity_hint.size() > max_psk_identity_size)
        return "identity_hint: at most " + std::to_string(max_psk_identity_size) + " bytes";
    if (session_count == 0) return "session_count: must be at least 1";
    if (handshake_count == 0) return "handshake_count: must be at least 1";
    if (session_idle_timeout <= Duration::zero()) return "session_idle_timeout: must be positive";
    return {};
}

}  // namespace coap
