// libFuzzer target for the DTLS 1.2 PSK handshake between our DtlsClient and DtlsServer
// (RFC 6347 §4.2, RFC 4279 §2, RFC 7627): three clients and two attackers share one server
// through a network the fuzzer runs. Every datagram in flight waits in a queue; the fuzzer
// delivers, drops, duplicates, corrupts or truncates any of them, injects datagrams of its own,
// lets time pass, and (re)connects, closes and sends application data.
//
// Input: 4 configuration bytes (server, then one per client: server_config() and
// client_setup() in dtls_handshake_setup.hpp), then records [op 1B][fields] (see the Op enum;
// make_dtls_handshake_corpus.py writes them).
// Invariants (trap on violation):
// - the session table, handshake pool and resumption cache stay within their configured sizes;
// - only a client with the right PSK gets a session, on either side (RFC 4279 §2), and the
//   server's session has that client's identity; attackers never get one;
// - a client session and the server session for its address either share the keys of both
//   directions or of neither (one key block, RFC 5246 §6.3);
// - sessions with the same keys carry application data both ways, checked when the input asks
//   and at the end; application data is only ever delivered as sent, by the right peer, and at
//   most once (anti-replay, RFC 6347 §4.1.2.6);
// - flights and alerts fit the sender's MTU (§4.1.1.1); without a cookie the server never
//   answers with more bytes than it got (§4.2.1); delivering without time passing ends;
// - once the network is healed (everything delivered, timers run), no handshake is left in
//   progress; with a fair network (nothing lost, altered or injected, no time games, no table
//   full) every client with the right key that connected shares a session with the server.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dtls_handshake_setup.hpp"
#include "dtls_handshake_support.hpp"
#include "fuzz_input.hpp"

namespace {

using namespace coap;
using namespace coap::dtls;
using namespace std::chrono_literals;
using coap::fuzz::check;
namespace support = coap::fuzz::dtls_support;
using namespace coap::fuzz::dtls_setup;
using Buffer = std::vector<std::uint8_t>;

constexpr std::size_t max_queue = 32;  // datagrams in flight; more are lost
constexpr std::size_t max_ops = 256;

enum Op : std::uint8_t {
    deliver_op,      // [which 1B]: deliver a queued datagram (any order)
    drop_op,         // [which 1B]
    duplicate_op,    // [which 1B]: deliver a copy, keep the original queued
    corrupt_op,      // [which 1B][offset 2B][xor 1B]
    truncate_op,     // [which 1B][length 2B]
    inject_op,       // [who 1B][length 1B][bytes], see inject()
    time_op,         // [ms 2B]: time passes, timers run
    seconds_op,      // [s 1B]
    deadline_op,     // time jumps to the earliest deadline
    connect_op,      // [client 1B]
    close_op,        // [client 1B]: bit 7 the server closes, else the client
    data_op,         // [client 1B][length 1B]: both sides send application data
    verify_op,       // [client 1B]: if the sessions match, data must go both ways
    deliver_all_op,  // deliver everything queued, in order, until nothing is left
    op_count
};

constexpr std::uint8_t upstream_tag = 0xc5;    // application data client -> server
constexpr std::uint8_t downstream_tag = 0x5c;  // server -> client

class Harness {
  public:
    Harness(std::uint8_t server_flags, const std::array<std::uint8_t, client_count>& client_flags)
        : server_(server_config(server_flags)), server_events_(*this) {
        check(server_.valid());
        for (std::size_t k = 0; k < client_count; ++k) {
            ClientSetup setup = client_setup(client_flags[k]);
            right_key_[k] = setup.right_key;
            identity_[k] = setup.config.handshake.identity;
            client_mtu_[k] = setup.config.mtu;
            clients_[k] = std::make_unique<DtlsClient>(std::move(setup.config), endpoint(0));
            client_events_[k] = std::make_unique<ClientEvents>(*this, k);
            check(clients_[k]->valid());
        }
    }

    void run(coap::fuzz::Input& in) {
        for (std::size_t ops = 0; !in.empty() && ops < max_ops; ++ops) {
            step(in);
            check_state();
        }
        finish();
    }

