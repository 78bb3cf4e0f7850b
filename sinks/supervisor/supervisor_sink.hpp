#pragma once
// The supervisor sink: runs the configured command once per delivery, as a local job.
//
// Invariants:
//  - Each delivery gets its own job folder <state_dir>/jobs/<sink>/<event-id>-<attempt>/ with
//    input/, output/, event.json, stdout.log and stderr.log; the job runs there with a clean
//    environment (the FaaS Supervisor variables of COMPAT.md §2.6 plus SLUICE_*), never the
//    daemon's own.
//  - Done only for exit status 0. Everything else is Retry, or Dead where it is permanent
//    (on_failure: dead, permanent_exit_codes, an event too large for the environment).
//  - A job holds a slot from the SlotPool while it runs; the slot is returned before `done` is
//    called, so the dispatcher may start the next delivery from inside the callback.
//  - When a job ends its input/ and output/ are removed; the logs and event.json stay, and at
//    most keep_jobs finished folders are kept per sink (oldest removed first).
//  - At most one job per event id runs (a redelivery while it runs is retried later, never
//    started twice). A running job's folder holds job.json (job_marker.hpp): a reload hands
//    running jobs over to the next process image, which adopts them and attaches their
//    redelivery; a start after a crash ends what the dead daemon's jobs left running.
//  - All calls on the io_context thread; deliver() never throws and never answers inline.
//    Folder preparation and clean-up are blocking file-system calls on that thread.
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "daemon/metrics.hpp"
#include "daemon/sink.hpp"
#include "sinks/supervisor/job_runner.hpp"
#include "sinks/supervisor/slot_pool.hpp"
#include "sinks/supervisor/supervisor_config.hpp"

namespace sluice::sinks::supervisor {

class SupervisorSink final : public Sink {
 public:
  // Creates <state_dir>/jobs/<name>/ and learns the folders already there (oldest first);
  // throws std::runtime_error when that is impossible (start-up fails).
  SupervisorSink(SinkContext& ctx, std::string name, SupervisorConfig config,
                 DeliveryPolicy policy);

  void deliver(const Event& ev, const DeliveryInfo& info, DeliveryCallback done) override;
  void abort() override;
  bool handOver() override;

 private:
  struct Running {
    std::string folder;
    int attempt = 0;
    DeliveryCallback done;                  // empty: adopted, its redelivery not here yet
    std::shared_ptr<SlotPool::Lease> slot;  // null when adopted beyond the slots
    std::optional<DeliveryResult> result;   // adopted and ended before its redelivery came
  };
  // Adopts the jobs a previous image of this process handed over; ends what jobs of a crashed
  // daemon left behind.
  void recover();
  void jobEnded(const std::string& event_id, const JobOutcome& o);
  bool prepareFolder(const std::filesystem::path& dir, const std::string& folder, const Event& ev,
                     std::string* why);
  DeliveryResult classify(const JobOutcome& o, const std::filesystem::path& dir) const;
  // The job is over: drop input/ and output/, count the folder as finished, prune old ones.
  void retire(const std::string& folder);
  void report(const std::string& folder, const std::string& event_id, int attempt,
              const JobOutcome& o, const DeliveryResult& result);
  void prune();

  boost::asio::io_context& io_;
  Metrics& metrics_;
  std::shared_ptr<spdlog::logger> log_;
  std::string name_;
  SupervisorConfig config_;
  DeliveryPolicy policy_;
  Gauge& running_gauge_;
  std::filesystem::path jobs_dir_;    // absolute
  std::deque<std::string> finished_;  // finished job folder names, oldest first
  const Clock& clock_;
  const ObjectStores* stores_;
  bool aborted_ = false;
  SlotPool slots_;
  // By event id. After slots_: its slot leases go back to the pool when it is destroyed.
  std::map<std::string, Running> running_;
  JobRunner runner_;  // declared last: destroyed first, while the leases' pool still exists
};

}  // namespace sluice::sinks::supervisor
