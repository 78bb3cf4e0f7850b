#pragma once
// The whole configuration: parsed, validated, then used. Built only by loadConfig(), which
// collects every error (key path + line) instead of stopping at the first; a Config exists only
// when there were none. `sluice check` runs exactly this path. Every path in a Config is
// absolute: relative ones in the file were resolved against the file's directory.
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/config_reader.hpp"
#include "daemon/connector.hpp"
#include "daemon/delivery.hpp"
#include "daemon/sink.hpp"

namespace sluice {

struct LogConfig {
  std::string level = "info";   // trace | debug | info | warn | error
  std::string format = "text";  // text | json
};

struct HttpConfig {
  std::string listen = "127.0.0.1:8787";  // "" disables the server
  std::optional<Secret> ingress_token;
  std::optional<Secret> admin_token;  // POST /api/... (replay) as Bearer; unset: refused
};

struct RouteFilter {
  std::vector<EventType> types;     // empty: every type
  std::vector<std::string> prefix;  // on the key (S3-like) or path
  std::vector<std::string> suffix;
  std::optional<std::int64_t> min_size;  // an unknown size passes (deliver what is known)
  std::optional<std::int64_t> max_size;
};

struct Route {
  std::vector<std::string> from;
  std::vector<std::string> to;
  RouteFilter filter;
};

struct Config {
  std::string file;
  std::filesystem::path state_dir = "./state";  // absolute once loaded (default: ./state)
  LogConfig log;
  HttpConfig http;
  DeliveryPolicy delivery;
  Duration dedup_horizon{7LL * 86'400'000};
  std::uint64_t queue_max_size = 0;
  std::vector<std::unique_ptr<ConnectorSpec>> sources;
  std::vector<std::unique_ptr<SinkSpec>> sinks;
  std::vector<Route> routes;
  std::vector<std::string> secrets;  // values to redact from logs

  bool hasSink(const std::string& name) const {
    for (auto& s : sinks)
      if (s->name == name) return true;
    return false;
  }
};

struct LoadResult {
  std::unique_ptr<Config> config;  // null when there are errors
  std::vector<ConfigError> errors;
  // Worth fixing but not fatal (e.g. a secret file others may read); filled whether or not
  // there are errors. `sluice check` and `sluice run` print them.
  std::vector<ConfigError> warnings;
};

// Reads and validates `file`; relative paths in it resolve against its directory. Never throws:
// I/O and YAML syntax errors are reported as errors.
LoadResult loadConfig(const std::string& file);
// The same for text that is no file (`origin` names it in messages): relative paths resolve
// against `base_dir`, or the current directory when that is empty.
LoadResult parseConfig(const std::string& yaml, const std::string& origin,
                       const std::filesystem::path& base_dir = {});

// True when `name` is a valid source/sink name: [a-z0-9_-]+
bool validName(const std::string& name);

}  // namespace sluice
