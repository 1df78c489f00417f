// coaps:// glue between the io worker, the DTLS server and the protocol core.
#include "secure_core_adapter.hpp"

#include <map>
#include <memory>
#include <stdexcept>
#include <string>

namespace coap::detail {

namespace {

using KeyMap = std::map<std::string, dtls::PskKey, std::less<>>;

// RFC 4279 §5.1: identities are compared byte by byte; configured keys first, then the
// application's resolver.
dtls::PskLookup make_lookup(const ServerDtlsConfig& config) {
    auto keys = std::make_shared<KeyMap>();
    for (const PskCredentials& credentials : config.keys)
        keys->insert_or_assign(credentials.identity, dtls::PskKey(Bytes(credentials.key)));
    return [keys, resolver = config.resolver](
               std::string_view identity) noexcept -> std::optional<dtls::PskKey> {
        if (auto it = keys->find(identity); it != keys->end()) return it->second;
        if (!resolver) return std::nullopt;
        try {
            auto key = resolver(identity);
            if (!key || key->empty() || key->size() > max_psk_key_size) return std::nullopt;
            return dtls::PskKey(Bytes(*key));
        } catch (...) {
            return std::nullopt;  // a throwing resolver fails the handshake, not the worker
        }
    };
}

}  // namespace

dtls::DtlsServerConfig dtls_server_config(const ServerDtlsConfig& config, std::size_t mtu) {
    dtls::DtlsServerConfig out;
    out.session_count = config.session_count;
    out.handshake_count = config.handshake_count;
    out.resumption_cache_size = config.resumption_cache_size;
    out.session_idle_timeout = config.session_idle_timeout;
    out.mtu = mtu;
    out.handshake.extended_master_secret = config.extended_master_secret;
    out.handshake.identity_hint = config.identity_hint;
    out.handshake.psk_lookup = make_lookup(config);
    return out;
}

std::size_t dtls_record_overhead() noexcept {
    return dtls::sealed_record_size(dtls::tls_psk_with_aes_128_ccm_8, 0);
}

class SecureCoreAdapter::SealingSink final : public DatagramSink {
  public:
    SealingSink(SecureCoreAdapter& adapter, TimePoint now) noexcept
        : adapter_(adapter), now_(now) {}
    bool send(const Endpoint& peer, Bytes datagram) noexcept override {
        return adapter_.dtls_.seal_to(peer, datagram, now_, adapter_).has_value();
    }
    bool reachable(const Endpoint& peer) const noexcept override {
        return adapter_.dtls_.has_session(peer);
    }
    std::size_t available() const noexcept override {
        return adapter_.out_ != nullptr ? adapter_.out_->available() : 0;
    }

  private:
    SecureCoreAdapter& adapter_;
    TimePoint now_;
};

SecureCoreAdapter::SecureCoreAdapter(ServerCore& core, const dtls::DtlsServerConfig& config,
                                     std::size_t buffer_size)
    : core_(core), dtls_(config), plain_reply_(buffer_size) {
    if (!dtls_.valid())
        throw std::runtime_error("coaps: OpenSSL could not set up the DTLS contexts");
}

std::size_t SecureCoreAdapter::on_datagram(const Endpoint& peer, Bytes datagram, TimePoint now,
                                           MutableBytes) noexcept {
    now_ = now;
    dtls_.on_datagram(peer, datagram, now, *this);
    return 0;  // everything, sealed or handshake, went out through the outbox
}

void SecureCoreAdapter::received(const Endpoint& peer, Bytes application_data) noexcept {
    const Bytes identity = dtls_.identity_of(peer);
    core_.set_peer_identity(
        std::string_view(reinterpret_cast<const char*>(identity.data()), identity.size()));
    const std::size_t length = core_.on_datagram(peer, application_data, now_, plain_reply_);
    core_.set_peer_identity({});
    if (length != 0) (void)dtls_.seal_to(peer, Bytes(plain_reply_).first(length), now_, *this);
}

void SecureCoreAdapter::send(const Endpoint& peer, Bytes datagram) noexcept {
    if (out_ != nullptr) out_->send(peer, datagram);
}

void SecureCoreAdapter::on_batch_end(TimePoint now, io::Outbox&) noexcept {
    if (auto deadline = dtls_.next_deadline(); deadline && *deadline <= now)
        dtls_.on_timer(now, *this);
    SealingSink sink(*this, now);
    core_.on_timers(now, sink);
}

}  // namespace coap::detail
