#pragma once
// The supervisor sink's config (`type: supervisor`): runs a local command once per event.
//
// Invariants:
//  - Parsing reads only the sink's own keys (the core has read name, type and the delivery
//    policy) and ends with finish(), so an unknown key is an error naming its path.
//  - The only I/O is checking that the command exists and is executable; `program` is then an
//    absolute path, so a job's cwd (its job folder) and its PATH cannot change what runs.
//  - GPU slots, stage-in/out and running as another user are not implemented: only their
//    defaults are accepted, anything else is an error rather than silently ignored.
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "daemon/config_reader.hpp"
#include "daemon/payload_format.hpp"
#include "daemon/sink.hpp"

namespace sluice::sinks::supervisor {

enum class OnFailure { Retry, Dead };

struct SupervisorConfig {
  std::vector<std::string> command;         // argv exactly as configured (argv[0] included)
  std::string program;                      // argv[0] resolved to an absolute path
  std::map<std::string, std::string> env;   // extra job environment; overrides the defaults
  Duration kill_grace{10'000};              // SIGTERM → SIGKILL delay after a timeout
  OnFailure on_failure = OnFailure::Retry;  // what a non-zero exit status means
  std::set<int> permanent_exit_codes;       // always dead-letter, whatever on_failure says
  std::size_t keep_jobs = 1000;             // finished job folders kept per sink
  PayloadFormat format = PayloadFormat::CloudEvents;  // what EVENT holds
};

class SupervisorSpec final : public SinkSpec {
 public:
  SupervisorConfig config;
  bool carries(EventType t) const override { return formatCarries(config.format, t); }
  std::unique_ptr<Sink> create(SinkContext& ctx) const override;
};

std::unique_ptr<SinkSpec> parseSupervisorSpec(MapReader& m);

// Resolves argv[0] the way the config documents it: absolute paths as they are, paths with a
// '/' against `cwd`, bare names through `search_path` (colon-separated). Returns the absolute
// path of an executable regular file, or nullopt with the reason in `why`.
std::optional<std::string> resolveProgram(const std::string& argv0, const std::string& cwd,
                                          const std::string& search_path, std::string* why);

}  // namespace sluice::sinks::supervisor
