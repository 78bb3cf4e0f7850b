#pragma once
// The GPUs a supervisor sink hands to its jobs (`gpus`, `gpus_per_job`, `share`).
//
// Invariants:
//  - take() hands out exactly per_job distinct GPUs or none; without `share` a GPU is held by
//    at most one job at a time, with `share` by any number (the least used first).
//  - A GPU that no job of this sink holds, and whose last reading showed more memory in use
//    than the threshold, is busy with work sluice did not start: it is not handed out until a
//    later reading shows it free. Readings of GPUs our own jobs hold say nothing about others.
//  - room() is how many more jobs could get their GPUs now; the dispatcher leases no more
//    deliveries than that, so waiting events stay in the durable queue.
//  - Used on the io_context thread only (no locking).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::sinks::supervisor {

struct GpuInfo {
  int index = 0;     // nvidia-smi's index (PCI bus order)
  std::string uuid;  // "GPU-…"; empty when unknown
  std::int64_t memory_total_mib = 0;
  std::int64_t memory_used_mib = 0;
};

// The query sluice runs: `nvidia-smi` followed by these arguments.
inline const std::vector<std::string> kGpuQueryArgs = {
    "--query-gpu=index,uuid,memory.total,memory.used", "--format=csv,noheader,nounits"};

// Parses that query's output, one GPU per line ("0, GPU-8a…, 81559, 1"; a "MiB" unit after a
// number is accepted too). nullopt with the reason when a line is not of that form.
std::optional<std::vector<GpuInfo>> parseGpuQuery(std::string_view text, std::string* why);

class GpuPool {
 public:
  GpuPool(std::vector<GpuInfo> gpus, int per_job, bool share, std::int64_t busy_above_mib);

  // Fresh readings (from the query): marks GPUs busy with other people's work, or free again.
  void observe(const std::vector<GpuInfo>& readings);
  // per_job GPUs for one job (lowest index first among the equally used), or nullopt.
  std::optional<std::vector<GpuInfo>> take();
  void give(const std::vector<GpuInfo>& gpus);
  // Marks the GPUs a running job already holds (adopted after a reload) as held; indices this
  // pool does not have are skipped.
  std::vector<GpuInfo> hold(const std::vector<int>& indices);
  int room() const;

  std::size_t size() const { return gpus_.size(); }
  int perJob() const { return per_job_; }
  // GPUs held by nobody and not busy elsewhere; for logs and metrics.
  int idle() const;
  int foreignBusy() const;

 private:
  struct Entry {
    GpuInfo info;
    int holders = 0;
    bool foreign = false;  // memory in use while no job of ours held it
  };
  bool usable(const Entry& e) const { return !e.foreign && (share_ || e.holders == 0); }

  std::vector<Entry> gpus_;
  int per_job_;
  bool share_;
  std::int64_t busy_above_mib_;
};

// The GPUs one job holds; given back when destroyed, so the pool must outlive it.
class GpuLease {
 public:
  GpuLease(GpuPool& pool, std::vector<GpuInfo> gpus) : pool_(&pool), gpus_(std::move(gpus)) {}
  GpuLease(const GpuLease&) = delete;
  GpuLease& operator=(const GpuLease&) = delete;
  ~GpuLease() { pool_->give(gpus_); }
  const std::vector<GpuInfo>& gpus() const { return gpus_; }
  std::vector<int> indices() const {
    std::vector<int> out;
    for (auto& g : gpus_) out.push_back(g.index);
    return out;
  }

 private:
  GpuPool* pool_;
  std::vector<GpuInfo> gpus_;
};

// CUDA_VISIBLE_DEVICES (indices, with CUDA_DEVICE_ORDER=PCI_BUS_ID so they mean what
// nvidia-smi's mean), NVIDIA_VISIBLE_DEVICES (UUIDs, for containers a job starts) and
// SLUICE_GPUS for a job that holds `gpus`; with no GPUs, both device lists are empty so a job
// cannot see a GPU it was not given.
std::vector<std::pair<std::string, std::string>> gpuEnvironment(const std::vector<GpuInfo>& gpus);

}  // namespace sluice::sinks::supervisor
