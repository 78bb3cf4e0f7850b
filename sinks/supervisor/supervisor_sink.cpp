#include "sinks/supervisor/supervisor_sink.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <utility>

#include "daemon/metrics.hpp"
#include "daemon/object_store.hpp"
#include "daemon/payload_format.hpp"
#include "sinks/supervisor/job_marker.hpp"

namespace sluice::sinks::supervisor {
namespace {

namespace fs = std::filesystem;

// What jobs get for PATH unless `env` says otherwise: the daemon's own PATH is not inherited.
constexpr const char* kJobPath = "/usr/local/bin:/usr/bin:/bin";
constexpr std::size_t kStderrLineMax = 200;

// Folder names come from event ids (hex digests) but must never escape the jobs folder, whatever
// an id holds: anything outside [A-Za-z0-9._-] becomes '_', and no name starts with '.'.
std::string safeName(const std::string& s) {
  std::string out;
  for (unsigned char c : s.substr(0, 200))
    out += std::isalnum(c) || c == '-' || c == '_' || c == '.' ? static_cast<char>(c) : '_';
  if (out.empty() || out[0] == '.') out.insert(0, "_");
  return out;
}

std::string formatDuration(Duration d) {
  auto ms = d.count();
  if (ms == 0 || ms % 1000 != 0) return std::to_string(ms) + "ms";
  if (ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  return std::to_string(ms / 1000) + "s";
}

// The last non-empty line of stderr.log, at most 200 bytes, as printable UTF-8: operators see
// why a job failed in the delivery's reason without opening the folder.
std::string lastStderrLine(const fs::path& file) {
  std::ifstream in(file, std::ios::binary | std::ios::ate);
  if (!in) return "";
  const std::streamoff size = in.tellg();
  const std::streamoff from = std::max<std::streamoff>(0, size - 4096);
  in.seekg(from);
  std::string tail(static_cast<std::size_t>(size - from), '\0');
  in.read(tail.data(), static_cast<std::streamsize>(tail.size()));
  tail.resize(static_cast<std::size_t>(in.gcount()));
  while (!tail.empty() && std::isspace(static_cast<unsigned char>(tail.back()))) tail.pop_back();
  auto nl = tail.rfind('\n');
  std::string line = nl == std::string::npos ? tail : tail.substr(nl + 1);
  if (line.size() > kStderrLineMax) line.resize(kStderrLineMax);
  for (auto& c : line)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  return toUtf8Lossy(line);
}

std::string withStderr(std::string reason, const fs::path& dir) {
  auto line = lastStderrLine(dir / "stderr.log");
  return line.empty() ? reason : reason + "; stderr: " + line;
}

std::string outcomeLabel(JobOutcome::Kind k) {
  switch (k) {
    case JobOutcome::Kind::Exited:
      return "exited";
    case JobOutcome::Kind::Signaled:
      return "signaled";
    case JobOutcome::Kind::TimedOut:
      return "timed_out";
    case JobOutcome::Kind::Aborted:
      return "aborted";
    case JobOutcome::Kind::SpawnFailed:
      return "spawn_failed";
    case JobOutcome::Kind::Lost:
      return "lost";
  }
  return "unknown";
}

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
      slots_(policy.concurrency),
      runner_(ctx.io) {
  if (!log_) throw std::runtime_error("sink " + name_ + ": no logger");
  fs::create_directories(jobs_dir_);  // throws fs::filesystem_error, a std::runtime_error
  // Folders left by earlier runs count towards keep_jobs; their age is all we know of order.
  std::vector<std::pair<fs::file_time_type, std::string>> found;
  for (auto& entry : fs::directory_iterator(jobs_dir_)) {
    std::error_code ec;
    if (!entry.is_directory(ec)) continue;
    auto t = entry.last_write_time(ec);
    found.emplace_back(t, entry.path().filename().string());
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
      Running r{*it, 0, {}, slot ? std::make_shared<SlotPool::Lease>(std::move(*slot)) : nullptr, {}};
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
  running_gauge_.set(static_cast<double>(runner_.running()));
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
      return;
    }
    log_->warn("{}: job {} of event {} is still running; not starting it twice", name_, r.folder,
               ev.id);
    return reply(Retry{std::nullopt, "the job for this event is still running"});
  }
  std::string event_text;
  try {  // cloudevents as plain JSON (no shell sits between sluice and a job); others as sent
    event_text = config_.format == PayloadFormat::CloudEvents
                     ? toJson(ev).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                     : encodePayload(config_.format, ev).body;
  } catch (const std::exception& e) {
    return reply(Dead{std::string("cannot encode event: ") + e.what()});
  }
  auto lease = slots_.acquire();
  if (!lease) {
    log_->warn("{}: no free job slot for event {} ({} of {} in use)", name_, ev.id, slots_.inUse(),
               slots_.capacity());
    return reply(Retry{std::nullopt, "no free job slot"});
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
  };
  // Where the source can say where its object lies on this machine, the job reads it there.
  if (const ObjectStore* store = stores_ ? stores_->find(ev.connector) : nullptr)
    if (auto path = store->localPath(ev)) vars["INPUT_FILE_PATH"] = *path;
  for (auto& [k, v] : config_.env) vars[k] = v;
  // Last: the slot's assignment (later CUDA_VISIBLE_DEVICES) must hold whatever `env` says.
  for (auto& [k, v] : lease->slot().env) vars[k] = v;

  JobSpec spec{.program = config_.program,
               .argv = config_.command,
               .env = {},
               .cwd = dir,
               .stdout_path = dir / "stdout.log",
               .stderr_path = dir / "stderr.log",
               .timeout = policy_.timeout,
               .kill_grace = config_.kill_grace};
  for (auto& [k, v] : vars) {
    if (v.find('\0') != std::string::npos) {  // only event bytes can; execve would cut them
      retire(folder);
      log_->warn("{}: event {}: {} contains a NUL byte", name_, ev.id, k);
      return reply(Dead{"cannot pass " + k + " to the job: it contains a NUL byte"});
    }
    spec.env.push_back(k + "=" + v);
  }

  running_.emplace(ev.id, Running{folder, info.attempt, std::move(done),
                                  std::make_shared<SlotPool::Lease>(std::move(*lease)), {}});
  const std::int64_t started_ms = clock_.nowMs();
  pid_t pid = runner_.start(spec, [this, id = ev.id](JobOutcome o) { jobEnded(id, o); });
  if (pid > 0) {
    log_->debug("{}: job {} started (event {}, pid {})", name_, folder, ev.id, pid);
    if (!writeMarker(dir, {pid, ::getpid(), ev.id, started_ms}))
      log_->warn("{}: job {}: cannot write its {}; a crash or reload would not find it", name_,
                 folder, kMarkerFile);
  }
  running_gauge_.set(static_cast<double>(runner_.running()));
}

void SupervisorSink::jobEnded(const std::string& id, const JobOutcome& o) {
  auto it = running_.find(id);
  if (it == running_.end()) return;  // cannot happen: every job has its entry
  Running& run = it->second;
  DeliveryResult r = classify(o, jobs_dir_ / run.folder);
  retire(run.folder);
  report(run.folder, id, run.attempt, o, r);
  run.slot.reset();  // before `done`: the dispatcher may deliver again from inside it
  if (!run.done) {   // adopted, its redelivery not here yet: it takes this result
    run.result = std::move(r);
    return;
  }
  auto done = std::move(run.done);
  running_.erase(it);
  done(std::move(r));
}

void SupervisorSink::abort() {
  aborted_ = true;
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
  log_->info("{}: {} running jobs handed over to the reloaded process", name_, n);
  return true;
}

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
  std::ofstream out(dir / "event.json", std::ios::binary | std::ios::trunc);
  out << toJson(ev).dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
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

void SupervisorSink::retire(const std::string& folder) {
  const fs::path dir = jobs_dir_ / folder;
  std::error_code ec;
  // Outputs are not uploaded yet (a later issue); inputs are never needed after the job.
  fs::remove_all(dir / "input", ec);
  fs::remove_all(dir / "output", ec);
  removeMarker(dir);
  finished_.push_back(folder);
  prune();
}

void SupervisorSink::report(const std::string& folder, const std::string& event_id, int attempt,
                            const JobOutcome& o, const DeliveryResult& result) {
  metrics_
      .counter("sluice_supervisor_jobs_total", "Supervisor jobs that ended, by how",
               {{"sink", name_}, {"outcome", outcomeLabel(o.kind)}})
      .inc();
  running_gauge_.set(static_cast<double>(runner_.running()));
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