  private:
    struct Datagram {
        std::size_t from;
        std::size_t to;
        Buffer bytes;
    };

    struct ServerEvents final : DtlsEvents {
        explicit ServerEvents(Harness& h) : harness(h) {}
        void send(const Endpoint& peer, Bytes datagram) noexcept override {
            harness.on_send(server_index, index_of(peer), datagram);
        }
        void received(const Endpoint& peer, Bytes data) noexcept override {
            harness.on_data(server_index, index_of(peer), data);
        }
        void established(const Endpoint& peer, Bytes identity) noexcept override {
            harness.on_established(index_of(peer), identity);
        }
        Harness& harness;
    };

    struct ClientEvents final : DtlsEvents {
        ClientEvents(Harness& h, std::size_t k) : harness(h), index(1 + k) {}
        void send(const Endpoint& peer, Bytes datagram) noexcept override {
            check(index_of(peer) == server_index);
            harness.on_send(index, server_index, datagram);
        }
        void received(const Endpoint& peer, Bytes data) noexcept override {
            check(index_of(peer) == server_index);
            harness.on_data(index, server_index, data);
        }
        void established(const Endpoint& peer, Bytes identity) noexcept override {
            check(index_of(peer) == server_index);
            harness.on_established(index, identity);
        }
        Harness& harness;
        std::size_t index;
    };

    static const Endpoint& endpoint(std::size_t index) { return endpoints()[index]; }
    static bool is_client(std::size_t index) { return index >= 1 && index <= client_count; }
    DtlsClient& client(std::size_t index) { return *clients_[index - 1]; }
    DtlsEvents& events_of(std::size_t index) { return *client_events_[index - 1]; }
    std::size_t client_index(std::uint8_t byte) const { return 1 + byte % client_count; }

    void step(coap::fuzz::Input& in);
    void inject(coap::fuzz::Input& in);
    void on_send(std::size_t from, std::size_t to, Bytes datagram);
    void on_data(std::size_t at, std::size_t from, Bytes data);
    void on_established(std::size_t index, Bytes identity);
    void deliver(const Datagram& datagram);
    void deliver_all();
    void run_timers();
    void jump_to_deadline();
    void send_data(std::size_t index, std::size_t length);
    Buffer payload(std::size_t index, bool upstream, std::size_t length);
    bool sessions_match(std::size_t index);
    void exchange(std::size_t index);
    void check_state();
    void finish();

    std::optional<std::size_t> pick(std::uint8_t which) const {
        if (queue_.empty()) return std::nullopt;
        return which % queue_.size();
    }
    bool in_queue(std::size_t index) const {
        return std::any_of(queue_.begin(), queue_.end(),
                           [index](const Datagram& d) { return d.from == index || d.to == index; });
    }

