// A small child-process helper for the end-to-end tests: start a program with its stdout and
// stderr captured through pipes, read its output with timeouts, run a command to completion,
// and always stop and reap the child in the destructor.
//
// Synchronisation never sleeps: every wait is a poll() on the pipes and on a pidfd of the
// child, bounded by a timeout.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace coap::test {

/// What a finished (or abandoned) command left behind.
struct ProcessResult {
    /// The exit code; 128 + N when the child was killed by signal N; -1 when it was still running
    /// at the timeout (it has then been killed).
    int exit_status = -1;
    bool timed_out = false;
    std::string out;  ///< Everything it wrote to stdout.
    std::string err;  ///< Everything it wrote to stderr.
};

/// A running child process. Not copyable; the destructor ends it (SIGTERM, then SIGKILL after
/// a bounded wait) and reaps it.
class Process {
  public:
    /// Starts `argv` (argv[0] is looked up in PATH when it has no '/'), stdin from /dev/null.
    /// Throws std::runtime_error when the program cannot be started.
    explicit Process(const std::vector<std::string>& argv);
    ~Process();
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    pid_t pid() const noexcept { return pid_; }

    /// The next line written to stdout, without its '\n'. nullopt when none arrives within
    /// `timeout` or stdout is closed first (a partial last line is then left in stdout_text()).
    /// Reads stderr at the same time, so a chatty child never blocks on a full pipe.
    std::optional<std::string> read_line(std::chrono::milliseconds timeout);

    /// Reads whatever output is available right now, without waiting.
    void drain();

    /// Waits up to `timeout` for the child to exit, collecting its output. Returns the exit
    /// status (see ProcessResult::exit_status), or nullopt if it is still running.
    std::optional<int> wait(std::chrono::milliseconds timeout);

    /// Sends SIGTERM, waits up to `grace` for the exit, then SIGKILLs and reaps. Returns the
    /// exit status. Does nothing (but return the status) when the child has already exited.
    int terminate(std::chrono::milliseconds grace = std::chrono::seconds(3));

    bool running() const noexcept { return !exit_status_.has_value(); }

    /// Output collected so far, minus the lines read_line() returned.
    const std::string& stdout_text() const noexcept { return out_; }
    const std::string& stderr_text() const noexcept { return err_; }

  private:
    // Polls the open pipes and the pidfd until `deadline` or until `done()` holds.
    template <typename Done>
    void pump_until(std::chrono::steady_clock::time_point deadline, Done done);
    bool read_some(int& fd, std::string& into);
    void reap_if_exited();

    pid_t pid_ = -1;
    int pidfd_ = -1;
    int out_fd_ = -1;
    int err_fd_ = -1;
    std::string out_;
    std::string err_;
    std::optional<int> exit_status_;
};

/// Runs `argv` to completion. When it has not exited after `timeout` it is killed, and the
/// result has timed_out set. Throws std::runtime_error when the program cannot be started.
ProcessResult run_process(const std::vector<std::string>& argv, std::chrono::milliseconds timeout);

}  // namespace coap::test
