#pragma once
// The supervisor sink: runs the configured command once per delivery, as a local job.
//
// Invariants:
//  - Each delivery gets its own job folder <state_dir>/jobs/<sink>/<event-id>-<attempt>/ with
//    input/, output/, event.json, stdout.log and stderr.log; the job runs there with a clean
//    environment (the FaaS Supervisor variables of COMPAT.md §2.6 plus SLUICE_*), never the
//    daemon's own; with `user:` as that user (the folder is theirs), with `limits:` applied.
//  - Done only for exit status 0 (and, with `outputs:`, once they are uploaded). Everything
//    else is Retry, or Dead where it is permanent (on_failure: dead, permanent_exit_codes, an
//    event too large for the environment).
//  - A job that succeeded is never run again for that event id: its success is recorded
//    durably (EffectLog) before the delivery is reported done, and every delivery looks there
//    first. A redelivery of a job whose outputs are not all uploaded uploads them again from
//    the kept output/ without running the job.
//  - With `stage_in`, the triggering object is fetched through its source's ObjectStore into
//    input/ under a sanitised name (stage.hpp) before the job starts; INPUT_FILE_PATH names it.
//  - A job holds a slot from the SlotPool while it runs; the slot is returned before `done` is
//    called, so the dispatcher may start the next delivery from inside the callback.
//  - When a delivery finishes, input/ and output/ are removed; the logs and event.json stay,
//    and at most keep_jobs finished folders are kept per sink (oldest removed first).
//  - At most one job per event id runs (a redelivery while it runs is retried later, never
//    started twice). A running job's folder holds job.json (job_marker.hpp): a reload hands
//    running jobs over to the next process image, which adopts them and attaches their
//    redelivery; a start after a crash ends what the dead daemon's jobs left running.
//  - With GPUs (`gpus: auto` or a list) a job starts only when gpus_per_job GPUs are free
//    (GpuPool); it sees exactly those in CUDA_VISIBLE_DEVICES / NVIDIA_VISIBLE_DEVICES, and
//    they are free again once its process group is gone. room() tells the dispatcher how many
//    jobs could start, so waiting events stay in the queue. While a GPU is busy with work
//    sluice did not start, nvidia-smi is asked again every 10 s.
//  - Each job that ends (not one cut short at shutdown) emits sluice.job.succeeded (once its
//    outputs are uploaded) or sluice.job.failed with its result (job_events.hpp); the
//    dispatcher commits it with the settlement.
//  - All calls on the io_context thread; deliver() never throws and never answers inline.
//    Folder preparation, the effect log and clean-up are blocking file-system calls on that
//    thread; stage-in and uploads go through the stores (asynchronous).
#include <boost/asio/steady_timer.hpp>
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
#include "sinks/supervisor/effect_log.hpp"
#include "sinks/supervisor/gpu_pool.hpp"
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
  int room() const override;

 private:
  enum class Phase { Staging, Running, Uploading };
  struct Running {
    std::string folder;
    int attempt = 0;
    DeliveryCallback done;                  // empty: adopted, its redelivery not here yet
    std::shared_ptr<SlotPool::Lease> slot;  // null when adopted beyond the slots
    std::optional<DeliveryResult> result;   // adopted and ended before its redelivery came
    std::shared_ptr<GpuLease> gpus;         // null without GPUs
    Phase phase = Phase::Running;
    std::optional<Event> event;  // null when adopted
    JobSpec spec;
    JobEffect effect;  // filled when the job succeeded
  };
  // Adopts the jobs a previous image of this process handed over; ends what jobs of a crashed
  // daemon left behind.
  void recover();
  // Finds the GPUs (`gpus:`) and builds the pool; throws when a listed GPU is not there.
  void initGpus();
  // Asks nvidia-smi again in 10 s while some GPU is busy with others' work.
  void pollGpus();
  // The effect log says the job already succeeded: done, or upload what is still pending.
  void alreadySucceeded(const Event& ev, const DeliveryInfo& info, JobEffect effect,
                        DeliveryCallback done);
  void stageIn(const std::string& id);
  void startJob(const std::string& id);
  void jobEnded(const std::string& event_id, const JobOutcome& o);
  // Uploads the files of output/ that `outputs:` selects, one after the other (outputs.cpp).
  void uploadOutputs(const std::string& id);
  struct Upload {
    std::filesystem::path file;  // in output/
    std::string name;            // relative to output/
    std::size_t target;          // index into config_.outputs
  };
  void uploadNext(const std::string& id, std::shared_ptr<std::vector<Upload>> todo,
                  std::size_t next);
  // Ends the delivery of `id`: drops its folder's temp parts and calls back (or keeps the
  // result for an adopted job whose redelivery has not come yet).
  void finish(const std::string& id, DeliveryResult r, bool keep_outputs = false);
  // Done, with the sluice.job.succeeded event of the run's effect.
  DeliveryResult succeeded(const Running& run) const;
  bool prepareFolder(const std::filesystem::path& dir, const std::string& folder, const Event& ev,
                     std::string* why);
  DeliveryResult classify(const JobOutcome& o, const std::filesystem::path& dir) const;
  // The job is over: drop input/ (and output/ unless kept for an upload), count the folder as
  // finished, prune old ones.
  void retire(const std::string& folder, bool keep_outputs = false);
  void report(const std::string& folder, const std::string& event_id, int attempt,
              const JobOutcome& o, const DeliveryResult& result);
  void prune();
  void updateGauges();

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
  EffectLog effects_;
  std::size_t recorded_since_prune_ = 0;  // effect records written since the last prune
  bool aborted_ = false;
  // Store callbacks (stage-in, uploads) may come after this sink is gone: they check this.
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  SlotPool slots_;
  std::optional<GpuPool> gpus_;  // before running_: leases go back to it
  Gauge* gpus_idle_ = nullptr;
  // By event id. After slots_: its slot leases go back to the pool when it is destroyed.
  std::map<std::string, Running> running_;
  JobRunner runner_;  // declared last: destroyed first, while the leases' pool still exists
  JobRunner gpu_query_runner_;
  boost::asio::steady_timer gpu_poll_;
  bool gpu_query_running_ = false;
};

}  // namespace sluice::sinks::supervisor
