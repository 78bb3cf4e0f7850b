#pragma once
// Starting one job process. fork + execve rather than posix_spawn, because the child must set
// things posix_spawn cannot: PR_SET_PDEATHSIG, so that a job does not outlive a daemon killed
// with SIGKILL (its group's other members are ended by the next start, see SupervisorSink).
//
// Between fork and execve the child runs only system calls (no allocation, no locks): every
// string is prepared before the fork. A failure there reaches the parent as an errno through a
// close-on-exec pipe, so start failures are reported exactly as posix_spawn would.
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace sluice::sinks::supervisor {

// Who a job runs as (`user:`), prepared before the fork.
struct RunAs {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups, the primary one included
};

// One setrlimit() for the job, soft and hard limit alike.
struct ResourceLimit {
  int resource = 0;  // RLIMIT_*
  std::uint64_t value = 0;
};

struct SpawnRequest {
  std::string program;            // absolute path
  std::vector<std::string> argv;  // argv[0] included
  std::vector<std::string> env;   // "NAME=value", the whole environment
  std::filesystem::path cwd;
  std::filesystem::path stdout_path;  // created 0600 or truncated
  std::filesystem::path stderr_path;
  std::optional<RunAs> run_as;  // none: the daemon's own user
  std::vector<ResourceLimit> limits;
};

// Returns the child's pid (it leads its own process group, has the default signal mask and
// dispositions, stdin from /dev/null and no other inherited descriptor, its limits, and with
// run_as that user's uid, gid and groups and no way back), or -1 with *err set.
// Call from the thread that will outlive the job (the io_context thread): the death signal
// follows the thread that forked.
pid_t spawnJob(const SpawnRequest& r, int* err);

}  // namespace sluice::sinks::supervisor
