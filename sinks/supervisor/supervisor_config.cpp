#include "sinks/supervisor/supervisor_config.hpp"

#include <sys/stat.h>
#include <unistd.h>

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

// Keys of the GPU / stage-in / stage-out / run-as issue. Only their defaults are accepted so a
// config written for that version fails loudly here instead of running jobs without GPUs.
void rejectUnavailable(MapReader& m) {
  struct Later {
    const char* key;
    bool (*is_default)(const YAML::Node&);
    const char* message;
  };
  static const Later kLater[] = {
      {"gpus", [](const YAML::Node& n) { return n.IsScalar() && n.Scalar() == "none"; },
       "GPU slots are not available in this version"},
      {"gpus_per_job", [](const YAML::Node&) { return false; },
       "GPU slots are not available in this version"},
      {"stage_in",
       [](const YAML::Node& n) {
         return n.IsScalar() &&
                (n.Scalar() == "false" || n.Scalar() == "no" || n.Scalar() == "off");
       },
       "stage-in is not available in this version"},
      {"outputs", [](const YAML::Node& n) { return n.IsSequence() && n.size() == 0; },
       "output upload is not available in this version"},
      {"user", [](const YAML::Node&) { return false; },
       "running jobs as another user is not available in this version"},
  };
  for (auto& l : kLater) {
    YAML::Node n = m.node(l.key);  // marks it read: a null value (`gpus:`) means the default
    if (n.IsDefined() && !n.IsNull() && !l.is_default(n)) m.error(l.key, l.message);
  }
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
  rejectUnavailable(m);
  m.finish();
  return spec;
}

namespace {
const bool kRegistered = sluice::registerSink("supervisor", &parseSupervisorSpec);
}  // namespace

}  // namespace sluice::sinks::supervisor
