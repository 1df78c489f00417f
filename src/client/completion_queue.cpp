// Finished requests in fixed slots: the ring of entries, the slots, and copying a response out
// to the caller (RFC 7959 §2.4: a reassembled body is handed over whole).
#include "client/completion_queue.hpp"

#include <algorithm>

namespace coap::detail {

Expected<std::size_t, ClientError> write_reassembled(MutableBytes out, const MessageView& head,
                                                     Bytes body) noexcept {
    MessageWriter writer(out);
    writer.header(head.type(), head.code(), head.message_id(), head.token());
    for (const Option& option : head.options())
        if (option.number != OptionNumber::block2) writer.option(option.number, option.value);
    writer.payload(body);
    auto written = writer.finish();
    if (!written) return unexpected(ClientError::too_large);
    return *written;
}

CompletionQueue::CompletionQueue(std::size_t slots, std::size_t slot_size) {
    slots = std::max<std::size_t>(1, slots);
    ring_.resize(slots);
    storage_.resize(slots);
    free_.reserve(slots);
    for (std::size_t i = 0; i < slots; ++i) {
        storage_[i].resize(slot_size);
        free_.push_back(static_cast<std::uint32_t>(slots - 1 - i));
    }
}

// Only when the owner's bound is broken: allocating beats dropping a completion.
void CompletionQueue::grow() {
    std::vector<Entry> larger(ring_.size() * 2);
    for (std::size_t i = 0; i < count_; ++i)
        larger[i] = at(i);
    ring_ = std::move(larger);
    head_ = 0;
    std::size_t first_new = storage_.size();
    storage_.resize(ring_.size());
    for (std::size_t i = first_new; i < storage_.size(); ++i)
        free_.push_back(static_cast<std::uint32_t>(i));
}

CompletionQueue::Entry& CompletionQueue::append() {
    if (count_ == ring_.size()) grow();
    Entry& entry = at(count_++);
    entry = Entry{};
    return entry;
}

void CompletionQueue::push_error(RequestHandle handle, ClientError error) {
    Entry& entry = append();
    entry.handle = handle;
    entry.error = error;
    entry.has_error = true;
}

void CompletionQueue::push_response(RequestHandle handle, Bytes datagram,
                                    std::optional<Bytes> body) {
    Entry& entry = append();
    entry.handle = handle;
    entry.slot = free_.back();  // every entry holds at most one slot: one is free
    free_.pop_back();
    entry.datagram_length = static_cast<std::uint32_t>(datagram.size());
    entry.reassembled = body.has_value();
    entry.body_length = body ? static_cast<std::uint32_t>(body->size()) : 0;
    std::vector<std::uint8_t>& slot = storage_[entry.slot];
    if (slot.size() < datagram.size() + entry.body_length)
        slot.resize(datagram.size() + entry.body_length);
    std::copy(datagram.begin(), datagram.end(), slot.begin());
    if (body)
        std::copy(body->begin(), body->end(),
                  slot.begin() + static_cast<std::ptrdiff_t>(datagram.size()));
}

std::optional<CompletionQueue::Entry> CompletionQueue::take_front() noexcept {
    if (count_ == 0) return std::nullopt;
    Entry entry = at(0);
    head_ = (head_ + 1) % ring_.size();
    --count_;
    if (!entry.has_error) free_.push_back(entry.slot);
    return entry;
}

std::optional<CompletionQueue::Entry> CompletionQueue::take(RequestHandle handle) noexcept {
    for (std::size_t i = 0; i < count_; ++i) {
        if (at(i).handle != handle) continue;
        Entry entry = at(i);
        for (std::size_t j = i; j + 1 < count_; ++j)
            at(j) = at(j + 1);
        --count_;
        if (!entry.has_error) free_.push_back(entry.slot);
        return entry;
    }
    return std::nullopt;
}

Bytes CompletionQueue::datagram(const Entry& entry) const noexcept {
    if (entry.has_error) return {};
    return Bytes(storage_[entry.slot].data(), entry.datagram_length);
}

Bytes CompletionQueue::body(const Entry& entry) const noexcept {
    if (entry.has_error) return {};
    return Bytes(storage_[entry.slot].data() + entry.datagram_length, entry.body_length);
}

Expected<std::size_t, ClientError> CompletionQueue::copy_into(const Entry& entry,
                                                              MutableBytes out) const {
    if (entry.has_error) return unexpected(entry.error);
    Bytes bytes = datagram(entry);
    if (entry.reassembled) {
        auto head = parse(bytes);
        if (!head) return unexpected(ClientError::malformed_response);
        return write_reassembled(out, *head, body(entry));
    }
    if (bytes.size() > out.size()) return unexpected(ClientError::too_large);
    std::copy(bytes.begin(), bytes.end(), out.begin());
    return bytes.size();
}

ClientResult CompletionQueue::to_result(const Entry& entry) const {
    if (entry.has_error) return unexpected(entry.error);
    Bytes bytes = datagram(entry);
    Bytes whole = body(entry);
    return ClientResponse(std::vector<std::uint8_t>(bytes.begin(), bytes.end()),
                          std::vector<std::uint8_t>(whole.begin(), whole.end()), entry.reassembled);
}

}  // namespace coap::detail
