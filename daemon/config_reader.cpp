#include "daemon/config_reader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <sstream>

namespace sluice {
namespace {

// A secret is a token or a key; anything this large is the wrong file.
constexpr std::size_t kMaxSecretFile = 64 * 1024;

std::filesystem::path absoluteBase(const std::filesystem::path& base) {
  std::error_code ec;
  auto out = base.empty() ? std::filesystem::current_path(ec) : std::filesystem::absolute(base, ec);
  return ec ? std::filesystem::path("/") : out;
}

std::string octalMode(unsigned mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", mode & 07777);
  return buf;
}

}  // namespace

ConfigErrors::ConfigErrors(const std::filesystem::path& base_dir)
    : base_dir_(absoluteBase(base_dir)) {}

void ConfigErrors::warn(std::string path, int line, std::string message) {
  warnings_.push_back({std::move(path), line, std::move(message)});
}

std::optional<std::string> readRegularFile(const std::filesystem::path& file, std::size_t max_bytes,
                                           std::string* why, unsigned* mode) {
  auto fail = [&](std::string reason) -> std::optional<std::string> {
    if (why) *why = std::move(reason);
    return std::nullopt;
  };
  // O_NONBLOCK: opening a FIFO must not hang `sluice check`; it is rejected just below.
  int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return fail(std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return fail(std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail(S_ISDIR(st.st_mode) ? "is a directory" : "is not a regular file");
  }
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    ::close(fd);
    return fail("is larger than " + std::to_string(max_bytes) + " bytes");
  }
  if (mode) *mode = static_cast<unsigned>(st.st_mode) & 07777;
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return fail(std::strerror(err));
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > max_bytes) {  // it grew while we read it
      ::close(fd);
      return fail("is larger than " + std::to_string(max_bytes) + " bytes");
    }
  }
  ::close(fd);
  return out;
}

std::string ConfigError::str() const {
  std::string s = path.empty() ? "(top level)" : path;
  if (line > 0) s += " (line " + std::to_string(line) + ")";
  return s + ": " + message;
}

void ConfigErrors::add(std::string path, int line, std::string message) {
  list_.push_back({std::move(path), line, std::move(message)});
}

int lineOf(const YAML::Node& n) {
  if (!n.IsDefined()) return 0;
  auto m = n.Mark();
  return m.line >= 0 ? m.line + 1 : 0;
}

std::optional<Duration> parseDuration(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::int64_t total = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t start = i;
    std::int64_t n = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      n = n * 10 + (s[i] - '0');
      if (n > 1'000'000'000LL) return std::nullopt;
      ++i;
    }
    if (i == start) return std::nullopt;
    size_t u = i;
    while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) ++i;
    auto unit = s.substr(u, i - u);
    std::int64_t mult = unit == "ms"  ? 1
                        : unit == "s" ? 1000
                        : unit == "m" ? 60'000
                        : unit == "h" ? 3'600'000
                        : unit == "d" ? 86'400'000
                                      : 0;
    if (mult == 0) return std::nullopt;
    if (n * mult > std::numeric_limits<std::int64_t>::max() - total) return std::nullopt;
    total += n * mult;
  }
  return Duration(total);
}

std::optional<std::uint64_t> parseSize(std::string_view s) {
  size_t i = 0;
  std::uint64_t n = 0;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
    n = n * 10 + static_cast<std::uint64_t>(s[i] - '0');
    if (n > (1ULL << 50)) return std::nullopt;
    ++i;
  }
  if (i == 0) return std::nullopt;
  auto unit = s.substr(i);
  while (!unit.empty() && unit.front() == ' ') unit.remove_prefix(1);
  std::uint64_t mult = unit.empty() || unit == "B"    ? 1
                       : unit == "KiB"                ? 1ULL << 10
                       : unit == "MiB"                ? 1ULL << 20
                       : unit == "GiB"                ? 1ULL << 30
                       : unit == "KB" || unit == "kB" ? 1000
                       : unit == "MB"                 ? 1000'000
                       : unit == "GB"                 ? 1000'000'000
                                                      : 0;
  if (mult == 0 || n > std::numeric_limits<std::uint64_t>::max() / mult) return std::nullopt;
  return n * mult;
}

std::string expandEnv(const std::string& s, std::vector<std::string>* missing) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    if (s.compare(i, 2, "${") == 0) {
      auto end = s.find('}', i + 2);
      if (end != std::string::npos) {
        std::string name = s.substr(i + 2, end - i - 2);
        if (const char* v = std::getenv(name.c_str())) {
          out += v;
        } else if (missing) {
          missing->push_back(name);
        }
        i = end + 1;
        continue;
      }
    }
    out += s[i++];
  }
  return out;
}

MapReader::MapReader(YAML::Node node, std::string path, ConfigErrors& errors)
    : node_(std::move(node)), path_(std::move(path)), errors_(errors) {
  if (node_.IsDefined() && !node_.IsNull() && !node_.IsMap()) {
    errors_.add(path_, lineOf(node_), "must be a mapping");
    node_ = YAML::Node(YAML::NodeType::Map);
  }
}

