#include "sinks/supervisor/supervisor_config.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string_view>

#include "daemon/registry.hpp"

namespace sluice::sinks::supervisor {
namespace {

namespace fs = std::filesystem;

// Used when the daemon itself runs without PATH (some init systems), matching the job default.
constexpr const char* kFallbackSearchPath = "/usr/local/bin:/usr/bin:/bin";

bool isExecutableFile(const std::string& p, std::string* why) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) {
    if (why) *why = p + ": " + std::strerror(errno);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    if (why) *why = p + " is not a regular file";
    return false;
  }
  if (::access(p.c_str(), X_OK) != 0) {
    if (why) *why = p + " is not executable (" + std::strerror(errno) + ")";
    return false;
  }
  return true;
}

bool hasNul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

void parseCommand(MapReader& m, SupervisorConfig& c) {
  if (!m.has("command")) {
    m.node("command");  // a bare `command:` is present but null: mark it read, report it here
    m.error("command", "is required: the job's argv, e.g. [/usr/local/bin/detect, --fast]");
    return;
  }
  if (!m.node("command").IsSequence()) {
    // A single string would be one argv element, not a command line: say so instead of
    // failing later with "not found" for "python3 detect.py".
    m.error("command", "must be a list of strings (the argv; no shell is used)");
    return;
  }
  c.command = m.stringList("command");
  if (c.command.empty()) {
    m.error("command", "must not be empty");
    return;
  }
  for (auto& arg : c.command)
    if (hasNul(arg)) m.error("command", "arguments must not contain NUL bytes");

  // Relative commands resolve against the config file's folder, like every path of the config.
  std::error_code ec;
  const auto cwd = m.baseDir().empty() ? fs::current_path(ec) : m.baseDir();  // empty: no file
  const char* search = std::getenv("PATH");
  std::string why;
  auto program = resolveProgram(c.command[0], ec ? std::string("/") : cwd.string(),
                                search ? search : kFallbackSearchPath, &why);
  if (program)
    c.program = *program;
  else
    m.error("command", why);
}

void parseEnv(MapReader& m, SupervisorConfig& c) {
  c.env = m.stringMap("env");
  for (auto& [name, value] : c.env) {
    // execve cannot carry these; reject them here rather than truncate them at spawn time.
    if (name.empty() || name.find('=') != std::string::npos || hasNul(name))
      m.errors().add(m.childPath("env") + "." + name, m.line(), "is not a valid variable name");
    else if (hasNul(value))
      m.errors().add(m.childPath("env") + "." + name, m.line(), "must not contain NUL bytes");
  }
}

void parseExitCodes(MapReader& m, SupervisorConfig& c) {
  for (auto& s : m.stringList("permanent_exit_codes")) {
    char* end = nullptr;
    long v = std::strtol(s.c_str(), &end, 10);
    if (s.empty() || *end != '\0' || v < 1 || v > 255)
      m.error("permanent_exit_codes", "must list exit statuses from 1 to 255 (got \"" + s + "\")");
    else
      c.permanent_exit_codes.insert(static_cast<int>(v));
  }
}

