#pragma once
// Strict, error-collecting access to one YAML mapping of the config.
//
// Every value read is marked as used; finish() reports each key nobody read as "unknown key".
// Errors never throw: they are collected (key path + line) so `sluice check` can list them all.
// `${ENV}` references are expanded in every string; secrets accept `<key>_file: PATH` instead.
// Parsing does no I/O except reading `*_file` secrets and the environment.
// Relative paths resolve against the config file's directory, never the process's current
// directory (which differs between `make run`, systemd and `sluice check` from a shell).
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace sluice {

struct ConfigError {
  std::string path;  // "sources[2].settle"
  int line = 0;      // 1-based; 0 when unknown
  std::string message;
  std::string str() const;
};

// What one parse collects and shares between every MapReader of it: errors, warnings, secret
// values, and the directory relative paths resolve against.
class ConfigErrors {
 public:
  // `base_dir`: the config file's directory; empty means the current directory (a config that
  // is no file, e.g. from a test). Made absolute here, once.
  explicit ConfigErrors(const std::filesystem::path& base_dir = {});

  void add(std::string path, int line, std::string message);
  bool empty() const { return list_.empty(); }
  const std::vector<ConfigError>& list() const { return list_; }
  // Something that works but should be fixed (a secret file others may read); never fatal.
  void warn(std::string path, int line, std::string message);
  const std::vector<ConfigError>& warnings() const { return warnings_; }
  // Every secret value read, so the logger can redact them wherever they would appear.
  void noteSecret(const std::string& value) { secrets_.push_back(value); }
  const std::vector<std::string>& secrets() const { return secrets_; }
  const std::filesystem::path& baseDir() const { return base_dir_; }

 private:
  std::vector<ConfigError> list_;
  std::vector<ConfigError> warnings_;
  std::vector<std::string> secrets_;
  std::filesystem::path base_dir_;
};

// Reads a whole regular file of at most `max_bytes`. Never throws: on failure it returns
// nullopt and sets `why` to the reason without the path ("is a directory", "No such file or
// directory", ...). `mode` receives the file's permission bits when given.
std::optional<std::string> readRegularFile(const std::filesystem::path& file, std::size_t max_bytes,
                                           std::string* why, unsigned* mode = nullptr);

// A secret value: never printed; `redacted()` is what logs and `sluice check` may show.
class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string v) : value_(std::move(v)) {}
  const std::string& reveal() const { return value_; }
  bool empty() const { return value_.empty(); }
  static std::string redacted() { return "<redacted>"; }

 private:
  std::string value_;
};

using Duration = std::chrono::milliseconds;

// "500ms", "10s", "5m", "2h", "7d" (also combinations like "1h30m"). Bare numbers are rejected.
std::optional<Duration> parseDuration(std::string_view s);
// "64KiB", "10MB", "1GiB", "512" (bytes).
std::optional<std::uint64_t> parseSize(std::string_view s);

class MapReader {
 public:
  MapReader(YAML::Node node, std::string path, ConfigErrors& errors);

  const std::string& path() const { return path_; }
  int line() const;
  bool has(const std::string& key) const;
  ConfigErrors& errors() { return errors_; }
  // Records an error at this mapping's `key` (or the mapping itself when key is empty).
  void error(const std::string& key, const std::string& message);
  // The same for a warning (see ConfigErrors::warn).
  void warning(const std::string& key, const std::string& message);

  std::optional<std::string> string(const std::string& key);
  std::string string(const std::string& key, const std::string& fallback);
  std::string requiredString(const std::string& key);
  // One of `allowed`; reports the choices otherwise.
  std::string choice(const std::string& key, const std::vector<std::string>& allowed,
                     const std::string& fallback);
  bool boolean(const std::string& key, bool fallback);
  std::int64_t integer(const std::string& key, std::int64_t fallback, std::int64_t min,
                       std::int64_t max);
  double number(const std::string& key, double fallback, double min, double max);
  Duration duration(const std::string& key, Duration fallback);
  std::uint64_t size(const std::string& key, std::uint64_t fallback);
  // A string or a list of strings; empty when absent.
  std::vector<std::string> stringList(const std::string& key);
  std::map<std::string, std::string> stringMap(const std::string& key);
  // A filesystem path; a relative one is resolved with resolvePath(). Absent: nullopt; an
  // empty value stays empty so the caller can say it must not be.
  std::optional<std::filesystem::path> pathValue(const std::string& key);
  std::filesystem::path pathValue(const std::string& key, const std::filesystem::path& fallback);
  // pathValue, with "is required" when absent (then an empty path).
  std::filesystem::path requiredPath(const std::string& key);
  // `p` made absolute against the config file's directory (unchanged when absolute or empty).
  std::filesystem::path resolvePath(const std::filesystem::path& p) const;
  // Where relative paths resolve: the config file's directory (absolute).
  const std::filesystem::path& baseDir() const { return errors_.baseDir(); }
  // `key` inline (may be ${ENV}) or `key_file` (file contents, trailing newline stripped; a
  // relative path resolves like pathValue). A file others may read is a warning.
  std::optional<Secret> secret(const std::string& key);
  // A nested mapping; an absent key yields an empty mapping at that path.
  MapReader map(const std::string& key);
  // The raw node (marked used) for lists of mappings.
  YAML::Node node(const std::string& key);
  std::string childPath(const std::string& key) const;
  // Reports every key that was never read.
  void finish();

 private:
  std::optional<std::string> scalar(const std::string& key);
  YAML::Node node_;
  std::string path_;
  ConfigErrors& errors_;
  std::set<std::string> used_;
};

// An http:// or https:// URL at `key` (scheme in any case, a host, no blanks or control
// characters), trailing '/' removed when `base` (a base URL that paths are appended to).
// Absent: "" (and "is required" when `required`).
std::string httpUrl(MapReader& m, const std::string& key, bool required, bool base);

// A source's `events:` list (default [created]): sets the kinds it names; `moved` is null for
// source types that cannot pair renames, and `type` names the type in the error.
void parseEventKinds(MapReader& m, const std::string& type, bool& created, bool& removed,
                     bool* moved);

// Expands ${NAME} in `s`; unset variables are reported through `missing`.
std::string expandEnv(const std::string& s, std::vector<std::string>* missing);
int lineOf(const YAML::Node& n);

}  // namespace sluice
