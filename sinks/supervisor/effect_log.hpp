#pragma once
// What a job did for an event, kept durably so that a job that succeeded is never run again:
// not after a crash between its exit and the settlement of its delivery, not for a duplicate
// delivery, not after a restart.
//
// Invariants:
//  - record() returns only once the record is on disk (file and directory entry fsynced); the
//    supervisor calls it before it reports the delivery done, so a redelivery always finds it.
//  - One record per event id, replaced as the job's effect advances (ran → outputs uploaded).
//  - Records older than the retention (the delivery's max_age: after that no redelivery can
//    come) are removed by prune().
//  - Blocking file-system calls, on the caller's thread (the io_context's).
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace sluice::sinks::supervisor {

struct JobEffect {
  std::string folder;  // the job folder of the run that succeeded
  int exit_code = 0;
  std::int64_t duration_ms = 0;
  std::int64_t finished_ms = 0;  // wall clock
  std::vector<int> gpus;
  bool outputs_pending = false;       // uploads still to do (the files wait in its output/)
  std::vector<std::string> uploaded;  // where each output went, once uploaded
};

nlohmann::json toJson(const JobEffect& e);

class EffectLog {
 public:
  // Creates the folder; throws std::filesystem::filesystem_error when it cannot.
  explicit EffectLog(std::filesystem::path dir);

  std::optional<JobEffect> find(const std::string& event_id) const;
  // Durable when it returns true; false with the reason otherwise.
  bool record(const std::string& event_id, const JobEffect& effect, std::string* why);
  // Removes records finished before `before_ms` (wall clock); returns how many.
  std::size_t prune(std::int64_t before_ms);

 private:
  std::filesystem::path file(const std::string& event_id) const;
  std::filesystem::path dir_;
};

}  // namespace sluice::sinks::supervisor
