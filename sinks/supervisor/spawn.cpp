#include "sinks/supervisor/spawn.hpp"

#include <fcntl.h>
#include <signal.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

namespace sluice::sinks::supervisor {
namespace {

// In the child after fork: report errno through the pipe and leave without running anything
// of the parent's (no atexit handlers, no stdio flushes).
[[noreturn]] void childFail(int pipe_fd) {
  int e = errno;
  ssize_t ignored = ::write(pipe_fd, &e, sizeof e);
  (void)ignored;
  ::_exit(127);
}

bool moveTo(int fd, int target) {
  if (fd < 0) return false;
  if (fd == target) return true;
  bool ok = ::dup2(fd, target) == target;
  ::close(fd);
  return ok;
}

}  // namespace

pid_t spawnJob(const SpawnRequest& r, int* err) {
  std::vector<char*> argv, envp;
  for (auto& a : r.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (auto& e : r.env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const char* out = r.stdout_path.c_str();
  const char* errp = r.stderr_path.c_str();
  const char* cwd = r.cwd.c_str();
  const char* program = r.program.c_str();

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    *err = errno;
    return -1;
  }
  const pid_t parent = ::getpid();
  // Signals stay blocked across the fork so no handler of the daemon's runs in the child.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  const RunAs* run_as = r.run_as ? &*r.run_as : nullptr;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    if (::setpgid(0, 0) != 0) childFail(fds[1]);
    for (int s = 1; s < NSIG; ++s) std::signal(s, SIG_DFL);  // EINVAL for some: harmless
    if (!moveTo(::open("/dev/null", O_RDONLY), 0)) childFail(fds[1]);
    if (!moveTo(::open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600), 1)) childFail(fds[1]);
    if (!moveTo(::open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0600), 2)) childFail(fds[1]);
    // The daemon's sockets, queue database and pidfds must not leak into user scripts. The
    // error pipe is close-on-exec, so it survives until the execve below.
    for (int fd = 3; fd < fds[1]; ++fd) ::close(fd);
    ::syscall(SYS_close_range, fds[1] + 1, ~0U, 0);
    for (auto& l : r.limits) {
      rlimit rl{static_cast<rlim_t>(l.value), static_cast<rlim_t>(l.value)};
      if (::setrlimit(l.resource, &rl) != 0) childFail(fds[1]);
    }
    // Groups first, then the gid, then the uid (after which none of these is allowed any more).
    if (run_as) {
      if (::setgroups(run_as->groups.size(), run_as->groups.data()) != 0) childFail(fds[1]);
      if (::setresgid(run_as->gid, run_as->gid, run_as->gid) != 0) childFail(fds[1]);
      if (::setresuid(run_as->uid, run_as->uid, run_as->uid) != 0) childFail(fds[1]);
    }
    // After the credentials change, which clears the parent-death signal.
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) childFail(fds[1]);
    if (::getppid() != parent) ::_exit(127);  // the daemon died before the line above
    if (::chdir(cwd) != 0) childFail(fds[1]);
    sigset_t none;
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, nullptr);
    ::execve(program, argv.data(), envp.data());
    childFail(fds[1]);
  }
  int fork_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::close(fds[1]);
  if (pid < 0) {
    ::close(fds[0]);
    *err = fork_errno;
    return -1;
  }
  int child_errno = 0;
  ssize_t n;
  do {
    n = ::read(fds[0], &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  ::close(fds[0]);
  if (n > 0) {  // the exec did not happen: reap the child, report its errno
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    *err = child_errno ? child_errno : ECHILD;
    return -1;
  }
  return pid;
}

}  // namespace sluice::sinks::supervisor
