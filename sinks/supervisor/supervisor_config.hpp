#pragma once
// The supervisor sink's config (`type: supervisor`): runs a local command once per event.
//
// Invariants:
//  - Parsing reads only the sink's own keys (the core has read name, type and the delivery
//    policy) and ends with finish(), so an unknown key is an error naming its path.
//  - The only I/O is checking that the command exists and is executable; `program` is then an
//    absolute path, so a job's cwd (its job folder) and its PATH cannot change what runs.
//  - With `gpus: auto` or a list, nvidia-smi is looked up on the daemon's PATH here (where it is
//    missing, `auto` means CPU jobs and a list is taken as given); the GPUs are queried when the
//    sink starts.
//  - `user` is resolved here (uid, gid, supplementary groups); that sluice runs as root is
//    checked when the sink starts. Output targets name sources; config.cpp checks they exist.
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
#include "sinks/supervisor/spawn.hpp"

namespace sluice::sinks::supervisor {

enum class OnFailure { Retry, Dead };
enum class GpuMode { None, Auto, List };

// One `outputs:` entry: files of TMP_OUTPUT_DIR (relative names) that match go to a source's
// store under `path`, or into the local folder `path` when no source is named.
struct OutputTarget {
  std::string source;                // empty: `path` is a local folder
  std::string path;                  // key prefix within the source, or the folder
  std::vector<std::string> prefix;   // empty: any
  std::vector<std::string> suffix;   // empty: any
  bool matches(const std::string& name) const;
};

struct SupervisorConfig {
  std::vector<std::string> command;         // argv exactly as configured (argv[0] included)
  std::string program;                      // argv[0] resolved to an absolute path
  std::map<std::string, std::string> env;   // extra job environment; overrides the defaults
  Duration kill_grace{10'000};              // SIGTERM → SIGKILL delay after a timeout
  OnFailure on_failure = OnFailure::Retry;  // what a non-zero exit status means
  std::set<int> permanent_exit_codes;       // always dead-letter, whatever on_failure says
  std::size_t keep_jobs = 1000;             // finished job folders kept per sink
  PayloadFormat format = PayloadFormat::CloudEvents;  // what EVENT holds
  GpuMode gpus = GpuMode::None;
  std::vector<int> gpu_list;            // GpuMode::List: nvidia-smi indices
  int gpus_per_job = 1;                 // with GPUs: a job starts when this many are free
  bool share = false;                   // jobs may share a GPU
  std::uint64_t gpu_busy_memory = 512ull << 20;  // more in use, by others: the GPU is busy
  std::string nvidia_smi;               // absolute path; empty: not found
  bool stage_in = false;                // fetch the object into TMP_INPUT_DIR first
  std::vector<OutputTarget> outputs;
  std::optional<RunAs> run_as;          // `user:`
  std::string user;                     // its name, for messages
  std::vector<ResourceLimit> limits;    // `limits:`
};

class SupervisorSpec final : public SinkSpec {
 public:
  SupervisorConfig config;
  std::vector<std::string> sources() const override;
  bool emitsEvents() const override { return true; }
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
