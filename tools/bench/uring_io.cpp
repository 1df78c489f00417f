#include "bench/uring_io.hpp"

#include <liburing.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace coap::bench {

namespace {

constexpr std::uint32_t receive_buffer_count = 4096;  // a power of two (buffer ring)
constexpr std::size_t receive_buffer_size = 2048;     // a datagram this long counts as cut
constexpr std::uint16_t buffer_group = 0;
constexpr std::size_t max_events = 4096;  // completions handled per poll
// user_data: the kind in the top byte, a socket or send slot index below.
constexpr std::uint64_t receive_tag = 1ull << 56;
constexpr std::uint64_t send_tag = 2ull << 56;
constexpr std::uint64_t index_mask = (1ull << 32) - 1;

// Anonymous memory that is unmapped on destruction.
struct Mapping {
    void* data = nullptr;
    std::size_t size = 0;
    bool map(std::size_t bytes) {
        data = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (data == MAP_FAILED) data = nullptr;
        size = data ? bytes : 0;
        return data != nullptr;
    }
    ~Mapping() {
        if (data) munmap(data, size);
    }
    std::uint8_t* bytes() const noexcept { return static_cast<std::uint8_t*>(data); }
};

}  // namespace

struct UringIo::State {
    io_uring ring{};
    bool ring_open = false;
    std::vector<int> sockets;
    Mapping receive_memory;
    Mapping ring_memory;
    io_uring_buf_ring* buffers = nullptr;
    Mapping send_memory;
    std::size_t slot_size = 0;
    std::vector<std::uint32_t> free_slots;
    std::vector<std::uint32_t> slot_socket;
    std::vector<Event> events;
    std::vector<std::uint16_t> returned;   // buffer ids of the last poll
    std::vector<std::uint32_t> to_rearm;   // sockets whose receive ended
    std::vector<std::uint8_t> rearm_flag;  // per socket: already in to_rearm
    bool fixed_files = false;  // the sockets are registered: no file lookup per operation

    ~State() {
        if (ring_open) io_uring_queue_exit(&ring);
    }

