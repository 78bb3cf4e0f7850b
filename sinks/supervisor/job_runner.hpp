#pragma once
// Runs local processes as jobs on the io_context: spawn, watch, time out, kill.
//
// Invariants:
//  - A job is a process group: the spawned program leads its own group, and every signal the
//    runner sends (timeout, abort, clean-up) goes to the whole group, so a script's children
//    end with it. A child that leaves the group (setsid) is out of reach.
//  - Signals are sent only while the group leader is unreaped (running or a zombie), so its pid
//    and thus the group id cannot have been reused by an unrelated process.
//  - When the leader exits, whatever it left running in its group is SIGKILLed before reaping.
//  - Jobs are started by spawnJob() with a parent-death signal: a daemon killed with SIGKILL
//    takes its jobs' leaders with it.
//  - Exit is detected through a pidfd (no SIGCHLD handler: the daemon owns signals). Nothing
//    else in the process may reap these children (SIGCHLD must not be SIG_IGN).
//  - `done` runs exactly once per started job, on the io_context thread, never inline — unless
//    the runner is destroyed first: then running jobs are SIGKILLed and reaped and their
//    callbacks are dropped (destroyed, not called).
//  - All calls on the io_context thread. Never throws after construction.
#include <sys/types.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/config_reader.hpp"
#include "sinks/supervisor/spawn.hpp"

namespace sluice::sinks::supervisor {

struct JobSpec {
  std::string program;            // absolute path; executed directly, no shell, no PATH
  std::vector<std::string> argv;  // argv[0] included
  std::vector<std::string> env;   // "NAME=value", the job's entire environment
  std::filesystem::path cwd;
  std::filesystem::path stdout_path;  // created or truncated
  std::filesystem::path stderr_path;
  Duration timeout{30'000};
  Duration kill_grace{10'000};  // SIGTERM → SIGKILL after a timeout
  std::optional<RunAs> run_as;  // `user:`; none: the daemon's own
  std::vector<ResourceLimit> limits;
};

struct JobOutcome {
  enum class Kind {
    Exited,       // value: exit status
    Signaled,     // value: signal number
    TimedOut,     // value: 0; the group was sent SIGTERM (then SIGKILL)
    Aborted,      // value: 0; abortAll() killed it
    SpawnFailed,  // value: errno from posix_spawn (or pidfd_open)
    Lost,         // value: 0; someone else reaped it, the exit status is unknown
  };
  Kind kind = Kind::Exited;
  int value = 0;
  pid_t pid = -1;
  std::chrono::milliseconds elapsed{0};
};

class JobRunner {
 public:
  using Callback = std::function<void(JobOutcome)>;

  explicit JobRunner(boost::asio::io_context& io);
  ~JobRunner();
  JobRunner(const JobRunner&) = delete;
  JobRunner& operator=(const JobRunner&) = delete;

  // Starts the job. Returns its pid, or -1 when it could not be started (`done` then reports
  // SpawnFailed, still asynchronously).
  pid_t start(const JobSpec& spec, Callback done);
  // Watches `pid`, a job a previous image of this process started before a reload (execve
  // keeps the pid and its children), with `left` of its timeout. False when it is not an
  // unreaped child of this process.
  bool adopt(pid_t pid, Duration left, Duration kill_grace, Callback done);
  // SIGKILLs every running job's group; each reports Aborted once its leader is reaped.
  void abortAll();
  // Reload: stops watching every job without ending it or calling back, so that the next
  // image of this process can adopt() them.
  void detachAll();
  std::size_t running() const { return jobs_.size(); }

 private:
  struct Job;
  bool track(pid_t pid, Duration timeout, Duration kill_grace,
             std::chrono::steady_clock::time_point started, Callback done);
  void watch(const std::shared_ptr<Job>& job);
  void reap(const std::shared_ptr<Job>& job);
  void onTimeout(const std::shared_ptr<Job>& job);
  void finish(const std::shared_ptr<Job>& job, JobOutcome outcome);

  boost::asio::io_context& io_;
  std::map<pid_t, std::shared_ptr<Job>> jobs_;
};

}  // namespace sluice::sinks::supervisor