    DtlsServer server_;
    ServerEvents server_events_;
    std::array<std::unique_ptr<DtlsClient>, client_count> clients_;
    std::array<std::unique_ptr<ClientEvents>, client_count> client_events_;
    std::array<bool, client_count> right_key_{};
    std::array<std::string, client_count> identity_;
    std::array<std::size_t, client_count> client_mtu_{};
    std::array<bool, client_count> connected_{};
    std::array<bool, client_count> closed_{};  // by a close op since the last connect
    TimePoint now_ = TimePoint{} + 1h;
    std::vector<Datagram> queue_;
    Buffer* capture_ = nullptr;  // exchange(): the one datagram sealed, kept off the network
    std::array<std::size_t, endpoint_count> sent_by_server_{};
    // Application data by direction (0 upstream, 1 downstream) and client: counters sent and
    // received.
    std::array<std::array<std::uint16_t, client_count>, 2> next_counter_{};
    std::array<std::array<std::set<std::uint16_t>, client_count>, 2> sent_;
    std::array<std::array<std::set<std::uint16_t>, client_count>, 2> received_;
    bool unfair_ = false;  // something was lost, altered, injected or timed
};

void Harness::step(coap::fuzz::Input& in) {
    const std::uint8_t op = in.u8() % op_count;
    // Everything but delivery, first connections, closes and data makes the network unfair.
    if (op != deliver_op && op != deliver_all_op && op != connect_op && op != close_op &&
        op != data_op && op != verify_op)
        unfair_ = true;
    switch (op) {
        case deliver_op:
        case drop_op:
        case duplicate_op: {
            auto which = pick(in.u8());
            if (!which) return;
            Datagram datagram = queue_[*which];
            if (op != duplicate_op)
                queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(*which));
            if (op != drop_op) deliver(datagram);
            return;
        }
        case corrupt_op: {
            auto which = pick(in.u8());
            const std::uint16_t offset = in.u16();
            const std::uint8_t flip = in.u8();
            if (!which || queue_[*which].bytes.empty()) return;
            Buffer& bytes = queue_[*which].bytes;
            bytes[offset % bytes.size()] ^= flip == 0 ? 1 : flip;
            return;
        }
        case truncate_op: {
            auto which = pick(in.u8());
            const std::uint16_t length = in.u16();
            if (which && length < queue_[*which].bytes.size()) queue_[*which].bytes.resize(length);
            return;
        }
        case inject_op:
            return inject(in);
        case time_op:
            now_ += std::chrono::milliseconds(in.u16());
            return run_timers();
        case seconds_op:
            now_ += std::chrono::seconds(in.u8());
            return run_timers();
        case deadline_op:
            return jump_to_deadline();
        case connect_op: {
            const std::size_t index = client_index(in.u8());
            // A reconnect with datagrams of the last handshake still around is no fair start.
            if (client(index).state() == ClientState::handshaking || in_queue(index))
                unfair_ = true;
            connected_[index - 1] = true;
            closed_[index - 1] = false;
            return client(index).connect(now_, events_of(index));
        }
        case close_op: {
            const std::uint8_t byte = in.u8();
            const std::size_t index = client_index(byte);
            closed_[index - 1] = true;
            if (byte & 0x80) return server_.close(endpoint(index), server_events_);
            return client(index).close(events_of(index));
        }
        case data_op: {
            const std::size_t index = client_index(in.u8());
            return send_data(index, in.u8() % 64);
        }
        case verify_op:
            return exchange(client_index(in.u8()));
        case deliver_all_op:
            return deliver_all();
    }
}

// who & 7: 0-2 to the server from client (who & 7); 3-4 to the server from an attacker; 5 to
// client (who >> 3) from the server's address; 6 the same from an attacker's (ignored); 7 the
// bytes are appended to queued datagram (who >> 3), making a datagram of several records.
void Harness::inject(coap::fuzz::Input& in) {
    const std::uint8_t who = in.u8();
    const Bytes bytes = in.bytes(in.u8());
    const std::size_t kind = who & 7;
    const std::size_t target = who >> 3;
    if (kind == 7) {
        if (auto which = pick(static_cast<std::uint8_t>(target)))
            queue_[*which].bytes.insert(queue_[*which].bytes.end(), bytes.begin(), bytes.end());
        return;
    }
    Datagram datagram{0, 0, Buffer(bytes.begin(), bytes.end())};
    if (kind <= 2) {
        datagram = {1 + kind, server_index, datagram.bytes};
    } else if (kind <= 4) {
        datagram = {1 + client_count + (kind - 3), server_index, datagram.bytes};
    } else {
        datagram.from = kind == 5 ? server_index : 1 + client_count + target % attacker_count;
        datagram.to = 1 + target % client_count;
    }
    deliver(datagram);
}

void Harness::on_send(std::size_t from, std::size_t to, Bytes datagram) {
    check(to < endpoint_count && to != from && !datagram.empty());
    // RFC 6347 §4.1.1.1: flights, alerts and the repeated last flight fit the MTU; only our
    // application records (at most 63 + 29 bytes) may be larger than a small one.
    const std::size_t mtu = from == server_index ? server_.config().mtu : client_mtu_[from - 1];
    if (datagram[0] != static_cast<std::uint8_t>(ContentType::application_data))
        check(datagram.size() <= std::max(mtu, min_mtu));
    if (from == server_index) sent_by_server_[to] += datagram.size();
    if (capture_ != nullptr) {
        check(capture_->empty());  // one application record
        capture_->assign(datagram.begin(), datagram.end());
        return;
    }
    if (queue_.size() == max_queue) {
        unfair_ = true;  // the network is full: lost
        return;
    }
    queue_.push_back(Datagram{from, to, Buffer(datagram.begin(), datagram.end())});
}