void parseGpus(MapReader& m, SupervisorConfig& c) {
  YAML::Node n = m.node("gpus");
  if (!n.IsDefined() || n.IsNull() || (n.IsScalar() && n.Scalar() == "none")) {
    c.gpus = GpuMode::None;
  } else if (n.IsScalar() && n.Scalar() == "auto") {
    c.gpus = GpuMode::Auto;
  } else if (n.IsSequence()) {
    c.gpus = GpuMode::List;
    for (auto& s : m.stringList("gpus")) {
      char* end = nullptr;
      long v = std::strtol(s.c_str(), &end, 10);
      if (s.empty() || *end != '\0' || v < 0 || v > 1023)
        m.error("gpus", "must list GPU indices as nvidia-smi numbers them (got \"" + s + "\")");
      else if (std::find(c.gpu_list.begin(), c.gpu_list.end(), v) != c.gpu_list.end())
        m.error("gpus", "lists GPU " + s + " twice");
      else
        c.gpu_list.push_back(static_cast<int>(v));
    }
    if (m.node("gpus").size() == 0) m.error("gpus", "must not be empty (use none)");
  } else {
    m.error("gpus", "must be auto, none or a list of GPU indices, e.g. [0, 1]");
  }
  c.gpus_per_job = static_cast<int>(m.integer("gpus_per_job", 1, 1, 64));
  c.share = m.boolean("share", false);
  c.gpu_busy_memory = m.size("gpu_busy_memory", c.gpu_busy_memory);
  if (c.gpus == GpuMode::List && !c.share && c.gpus_per_job > static_cast<int>(c.gpu_list.size()))
    m.error("gpus_per_job", "is more than the " + std::to_string(c.gpu_list.size()) +
                                " GPUs listed in gpus: no job could ever start");
  if (c.gpus == GpuMode::None) return;
  // Looked up like a bare command name; a test puts a fake one first on PATH.
  const char* search = std::getenv("PATH");
  auto found = resolveProgram("nvidia-smi", "/", search ? search : kFallbackSearchPath, nullptr);
  if (found) c.nvidia_smi = *found;
}

void parseOutputs(MapReader& m, SupervisorConfig& c) {
  YAML::Node list = m.node("outputs");
  if (!list.IsDefined() || list.IsNull()) return;
  if (!list.IsSequence()) {
    m.error("outputs", "must be a list of {source, path, prefix, suffix}");
    return;
  }
  for (std::size_t i = 0; i < list.size(); ++i) {
    MapReader o(list[i], m.childPath("outputs") + "[" + std::to_string(i) + "]", m.errors());
    OutputTarget t;
    t.source = o.string("source", "");
    if (t.source.empty()) {
      auto folder = o.pathValue("path");
      if (!folder || folder->empty())
        o.error("path", "is required: a local folder, or name a source to upload to");
      else
        t.path = folder->string();
    } else {
      t.path = o.string("path", "");
      while (!t.path.empty() && t.path.front() == '/') t.path.erase(0, 1);
      if (t.path.find("..") != std::string::npos || t.path.find('\0') != std::string::npos)
        o.error("path", "must not contain \"..\" or NUL");
      if (!t.path.empty() && t.path.back() != '/') t.path += '/';
    }
    t.prefix = o.stringList("prefix");
    t.suffix = o.stringList("suffix");
    o.finish();
    c.outputs.push_back(std::move(t));
  }
}

void parseUser(MapReader& m, SupervisorConfig& c) {
  auto name = m.string("user");
  if (!name || name->empty()) return;
  c.user = *name;
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  int rc = ::getpwnam_r(name->c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0 || !found) {
    m.error("user", "no user \"" + *name + "\" on this machine");
    return;
  }
  RunAs as{pw.pw_uid, pw.pw_gid, {}};
  int n = 64;
  std::vector<gid_t> groups(static_cast<std::size_t>(n));
  if (::getgrouplist(name->c_str(), pw.pw_gid, groups.data(), &n) < 0) {
    groups.resize(static_cast<std::size_t>(n));
    ::getgrouplist(name->c_str(), pw.pw_gid, groups.data(), &n);
  }
  groups.resize(static_cast<std::size_t>(std::max(n, 0)));
  as.groups = std::move(groups);
  if (as.uid == 0) m.error("user", "must not be root: jobs would run with sluice's privileges");
  c.run_as = std::move(as);
}