    io_uring_sqe* next_sqe() noexcept {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring);
        if (sqe == nullptr) {  // the SQ is full: hand it to the kernel and go on
            io_uring_submit(&ring);
            sqe = io_uring_get_sqe(&ring);
        }
        return sqe;
    }

    int file(std::uint32_t socket) const noexcept {
        return fixed_files ? static_cast<int>(socket) : sockets[socket];
    }
    std::uint8_t fixed_flag() const noexcept { return fixed_files ? IOSQE_FIXED_FILE : 0; }

    bool arm_receive(std::uint32_t socket) noexcept {
        io_uring_sqe* sqe = next_sqe();
        if (sqe == nullptr) return false;
        io_uring_prep_recv_multishot(sqe, file(socket), nullptr, 0, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT | fixed_flag();
        sqe->buf_group = buffer_group;
        io_uring_sqe_set_data64(sqe, receive_tag | socket);
        return true;
    }

    void on_receive(const io_uring_cqe& cqe) {
        auto socket = static_cast<std::uint32_t>(cqe.user_data & index_mask);
        if ((cqe.flags & IORING_CQE_F_MORE) == 0 && !rearm_flag[socket]) {
            rearm_flag[socket] = 1;
            to_rearm.push_back(socket);
        }
        if (cqe.flags & IORING_CQE_F_BUFFER) {
            auto id = static_cast<std::uint16_t>(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
            returned.push_back(id);
            if (cqe.res >= 0) {
                auto length = static_cast<std::size_t>(cqe.res);
                Bytes data(receive_memory.bytes() + id * receive_buffer_size, length);
                events.push_back(
                    {length >= receive_buffer_size ? Event::Kind::truncated : Event::Kind::datagram,
                     socket, data});
            }
            return;
        }
        if (cqe.res == -ECONNREFUSED) events.push_back({Event::Kind::refused, socket, {}});
        // -ENOBUFS (every buffer in use) and others: the receive is restarted on release().
    }

    void on_send(const io_uring_cqe& cqe) {
        auto slot = static_cast<std::uint32_t>(cqe.user_data & index_mask);
        free_slots.push_back(slot);
        if (cqe.res == -ECONNREFUSED)
            events.push_back({Event::Kind::refused, slot_socket[slot], {}});
        else if (cqe.res < 0)
            events.push_back({Event::Kind::send_failed, slot_socket[slot], {}});
    }
};

UringIo::UringIo() : state_(std::make_unique<State>()) {}
UringIo::~UringIo() = default;

std::string UringIo::open(std::span<const int> sockets, std::size_t slot_size,
                          std::size_t send_slots) {
    State& s = *state_;
    s.sockets.assign(sockets.begin(), sockets.end());
    s.rearm_flag.assign(sockets.size(), 0);
    io_uring_params params{};
    // Task work (completing receives) runs only when this thread waits: batches stay whole.
    params.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP | IORING_SETUP_SINGLE_ISSUER |
                   IORING_SETUP_DEFER_TASKRUN;
    params.cq_entries = 65536;
    int rc = io_uring_queue_init_params(4096, &s.ring, &params);
    if (rc < 0) return std::string("io_uring_queue_init: ") + std::strerror(-rc);
    s.ring_open = true;
    // Registered sockets spare the kernel a file lookup (fget/fput) per receive and send.
    s.fixed_files = io_uring_register_files(&s.ring, sockets.data(),
                                            static_cast<unsigned>(sockets.size())) == 0;

    if (!s.receive_memory.map(receive_buffer_count * receive_buffer_size) ||
        !s.ring_memory.map(sizeof(io_uring_buf) * receive_buffer_count) ||
        !s.send_memory.map(slot_size * send_slots))
        return "cannot map the io_uring buffers";
    s.buffers = static_cast<io_uring_buf_ring*>(s.ring_memory.data);
    io_uring_buf_reg registration{};
    registration.ring_addr = reinterpret_cast<std::uintptr_t>(s.buffers);
    registration.ring_entries = receive_buffer_count;
    registration.bgid = buffer_group;
    rc = io_uring_register_buf_ring(&s.ring, &registration, 0);
    if (rc < 0) return std::string("io_uring_register_buf_ring: ") + std::strerror(-rc);
    io_uring_buf_ring_init(s.buffers);
    const int mask = io_uring_buf_ring_mask(receive_buffer_count);
    for (std::uint32_t id = 0; id < receive_buffer_count; ++id)
        io_uring_buf_ring_add(s.buffers, s.receive_memory.bytes() + id * receive_buffer_size,
                              receive_buffer_size, static_cast<std::uint16_t>(id), mask,
                              static_cast<int>(id));
    io_uring_buf_ring_advance(s.buffers, static_cast<int>(receive_buffer_count));

    s.slot_size = slot_size;
    s.slot_socket.assign(send_slots, 0);
    s.free_slots.reserve(send_slots);
    for (std::size_t i = send_slots; i-- > 0;)
        s.free_slots.push_back(static_cast<std::uint32_t>(i));
    s.events.reserve(max_events);
    s.returned.reserve(max_events);
    s.to_rearm.reserve(sockets.size());
    for (std::uint32_t i = 0; i < sockets.size(); ++i)
        if (!s.arm_receive(i)) return "io_uring: no submission entry";
    rc = io_uring_submit(&s.ring);
    if (rc < 0) return std::string("io_uring_submit: ") + std::strerror(-rc);
    return {};
}

bool UringIo::send(std::uint32_t socket, Bytes datagram) noexcept {
    State& s = *state_;
    if (s.free_slots.empty() || datagram.size() > s.slot_size) return false;
    io_uring_sqe* sqe = s.next_sqe();
    if (sqe == nullptr) return false;
    std::uint32_t slot = s.free_slots.back();
    s.free_slots.pop_back();
    s.slot_socket[slot] = socket;
    std::uint8_t* data = s.send_memory.bytes() + slot * s.slot_size;
    std::memcpy(data, datagram.data(), datagram.size());
    io_uring_prep_send(sqe, s.file(socket), data, datagram.size(), 0);
    sqe->flags |= s.fixed_flag();
    io_uring_sqe_set_data64(sqe, send_tag | slot);
    return true;
}

void UringIo::wait(std::uint64_t now_ns, std::uint64_t deadline_ns) noexcept {
    std::uint64_t wait_ns = deadline_ns > now_ns ? deadline_ns - now_ns : 0;
    __kernel_timespec timeout{static_cast<long long>(wait_ns / 1'000'000'000u),
                              static_cast<long long>(wait_ns % 1'000'000'000u)};
    io_uring_cqe* cqe = nullptr;
    io_uring_submit_and_wait_timeout(&state_->ring, &cqe, 1, &timeout, nullptr);
}

std::span<const UringIo::Event> UringIo::poll() noexcept {
    State& s = *state_;
    s.events.clear();
    unsigned head = 0;
    unsigned seen = 0;
    io_uring_cqe* cqe = nullptr;
    io_uring_for_each_cqe(&s.ring, head, cqe) {
        if (s.events.size() == max_events || s.returned.size() == max_events) break;
        if ((cqe->user_data & ~index_mask) == receive_tag)
            s.on_receive(*cqe);
        else if ((cqe->user_data & ~index_mask) == send_tag)
            s.on_send(*cqe);
        ++seen;
    }
    io_uring_cq_advance(&s.ring, seen);
    return s.events;
}

void UringIo::release() noexcept {
    State& s = *state_;
    const int mask = io_uring_buf_ring_mask(receive_buffer_count);
    int offset = 0;
    for (std::uint16_t id : s.returned)
        io_uring_buf_ring_add(s.buffers, s.receive_memory.bytes() + id * receive_buffer_size,
                              receive_buffer_size, id, mask, offset++);
    io_uring_buf_ring_advance(s.buffers, offset);
    s.returned.clear();
    for (std::uint32_t socket : s.to_rearm) {
        if (!s.arm_receive(socket)) break;  // tried again after the next poll
        s.rearm_flag[socket] = 0;
    }
    std::erase_if(s.to_rearm, [&](std::uint32_t socket) { return s.rearm_flag[socket] == 0; });
}

}  // namespace coap::bench
