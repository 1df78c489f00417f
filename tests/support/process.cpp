#include "support/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

extern char** environ;

namespace coap::test {

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void fail(const std::string& what, int error) {
    throw std::runtime_error(what + ": " + std::strerror(error));
}

void close_fd(int& fd) noexcept {
    if (fd >= 0) ::close(fd);
    fd = -1;
}

int status_of(int wait_status) noexcept {
    if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
    if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
    return -1;
}

// Milliseconds left until `deadline`, rounded up so that poll() does not wake just before it.
int remaining_ms(Clock::time_point deadline) noexcept {
    auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) return 0;
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
    return ms > 1'000'000 ? 1'000'000 : static_cast<int>(ms);
}

// RAII for the posix_spawn attribute objects.
struct SpawnSetup {
    posix_spawn_file_actions_t actions{};
    posix_spawnattr_t attributes{};
    SpawnSetup() {
        posix_spawn_file_actions_init(&actions);
        posix_spawnattr_init(&attributes);
    }
    ~SpawnSetup() {
        posix_spawn_file_actions_destroy(&actions);
        posix_spawnattr_destroy(&attributes);
    }
    SpawnSetup(const SpawnSetup&) = delete;
    SpawnSetup& operator=(const SpawnSetup&) = delete;
};

}  // namespace

Process::Process(const std::vector<std::string>& argv) {
    if (argv.empty()) throw std::invalid_argument("Process: empty argv");
    int out_pipe[2];
    int err_pipe[2];
    if (::pipe2(out_pipe, O_CLOEXEC) != 0) fail("pipe2", errno);
    if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
        int error = errno;
        ::close(out_pipe[0]);
        ::close(out_pipe[1]);
        fail("pipe2", error);
    }

    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const std::string& arg : argv)
        args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);

    int error = 0;
    {
        SpawnSetup setup;
        // The child starts with default signal handling and an empty mask, whatever the test
        // runner did to its own.
        sigset_t none;
        sigset_t defaults;
        sigemptyset(&none);
        sigemptyset(&defaults);
        for (int signal_number : {SIGTERM, SIGINT, SIGPIPE, SIGCHLD, SIGHUP})
            sigaddset(&defaults, signal_number);
        posix_spawnattr_setsigmask(&setup.attributes, &none);
        posix_spawnattr_setsigdefault(&setup.attributes, &defaults);
        posix_spawnattr_setflags(&setup.attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
        posix_spawn_file_actions_addopen(&setup.actions, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&setup.actions, out_pipe[1], 1);
        posix_spawn_file_actions_adddup2(&setup.actions, err_pipe[1], 2);
        error =
            ::posix_spawnp(&pid_, args[0], &setup.actions, &setup.attributes, args.data(), environ);
    }
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    out_fd_ = out_pipe[0];
    err_fd_ = err_pipe[0];
    if (error != 0) {
        close_fd(out_fd_);
        close_fd(err_fd_);
        pid_ = -1;
        fail("cannot start " + argv[0], error);
    }
    ::fcntl(out_fd_, F_SETFL, ::fcntl(out_fd_, F_GETFL) | O_NONBLOCK);
    ::fcntl(err_fd_, F_SETFL, ::fcntl(err_fd_, F_GETFL) | O_NONBLOCK);

    // A pidfd becomes readable when the child exits, so exits can be waited for with poll().
    // The child cannot have been reaped yet, so this cannot race with pid reuse.
    pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
    if (pidfd_ < 0) {
        error = errno;
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        close_fd(out_fd_);
        close_fd(err_fd_);
        fail("pidfd_open (Linux 5.3 or later is needed)", error);
    }
}

Process::~Process() {
    try {
        terminate();
    } catch (...) {
        // Never throw from a destructor; terminate() has reaped the child or cannot.
    }
    close_fd(out_fd_);
    close_fd(err_fd_);
    close_fd(pidfd_);
}

bool Process::read_some(int& fd, std::string& into) {
    char buffer[16384];
    for (;;) {
        ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n > 0) {
            into.append(buffer, static_cast<std::size_t>(n));
            if (static_cast<std::size_t>(n) < sizeof buffer) return true;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
        close_fd(fd);  // end of file, or an error that will not go away
        return false;
    }
}

void Process::reap_if_exited() {
    if (exit_status_ || pid_ < 0) return;
    int status = 0;
    pid_t reaped;
    do {
        reaped = ::waitpid(pid_, &status, WNOHANG);
    } while (reaped < 0 && errno == EINTR);
    if (reaped == pid_) {
        exit_status_ = status_of(status);
        close_fd(pidfd_);
    }
}

template <typename Done>
void Process::pump_until(Clock::time_point deadline, Done done) {
    while (!done()) {
        pollfd fds[3];
        nfds_t count = 0;
        if (out_fd_ >= 0) fds[count++] = {out_fd_, POLLIN, 0};
        if (err_fd_ >= 0) fds[count++] = {err_fd_, POLLIN, 0};
        if (pidfd_ >= 0 && !exit_status_) fds[count++] = {pidfd_, POLLIN, 0};
        if (count == 0) return;
        int ready = ::poll(fds, count, remaining_ms(deadline));
        if (ready < 0) {
            if (errno == EINTR) continue;
            fail("poll", errno);
        }
        if (ready == 0) return;  // timed out
        for (nfds_t i = 0; i < count; ++i) {
            if (fds[i].revents == 0) continue;
            if (fds[i].fd == out_fd_)
                read_some(out_fd_, out_);
            else if (fds[i].fd == err_fd_)
                read_some(err_fd_, err_);
            else if (fds[i].fd == pidfd_)
                reap_if_exited();
        }
    }
}

std::optional<std::string> Process::read_line(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    pump_until(deadline, [this] { return out_.find('\n') != std::string::npos || out_fd_ < 0; });
    std::size_t end = out_.find('\n');
    if (end == std::string::npos) return std::nullopt;
    std::string line = out_.substr(0, end);
    out_.erase(0, end + 1);
    return line;
}

void Process::drain() {
    if (out_fd_ >= 0) read_some(out_fd_, out_);
    if (err_fd_ >= 0) read_some(err_fd_, err_);
    reap_if_exited();
}

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    // Exit first, then the rest of the output up to end of file (bounded by the same deadline,
    // in case a grandchild still holds the pipes).
    pump_until(deadline, [this] { return exit_status_.has_value() && out_fd_ < 0 && err_fd_ < 0; });
    drain();
    return exit_status_;
}

int Process::terminate(std::chrono::milliseconds grace) {
    if (pid_ < 0) return -1;
    reap_if_exited();
    if (!exit_status_) {
        ::kill(pid_, SIGTERM);
        pump_until(Clock::now() + grace, [this] { return exit_status_.has_value(); });
    }
    if (!exit_status_) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        pid_t reaped;
        do {
            reaped = ::waitpid(pid_, &status, 0);
        } while (reaped < 0 && errno == EINTR);
        exit_status_ = reaped == pid_ ? status_of(status) : -1;
        close_fd(pidfd_);
    }
    drain();
    return *exit_status_;
}

ProcessResult run_process(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
    Process process(argv);
    ProcessResult result;
    std::optional<int> status = process.wait(timeout);
    if (status) {
        result.exit_status = *status;
    } else {
        result.timed_out = true;
        process.terminate(std::chrono::milliseconds(0));
        result.exit_status = -1;
    }
    result.out = process.stdout_text();
    result.err = process.stderr_text();
    return result;
}

}  // namespace coap::test
