// Running SHA-256 over OpenSSL EVP_MD_CTX; snapshots finalise a copy (EVP_MD_CTX_copy_ex).
#include "dtls/transcript_hash.hpp"

#include <openssl/evp.h>

#include <utility>

namespace coap::dtls {

TranscriptHash::TranscriptHash() noexcept : running_(EVP_MD_CTX_new()), scratch_(EVP_MD_CTX_new()) {
    if (!valid() || !reset()) {
        EVP_MD_CTX_free(running_);
        EVP_MD_CTX_free(scratch_);
        running_ = scratch_ = nullptr;
    }
}

TranscriptHash::~TranscriptHash() {
    EVP_MD_CTX_free(running_);
    EVP_MD_CTX_free(scratch_);
}

TranscriptHash::TranscriptHash(TranscriptHash&& other) noexcept
    : running_(std::exchange(other.running_, nullptr)),
      scratch_(std::exchange(other.scratch_, nullptr)) {}

TranscriptHash& TranscriptHash::operator=(TranscriptHash&& other) noexcept {
    std::swap(running_, other.running_);
    std::swap(scratch_, other.scratch_);
    return *this;
}

bool TranscriptHash::reset() noexcept {
    return running_ != nullptr && EVP_DigestInit_ex(running_, EVP_sha256(), nullptr) == 1;
}

bool TranscriptHash::update(Bytes data) noexcept {
    if (!valid()) return false;
    return data.empty() || EVP_DigestUpdate(running_, data.data(), data.size()) == 1;
}

bool TranscriptHash::snapshot(std::span<std::uint8_t, sha256_size> out) noexcept {
    if (!valid() || EVP_MD_CTX_copy_ex(scratch_, running_) != 1) return false;
    unsigned int written = 0;
    return EVP_DigestFinal_ex(scratch_, out.data(), &written) == 1 && written == sha256_size;
}

}  // namespace coap::dtls