void parseLimits(MapReader& m, SupervisorConfig& c) {
  auto l = m.map("limits");
  // memory: RLIMIT_DATA (heap and private writable mappings) rather than RLIMIT_AS, which
  // counts the address space CUDA reserves and so breaks GPU jobs at any useful value.
  if (l.has("memory")) c.limits.push_back({RLIMIT_DATA, l.size("memory", 0)});
  if (l.has("cpu_seconds"))
    c.limits.push_back({RLIMIT_CPU, static_cast<std::uint64_t>(
                                        l.integer("cpu_seconds", 0, 1, 1LL << 40))});
  if (l.has("open_files"))
    c.limits.push_back({RLIMIT_NOFILE, static_cast<std::uint64_t>(
                                           l.integer("open_files", 0, 16, 1 << 20))});
  if (l.has("file_size")) c.limits.push_back({RLIMIT_FSIZE, l.size("file_size", 0)});
  if (l.has("processes"))
    c.limits.push_back({RLIMIT_NPROC, static_cast<std::uint64_t>(
                                          l.integer("processes", 0, 1, 1 << 22))});
  for (auto& lim : c.limits)
    if (lim.resource == RLIMIT_DATA && lim.value < (16u << 20))
      l.error("memory", "must be at least 16MiB (no program starts with less)");
  l.finish();
}

}  // namespace

std::optional<std::string> resolveProgram(const std::string& argv0, const std::string& cwd,
                                          const std::string& search_path, std::string* why) {
  if (argv0.empty()) {
    if (why) *why = "the program (first element) must not be empty";
    return std::nullopt;
  }
  if (argv0.find('/') != std::string::npos) {
    // Relative paths are taken against the daemon's cwd now, because jobs run in their folder.
    auto p = (fs::path(cwd) / argv0).lexically_normal().string();
    if (!isExecutableFile(p, why)) return std::nullopt;
    return p;
  }
  std::string_view rest = search_path;
  while (true) {
    auto colon = rest.find(':');
    auto dir = rest.substr(0, colon);
    // Empty entries would mean "the current directory"; a bare name never runs from there.
    if (!dir.empty()) {
      auto p = (fs::path(cwd) / dir / argv0).lexically_normal().string();
      if (isExecutableFile(p, nullptr)) return p;
    }
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  if (why) *why = "'" + argv0 + "' was not found as an executable on PATH (" + search_path + ")";
  return std::nullopt;
}

bool OutputTarget::matches(const std::string& name) const {
  auto any = [](const std::vector<std::string>& list, auto&& test) {
    return list.empty() || std::any_of(list.begin(), list.end(), test);
  };
  return any(prefix, [&](const std::string& p) { return name.rfind(p, 0) == 0; }) &&
         any(suffix, [&](const std::string& x) {
           return name.size() >= x.size() && name.compare(name.size() - x.size(), x.size(), x) == 0;
         });
}

std::vector<std::string> SupervisorSpec::sources() const {
  std::vector<std::string> out;
  for (auto& o : config.outputs)
    if (!o.source.empty()) out.push_back(o.source);
  return out;
}

std::unique_ptr<SinkSpec> parseSupervisorSpec(MapReader& m) {
  auto spec = std::make_unique<SupervisorSpec>();
  SupervisorConfig& c = spec->config;
  parseCommand(m, c);
  parseEnv(m, c);
  c.kill_grace = m.duration("kill_grace", c.kill_grace);
  c.on_failure = m.choice("on_failure", {"retry", "dead"}, "retry") == "dead" ? OnFailure::Dead
                                                                              : OnFailure::Retry;
  parseExitCodes(m, c);
  c.format = parsePayloadFormat(m, PayloadFormat::CloudEvents,
                                {PayloadFormat::CloudEvents, PayloadFormat::S3,
                                 PayloadFormat::OneTrigger, PayloadFormat::Native});
  c.keep_jobs = static_cast<std::size_t>(
      m.integer("keep_jobs", static_cast<std::int64_t>(c.keep_jobs), 0, 10'000'000));
  parseGpus(m, c);
  c.stage_in = m.boolean("stage_in", false);
  parseOutputs(m, c);
  parseUser(m, c);
  parseLimits(m, c);
  m.finish();
  return spec;
}

namespace {
const bool kRegistered = sluice::registerSink("supervisor", &parseSupervisorSpec);
}  // namespace

}  // namespace sluice::sinks::supervisor
