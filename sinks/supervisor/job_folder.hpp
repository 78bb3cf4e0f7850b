#pragma once
// Small helpers of the supervisor sink about job folders and how jobs ended.
#include <filesystem>
#include <string>

#include "daemon/config_reader.hpp"
#include "sinks/supervisor/job_runner.hpp"

namespace sluice::sinks::supervisor {

// Folder names come from event ids (hex digests) but must never escape the jobs folder,
// whatever an id holds: anything outside [A-Za-z0-9._-] becomes '_', and no name starts with
// '.'.
std::string safeName(const std::string& s);

std::string formatDuration(Duration d);

// `reason` plus the last non-empty line of <dir>/stderr.log (at most 200 bytes, printable
// UTF-8): operators see why a job failed in the delivery's reason without opening the folder.
std::string withStderr(std::string reason, const std::filesystem::path& dir);

// The `outcome` label of sluice_supervisor_jobs_total.
std::string outcomeLabel(JobOutcome::Kind k);

}  // namespace sluice::sinks::supervisor
