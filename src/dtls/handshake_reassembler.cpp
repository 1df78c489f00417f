// Handshake message reassembly with a fixed list of received ranges (RFC 6347 §4.2.3).
#include "dtls/handshake_reassembler.hpp"

#include <algorithm>
#include <cstring>

namespace coap::dtls {

HandshakeHeader HandshakeReassembler::header() const noexcept {
    HandshakeHeader whole = header_;
    whole.fragment_offset = 0;
    whole.fragment_length = whole.length;
    return whole;
}

// Merges `range` into the sorted, disjoint, non-adjacent list; false (list unchanged) when the
// result would need more than max_ranges entries.
bool HandshakeReassembler::cover(Range range) noexcept {
    std::size_t first = 0;  // first range that ends at or after range.begin
    while (first < range_count_ && ranges_[first].end < range.begin)
        ++first;
    std::size_t last = first;  // one past the last range that starts at or before range.end
    while (last < range_count_ && ranges_[last].begin <= range.end)
        ++last;
    const std::size_t merged = last - first;
    if (merged == 0 && range_count_ == max_ranges) return false;
    if (merged > 0) {
        range.begin = std::min(range.begin, ranges_[first].begin);
        range.end = std::max(range.end, ranges_[last - 1].end);
    }
    // Replace ranges_[first, last) by the one merged range.
    const std::size_t after = range_count_ - last;
    if (merged == 0) {
        std::copy_backward(ranges_.begin() + first, ranges_.begin() + range_count_,
                           ranges_.begin() + range_count_ + 1);
    } else {
        std::copy(ranges_.begin() + last, ranges_.begin() + range_count_,
                  ranges_.begin() + first + 1);
    }
    ranges_[first] = range;
    range_count_ = first + 1 + after;
    return true;
}

Expected<bool, CodecError> HandshakeReassembler::add(const HandshakeFragment& fragment) noexcept {
    const HandshakeHeader& in = fragment.header;
    // parse_handshake_fragment guarantees this; a hand-made fragment might not.
    if (in.fragment_offset > in.length || in.fragment_length > in.length - in.fragment_offset ||
        fragment.body.size() != in.fragment_length)
        return unexpected(CodecError::bad_length);
    if (started_ && (in.type != header_.type || in.length != header_.length ||
                     in.message_seq != header_.message_seq))
        return unexpected(CodecError::mismatch);
    if (in.length > buffer_.size()) return unexpected(CodecError::too_large);
    if (complete()) return true;

    const Range range{in.fragment_offset, in.fragment_offset + in.fragment_length};
    if (range.end > range.begin && !cover(range)) return unexpected(CodecError::too_fragmented);
    // Overlapping bytes of a retransmission are the same message: overwriting is harmless.
    if (!fragment.body.empty())
        std::memcpy(buffer_.data() + range.begin, fragment.body.data(), fragment.body.size());
    if (!started_) {
        header_ = in;
        started_ = true;
    }
    return complete();
}

}  // namespace coap::dtls