int MapReader::line() const { return lineOf(node_); }

std::string MapReader::childPath(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

bool MapReader::has(const std::string& key) const {
  return node_.IsMap() && node_[key].IsDefined() && !node_[key].IsNull();
}

void MapReader::error(const std::string& key, const std::string& message) {
  if (key.empty()) {
    errors_.add(path_, line(), message);
    return;
  }
  int l = node_.IsMap() && node_[key].IsDefined() ? lineOf(node_[key]) : line();
  errors_.add(childPath(key), l, message);
}

void MapReader::warning(const std::string& key, const std::string& message) {
  if (key.empty()) {
    errors_.warn(path_, line(), message);
    return;
  }
  int l = node_.IsMap() && node_[key].IsDefined() ? lineOf(node_[key]) : line();
  errors_.warn(childPath(key), l, message);
}

std::filesystem::path MapReader::resolvePath(const std::filesystem::path& p) const {
  if (p.empty() || p.is_absolute()) return p;
  auto out = baseDir();
  // "./x" reads as "x"; ".." is kept (lexical folding would be wrong through a symlink).
  for (auto& part : p)
    if (part != ".") out /= part;
  return out;
}

std::optional<std::filesystem::path> MapReader::pathValue(const std::string& key) {
  auto v = scalar(key);
  if (!v) return std::nullopt;
  return resolvePath(*v);
}

std::filesystem::path MapReader::pathValue(const std::string& key,
                                           const std::filesystem::path& fallback) {
  auto v = pathValue(key);
  return v ? *v : resolvePath(fallback);
}

std::filesystem::path MapReader::requiredPath(const std::string& key) {
  return resolvePath(requiredString(key));
}

std::optional<std::string> MapReader::scalar(const std::string& key) {
  used_.insert(key);
  if (!has(key)) return std::nullopt;
  auto n = node_[key];
  if (!n.IsScalar()) {
    error(key, "must be a single value, not a " + std::string(n.IsMap() ? "mapping" : "list"));
    return std::nullopt;
  }
  std::vector<std::string> missing;
  std::string v = expandEnv(n.Scalar(), &missing);
  for (auto& m : missing) error(key, "environment variable " + m + " is not set");
  return v;
}

std::optional<std::string> MapReader::string(const std::string& key) { return scalar(key); }

std::string MapReader::string(const std::string& key, const std::string& fallback) {
  return scalar(key).value_or(fallback);
}

std::string MapReader::requiredString(const std::string& key) {
  auto v = scalar(key);
  if (!v && !has(key)) error(key, "is required");
  return v.value_or("");
}

std::string MapReader::choice(const std::string& key, const std::vector<std::string>& allowed,
                              const std::string& fallback) {
  auto v = scalar(key);
  if (!v) return fallback;
  for (auto& a : allowed)
    if (a == *v) return *v;
  std::string list;
  for (auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  error(key, "must be one of: " + list + " (got \"" + *v + "\")");
  return fallback;
}

bool MapReader::boolean(const std::string& key, bool fallback) {
  auto v = scalar(key);
  if (!v) return fallback;
  if (*v == "true" || *v == "yes" || *v == "on") return true;
  if (*v == "false" || *v == "no" || *v == "off") return false;
  error(key, "must be true or false (got \"" + *v + "\")");
  return fallback;
}

std::int64_t MapReader::integer(const std::string& key, std::int64_t fallback, std::int64_t min,
                                std::int64_t max) {
  auto v = scalar(key);
  if (!v) return fallback;
  char* end = nullptr;
  errno = 0;
  long long n = std::strtoll(v->c_str(), &end, 10);
  if (v->empty() || *end != '\0' || errno != 0) {
    error(key, "must be a whole number (got \"" + *v + "\")");
    return fallback;
  }
  if (n < min || n > max) {
    error(key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
    return fallback;
  }
  return n;
}

double MapReader::number(const std::string& key, double fallback, double min, double max) {
  auto v = scalar(key);
  if (!v) return fallback;
  char* end = nullptr;
  double n = std::strtod(v->c_str(), &end);
  if (v->empty() || *end != '\0' || !std::isfinite(n)) {
    error(key, "must be a number (got \"" + *v + "\")");
    return fallback;
  }
  if (n < min || n > max) {
    std::ostringstream os;
    os << "must be between " << min << " and " << max;
    error(key, os.str());
    return fallback;
  }
  return n;
}

Duration MapReader::duration(const std::string& key, Duration fallback) {
  auto v = scalar(key);
  if (!v) return fallback;
  auto d = parseDuration(*v);
  if (!d) {
    error(key, "must be a duration like 500ms, 10s, 5m, 2h or 7d (got \"" + *v + "\")");
    return fallback;
  }
  return *d;
}

std::uint64_t MapReader::size(const std::string& key, std::uint64_t fallback) {
  auto v = scalar(key);
  if (!v) return fallback;
  auto s = parseSize(*v);
  if (!s) {
    error(key, "must be a size like 512, 64KiB or 10MB (got \"" + *v + "\")");
    return fallback;
  }
  return *s;
}

std::vector<std::string> MapReader::stringList(const std::string& key) {
  used_.insert(key);
  std::vector<std::string> out;
  if (!has(key)) return out;
  auto n = node_[key];
  if (n.IsScalar()) {
    if (auto v = scalar(key)) out.push_back(*v);
    return out;
  }
  if (!n.IsSequence()) {
    error(key, "must be a list of strings");
    return out;
  }
  for (size_t i = 0; i < n.size(); ++i) {
    if (!n[i].IsScalar()) {
      errors_.add(childPath(key) + "[" + std::to_string(i) + "]", lineOf(n[i]), "must be a string");
      continue;
    }
    std::vector<std::string> missing;
    out.push_back(expandEnv(n[i].Scalar(), &missing));
    for (auto& m : missing)
      errors_.add(childPath(key) + "[" + std::to_string(i) + "]", lineOf(n[i]),
                  "environment variable " + m + " is not set");
  }
  return out;
}

std::map<std::string, std::string> MapReader::stringMap(const std::string& key) {
  std::map<std::string, std::string> out;
  used_.insert(key);
  if (!has(key)) return out;
  MapReader sub(node_[key], childPath(key), errors_);
  if (!node_[key].IsMap()) return out;
  for (auto it = node_[key].begin(); it != node_[key].end(); ++it) {
    auto k = it->first.as<std::string>();
    if (auto v = sub.string(k)) out[k] = *v;
  }
  return out;
}

std::optional<Secret> MapReader::secret(const std::string& key) {
  const std::string fileKey = key + "_file";
  used_.insert(fileKey);
  bool inlineSet = has(key), fileSet = has(fileKey);
  if (inlineSet && fileSet) {
    error(fileKey, "give either " + key + " or " + fileKey + ", not both");
    return std::nullopt;
  }
  if (inlineSet) {
    auto v = scalar(key);
    if (v) errors_.noteSecret(*v);
    return v ? std::optional<Secret>(Secret(*v)) : std::nullopt;
  }
  used_.insert(key);
  if (!fileSet) return std::nullopt;
  auto file = pathValue(fileKey);
  if (!file) return std::nullopt;
  if (file->empty()) {
    error(fileKey, "must not be empty");
    return std::nullopt;
  }
  std::string why;
  unsigned mode = 0;
  auto content = readRegularFile(*file, kMaxSecretFile, &why, &mode);
  if (!content) {
    error(fileKey, "cannot read secret file " + file->string() + ": " + why);
    return std::nullopt;
  }
  if (mode & S_IROTH)
    warning(fileKey, "secret file " + file->string() + " is readable by other users (mode " +
                         octalMode(mode) + "); restrict it with chmod o-rwx");
  while (!content->empty() && (content->back() == '\n' || content->back() == '\r'))
    content->pop_back();
  if (content->empty()) error(fileKey, "secret file " + file->string() + " is empty");
  errors_.noteSecret(*content);
  return Secret(std::move(*content));
}

MapReader MapReader::map(const std::string& key) {
  used_.insert(key);
  if (has(key)) return MapReader(node_[key], childPath(key), errors_);
  return MapReader(YAML::Node(YAML::NodeType::Map), childPath(key), errors_);
}

YAML::Node MapReader::node(const std::string& key) {
  used_.insert(key);
  return has(key) ? node_[key] : YAML::Node();
}

void MapReader::finish() {
  if (!node_.IsMap()) return;
  for (auto it = node_.begin(); it != node_.end(); ++it) {
    auto k = it->first.as<std::string>();
    if (!used_.count(k)) errors_.add(childPath(k), lineOf(it->first), "unknown key");
  }
}

std::string httpUrl(MapReader& m, const std::string& key, bool required, bool base) {
  std::string u = required ? m.requiredString(key) : m.string(key, "");
  if (u.empty()) {
    if (m.has(key)) m.error(key, "must not be empty");
    return u;
  }
  if (base)
    while (!u.empty() && u.back() == '/') u.pop_back();
  std::string scheme = u.substr(0, u.find("://") == std::string::npos ? 0 : u.find("://"));
  for (auto& ch : scheme) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (scheme != "http" && scheme != "https") {
    m.error(key, "must start with http:// or https:// (got \"" + u + "\")");
    return u;
  }
  const std::string rest = u.substr(scheme.size() + 3);
  if (rest.empty() || rest.front() == '/') m.error(key, "has no host");
  if (std::any_of(u.begin(), u.end(), [](unsigned char ch) { return ch <= 0x20 || ch == 0x7f; }))
    m.error(key, "must not contain spaces or control characters (percent-encode them)");
  return u;
}

void parseEventKinds(MapReader& m, const std::string& type, bool& created, bool& removed,
                     bool* moved) {
  if (!m.has("events")) return;
  created = false;
  for (auto& e : m.stringList("events")) {
    if (e == "created")
      created = true;
    else if (e == "removed")
      removed = true;
    else if (e == "moved" && moved)
      *moved = true;
    else
      m.error("events", "unknown event \"" + e + "\" (" + type + " sources emit created, removed" +
                            (moved ? ", moved)" : ")"));
  }
}

}  // namespace sluice
