#include "sinks/supervisor/job_runner.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>

#include "sinks/supervisor/spawn.hpp"

namespace sluice::sinks::supervisor {
namespace {

using Clock = std::chrono::steady_clock;

// glibc 2.36's <sys/pidfd.h> lacks extern "C" (fixed in 2.37), so C++ cannot link its
// pidfd_open(); the system call itself is the same.
int openPidfd(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }

}  // namespace

struct JobRunner::Job {
  explicit Job(boost::asio::io_context& io) : pidfd(io), timer(io) {}
  JobRunner* runner = nullptr;  // null once the runner is destroyed: handlers then do nothing
  pid_t pid = -1;
  boost::asio::posix::stream_descriptor pidfd;
  boost::asio::steady_timer timer;  // the timeout, then the kill grace
  Duration kill_grace{0};
  Clock::time_point started;
  JobOutcome::Kind ending = JobOutcome::Kind::Exited;  // TimedOut / Aborted override the status
  bool finished = false;  // reaped: its pid may be reused, never signal it again
  Callback done;
};

JobRunner::JobRunner(boost::asio::io_context& io) : io_(io) {}

JobRunner::~JobRunner() {
  for (auto& [pid, job] : jobs_) {
    job->runner = nullptr;
    ::killpg(pid, SIGKILL);
    job->timer.cancel();
    boost::system::error_code ignored;
    job->pidfd.close(ignored);
    // The callback may own leases into the sink's state; destroy it while that still exists.
    job->done = nullptr;
    // Reap now rather than leave a zombie for the rest of the daemon's life; after SIGKILL this
    // is quick unless the process is stuck in the kernel.
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
}

pid_t JobRunner::start(const JobSpec& spec, Callback done) {
  auto failed = [&](int err) {
    boost::asio::post(io_, [done = std::move(done), err] {
      done(JobOutcome{JobOutcome::Kind::SpawnFailed, err, -1, {}});
    });
    return pid_t{-1};
  };
  auto started = Clock::now();
  int err = 0;
  pid_t pid = spawnJob({spec.program, spec.argv, spec.env, spec.cwd, spec.stdout_path,
                        spec.stderr_path, spec.run_as, spec.limits},
                       &err);
  if (pid < 0) return failed(err);
  // spawnJob returns after the exec, so the child already leads its own group.
  if (!track(pid, spec.timeout, spec.kill_grace, started, std::move(done))) {
    err = errno;  // no pidfd (kernel < 5.3): the job cannot be watched, so do not run it
    ::killpg(pid, SIGKILL);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return failed(err);
  }
  return pid;
}

bool JobRunner::adopt(pid_t pid, Duration left, Duration kill_grace, Callback done) {
  // Ours only if it is our unreaped child: after a reload (execve keeps the pid and the
  // children) it is; after a crash and a new process it is not.
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) return false;
  return track(pid, std::max(left, Duration(0)), kill_grace, Clock::now(), std::move(done));
}

bool JobRunner::track(pid_t pid, Duration timeout, Duration kill_grace, Clock::time_point started,
                      Callback done) {
  int fd = openPidfd(pid);
  if (fd < 0) return false;
  auto job = std::make_shared<Job>(io_);
  job->runner = this;
  job->pid = pid;
  job->pidfd.assign(fd);
  job->kill_grace = kill_grace;
  job->started = started;
  job->done = std::move(done);
  jobs_.emplace(pid, job);
  watch(job);
  job->timer.expires_after(timeout);
  job->timer.async_wait([job](const boost::system::error_code& ec) {
    if (!ec && job->runner && !job->finished) job->runner->onTimeout(job);
  });
  return true;
}

void JobRunner::detachAll() {
  for (auto& [pid, job] : jobs_) {
    job->runner = nullptr;  // its handlers do nothing from now on; the process runs on
    job->timer.cancel();
    boost::system::error_code ignored;
    job->pidfd.close(ignored);
    job->done = nullptr;
  }
  jobs_.clear();
}

void JobRunner::abortAll() {
  for (auto& [pid, job] : jobs_) {
    job->ending = JobOutcome::Kind::Aborted;
    ::killpg(pid, SIGKILL);
  }
}

void JobRunner::watch(const std::shared_ptr<Job>& job) {
  // A pidfd becomes readable when the process has exited (it is then a zombie until reaped).
  job->pidfd.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                        [job](const boost::system::error_code&) {
                          // Any error (none is expected) is also settled by asking waitid.
                          if (job->runner && !job->finished) job->runner->reap(job);
                        });
}

void JobRunner::onTimeout(const std::shared_ptr<Job>& job) {
  if (job->ending == JobOutcome::Kind::Exited) job->ending = JobOutcome::Kind::TimedOut;
  ::killpg(job->pid, SIGTERM);
  job->timer.expires_after(job->kill_grace);
  job->timer.async_wait([job](const boost::system::error_code& ec) {
    if (!ec && job->runner && !job->finished) ::killpg(job->pid, SIGKILL);
  });
}

void JobRunner::reap(const std::shared_ptr<Job>& job) {
  // Look first without reaping: while the leader is a zombie its pid still holds the group id,
  // so the group can be emptied safely before the pid is released.
  siginfo_t info{};
  int rc;
  do {
    rc = ::waitid(P_PID, static_cast<id_t>(job->pid), &info, WEXITED | WNOHANG | WNOWAIT);
  } while (rc < 0 && errno == EINTR);
  if (rc == 0 && info.si_pid == 0) {
    watch(job);  // not exited after all
    return;
  }
  if (rc < 0) {  // ECHILD: reaped behind our back (SIGCHLD ignored, or a waitpid(-1) elsewhere)
    finish(job, JobOutcome{JobOutcome::Kind::Lost, 0, job->pid, {}});
    return;
  }
  ::killpg(job->pid, SIGKILL);  // leftovers of the job: background children, daemons
  int status = 0;
  pid_t w;
  do {
    w = ::waitpid(job->pid, &status, WNOHANG);
  } while (w < 0 && errno == EINTR);
  JobOutcome o{JobOutcome::Kind::Exited, 0, job->pid, {}};
  if (w != job->pid)
    o.kind = JobOutcome::Kind::Lost;
  else if (WIFEXITED(status))
    o.value = WEXITSTATUS(status);
  else if (WIFSIGNALED(status))
    o = {JobOutcome::Kind::Signaled, WTERMSIG(status), job->pid, {}};
  if (job->ending != JobOutcome::Kind::Exited) o = {job->ending, 0, job->pid, {}};
  finish(job, o);
}

void JobRunner::finish(const std::shared_ptr<Job>& job, JobOutcome outcome) {
  job->finished = true;
  job->timer.cancel();
  boost::system::error_code ignored;
  job->pidfd.close(ignored);
  jobs_.erase(job->pid);
  outcome.elapsed =
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - job->started);
  // Runs inside a completion handler, never inside start(); the callback may start a new job.
  auto done = std::move(job->done);
  job->done = nullptr;
  done(outcome);
}

}  // namespace sluice::sinks::supervisor
