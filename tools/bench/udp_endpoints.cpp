#include "bench/udp_endpoints.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace coap::bench {

std::string resolve(const UriParts& parts, Destination& destination) {
    std::string host(parts.host);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    if (parts.host_is_ip()) hints.ai_flags = AI_NUMERICHOST;
    addrinfo* result = nullptr;
    std::string port = std::to_string(parts.port);
    int status = getaddrinfo(host.c_str(), port.c_str(), &hints, &result);
    if (status != 0 || result == nullptr)
        return "cannot resolve \"" + host + "\": " + gai_strerror(status);
    std::memcpy(&destination.address, result->ai_addr, result->ai_addrlen);
    destination.length = result->ai_addrlen;
    freeaddrinfo(result);
    char text[INET6_ADDRSTRLEN] = {};
    if (destination.address.ss_family == AF_INET6) {
        auto* address = reinterpret_cast<sockaddr_in6*>(&destination.address);
        inet_ntop(AF_INET6, &address->sin6_addr, text, sizeof text);
        destination.text = std::string("[") + text + "]:" + port;
    } else {
        auto* address = reinterpret_cast<sockaddr_in*>(&destination.address);
        inet_ntop(AF_INET, &address->sin_addr, text, sizeof text);
        destination.text = std::string(text) + ":" + port;
    }
    return {};
}

std::string pin_to_cpu(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(static_cast<unsigned>(cpu), &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
        return "cannot pin to CPU " + std::to_string(cpu) + ": " + std::strerror(errno);
    return {};
}

std::size_t raise_file_limit(std::size_t descriptors) {
    rlimit files{};
    if (getrlimit(RLIMIT_NOFILE, &files) != 0) return descriptors;  // unknown: let socket() tell
    if (files.rlim_cur >= descriptors) return files.rlim_cur;
    rlim_t wanted = std::min<rlim_t>(files.rlim_max, descriptors);
    rlim_t before = files.rlim_cur;
    files.rlim_cur = wanted;
    return setrlimit(RLIMIT_NOFILE, &files) == 0 ? wanted : before;
}

SocketSet::~SocketSet() {
    for (int fd : fds_)
        close(fd);
    if (epoll_fd_ >= 0) close(epoll_fd_);
}

std::string SocketSet::open(const Destination& destination, std::size_t count) {
    epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) return std::string("epoll_create1: ") + std::strerror(errno);
    fds_.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        int fd =
            socket(destination.address.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return std::string("socket: ") + std::strerror(errno) +
                   (errno == EMFILE ? " (raise ulimit -n or use fewer --endpoints)" : "");
        fds_.push_back(fd);
        if (connect(fd, reinterpret_cast<const sockaddr*>(&destination.address),
                    destination.length) != 0)
            return std::string("connect: ") + std::strerror(errno);
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.u32 = static_cast<std::uint32_t>(i);
        if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0)
            return std::string("epoll_ctl: ") + std::strerror(errno);
    }
    events_.resize(count);
    ready_.resize(count);
    return {};
}

std::span<const std::uint32_t> SocketSet::wait(std::uint64_t now_ns, std::uint64_t deadline_ns) {
    std::uint64_t wait_ns = deadline_ns > now_ns ? deadline_ns - now_ns : 0;
    // epoll_pwait2 takes nanoseconds: an open-loop schedule needs better than epoll_wait's ms.
    timespec timeout{static_cast<time_t>(wait_ns / 1'000'000'000u),
                     static_cast<long>(wait_ns % 1'000'000'000u)};
    int ready = epoll_pwait2(epoll_fd_, events_.data(), static_cast<int>(events_.size()), &timeout,
                             nullptr);
    if (ready < 0 && errno == ENOSYS)  // kernels before 5.11
        ready = epoll_wait(epoll_fd_, events_.data(), static_cast<int>(events_.size()),
                           static_cast<int>((wait_ns + 999'999) / 1'000'000));
    if (ready <= 0) return {};
    for (int i = 0; i < ready; ++i)
        ready_[static_cast<std::size_t>(i)] = events_[static_cast<std::size_t>(i)].data.u32;
    return {ready_.data(), static_cast<std::size_t>(ready)};
}

int ReceiveBatch::receive(int fd) noexcept {
    for (std::size_t i = 0; i < capacity; ++i) {
        vectors_[i] = {buffers_[i].data(), buffer_size};
        messages_[i].msg_hdr = {};
        messages_[i].msg_hdr.msg_iov = &vectors_[i];
        messages_[i].msg_hdr.msg_iovlen = 1;
    }
    while (true) {
        int received = recvmmsg(fd, messages_.data(), capacity, MSG_DONTWAIT, nullptr);
        if (received >= 0) return received;
        if (errno != EINTR) return -errno;
    }
}

Bytes ReceiveBatch::datagram(std::size_t index) const noexcept {
    return Bytes(buffers_[index].data(),
                 std::min<std::size_t>(messages_[index].msg_len, buffer_size));
}

bool ReceiveBatch::truncated(std::size_t index) const noexcept {
    return (messages_[index].msg_hdr.msg_flags & MSG_TRUNC) != 0;
}

SendBatch::SendBatch(std::size_t head_size) : head_size_(head_size), heads_(head_size * capacity) {}

bool SendBatch::add(Bytes head, Bytes tail) noexcept {
    if (head.size() > head_size_ || full()) return false;
    std::uint8_t* slot = heads_.data() + count_ * head_size_;
    std::memcpy(slot, head.data(), head.size());
    vectors_[count_][0] = {slot, head.size()};
    vectors_[count_][1] = {const_cast<std::uint8_t*>(tail.data()), tail.size()};
    messages_[count_].msg_hdr = {};
    messages_[count_].msg_hdr.msg_iov = vectors_[count_].data();
    messages_[count_].msg_hdr.msg_iovlen = tail.empty() ? 1 : 2;
    ++count_;
    return true;
}

SendBatch::Outcome SendBatch::flush(int fd) noexcept {
    Outcome outcome;
    while (outcome.sent < count_) {
        int sent = sendmmsg(fd, messages_.data() + outcome.sent,
                            static_cast<unsigned>(count_ - outcome.sent), 0);
        if (sent < 0 && errno == EINTR) continue;
        if (sent <= 0) {
            outcome.error = sent < 0 ? errno : EAGAIN;
            break;
        }
        outcome.sent += static_cast<std::size_t>(sent);
    }
    count_ = 0;
    return outcome;
}

}  // namespace coap::bench
