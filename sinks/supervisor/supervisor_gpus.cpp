// The supervisor sink's GPUs: finding them at start, handing them out (room), and asking
// nvidia-smi again while some are busy with work sluice did not start.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>

#include "sinks/supervisor/gpu_query.hpp"
#include "sinks/supervisor/supervisor_sink.hpp"

namespace sluice::sinks::supervisor {
namespace {

constexpr Duration kQueryTimeout{15'000};
constexpr auto kPollEvery = std::chrono::seconds(10);

std::string indexList(const std::vector<GpuInfo>& gpus) {
  std::string out;
  for (auto& g : gpus) out += (out.empty() ? "" : ", ") + std::to_string(g.index);
  return out;
}

}  // namespace

void SupervisorSink::initGpus() {
  if (config_.gpus == GpuMode::None) return;
  std::vector<GpuInfo> found;
  std::string why = "nvidia-smi is not on PATH";
  if (!config_.nvidia_smi.empty()) {
    why.clear();
    auto q = queryGpusNow(config_.nvidia_smi, jobs_dir_, kQueryTimeout, &why);
    if (q) found = std::move(*q);
  }
  if (config_.gpus == GpuMode::Auto && found.empty()) {
    log_->warn("{}: no GPU found ({}): jobs run without GPUs", name_,
               why.empty() ? "nvidia-smi lists none" : why);
    return;
  }
  if (config_.gpus == GpuMode::List) {
    std::vector<GpuInfo> chosen;
    for (int index : config_.gpu_list) {
      auto it = std::find_if(found.begin(), found.end(),
                             [&](const GpuInfo& g) { return g.index == index; });
      if (it != found.end())
        chosen.push_back(*it);
      else if (!found.empty())
        throw std::runtime_error("sink " + name_ + ": GPU " + std::to_string(index) +
                                 " is not on this machine (nvidia-smi lists " + indexList(found) +
                                 ")");
      else
        chosen.push_back(GpuInfo{index, "", 0, 0});
    }
    if (found.empty())
      log_->warn(
          "{}: cannot query the GPUs ({}): using the listed indices as they are; GPUs "
          "busy with other work are not detected",
          name_, why);
    found = std::move(chosen);
  }
  if (!config_.share && static_cast<std::size_t>(config_.gpus_per_job) > found.size())
    throw std::runtime_error("sink " + name_ + ": gpus_per_job is " +
                             std::to_string(config_.gpus_per_job) + " but only " +
                             std::to_string(found.size()) + " GPUs are there");
  const auto busy_mib = static_cast<std::int64_t>(config_.gpu_busy_memory >> 20);
  gpus_.emplace(found, config_.gpus_per_job, config_.share, busy_mib);
  gpus_idle_ = &metrics_.gauge("sluice_supervisor_gpus_idle",
                               "GPUs of a supervisor sink that no job holds and no other work uses",
                               {{"sink", name_}});
  updateGauges();
  const int busy = gpus_->foreignBusy();
  log_->info("{}: {} GPUs ({}), {} per job{}{}", name_, found.size(), indexList(found),
             config_.gpus_per_job, config_.share ? ", shared" : "",
             busy ? ", " + std::to_string(busy) + " busy with other work for now" : std::string());
  pollGpus();
}

void SupervisorSink::pollGpus() {
  if (!gpus_ || config_.nvidia_smi.empty() || gpus_->foreignBusy() == 0 || gpu_query_running_ ||
      aborted_)
    return;
  gpu_poll_.expires_after(kPollEvery);
  gpu_poll_.async_wait([this](boost::system::error_code ec) {
    if (ec || aborted_) return;
    gpu_query_running_ = true;
    queryGpus(gpu_query_runner_, config_.nvidia_smi, jobs_dir_, kQueryTimeout,
              [this](std::optional<std::vector<GpuInfo>> readings, std::string why) {
                gpu_query_running_ = false;
                if (readings) {
                  const int before = gpus_->foreignBusy();
                  gpus_->observe(*readings);
                  if (gpus_->foreignBusy() != before)
                    log_->info("{}: {} of {} GPUs busy with other work", name_,
                               gpus_->foreignBusy(), gpus_->size());
                  updateGauges();
                } else {
                  log_->warn("{}: cannot read the GPUs' memory use: {}", name_, why);
                }
                pollGpus();
              });
  });
}

int SupervisorSink::room() const { return gpus_ ? gpus_->room() : std::numeric_limits<int>::max(); }

void SupervisorSink::updateGauges() {
  running_gauge_.set(static_cast<double>(runner_.running()));
  if (gpus_idle_) gpus_idle_->set(static_cast<double>(gpus_->idle()));
}

}  // namespace sluice::sinks::supervisor
