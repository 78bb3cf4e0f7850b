#include "sinks/supervisor/job_folder.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>

#include "daemon/event.hpp"

namespace sluice::sinks::supervisor {

namespace fs = std::filesystem;

std::string safeName(const std::string& s) {
  std::string out;
  for (unsigned char c : s.substr(0, 200))
    out += std::isalnum(c) || c == '-' || c == '_' || c == '.' ? static_cast<char>(c) : '_';
  if (out.empty() || out[0] == '.') out.insert(0, "_");
  return out;
}

std::string formatDuration(Duration d) {
  auto ms = d.count();
  if (ms == 0 || ms % 1000 != 0) return std::to_string(ms) + "ms";
  if (ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  return std::to_string(ms / 1000) + "s";
}

namespace {

constexpr std::size_t kStderrLineMax = 200;

std::string lastStderrLine(const fs::path& file) {
  std::ifstream in(file, std::ios::binary | std::ios::ate);
  if (!in) return "";
  const std::streamoff size = in.tellg();
  const std::streamoff from = std::max<std::streamoff>(0, size - 4096);
  in.seekg(from);
  std::string tail(static_cast<std::size_t>(size - from), '\0');
  in.read(tail.data(), static_cast<std::streamsize>(tail.size()));
  tail.resize(static_cast<std::size_t>(in.gcount()));
  while (!tail.empty() && std::isspace(static_cast<unsigned char>(tail.back()))) tail.pop_back();
  auto nl = tail.rfind('\n');
  std::string line = nl == std::string::npos ? tail : tail.substr(nl + 1);
  if (line.size() > kStderrLineMax) line.resize(kStderrLineMax);
  for (auto& c : line)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  return toUtf8Lossy(line);
}

}  // namespace

std::string withStderr(std::string reason, const fs::path& dir) {
  auto line = lastStderrLine(dir / "stderr.log");
  return line.empty() ? reason : reason + "; stderr: " + line;
}

std::string outcomeLabel(JobOutcome::Kind k) {
  switch (k) {
    case JobOutcome::Kind::Exited:
      return "exited";
    case JobOutcome::Kind::Signaled:
      return "signaled";
    case JobOutcome::Kind::TimedOut:
      return "timed_out";
    case JobOutcome::Kind::Aborted:
      return "aborted";
    case JobOutcome::Kind::SpawnFailed:
      return "spawn_failed";
    case JobOutcome::Kind::Lost:
      return "lost";
  }
  return "unknown";
}

}  // namespace sluice::sinks::supervisor
