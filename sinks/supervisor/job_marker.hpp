#pragma once
// What a running job leaves in its folder (job.json) so that the next start of the daemon
// knows about it: after a reload (execve: same pid, the job is still our child) the job is
// adopted and its redelivery attached to it; after a crash (another pid) whatever is left of
// the job's process group is ended, because the redelivery starts the job again.
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace sluice::sinks::supervisor {

struct JobMarker {
  pid_t pid = -1;         // the job's leader, and so its process group id
  pid_t daemon_pid = -1;  // the daemon that started it
  std::string event_id;
  std::int64_t started_ms = 0;  // wall clock
  std::vector<int> gpus;        // the GPUs it holds (nvidia-smi indices)
};

constexpr const char* kMarkerFile = "job.json";

// Written (0600) when a job starts, removed when it ends. False when it could not be written.
bool writeMarker(const std::filesystem::path& dir, const JobMarker& m);
std::optional<JobMarker> readMarker(const std::filesystem::path& dir);
void removeMarker(const std::filesystem::path& dir);

// SIGKILLs every process of group `pgid` whose environment says it is the job of `event_id`
// for sink `sink` (SLUICE_EVENT_ID, SLUICE_SINK): a group id alone may meanwhile belong to an
// unrelated process. Returns how many were signalled.
int endLeftovers(pid_t pgid, const std::string& event_id, const std::string& sink);

}  // namespace sluice::sinks::supervisor
