// Reassembly of one fragmented handshake message (RFC 6347 §4.2.3) into a buffer the caller
// owns. Fragments may arrive in any order and overlap; coverage is kept as a short sorted list
// of disjoint byte ranges, so memory is fixed. A fragment that would need more ranges than that
// is refused (the peer retransmits the flight), as is one that disagrees with the message
// type, length or message_seq fixed by the first fragment.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "coap/bytes.hpp"
#include "coap/expected.hpp"
#include "dtls/handshake_codec.hpp"

namespace coap::dtls {

class HandshakeReassembler {
  public:
    /// Disjoint received ranges tracked at once.
    static constexpr std::size_t max_ranges = 8;

    /// Messages up to buffer.size() bytes can be reassembled into `buffer`.
    explicit HandshakeReassembler(MutableBytes buffer) noexcept : buffer_(buffer) {}

    /// Adds a fragment; returns whether the message is now complete. Errors leave the state as
    /// it was: mismatch (other message), too_large (longer than the buffer), too_fragmented.
    /// Fragments arriving after completion are checked and ignored.
    Expected<bool, CodecError> add(const HandshakeFragment& fragment) noexcept;

    bool started() const noexcept { return started_; }
    bool complete() const noexcept {
        return started_ && (header_.length == 0 || (range_count_ == 1 && ranges_[0].begin == 0 &&
                                                    ranges_[0].end == header_.length));
    }
    /// The message's type, length and message_seq, as an unfragmented header (offset 0, fragment
    /// length = length): what the transcript hash covers (RFC 6347 §4.2.6).
    HandshakeHeader header() const noexcept;
    /// The reassembled body; meaningful once complete().
    Bytes message() const noexcept { return Bytes(buffer_).first(header_.length); }

    /// Forgets the message; the buffer is reused for the next one.
    void reset() noexcept {
        started_ = false;
        range_count_ = 0;
        header_ = {};
    }

  private:
    struct Range {
        std::uint32_t begin;
        std::uint32_t end;
    };

    bool cover(Range range) noexcept;

    MutableBytes buffer_;
    HandshakeHeader header_{};
    std::array<Range, max_ranges> ranges_{};
    std::size_t range_count_ = 0;
    bool started_ = false;
};

}  // namespace coap::dtls
