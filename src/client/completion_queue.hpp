// Finished requests waiting for Client::poll / poll_into or a blocking call: a fixed number of
// slots allocated from the config at construction, like NotificationQueue, so that completing
// a request allocates nothing. A slot holds the response datagram and, for a Block2 response
// (RFC 7959 §2.4), the reassembled body after it. Sans-I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "coap/client.hpp"

namespace coap::detail {

/// The whole-body datagram of a block-wise message (RFC 7959 §2.4, §2.6): `head`'s header and
/// options without Block2, and `body` as its payload. The bytes written, or `too_large`.
Expected<std::size_t, ClientError> write_reassembled(MutableBytes out, const MessageView& head,
                                                     Bytes body) noexcept;

class CompletionQueue {
  public:
    /// One finished request: its error, or its datagram (and reassembled body) in `slot`.
    struct Entry {
        RequestHandle handle = 0;
        std::uint32_t slot = 0;
        std::uint32_t datagram_length = 0;
        std::uint32_t body_length = 0;
        ClientError error = ClientError::cancelled;
        bool has_error = false;
        bool reassembled = false;  // body_length bytes of reassembled body follow the datagram
    };

    /// `slots` entries of `slot_size` bytes each. The owner keeps completions within `slots`
    /// (submit's `busy`); beyond it the queue grows rather than losing one.
    CompletionQueue(std::size_t slots, std::size_t slot_size);

    void push_error(RequestHandle handle, ClientError error);
    /// Queues a copy of `datagram`, and of `body` when the response was reassembled. A slot
    /// grows (once) for a body larger than any before it and keeps that size.
    void push_response(RequestHandle handle, Bytes datagram, std::optional<Bytes> body);

    /// Removes and returns the oldest entry. Its bytes stay valid until the next push.
    std::optional<Entry> take_front() noexcept;
    /// Removes and returns the entry of `handle`, if queued; the others keep their order.
    std::optional<Entry> take(RequestHandle handle) noexcept;

    Bytes datagram(const Entry& entry) const noexcept;
    Bytes body(const Entry& entry) const noexcept;
    /// The response into `out`: the datagram as received, or for a reassembled one the whole
    /// body in the last block's datagram (write_reassembled). The length, the entry's error, or
    /// `too_large` when it does not fit.
    Expected<std::size_t, ClientError> copy_into(const Entry& entry, MutableBytes out) const;
    /// The response as a ClientResponse (allocates: the owning form of the API).
    ClientResult to_result(const Entry& entry) const;

    std::size_t size() const noexcept { return count_; }

  private:
    Entry& at(std::size_t index) noexcept { return ring_[(head_ + index) % ring_.size()]; }
    Entry& append();
    void grow();

    std::vector<Entry> ring_;  // count_ entries from head_, oldest first
    std::size_t head_ = 0;
    std::size_t count_ = 0;
    std::vector<std::vector<std::uint8_t>> storage_;
    std::vector<std::uint32_t> free_;  // taken last-in first-out: recently used slots are warm
};

}  // namespace coap::detail