// Application data arrives only as one side sealed it, from the right peer, and once.
void Harness::on_data(std::size_t at, std::size_t from, Bytes data) {
    check(data.size() >= 4);
    const bool upstream = at == server_index;
    check(data[0] == (upstream ? upstream_tag : downstream_tag));
    const std::size_t k = data[1];
    check(k < client_count && (upstream ? from : at) == 1 + k);
    const auto counter = static_cast<std::uint16_t>((data[2] << 8) | data[3]);
    check(sent_[upstream ? 0 : 1][k].count(counter) == 1);
    check(received_[upstream ? 0 : 1][k].insert(counter).second);  // RFC 6347 §4.1.2.6
    for (std::size_t i = 4; i < data.size(); ++i)
        check(data[i] == static_cast<std::uint8_t>(counter + i));
}

void Harness::on_established(std::size_t index, Bytes identity) {
    check(is_client(index) && right_key_[index - 1]);
    check(as_string(identity) == identity_[index - 1]);
}

void Harness::deliver(const Datagram& datagram) {
    const Endpoint& from = endpoint(datagram.from);
    if (datagram.to != server_index) {
        if (!is_client(datagram.to)) return;  // attackers only listen
        client(datagram.to).on_datagram(from, datagram.bytes, now_, events_of(datagram.to));
        return;
    }
    // RFC 6347 §4.2.1: a peer without a handshake or session (no verified address) gets at
    // most as many bytes back as it sent, unless its cookie started a handshake.
    const bool known = support::server_handshaking(server_, from) || server_.has_session(from);
    const std::uint64_t started = server_.stats().handshakes_started;
    sent_by_server_[datagram.from] = 0;
    server_.on_datagram(from, datagram.bytes, now_, server_events_);
    if (!known && server_.stats().handshakes_started == started)
        check(sent_by_server_[datagram.from] <= datagram.bytes.size());
}

void Harness::deliver_all() {
    for (std::size_t count = 0; !queue_.empty(); ++count) {
        check(count < 1000);  // no datagram storm without time passing
        Datagram datagram = std::move(queue_.front());
        queue_.erase(queue_.begin());
        deliver(datagram);
    }
}

void Harness::run_timers() {
    server_.on_timer(now_, server_events_);
    for (std::size_t index = 1; index <= client_count; ++index)
        client(index).on_timer(now_, events_of(index));
}

void Harness::jump_to_deadline() {
    std::optional<TimePoint> earliest = server_.next_deadline();
    for (const auto& c : clients_) {
        auto deadline = c->next_deadline();
        if (deadline && (!earliest || *deadline < *earliest)) earliest = deadline;
    }
    if (earliest) now_ = std::max(now_, *earliest);
    run_timers();
}

Buffer Harness::payload(std::size_t index, bool upstream, std::size_t length) {
    const std::size_t k = index - 1;
    const std::uint16_t counter = next_counter_[upstream ? 0 : 1][k]++;
    Buffer data(4 + length);
    data[0] = upstream ? upstream_tag : downstream_tag;
    data[1] = static_cast<std::uint8_t>(k);
    data[2] = static_cast<std::uint8_t>(counter >> 8);
    data[3] = static_cast<std::uint8_t>(counter);
    for (std::size_t i = 4; i < data.size(); ++i)
        data[i] = static_cast<std::uint8_t>(counter + i);
    sent_[upstream ? 0 : 1][k].insert(counter);
    return data;
}

// Both sides send application data into the network, if they can.
void Harness::send_data(std::size_t index, std::size_t length) {
    if (client(index).state() == ClientState::established)
        check(client(index).seal(payload(index, true, length), events_of(index)).has_value());
    else
        check(!client(index).seal(as_bytes("x"), events_of(index)).has_value());
    if (server_.has_session(endpoint(index))) {
        auto sent =
            server_.seal_to(endpoint(index), payload(index, false, length), now_, server_events_);
        check(sent.has_value());
    } else {
        auto refused = server_.seal_to(endpoint(index), as_bytes("x"), now_, server_events_);
        check(!refused && refused.error() == DtlsError::no_session);
    }
}

