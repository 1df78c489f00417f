// The running SHA-256 of the handshake messages (RFC 5246 §7.4.9 handshake_messages, RFC 7627
// §3 session_hash). DTLS hashes every message as if it had been sent as one fragment
// (RFC 6347 §4.2.6), without the first ClientHello and HelloVerifyRequest (§4.2.1): choosing
// what to feed is the state machine's job. One OpenSSL digest context per handshake.
#pragma once

#include <cstdint>
#include <span>

#include "coap/bytes.hpp"
#include "dtls/crypto.hpp"

struct evp_md_ctx_st;

namespace coap::dtls {

class TranscriptHash {
  public:
    /// Allocates the digest contexts; valid() is false if OpenSSL could not.
    TranscriptHash() noexcept;
    ~TranscriptHash();
    TranscriptHash(TranscriptHash&& other) noexcept;
    TranscriptHash& operator=(TranscriptHash&& other) noexcept;
    TranscriptHash(const TranscriptHash&) = delete;
    TranscriptHash& operator=(const TranscriptHash&) = delete;

    bool valid() const noexcept { return running_ != nullptr && scratch_ != nullptr; }

    /// Starts over with the hash of nothing.
    [[nodiscard]] bool reset() noexcept;
    /// Appends bytes to the transcript.
    [[nodiscard]] bool update(Bytes data) noexcept;
    /// The SHA-256 of everything appended so far; the transcript keeps running.
    [[nodiscard]] bool snapshot(std::span<std::uint8_t, sha256_size> out) noexcept;

  private:
    evp_md_ctx_st* running_ = nullptr;
    evp_md_ctx_st* scratch_ = nullptr;  // the copy that is finalised by snapshot()
};

}  // namespace coap::dtls
