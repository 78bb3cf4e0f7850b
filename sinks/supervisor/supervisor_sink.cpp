#include "sinks/supervisor/supervisor_sink.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>
#include <map>
#include <utility>

#include "daemon/object_store.hpp"
#include "daemon/payload_format.hpp"
#include "sinks/supervisor/job_events.hpp"
#include "sinks/supervisor/job_folder.hpp"
#include "sinks/supervisor/job_marker.hpp"
#include "sinks/supervisor/stage.hpp"

namespace sluice::sinks::supervisor {
namespace {

namespace fs = std::filesystem;

// What jobs get for PATH unless `env` says otherwise: the daemon's own PATH is not inherited.
constexpr const char* kJobPath = "/usr/local/bin:/usr/bin:/bin";

}  // namespace

std::unique_ptr<Sink> SupervisorSpec::create(SinkContext& ctx) const {
  return std::make_unique<SupervisorSink>(ctx, name, config, policy);
}

SupervisorSink::SupervisorSink(SinkContext& ctx, std::string name, SupervisorConfig config,
                               DeliveryPolicy policy)
    : io_(ctx.io),
      metrics_(ctx.metrics),
      log_(ctx.log),
      name_(std::move(name)),
      config_(std::move(config)),
      policy_(policy),
      running_gauge_(ctx.metrics.gauge("sluice_supervisor_jobs_running", "Supervisor jobs running now",
                                 {{"sink", name_}})),
      // Absolute, because the paths are handed to jobs whose cwd is their own folder.
      jobs_dir_(fs::absolute(ctx.state_dir) / "jobs" / safeName(name_)),
      clock_(ctx.clock),
      stores_(ctx.stores),
      // A dot name: never a job folder (those start with a letter, digit or '_').
      effects_(jobs_dir_ / ".succeeded"),
      slots_(policy.concurrency),
      runner_(ctx.io),
      gpu_query_runner_(ctx.io),
      gpu_poll_(ctx.io) {
  if (!log_) throw std::runtime_error("sink " + name_ + ": no logger");
  if (config_.run_as && ::geteuid() != 0 && ::geteuid() != config_.run_as->uid)
    throw std::runtime_error("sink " + name_ + ": user: " + config_.user +
                             " needs sluice to run as root");
  // Records older than max_age cannot meet a redelivery any more: the delivery is dead by then.
  effects_.prune(clock_.nowMs() - policy_.max_age.count());
  initGpus();
  // Folders left by earlier runs count towards keep_jobs; their age is all we know of order.
  std::vector<std::pair<fs::file_time_type, std::string>> found;
  for (auto& entry : fs::directory_iterator(jobs_dir_)) {
    std::error_code ec;
    const auto name = entry.path().filename().string();
    if (!entry.is_directory(ec) || name.front() == '.') continue;
    auto t = entry.last_write_time(ec);
    found.emplace_back(t, name);
  }
  std::sort(found.begin(), found.end());
  for (auto& f : found) finished_.push_back(std::move(f.second));
  recover();
  prune();
}

void SupervisorSink::recover() {
  for (auto it = finished_.begin(); it != finished_.end();) {
    const fs::path dir = jobs_dir_ / *it;
    auto m = readMarker(dir);
    if (!m) {
      ++it;
      continue;
    }
    const std::string id = m->event_id;
    if (m->daemon_pid == ::getpid() && !running_.count(id)) {
      Duration left = policy_.timeout - Duration(clock_.nowMs() - m->started_ms);
      auto slot = slots_.acquire();
      Running r;
      r.folder = *it;
      r.slot = slot ? std::make_shared<SlotPool::Lease>(std::move(*slot)) : nullptr;
      r.gpus = gpus_ ? std::make_shared<GpuLease>(*gpus_, gpus_->hold(m->gpus)) : nullptr;
      if (runner_.adopt(m->pid, left, config_.kill_grace,
                        [this, id](JobOutcome o) { jobEnded(id, o); })) {
        log_->info("{}: job {} (event {}, pid {}) goes on after the reload", name_, *it, id, m->pid);
        running_.emplace(id, std::move(r));
        it = finished_.erase(it);
        continue;
      }
    }
    int n = endLeftovers(m->pid, id, name_);
    log_->warn("{}: job {} (event {}) belonged to an earlier sluice process (pid {}); ended {} "
               "processes it left running; the event is delivered again", name_, *it, id,
               m->daemon_pid, n);
    removeMarker(dir);
    ++it;
  }
  updateGauges();
}

void SupervisorSink::deliver(const Event& ev, const DeliveryInfo& info, DeliveryCallback done) {
  auto reply = [&](DeliveryResult r) {
    boost::asio::post(io_, [done = std::move(done), r = std::move(r)]() mutable { done(r); });
  };
  if (aborted_) return reply(Retry{std::nullopt, "aborted at shutdown"});
  if (auto it = running_.find(ev.id); it != running_.end()) {
    // The same event again while its job runs (a lease that expired, a reload): never a
    // second job. A job handed over by a reload takes this delivery as its own.
    Running& r = it->second;
    if (r.result) {
      auto result = std::move(*r.result);
      running_.erase(it);
      return reply(std::move(result));
    }
    if (!r.done) {
      log_->info("{}: event {}: attached to its job {}, which is still running", name_, ev.id,
                 r.folder);
      r.done = std::move(done);
      r.attempt = info.attempt;
      r.event = ev;
      return;
    }
    log_->warn("{}: job {} of event {} is still running; not starting it twice", name_, r.folder,
               ev.id);
    return reply(Retry{std::nullopt, "the job for this event is still running"});
  }
  if (auto effect = effects_.find(ev.id))
    return alreadySucceeded(ev, info, std::move(*effect), std::move(done));
  std::string event_text;
  try {  // cloudevents as plain JSON (no shell sits between sluice and a job); others as sent
    event_text = config_.format == PayloadFormat::CloudEvents
                     ? safeDump(toJson(ev))
                     : encodePayload(config_.format, ev).body;
  } catch (const std::exception& e) {
    return reply(Dead{std::string("cannot encode event: ") + e.what()});
  }
  ObjectStore* store = stores_ ? stores_->find(ev.connector) : nullptr;
  if (config_.stage_in && !store)
    return reply(Dead{"stage_in: the event's source \"" + ev.connector +
                      "\" has no object store to fetch it from"});
  auto lease = slots_.acquire();
  if (!lease) {
    log_->warn("{}: no free job slot for event {} ({} of {} in use)", name_, ev.id, slots_.inUse(),
               slots_.capacity());
    return reply(Retry{std::nullopt, "no free job slot"});
  }
  std::shared_ptr<GpuLease> gpus;
  if (gpus_) {
    auto taken = gpus_->take();
    if (!taken)  // the dispatcher asks room() first; only GPUs taken by others since get here
      return reply(Retry{std::nullopt, "no free GPU"});
    gpus = std::make_shared<GpuLease>(*gpus_, std::move(*taken));
  }
  const std::string folder = safeName(ev.id) + "-" + std::to_string(info.attempt);
  const fs::path dir = jobs_dir_ / folder;
  std::string why;
  if (!prepareFolder(dir, folder, ev, &why)) {
    retire(folder);  // whatever part of it exists still counts towards keep_jobs
    log_->warn("{}: event {}: cannot prepare job folder {}: {}", name_, ev.id, dir.string(), why);
    return reply(Retry{std::nullopt, "cannot prepare job folder: " + why});
  }

  // A clean environment: a job sees the same variables whichever way the daemon was started.
  std::map<std::string, std::string> vars{
      {"PATH", kJobPath},
      {"HOME", dir.string()},
      {"LANG", "C.UTF-8"},
      {"TMP_INPUT_DIR", (dir / "input").string()},
      {"TMP_OUTPUT_DIR", (dir / "output").string()},
      {"STORAGE_OBJECT_KEY", ev.key.value_or(ev.path)},
      {"EVENT_TIME", formatTime(ev.time_ms)},
      {"EVENT", event_text},
      {"SLUICE_EVENT_ID", ev.id},
      {"SLUICE_EVENT_TYPE", std::string(toString(ev.type))},
      {"SLUICE_SINK", name_},
      {"SLUICE_ATTEMPT", std::to_string(info.attempt)},
      // When the queue committed the event (wall clock, ms): for a job's own latency figures.
      {"SLUICE_COMMITTED_MS", std::to_string(info.first_seen_ms)},
  };
  if (config_.stage_in)
    vars["INPUT_FILE_PATH"] = stagePath(dir / "input", ev).string();
  else if (store)  // where the source can say where its object lies here, the job reads it there
    if (auto path = store->localPath(ev)) vars["INPUT_FILE_PATH"] = *path;
  for (auto& [k, v] : config_.env) vars[k] = v;
  // Last: the slot's and GPUs' assignment must hold whatever `env` says.
  for (auto& [k, v] : lease->slot().env) vars[k] = v;
  if (gpus)
    for (auto& [k, v] : gpuEnvironment(gpus->gpus())) vars[k] = v;

  Running run;
  run.folder = folder;
  run.attempt = info.attempt;
  run.spec = JobSpec{.program = config_.program,
                     .argv = config_.command,
                     .env = {},
                     .cwd = dir,
                     .stdout_path = dir / "stdout.log",
                     .stderr_path = dir / "stderr.log",
                     .timeout = policy_.timeout,
                     .kill_grace = config_.kill_grace,
                     .run_as = config_.run_as,
                     .limits = config_.limits};
  for (auto& [k, v] : vars) {
    if (v.find('\0') != std::string::npos) {  // only event bytes can; execve would cut them
      retire(folder);
      log_->warn("{}: event {}: {} contains a NUL byte", name_, ev.id, k);
      return reply(Dead{"cannot pass " + k + " to the job: it contains a NUL byte"});
    }
    run.spec.env.push_back(k + "=" + v);
  }
  run.done = std::move(done);
  run.slot = std::make_shared<SlotPool::Lease>(std::move(*lease));
  run.gpus = std::move(gpus);
  run.event = ev;
  run.phase = config_.stage_in ? Phase::Staging : Phase::Running;
  running_.emplace(ev.id, std::move(run));
  if (config_.stage_in)
    stageIn(ev.id);
  else
    startJob(ev.id);
}

void SupervisorSink::alreadySucceeded(const Event& ev, const DeliveryInfo& info, JobEffect effect,
                                      DeliveryCallback done) {
  const std::string folder = effect.folder;
  Running run;
  run.folder = folder;
  run.attempt = info.attempt;
  run.done = std::move(done);
  run.event = ev;
  run.effect = std::move(effect);
  run.phase = Phase::Uploading;
  const bool pending = run.effect.outputs_pending;
  running_.emplace(ev.id, std::move(run));
  if (!pending) {
    log_->info("{}: event {}: its job {} already succeeded; not run again", name_, ev.id, folder);
    // Its result event again: if the first settlement never became durable it was lost with
    // it; if it did, the queue knows the id and keeps one.
    boost::asio::post(io_, [this, id = ev.id, alive = std::weak_ptr<int>(alive_)] {
      if (alive.lock()) finish(id, succeeded(running_.at(id)));
    });
    return;
  }
  log_->info("{}: event {}: its job {} succeeded; uploading the outputs still pending", name_,
             ev.id, folder);
  boost::asio::post(io_, [this, id = ev.id, alive = std::weak_ptr<int>(alive_)] {
    if (alive.lock()) uploadOutputs(id);
  });
}

void SupervisorSink::stageIn(const std::string& id) {
  Running& run = running_.at(id);
  const Event& ev = *run.event;
  const fs::path dest = stagePath(jobs_dir_ / run.folder / "input", ev);
  ObjectStore* store = stores_->find(ev.connector);
  store->fetch(ev, dest, [this, id, dest, alive = std::weak_ptr<int>(alive_)](std::string error) {
    if (!alive.lock()) return;
    auto it = running_.find(id);
    if (it == running_.end()) return;
    if (aborted_) return finish(id, Retry{std::nullopt, "aborted at shutdown"});
    if (!error.empty()) {
      log_->warn("{}: event {}: stage-in failed: {}", name_, id, error);
      return finish(id, Retry{std::nullopt, "stage-in failed: " + error});
    }
    // A copy (not a hard link, whose owner is the original's) becomes the job user's own.
    struct stat st {};
    if (config_.run_as && ::lstat(dest.c_str(), &st) == 0 && st.st_nlink == 1 &&
        ::chown(dest.c_str(), config_.run_as->uid, config_.run_as->gid) != 0)
      log_->warn("{}: event {}: cannot hand the staged file to {}: {}", name_, id, config_.user,
                 std::strerror(errno));
    it->second.phase = Phase::Running;
    startJob(id);
  });
}

void SupervisorSink::startJob(const std::string& id) {
  Running& run = running_.at(id);
  const std::int64_t started_ms = clock_.nowMs();
  pid_t pid = runner_.start(run.spec, [this, id](JobOutcome o) { jobEnded(id, o); });
  if (pid > 0) {
    log_->debug("{}: job {} started (event {}, pid {}{})", name_, run.folder, id, pid,
                run.gpus ? ", GPUs " + gpuEnvironment(run.gpus->gpus())[1].second
                         : std::string());
    if (!writeMarker(jobs_dir_ / run.folder,
                     {pid, ::getpid(), id, started_ms,
                      run.gpus ? run.gpus->indices() : std::vector<int>{}}))
      log_->warn("{}: job {}: cannot write its {}; a crash or reload would not find it", name_,
                 run.folder, kMarkerFile);
  }
  updateGauges();
}

void SupervisorSink::jobEnded(const std::string& id, const JobOutcome& o) {
  auto it = running_.find(id);
  if (it == running_.end()) return;  // cannot happen: every job has its entry
  Running& run = it->second;
  DeliveryResult r = classify(o, jobs_dir_ / run.folder);
  report(run.folder, id, run.attempt, o, r);
  run.slot.reset();  // before `done`: the dispatcher may deliver again from inside it
  std::vector<int> gpu_ids = run.gpus ? run.gpus->indices() : std::vector<int>{};
  run.gpus.reset();  // the process group is gone (JobRunner ends it before reaping)
  if (!std::holds_alternative<Done>(r)) {
    if (o.kind != JobOutcome::Kind::Aborted && run.event) {
      nlohmann::json facts = {{"outcome", outcomeLabel(o.kind)},
                              {"reason", std::holds_alternative<Retry>(r)
                                             ? std::get<Retry>(r).reason
                                             : std::get<Dead>(r).reason},
                              {"duration_ms", o.elapsed.count()},
                              {"gpus", gpu_ids},
                              {"log", (jobs_dir_ / run.folder).string()}};
      if (o.kind == JobOutcome::Kind::Exited) facts["exit_code"] = o.value;
      if (o.kind == JobOutcome::Kind::Signaled) facts["signal"] = o.value;
      auto ev = jobEvent(name_, *run.event, false, run.attempt, std::move(facts), clock_.nowMs());
      std::visit([&ev](auto& x) { x.emit.push_back(std::move(ev)); }, r);
    }
    return finish(id, std::move(r));
  }
  run.effect = JobEffect{run.folder, 0, o.elapsed.count(), clock_.nowMs(), gpu_ids,
                         !config_.outputs.empty(), {}};
  std::string why;
  // Recorded before `done`: from here on no delivery of this event runs the job again.
  if (!effects_.record(id, run.effect, &why))
    log_->error("{}: event {}: {}; a redelivery would run the job again", name_, id, why);
  if (++recorded_since_prune_ >= 1000) {  // a long-running daemon drops old records too
    recorded_since_prune_ = 0;
    effects_.prune(clock_.nowMs() - policy_.max_age.count());
  }
  if (!run.effect.outputs_pending) return finish(id, succeeded(run));
  removeMarker(jobs_dir_ / run.folder);
  run.phase = Phase::Uploading;
  uploadOutputs(id);
}

void SupervisorSink::finish(const std::string& id, DeliveryResult r, bool keep_outputs) {
  auto it = running_.find(id);
  if (it == running_.end()) return;
  Running& run = it->second;
  retire(run.folder, keep_outputs);
  run.slot.reset();
  run.gpus.reset();
  updateGauges();
  if (!run.done) {  // adopted, its redelivery not here yet: it takes this result
    run.result = std::move(r);
    return;
  }
  auto done = std::move(run.done);
  running_.erase(it);
  done(std::move(r));
}

DeliveryResult SupervisorSink::succeeded(const Running& run) const {
  Done d;
  if (!run.event) return d;
  const JobEffect& e = run.effect;
  d.emit.push_back(jobEvent(name_, *run.event, true, run.attempt,
                            {{"outcome", "exited"},
                             {"exit_code", e.exit_code},
                             {"duration_ms", e.duration_ms},
                             {"gpus", e.gpus},
                             {"outputs", e.uploaded},
                             {"log", (jobs_dir_ / e.folder).string()}},
                            clock_.nowMs()));
  return d;
}

void SupervisorSink::abort() {
  aborted_ = true;
  gpu_poll_.cancel();
  runner_.abortAll();
}

bool SupervisorSink::handOver() {
  aborted_ = true;  // nothing new starts in this image
  std::size_t n = 0;
  for (auto& [id, run] : running_) {
    if (!run.done) continue;
    ++n;
    boost::asio::post(io_, [done = std::move(run.done)] {
      done(Retry{std::nullopt, "handed over to the reloaded process"});
    });
  }
  runner_.detachAll();  // the jobs run on; their job.json tells the next image about them
  running_.clear();
  alive_.reset();  // stage-ins and uploads under way report nothing any more
  log_->info("{}: {} running jobs handed over to the reloaded process", name_, n);
  return true;
}

}  // namespace sluice::sinks::supervisor
