// DTLS 1.2 PSK handshake message codec: RFC 6347 §4.2.1, §4.2.2; RFC 5246 §7.4.1.2-§7.4.9;
// RFC 4279 §2; RFC 7627 §5.1; RFC 5746 §3.2.
#include "dtls/handshake_codec.hpp"

#include "dtls/wire.hpp"

namespace coap::dtls {

namespace {

template <class T>
Expected<T, CodecError> finish(const WireReader& reader, T value) {
    if (!reader.ok()) return unexpected(CodecError::truncated);
    if (reader.remaining() != 0) return unexpected(CodecError::trailing_bytes);
    return value;
}

Expected<std::size_t, CodecError> written(const WireWriter& writer) {
    if (!writer.ok()) return unexpected(CodecError::buffer_too_small);
    return writer.size();
}

ProtocolVersion read_version(WireReader& reader) noexcept {
    ProtocolVersion version;
    version.major = reader.u8();
    version.minor = reader.u8();
    return version;
}

void write_version(WireWriter& writer, ProtocolVersion version) noexcept {
    writer.u8(version.major);
    writer.u8(version.minor);
}

// One recognised extension's contents; false when malformed or repeated.
Expected<bool, CodecError> apply_extension(std::uint16_t type, Bytes data,
                                           HelloExtensions& extensions) noexcept {
    if (type == static_cast<std::uint16_t>(ExtensionType::extended_master_secret)) {
        if (extensions.extended_master_secret) return unexpected(CodecError::duplicate_extension);
        if (!data.empty()) return unexpected(CodecError::bad_extension);  // RFC 7627 §5.1
        extensions.extended_master_secret = true;
    } else if (type == static_cast<std::uint16_t>(ExtensionType::renegotiation_info)) {
        if (extensions.renegotiation_info) return unexpected(CodecError::duplicate_extension);
        WireReader inner(data);
        extensions.renegotiated_connection = inner.vector8();
        if (!inner.finished()) return unexpected(CodecError::bad_extension);
        extensions.renegotiation_info = true;
    } else {
        extensions.unknown_extensions = true;
    }
    return true;
}

// RFC 5246 §7.4.1.2/§7.4.1.4: the extension block is optional; when present it must fill the
// rest of the body exactly.
Expected<HelloExtensions, CodecError> read_extensions(WireReader& reader) noexcept {
    HelloExtensions extensions;
    if (!reader.ok() || reader.remaining() == 0) return extensions;
    extensions.raw = reader.vector16();
    if (!reader.ok()) return unexpected(CodecError::truncated);
    WireReader list(extensions.raw);
    while (list.remaining() > 0) {
        const std::uint16_t type = list.u16();
        const Bytes data = list.vector16();
        if (!list.ok()) return unexpected(CodecError::bad_length);
        auto applied = apply_extension(type, data, extensions);
        if (!applied) return unexpected(applied.error());
    }
    return extensions;
}

bool valid_extensions(const HelloExtensions& extensions) noexcept {
    return extensions.renegotiated_connection.size() <= 0xff;
}

void write_extensions(WireWriter& writer, const HelloExtensions& extensions) noexcept {
    const bool ems = extensions.extended_master_secret;
    const bool reneg = extensions.renegotiation_info;
    if (!ems && !reneg) return;
    const std::size_t reneg_size = 1 + extensions.renegotiated_connection.size();
    writer.u16((ems ? 4 : 0) + (reneg ? 4 + reneg_size : 0));
    if (ems) {
        writer.u16(static_cast<std::uint16_t>(ExtensionType::extended_master_secret));
        writer.u16(0);
    }
    if (reneg) {
        writer.u16(static_cast<std::uint16_t>(ExtensionType::renegotiation_info));
        writer.u16(reneg_size);
        writer.vector(extensions.renegotiated_connection, 1);
    }
}

bool valid_cipher_suites(Bytes suites) noexcept {
    return suites.size() >= 2 && suites.size() <= 0xfffe && suites.size() % 2 == 0;
}

bool valid_compression_methods(Bytes methods) noexcept {
    return !methods.empty() && methods.size() <= 0xff;
}

}  // namespace

Expected<HandshakeFragment, CodecError> parse_handshake_fragment(Bytes input) noexcept {
    WireReader reader(input);
    HandshakeFragment fragment;
    HandshakeHeader& header = fragment.header;
    header.type = static_cast<HandshakeType>(reader.u8());
    header.length = reader.u24();
    header.message_seq = reader.u16();
    header.fragment_offset = reader.u24();
    header.fragment_length = reader.u24();
    if (!reader.ok()) return unexpected(CodecError::truncated);
    if (header.fragment_offset > header.length ||
        header.fragment_length > header.length - header.fragment_offset)
        return unexpected(CodecError::bad_length);
    fragment.body = reader.bytes(header.fragment_length);
    if (!reader.ok()) return unexpected(CodecError::truncated);
    return fragment;
}

bool write_handshake_header(const HandshakeHeader& header, MutableBytes out) noexcept {
    if (header.length > max_handshake_length || header.fragment_offset > max_handshake_length ||
        header.fragment_length > max_handshake_length)
        return false;
    WireWriter writer(out);
    writer.u8(static_cast<std::uint8_t>(header.type));
    writer.u24(header.length);
    writer.u16(header.message_seq);
    writer.u24(header.fragment_offset);
    writer.u24(header.fragment_length);
    return writer.ok();
}

Expected<HandshakeFragment, CodecError> HandshakeReader::next() noexcept {
    auto fragment = parse_handshake_fragment(rest_);
    if (!fragment) {
        rest_ = {};
        return fragment;
    }
    rest_ = rest_.subspan(handshake_header_size + fragment->body.size());
    return fragment;
}

bool ClientHello::offers_cipher_suite(std::uint16_t id) const noexcept {
    for (std::size_t i = 0; i + 1 < cipher_suites.size(); i += 2) {
        if (((cipher_suites[i] << 8) | cipher_suites[i + 1]) == id) return true;
    }
    return false;
}

bool ClientHello::offers_null_compression() const noexcept {
    for (std::uint8_t method : compression_methods) {
        if (method == 0) return true;
    }
    return false;
}

// RFC 6347 §4.2.1: ClientHello with the cookie between session_id and cipher_suites.
Expected<ClientHello, CodecError> parse_client_hello(Bytes body) noexcept {
    WireReader reader(body);
    ClientHello hello;
    hello.client_version = read_version(reader);
    hello.random = reader.bytes(random_size);
    hello.session_id = reader.vector8();
    hello.cookie = reader.vector8();
    hello.cipher_suites = reader.vector16();
    hello.compression_methods = reader.vector8();
    if (!reader.ok()) return unexpected(CodecError::truncated);
    if (hello.session_id.size() > max_session_id_size ||
        !valid_cipher_suites(hello.cipher_suites) ||
        !valid_compression_methods(hello.compression_methods))
        return unexpected(CodecError::bad_length);
    auto extensions = read_extensions(reader);
    if (!extensions) return unexpected(extensions.error());
    hello.extensions = *extensions;
    return finish(reader, hello);
}

Expected<std::size_t, CodecError> write_client_hello(const ClientHello& hello,
                                                     MutableBytes out) noexcept {
    if (hello.random.size() != random_size || hello.session_id.size() > max_session_id_size ||
        hello.cookie.size() > 0xff || !valid_cipher_suites(hello.cipher_suites) ||
        !valid_compression_methods(hello.compression_methods) ||
        !valid_extensions(hello.extensions))
        return unexpected(CodecError::bad_value);
    WireWriter writer(out);
    write_version(writer, hello.client_version);
    writer.bytes(hello.random);
    writer.vector(hello.session_id, 1);
    writer.vector(hello.cookie, 1);
    writer.vector(hello.cipher_suites, 2);
    writer.vector(hello.compression_methods, 1);
    write_extensions(writer, hello.extensions);
    return written(writer);
}

Expected<HelloVerifyRequest, CodecError> parse_hello_verify_request(Bytes body) noexcept {
    WireReader reader(body);
    HelloVerifyRequest request;
    request.server_version = read_version(reader);
    request.cookie = reader.vector8();
    return finish(reader, request);
}

Expected<std::size_t, CodecError> write_hello_verify_request(const HelloVerifyRequest& request,
                                                             MutableBytes out) noexcept {
    if (request.cookie.size() > 0xff) return unexpected(CodecError::bad_value);
    WireWriter writer(out);
    write_version(writer, request.server_version);
    writer.vector(request.cookie, 1);
    return written(writer);
}

// RFC 5246 §7.4.1.3.
Expected<ServerHello, CodecError> parse_server_hello(Bytes body) noexcept {
    WireReader reader(body);
    ServerHello hello;
    hello.server_version = read_version(reader);
    hello.random = reader.bytes(random_size);
    hello.session_id = reader.vector8();
    hello.cipher_suite = reader.u16();
    hello.compression_method = reader.u8();
    if (!reader.ok()) return unexpected(CodecError::truncated);
    if (hello.session_id.size() > max_session_id_size) return unexpected(CodecError::bad_length);
    auto extensions = read_extensions(reader);
    if (!extensions) return unexpected(extensions.error());
    hello.extensions = *extensions;
    return finish(reader, hello);
}

Expected<std::size_t, CodecError> write_server_hello(const ServerHello& hello,
                                                     MutableBytes out) noexcept {
    if (hello.random.size() != random_size || hello.session_id.size() > max_session_id_size ||
        !valid_extensions(hello.extensions))
        return unexpected(CodecError::bad_value);
    WireWriter writer(out);
    write_version(writer, hello.server_version);
    writer.bytes(hello.random);
    writer.vector(hello.session_id, 1);
    writer.u16(hello.cipher_suite);
    writer.u8(hello.compression_method);
    write_extensions(writer, hello.extensions);
    return written(writer);
}

Expected<PskServerKeyExchange, CodecError> parse_psk_server_key_exchange(Bytes body) noexcept {
    WireReader reader(body);
    PskServerKeyExchange message;
    message.identity_hint = reader.vector16();
    return finish(reader, message);
}

Expected<std::size_t, CodecError> write_psk_server_key_exchange(const PskServerKeyExchange& message,
                                                                MutableBytes out) noexcept {
    if (message.identity_hint.size() > 0xffff) return unexpected(CodecError::bad_value);
    WireWriter writer(out);
    writer.vector(message.identity_hint, 2);
    return written(writer);
}

Expected<ServerHelloDone, CodecError> parse_server_hello_done(Bytes body) noexcept {
    if (!body.empty()) return unexpected(CodecError::trailing_bytes);
    return ServerHelloDone{};
}

Expected<PskClientKeyExchange, CodecError> parse_psk_client_key_exchange(Bytes body) noexcept {
    WireReader reader(body);
    PskClientKeyExchange message;
    message.identity = reader.vector16();
    return finish(reader, message);
}

Expected<std::size_t, CodecError> write_psk_client_key_exchange(const PskClientKeyExchange& message,
                                                                MutableBytes out) noexcept {
    if (message.identity.size() > 0xffff) return unexpected(CodecError::bad_value);
    WireWriter writer(out);
    writer.vector(message.identity, 2);
    return written(writer);
}

Expected<Finished, CodecError> parse_finished(Bytes body) noexcept {
    WireReader reader(body);
    Finished finished;
    finished.verify_data = reader.bytes(verify_data_size);
    return finish(reader, finished);
}

Expected<std::size_t, CodecError> write_finished(const Finished& finished,
                                                 MutableBytes out) noexcept {
    if (finished.verify_data.size() != verify_data_size) return unexpected(CodecError::bad_value);
    WireWriter writer(out);
    writer.bytes(finished.verify_data);
    return written(writer);
}

}  // namespace coap::dtls