// The client's session and the server's session for its address come from one handshake.
bool Harness::sessions_match(std::size_t index) {
    if (client(index).state() != ClientState::established) return false;
    Session* at_server = support::server_session(server_, endpoint(index));
    if (at_server == nullptr) return false;
    auto match = support::match_keys(support::client_session(client(index)), *at_server);
    check(match.upstream == match.downstream);  // one key block (RFC 5246 §6.3)
    return match.upstream;
}

// Matching sessions carry application data both ways, sealed and opened directly.
void Harness::exchange(std::size_t index) {
    if (!sessions_match(index)) return;
    const std::size_t k = index - 1;
    Buffer wire;
    capture_ = &wire;
    check(client(index).seal(payload(index, true, 16), events_of(index)).has_value());
    capture_ = nullptr;
    const std::size_t up = received_[0][k].size();
    server_.on_datagram(endpoint(index), wire, now_, server_events_);
    check(received_[0][k].size() == up + 1);

    wire.clear();
    capture_ = &wire;
    check(server_.seal_to(endpoint(index), payload(index, false, 16), now_, server_events_)
              .has_value());
    capture_ = nullptr;
    const std::size_t down = received_[1][k].size();
    client(index).on_datagram(endpoint(server_index), wire, now_, events_of(index));
    check(received_[1][k].size() == down + 1);
}

void Harness::check_state() {
    const DtlsServerConfig& config = server_.config();
    check(server_.session_count() <= config.session_count);
    check(server_.handshake_count() <= config.handshake_count);
    check(server_.resumption_count() <= config.resumption_cache_size);
    check(queue_.size() <= max_queue);
    for (std::size_t index = 1; index < endpoint_count; ++index) {
        const bool has = server_.has_session(endpoint(index));
        if (!is_client(index)) {
            check(!has);  // RFC 4279 §2: no session without the PSK
            continue;
        }
        const std::size_t k = index - 1;
        if (!right_key_[k]) check(!has && client(index).state() != ClientState::established);
        if (has) check(as_string(server_.identity_of(endpoint(index))) == identity_[k]);
    }
}

// Heals the network: everything is delivered and the timers run until no handshake is left.
// Then matching sessions must carry data; after a fair run every client that could connect did.
void Harness::finish() {
    auto handshaking = [this] {
        if (server_.handshake_count() != 0) return true;
        return std::any_of(clients_.begin(), clients_.end(),
                           [](const auto& c) { return c->state() == ClientState::handshaking; });
    };
    for (int round = 0; round < 64 && (handshaking() || !queue_.empty()); ++round) {
        deliver_all();
        check_state();
        if (handshaking()) jump_to_deadline();
    }
    deliver_all();
    check(!handshaking());  // every handshake completes or gives up (RFC 6347 §4.2.4.1)
    const DtlsServerStats& stats = server_.stats();
    const bool fair = !unfair_ && stats.handshakes_refused == 0 && stats.sessions_evicted == 0 &&
                      stats.sessions_expired == 0;
    for (std::size_t index = 1; index <= client_count; ++index) {
        const std::size_t k = index - 1;
        // A ClientHello must fit the client's MTU unfragmented (a stateless server cannot
        // reassemble it), which 64 bytes do not allow.
        if (fair && connected_[k] && !closed_[k] && right_key_[k] && client_mtu_[k] > 64)
            check(sessions_match(index));
        exchange(index);
        check_state();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    coap::fuzz::dtls_support::reset_random(0x5eed);
    coap::fuzz::Input in(data, size);
    const std::uint8_t server_flags = in.u8();
    std::array<std::uint8_t, client_count> client_flags{};
    for (auto& flags : client_flags)
        flags = in.u8();
    Harness harness(server_flags, client_flags);
    harness.run(in);
    return 0;
}
