#include "sinks/supervisor/gpu_pool.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>

namespace sluice::sinks::supervisor {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// "81559" or "81559 MiB"; nvidia-smi writes "[N/A]" where it cannot tell (then 0).
bool parseMib(std::string_view s, std::int64_t* out) {
  s = trim(s);
  if (s == "[N/A]" || s == "N/A") {
    *out = 0;
    return true;
  }
  if (s.size() > 3 && s.substr(s.size() - 3) == "MiB") s = trim(s.substr(0, s.size() - 3));
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size() && *out >= 0;
}

}  // namespace

std::optional<std::vector<GpuInfo>> parseGpuQuery(std::string_view text, std::string* why) {
  std::vector<GpuInfo> out;
  int line_no = 0;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = trim(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    if (line.empty()) continue;
    std::vector<std::string_view> f;
    for (std::size_t at = 0;;) {
      auto comma = line.find(',', at);
      f.push_back(trim(line.substr(at, comma == std::string_view::npos ? comma : comma - at)));
      if (comma == std::string_view::npos) break;
      at = comma + 1;
    }
    GpuInfo g;
    bool ok = f.size() == 4;
    if (ok) {
      auto [end, ec] = std::from_chars(f[0].data(), f[0].data() + f[0].size(), g.index);
      ok = ec == std::errc() && end == f[0].data() + f[0].size() && g.index >= 0;
    }
    ok = ok && parseMib(f[2], &g.memory_total_mib) && parseMib(f[3], &g.memory_used_mib);
    if (!ok) {
      if (why)
        *why = "line " + std::to_string(line_no) +
               " is not \"index, uuid, memory.total, "
               "memory.used\": " +
               std::string(line.substr(0, 120));
      return std::nullopt;
    }
    if (f[1] != "[N/A]") g.uuid = std::string(f[1]);
    out.push_back(std::move(g));
  }
  return out;
}

GpuPool::GpuPool(std::vector<GpuInfo> gpus, int per_job, bool share, std::int64_t busy_above_mib)
    : per_job_(std::max(1, per_job)), share_(share), busy_above_mib_(busy_above_mib) {
  std::sort(gpus.begin(), gpus.end(),
            [](const GpuInfo& a, const GpuInfo& b) { return a.index < b.index; });
  for (auto& g : gpus) gpus_.push_back({std::move(g), 0, false});
  for (auto& e : gpus_) e.foreign = e.info.memory_used_mib > busy_above_mib_;
}

void GpuPool::observe(const std::vector<GpuInfo>& readings) {
  for (auto& r : readings)
    for (auto& e : gpus_) {
      if (e.info.index != r.index) continue;
      e.info.memory_used_mib = r.memory_used_mib;
      if (e.holders == 0) e.foreign = r.memory_used_mib > busy_above_mib_;
    }
}

std::optional<std::vector<GpuInfo>> GpuPool::take() {
  std::vector<Entry*> candidates;
  for (auto& e : gpus_)
    if (usable(e)) candidates.push_back(&e);
  if (static_cast<int>(candidates.size()) < per_job_) return std::nullopt;
  // Least held first; among equals the lowest index (stable: gpus_ is sorted by index).
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Entry* a, const Entry* b) { return a->holders < b->holders; });
  candidates.resize(static_cast<std::size_t>(per_job_));
  std::sort(candidates.begin(), candidates.end(),
            [](const Entry* a, const Entry* b) { return a->info.index < b->info.index; });
  std::vector<GpuInfo> out;
  for (auto* e : candidates) {
    ++e->holders;
    out.push_back(e->info);
  }
  return out;
}

void GpuPool::give(const std::vector<GpuInfo>& gpus) {
  for (auto& g : gpus)
    for (auto& e : gpus_)
      if (e.info.index == g.index && e.holders > 0) --e.holders;
}

std::vector<GpuInfo> GpuPool::hold(const std::vector<int>& indices) {
  std::vector<GpuInfo> out;
  for (int i : indices)
    for (auto& e : gpus_)
      if (e.info.index == i) {
        ++e.holders;
        out.push_back(e.info);
      }
  return out;
}

int GpuPool::room() const {
  int usable_now = 0;
  for (auto& e : gpus_) usable_now += usable(e) ? 1 : 0;
  if (share_) return usable_now >= per_job_ ? std::numeric_limits<int>::max() : 0;
  return usable_now / per_job_;
}

int GpuPool::idle() const {
  int n = 0;
  for (auto& e : gpus_) n += !e.foreign && e.holders == 0 ? 1 : 0;
  return n;
}

int GpuPool::foreignBusy() const {
  int n = 0;
  for (auto& e : gpus_) n += e.foreign ? 1 : 0;
  return n;
}

std::vector<std::pair<std::string, std::string>> gpuEnvironment(const std::vector<GpuInfo>& gpus) {
  std::string indices, uuids;
  for (auto& g : gpus) {
    indices += (indices.empty() ? "" : ",") + std::to_string(g.index);
    uuids += (uuids.empty() ? "" : ",") + (g.uuid.empty() ? std::to_string(g.index) : g.uuid);
  }
  return {{"CUDA_DEVICE_ORDER", "PCI_BUS_ID"},
          {"CUDA_VISIBLE_DEVICES", indices},
          {"NVIDIA_VISIBLE_DEVICES", uuids},
          {"SLUICE_GPUS", indices}};
}

}  // namespace sluice::sinks::supervisor
