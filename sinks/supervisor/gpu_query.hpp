#pragma once
// Asking nvidia-smi which GPUs there are and how much memory each has in use.
//
// The query runs as a short job of a JobRunner (its own process group, a clean environment,
// killed after `timeout`), so a hung driver never blocks the event loop; its output goes to a
// scratch file that is removed afterwards. At start-up the same query runs to completion on a
// private loop before the sink takes work.
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "daemon/config_reader.hpp"
#include "sinks/supervisor/gpu_pool.hpp"
#include "sinks/supervisor/job_runner.hpp"

namespace sluice::sinks::supervisor {

using GpuQueryDone = std::function<void(std::optional<std::vector<GpuInfo>> gpus, std::string why)>;

// `done` runs once, on the runner's io_context, never inline.
void queryGpus(JobRunner& runner, const std::string& nvidia_smi,
               const std::filesystem::path& scratch_dir, Duration timeout, GpuQueryDone done);

// Blocking: for start-up, before the sink's own loop runs.
std::optional<std::vector<GpuInfo>> queryGpusNow(const std::string& nvidia_smi,
                                                 const std::filesystem::path& scratch_dir,
                                                 Duration timeout, std::string* why);

}  // namespace sluice::sinks::supervisor
