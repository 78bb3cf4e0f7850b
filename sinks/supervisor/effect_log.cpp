#include "sinks/supervisor/effect_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include "daemon/config_reader.hpp"
#include "daemon/crypto.hpp"

namespace sluice::sinks::supervisor {
namespace {

namespace fs = std::filesystem;

bool writeAll(int fd, const std::string& s) {
  std::size_t off = 0;
  while (off < s.size()) {
    ssize_t n = ::write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

bool syncDir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

nlohmann::json toJson(const JobEffect& e) {
  return {{"folder", e.folder},
          {"exit_code", e.exit_code},
          {"duration_ms", e.duration_ms},
          {"finished_ms", e.finished_ms},
          {"gpus", e.gpus},
          {"outputs_pending", e.outputs_pending},
          {"uploaded", e.uploaded}};
}

EffectLog::EffectLog(fs::path dir) : dir_(std::move(dir)) { fs::create_directories(dir_); }

// Event ids are hex digests; anything else is hashed, so no id can name a path outside.
fs::path EffectLog::file(const std::string& event_id) const {
  bool plain = !event_id.empty() && event_id.size() <= 128;
  for (unsigned char c : event_id) plain = plain && (std::isalnum(c) || c == '-' || c == '_');
  return dir_ / ((plain ? event_id : hexEncode(sha256(event_id))) + ".json");
}

std::optional<JobEffect> EffectLog::find(const std::string& event_id) const {
  std::string why;
  auto text = readRegularFile(file(event_id), 1 << 20, &why);
  if (!text) return std::nullopt;
  try {
    auto j = nlohmann::json::parse(*text);
    JobEffect e;
    e.folder = j.at("folder").get<std::string>();
    e.exit_code = j.at("exit_code").get<int>();
    e.duration_ms = j.at("duration_ms").get<std::int64_t>();
    e.finished_ms = j.at("finished_ms").get<std::int64_t>();
    e.gpus = j.value("gpus", std::vector<int>{});
    e.outputs_pending = j.value("outputs_pending", false);
    e.uploaded = j.value("uploaded", std::vector<std::string>{});
    return e;
  } catch (const std::exception&) {
    // Torn writes cannot happen (rename), so this is someone else's file: not a record.
    return std::nullopt;
  }
}

bool EffectLog::record(const std::string& event_id, const JobEffect& effect, std::string* why) {
  const fs::path target = file(event_id);
  const fs::path tmp = target.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    *why = "cannot write " + tmp.string() + ": " + std::strerror(errno);
    return false;
  }
  bool ok = writeAll(fd, toJson(effect).dump() + "\n") && ::fsync(fd) == 0;
  int err = errno;
  ok = ::close(fd) == 0 && ok;
  if (ok && ::rename(tmp.c_str(), target.c_str()) != 0) {
    ok = false;
    err = errno;
  }
  if (ok && !syncDir(dir_)) {
    ok = false;
    err = errno;
  }
  if (!ok)
    *why = "cannot record the job's success in " + target.string() + ": " + std::strerror(err);
  return ok;
}

std::size_t EffectLog::prune(std::int64_t before_ms) {
  std::size_t n = 0;
  std::error_code ec;
  for (auto& entry : fs::directory_iterator(dir_, ec)) {
    const auto name = entry.path().filename().string();
    if (entry.path().extension() != ".json") continue;
    auto id = name.substr(0, name.size() - 5);
    auto e = find(id);
    if (e && e->finished_ms >= before_ms) continue;
    std::error_code rm;
    if (fs::remove(entry.path(), rm)) ++n;
  }
  return n;
}

}  // namespace sluice::sinks::supervisor
