// Outgoing handshake flights (RFC 6347 §4.2.4): the messages of one flight kept as whole,
// unfragmented messages so that they can be sent again, and the packing of records into
// datagrams of at most the MTU, fragmenting handshake messages that do not fit (§4.2.3) and
// putting several records into one datagram (§4.1.1). Every (re)transmission gets fresh record
// sequence numbers (§4.2.2: a retransmission is a new record).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "coap/bytes.hpp"
#include "dtls/ccm.hpp"
#include "dtls/crypto.hpp"
#include "dtls/datagram_sink.hpp"
#include "dtls/handshake_codec.hpp"
#include "dtls/protocol.hpp"
#include "dtls/record.hpp"

namespace coap::dtls {

/// The smallest MTU the flights can be cut to: a protected record with a one-byte handshake
/// fragment (13 + 8 + 12 + 1 + 8 bytes), rounded up.
inline constexpr std::size_t min_mtu = 48;

/// The write side of one epoch: its number, next record sequence number and keys (none for
/// epoch 0, whose records are plaintext).
struct EpochWriter {
    std::uint16_t epoch = 0;
    std::uint64_t next_sequence = 0;
    const TrafficKeys* keys = nullptr;
};

/// Resources a handshake or session borrows for one call: the worker's AEAD context, a buffer
/// for one datagram, where datagrams go and how large they may be.
struct Transmit {
    CcmContext& aead;
    MutableBytes scratch;
    DatagramSink& sink;
    std::size_t mtu;
};

/// Fills one datagram at a time with records and hands each full datagram to the sink.
class DatagramBuilder {
  public:
    explicit DatagramBuilder(Transmit& tx) noexcept;
    /// Record plaintext bytes that still fit into the current datagram.
    std::size_t room(const EpochWriter& writer) const noexcept;
    /// Where the next record's plaintext goes (room(writer) bytes).
    MutableBytes plaintext_area(const EpochWriter& writer) noexcept;
    /// Frames the `size` bytes written to plaintext_area() as one record (sealing them when the
    /// epoch has keys) and advances the writer's sequence number.
    bool commit(EpochWriter& writer, ContentType type, std::size_t size) noexcept;
    /// Copies `plaintext` into a record, starting a new datagram first if it does not fit.
    bool add(EpochWriter& writer, ContentType type, Bytes plaintext) noexcept;
    /// Sends the current datagram, if any.
    void flush() noexcept;

  private:
    std::size_t overhead(const EpochWriter& writer) const noexcept;

    Transmit& tx_;
    std::size_t capacity_;
    std::size_t used_ = 0;
};

class Flight {
  public:
    static constexpr std::size_t capacity = 512;
    static constexpr std::size_t max_entries = 6;

    void clear() noexcept {
        count_ = 0;
        used_ = 0;
    }
    bool empty() const noexcept { return count_ == 0; }

    /// Where the next message's body is written (after room for its header).
    MutableBytes body_area() noexcept;
    /// Completes the message whose body was written to body_area(): adds its header and returns
    /// the whole message (what the transcript hashes), or an empty view when it did not fit.
    Bytes add_message(HandshakeType type, std::uint16_t message_seq, std::size_t body_size,
                      std::uint16_t epoch) noexcept;
    /// ChangeCipherSpec (RFC 5246 §7.1), sent in epoch 0; later entries use epoch 1.
    bool add_change_cipher_spec() noexcept;

    /// Sends every entry through `writers[epoch]`; false if a record could not be built.
    bool send(Transmit& tx, EpochWriter (&writers)[2]) const noexcept;

  private:
    struct Entry {
        std::uint16_t offset;
        std::uint16_t size;
        std::uint8_t epoch;
        bool change_cipher_spec;
    };

    static bool send_message(DatagramBuilder& builder, EpochWriter& writer, Bytes message) noexcept;

    std::array<std::uint8_t, capacity> bytes_{};
    std::array<Entry, max_entries> entries_{};
    std::size_t count_ = 0;
    std::size_t used_ = 0;
};

}  // namespace coap::dtls
