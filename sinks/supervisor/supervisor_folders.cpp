// The supervisor sink's job folders: preparing one, classifying how its job ended, retiring
// and pruning finished ones.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "sinks/supervisor/job_folder.hpp"
#include "sinks/supervisor/job_marker.hpp"
#include "sinks/supervisor/supervisor_sink.hpp"

namespace sluice::sinks::supervisor {

namespace fs = std::filesystem;

bool SupervisorSink::prepareFolder(const fs::path& dir, const std::string& folder, const Event& ev,
                                   std::string* why) {
  std::error_code ec;
  // Same event and attempt again (a lease expired after a crash): the old run never finished
  // cleanly, so start over rather than mix its files into this one.
  if (fs::exists(dir, ec)) {
    fs::remove_all(dir, ec);
    if (auto it = std::find(finished_.begin(), finished_.end(), folder); it != finished_.end())
      finished_.erase(it);
  }
  if (!ec) fs::create_directories(dir / "input", ec);
  if (!ec) fs::create_directories(dir / "output", ec);
  if (ec) {
    *why = ec.message();
    return false;
  }
  // `user:` jobs work in their folder: HOME, TMP_INPUT_DIR and TMP_OUTPUT_DIR are theirs. The
  // logs are opened by sluice before the switch and stay its own.
  if (config_.run_as)
    for (const fs::path& p : {dir, dir / "input", dir / "output"})
      if (::chown(p.c_str(), config_.run_as->uid, config_.run_as->gid) != 0) {
        *why =
            "cannot hand " + p.string() + " to user " + config_.user + ": " + std::strerror(errno);
        return false;
      }
  std::ofstream out(dir / "event.json", std::ios::binary | std::ios::trunc);
  out << safeDump(toJson(ev), 2) << '\n';
  out.close();
  if (!out) {
    *why = std::string("cannot write event.json: ") + std::strerror(errno);
    return false;
  }
  return true;
}

DeliveryResult SupervisorSink::classify(const JobOutcome& o, const fs::path& dir) const {
  using K = JobOutcome::Kind;
  switch (o.kind) {
    case K::Exited: {
      if (o.value == 0) return Done{};
      auto reason = withStderr("exit status " + std::to_string(o.value), dir);
      if (config_.on_failure == OnFailure::Dead || config_.permanent_exit_codes.count(o.value))
        return Dead{reason};
      return Retry{std::nullopt, reason};
    }
    case K::Signaled:
      return Retry{std::nullopt, withStderr("killed by signal " + std::to_string(o.value), dir)};
    case K::TimedOut:
      return Retry{std::nullopt,
                   withStderr("timed out after " + formatDuration(policy_.timeout), dir)};
    case K::Aborted:
      return Retry{std::nullopt, "aborted at shutdown"};
    case K::SpawnFailed: {
      std::string reason = std::string("cannot start: ") + std::strerror(o.value);
      // The environment (EVENT carries the whole event) is too large for execve: no later
      // attempt can fit it either.
      if (o.value == E2BIG) return Dead{reason};
      return Retry{std::nullopt, reason};
    }
    case K::Lost:
      return Retry{std::nullopt, "exit status unknown: the job was reaped by someone else"};
  }
  return Retry{std::nullopt, "unknown job outcome"};
}

void SupervisorSink::retire(const std::string& folder, bool keep_outputs) {
  const fs::path dir = jobs_dir_ / folder;
  std::error_code ec;
  // Inputs are never needed after the job; outputs only until they are uploaded.
  fs::remove_all(dir / "input", ec);
  if (!keep_outputs) fs::remove_all(dir / "output", ec);
  removeMarker(dir);
  if (std::find(finished_.begin(), finished_.end(), folder) == finished_.end())
    finished_.push_back(folder);
  prune();
}

void SupervisorSink::report(const std::string& folder, const std::string& event_id, int attempt,
                            const JobOutcome& o, const DeliveryResult& result) {
  metrics_
      .counter("sluice_supervisor_jobs_total", "Supervisor jobs that ended, by how",
               {{"sink", name_}, {"outcome", outcomeLabel(o.kind)}})
      .inc();
  updateGauges();
  if (std::holds_alternative<Done>(result))
    log_->debug("{}: job {} done (event {}, attempt {}, {} ms)", name_, folder, event_id, attempt,
                o.elapsed.count());
  else
    log_->warn("{}: job {} failed (event {}, attempt {}, pid {}, {} ms): {}", name_, folder,
               event_id, attempt, o.pid, o.elapsed.count(), describe(result));
}

void SupervisorSink::prune() {
  while (finished_.size() > config_.keep_jobs) {
    std::error_code ec;
    fs::remove_all(jobs_dir_ / finished_.front(), ec);
    if (ec)
      log_->warn("{}: cannot remove old job folder {}: {}", name_, finished_.front(), ec.message());
    finished_.pop_front();
  }
}

}  // namespace sluice::sinks::supervisor
