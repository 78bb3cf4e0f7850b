#include "sinks/supervisor/job_marker.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>

#include <nlohmann/json.hpp>

#include "daemon/config_reader.hpp"

namespace sluice::sinks::supervisor {
namespace {

namespace fs = std::filesystem;

// /proc files and job.json: small, and a missing one reads as "" (nothing to match or adopt).
std::string readAll(const fs::path& p) {
  std::string why;
  return readRegularFile(p, 1 << 20, &why).value_or("");
}

// The process group of `pid` from /proc/<pid>/stat (after the command name, which may hold
// spaces and parentheses: parse from the last ')').
std::optional<pid_t> groupOf(pid_t pid) {
  std::string stat = readAll("/proc/" + std::to_string(pid) + "/stat");
  auto close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(stat.substr(close + 1));
  std::string state;
  long ppid = 0, pgrp = 0;
  if (!(rest >> state >> ppid >> pgrp)) return std::nullopt;
  return static_cast<pid_t>(pgrp);
}

}  // namespace

bool writeMarker(const fs::path& dir, const JobMarker& m) {
  nlohmann::json j = {{"pid", m.pid}, {"daemon_pid", m.daemon_pid}, {"event_id", m.event_id},
                      {"started_ms", m.started_ms}, {"gpus", m.gpus}};
  const fs::path tmp = dir / (std::string(kMarkerFile) + ".tmp");
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  std::string text = j.dump() + "\n";
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::close(fd) == 0 && ok;
  std::error_code ec;
  if (ok) fs::rename(tmp, dir / kMarkerFile, ec);
  return ok && !ec;
}

std::optional<JobMarker> readMarker(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir / kMarkerFile, ec)) return std::nullopt;
  try {
    auto j = nlohmann::json::parse(readAll(dir / kMarkerFile));
    return JobMarker{j.at("pid").get<pid_t>(), j.at("daemon_pid").get<pid_t>(),
                     j.at("event_id").get<std::string>(), j.at("started_ms").get<std::int64_t>(),
                     j.value("gpus", std::vector<int>{})};
  } catch (const std::exception&) {
    return std::nullopt;  // torn or foreign: nothing to adopt or end
  }
}

void removeMarker(const fs::path& dir) {
  std::error_code ec;
  fs::remove(dir / kMarkerFile, ec);
}

int endLeftovers(pid_t pgid, const std::string& event_id, const std::string& sink) {
  if (pgid <= 1) return 0;
  const std::string want_id = "SLUICE_EVENT_ID=" + event_id;
  const std::string want_sink = "SLUICE_SINK=" + sink;
  int n = 0;
  DIR* proc = ::opendir("/proc");
  if (!proc) return 0;
  while (dirent* e = ::readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (!end || *end || pid <= 1) continue;
    if (groupOf(static_cast<pid_t>(pid)) != pgid) continue;
    std::string env = readAll("/proc/" + std::to_string(pid) + "/environ");
    bool id = false, sk = false;
    for (std::size_t at = 0; at < env.size();) {
      auto z = env.find('\0', at);
      std::string_view var(env.data() + at, (z == std::string::npos ? env.size() : z) - at);
      id = id || var == want_id;
      sk = sk || var == want_sink;
      at = z == std::string::npos ? env.size() : z + 1;
    }
    if (id && sk && ::kill(static_cast<pid_t>(pid), SIGKILL) == 0) ++n;
  }
  ::closedir(proc);
  return n;
}

}  // namespace sluice::sinks::supervisor
