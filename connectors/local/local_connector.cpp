#include "connectors/local/local_connector.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "daemon/health.hpp"
#include "daemon/metrics.hpp"

namespace sluice::connectors::local {
namespace {

constexpr std::uint32_t kMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
                                IN_CREATE | IN_DELETE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK;
constexpr auto kDegradedRescan = std::chrono::seconds(60);

nlohmann::json maskNames(std::uint32_t m) {
  static const std::pair<std::uint32_t, const char*> kNames[] = {
      {IN_CLOSE_WRITE, "IN_CLOSE_WRITE"}, {IN_MOVED_FROM, "IN_MOVED_FROM"},
      {IN_MOVED_TO, "IN_MOVED_TO"},       {IN_CREATE, "IN_CREATE"},
      {IN_DELETE, "IN_DELETE"},           {IN_ISDIR, "IN_ISDIR"}};
  auto out = nlohmann::json::array();
  for (auto& [bit, name] : kNames)
    if (m & bit) out.push_back(name);
  return out;
}

std::string hostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

std::string readProc(const char* path) {
  std::ifstream in(path);
  std::string v;
  std::getline(in, v);
  return v.empty() ? "?" : v;
}

}  // namespace

namespace {
// The watched root as an absolute path, or throws when it is not a directory.
std::string rootDirectory(const LocalSpec& spec) {
  std::error_code ec;
  std::string abs = std::filesystem::absolute(spec.path, ec).lexically_normal().string();
  while (abs.size() > 1 && abs.back() == '/') abs.pop_back();
  struct stat st {};
  if (ec || stat(abs.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw std::runtime_error("source " + spec.name + ": " + abs + " is not a directory (" +
                             (ec ? ec.message() : std::strerror(errno)) + ")");
  return abs;
}
}  // namespace

std::string LocalSpec::preflight() const {
  try {
    rootDirectory(*this);
    return "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

std::unique_ptr<Connector> LocalSpec::create(ConnectorContext& ctx) const {
  std::string abs = rootDirectory(*this);
  // openForWriting() takes read leases for an instant; a lease break in that instant would
  // raise SIGIO, whose default action ends the process. Nothing in sluice uses SIGIO.
  std::signal(SIGIO, SIG_IGN);
  return std::make_unique<LocalConnector>(*this, ctx, abs);
}

LocalConnector::LocalConnector(const LocalSpec& spec, ConnectorContext& ctx, std::string root)
    : spec_(spec),
      ctx_(ctx),
      root_(std::move(root)),
      builder_{spec, "file://" + hostName() + root_},
      health_key_("source:" + spec.name),
      retry_timer_(ctx.io),
      rescan_timer_(ctx.io),
      step_timer_(ctx.io),
      overflows_(ctx.metrics.counter("sluice_local_overflows_total",
                                     "inotify queue overflows (each triggers a rescan)",
                                     {{"source", spec.name}})),
      scans_(ctx.metrics.counter("sluice_local_scans_total", "reconciliation scans",
                                 {{"source", spec.name}})) {}

LocalConnector::~LocalConnector() {
  if (stream_) {
    boost::system::error_code ec;
    stream_->close(ec);
  } else if (fd_ >= 0) {
    ::close(fd_);
  }
}

void LocalConnector::loadIndex() {
  ctx_.intake.loadState(spec_.name, [this](const std::string& key, const std::string& fp) {
    index_.set(key, parseFingerprint(fp).value_or(FileVersion{}));  // unreadable: "changed"
  });
  loaded_ = true;
}

void LocalConnector::start() {
  running_ = true;
  if (!loaded_) loadIndex();
  fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd_ < 0)
    throw std::runtime_error("source " + spec_.name + ": inotify_init1: " + std::strerror(errno) +
                             " (raise fs.inotify.max_user_instances)");
  stream_ = std::make_unique<boost::asio::posix::stream_descriptor>(ctx_.io, fd_);
  // Not ready until the start-up scan has caught up with what changed while sluice was down.
  ctx_.health.set(health_key_, HealthState::Failed, "start-up scan in progress");
  startup_pending_ = true;
  scan(root_, "startup");  // adds the watches first, directory by directory, then lists
  arm();
  schedulePeriodicScan();
}

void LocalConnector::stop() {
  running_ = false;
  stopped_ = true;
  retry_timer_.cancel();
  rescan_timer_.cancel();
  step_timer_.cancel();
  if (stream_) stream_->cancel();
}

void LocalConnector::catchUp(std::function<void(std::string)> done) {
  if (!loaded_) loadIndex();
  idle_waiters_.push_back(std::move(done));
  scan(root_, "catch-up");
}

bool LocalConnector::addWatch(const std::string& dir) {
  if (fd_ < 0 || wds_.count(dir)) return true;
  if (spec_.max_watches && wds_.size() >= spec_.max_watches) {
    degraded("the configured watch cap max_watches=" + std::to_string(spec_.max_watches) +
             " is reached at " + dir + ": raise max_watches");
    return false;
  }
  int wd = inotify_add_watch(fd_, dir.c_str(), kMask);
  if (wd < 0) {
    if (errno == ENOSPC)
      degraded("the inotify watch limit is reached at " + dir + " (fs.inotify.max_user_watches=" +
               readProc("/proc/sys/fs/inotify/max_user_watches") +
               "): raise it, e.g. sysctl -w fs.inotify.max_user_watches=1048576 and persist it "
               "in /etc/sysctl.d/");
    else if (errno != ENOENT && errno != ENOTDIR)
      ctx_.log->warn("source {}: cannot watch {}: {}", spec_.name, toUtf8Lossy(dir),
                     std::strerror(errno));
    return false;
  }
  dirs_[wd] = dir;
  wds_[dir] = wd;
  return true;
}

void LocalConnector::removeWatches(const std::string& prefix) {
  for (auto it = wds_.begin(); it != wds_.end();) {
    if (it->first == prefix || isUnder(it->first, prefix)) {
      inotify_rm_watch(fd_, it->second);
      dirs_.erase(it->second);
      it = wds_.erase(it);
    } else {
      ++it;
    }
  }
}

void LocalConnector::degraded(const std::string& why) {
  ctx_.health.set(health_key_, HealthState::Degraded,
                  why + "; until then unwatched directories are rescanned every 60s");
  if (degraded_) return;
  degraded_ = true;
  ctx_.log->error("source {}: degraded: {}", spec_.name, why);
  schedulePeriodicScan();
}

void LocalConnector::schedulePeriodicScan() {
  if (!running_) return;
  auto every = spec_.rescan_interval.count() > 0
                   ? std::chrono::duration_cast<std::chrono::seconds>(spec_.rescan_interval)
                   : degraded_ ? kDegradedRescan : std::chrono::seconds(0);
  if (every.count() <= 0) return;
  rescan_timer_.expires_after(every);
  rescan_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || !running_) return;
    scan(root_, "periodic");
    schedulePeriodicScan();
  });
}

void LocalConnector::scan(const std::string& subtree, const char* why) {
  enqueue(subtree, why);
  runScans();
}

void LocalConnector::enqueue(const std::string& subtree, const char* why) {
  const bool full = subtree == root_;
  const bool full_queued =
      std::any_of(scan_queue_.begin(), scan_queue_.end(), [](const Scan& x) { return x.full; });
  if (full && full_queued) {
    // The one under way goes on (restarting it could starve it on a big tree). Changes an
    // overflow lost in directories it has already walked are found by one more full scan.
    if (why == std::string("overflow")) rescan_pending_ = true;
    return;
  }
  scans_.inc();
  Scan sc{.why = why,
          .root = subtree,
          .full = full,
          .was_degraded = degraded_,
          .walk = TreeWalk(subtree, spec_.recursive, spec_.ignore),
          .now_ms = ctx_.clock.nowMs()};
  if (sc.full) {
    scan_queue_.push_back(std::move(sc));
  } else {
    // New directories first: their files should not wait behind a scan of the whole tree.
    auto at = std::find_if(scan_queue_.begin(), scan_queue_.end(), [](const Scan& x) { return x.full; });
    scan_queue_.insert(at, std::move(sc));
  }
}

void LocalConnector::runScans() {
  if (step_armed_ || stopped_) return;
  if (scan_queue_.empty() || paused_ || pending_.size() >= spec_.max_pending) {
    flush();  // the commit completion calls runScans() again
    return;
  }
  Scan& sc = scan_queue_.front();
  const nlohmann::json native = {{"scan", sc.why}};
  TreeWalk::Visitor v{
      [&](const std::string& p, const struct stat& st) {
        sc.names.insert(p.substr(sc.listing.size() + 1));
        struct stat now = st;
        if (openForWriting(p, now)) return;  // still being written: its close will announce it
        FileVersion v = versionOf(now);
        if (const FileVersion* known = index_.find(p); known && *known == v) return;
        ++sc.changes;
        std::string fp = toFingerprint(v);
        record(EventType::Created, spec_.emit_created,
               builder_.make(EventType::Created, p, now, fp, native, sc.now_ms), {p, fp});
      },
      [&](const std::string& d) {
        if (!addWatch(d)) sc.watch_failed = true;
        sc.listing = d;
        sc.names.clear();
      },
      [&](const std::string& d, int err) {
        ctx_.log->warn("source {}: cannot list {}: {}", spec_.name, toUtf8Lossy(d),
                       std::strerror(err));
        // Vanished: its files are gone (unless vouched for). Unreadable (or a listing cut
        // short): keep what is known of it and of everything below it.
        if (err != ENOENT && err != ENOTDIR) sc.unreadable.push_back(d);
        sc.listing.clear();
        sc.names.clear();
      },
      [&](const std::string& d) { listed(sc, d); }};
  // The walk waits while removals found by its listings are being announced.
  if (sc.gone.empty() && !sc.ending && !sc.walk.step(kBatchEntries, v)) {
    sc.ending = true;
    if (sc.full) {
      auto keep = [&](const std::string& d) {  // at or below an unreadable directory
        return std::any_of(sc.unreadable.begin(), sc.unreadable.end(),
                           [&](const std::string& u) { return d == u || isUnder(d, u); });
      };
      for (auto& d : index_.dirs())
        if (!sc.visited.count(d) && !keep(d)) sc.vanished.push_back(std::move(d));
    }
  }
  if (!vanishStep(sc) && sc.ending) {
    Scan done = std::move(scan_queue_.front());
    scan_queue_.pop_front();
    finishScan(done);
  }
  flush();
  if (scan_queue_.empty()) return;
  // Yield to the loop between steps: deliveries, inotify reads and commits go on meanwhile.
  step_armed_ = true;
  step_timer_.expires_after(std::chrono::seconds(0));
  step_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    step_armed_ = false;
    runScans();
  });
}

void LocalConnector::finishScan(Scan& sc) {
  if (sc.full) {
    if (sc.was_degraded && !sc.watch_failed && fd_ >= 0) {
      degraded_ = false;
      ctx_.health.set(health_key_, HealthState::Ok);
      ctx_.log->info("source {}: every directory is watched again", spec_.name);
    }
  }
  if (sc.full && rescan_pending_) {
    rescan_pending_ = false;
    enqueue(root_, "overflow");
  }
  if (sc.full && startup_pending_) {
    startup_pending_ = false;
    if (!degraded_) ctx_.health.set(health_key_, HealthState::Ok);
    ctx_.log->info("source {}: watching {} ({} directories, {} known files, {} changes found)",
                   spec_.name, root_, wds_.size(), index_.size(), sc.changes);
  } else if (sc.changes > 0) {
    ctx_.log->info("source {}: {} scan of {} found {} changes", spec_.name, sc.why,
                   toUtf8Lossy(sc.root), sc.changes);
  }
}

bool LocalConnector::vanishStep(Scan& sc) {
  const nlohmann::json native = {{"scan", sc.why}};
  std::size_t n = 0;
  while (!sc.gone.empty() && n < kBatchEntries) {
    auto [p, version] = std::move(sc.gone.front());
    sc.gone.pop_front();
    if (const FileVersion* known = index_.find(p); !known || !(*known == version)) continue;
    fileGone(p, native);
    ++n;
    ++sc.changes;
  }
  while (!sc.vanished.empty() && n < kBatchEntries) {
    const std::string& d = sc.vanished.back();
    const std::size_t limit = kBatchEntries - n;
    std::vector<std::string> gone;
    if (const auto* known = index_.dir(d))
      for (const auto& [name, _] : *known) {
        if (gone.size() == limit) break;
        std::string p = d + "/" + name;
        if (!sc.vouched.count(p)) gone.push_back(std::move(p));
      }
    const bool exhausted = gone.size() < limit;
    for (const auto& p : gone) fileGone(p, native);
    n += gone.size();
    sc.changes += gone.size();
    if (exhausted) sc.vanished.pop_back();
  }
  return !sc.gone.empty() || !sc.vanished.empty();
}

void LocalConnector::listed(Scan& sc, const std::string& d) {
  if (sc.full) sc.visited.insert(d);
  if (const auto* known = index_.dir(d))
    for (const auto& [name, version] : *known)
      if (!sc.names.count(name)) sc.gone.emplace_back(d + "/" + name, version);
  sc.listing.clear();
  sc.names.clear();
}

void LocalConnector::arm() {
  if (reading_ || !running_ || !stream_ || paused_ || pending_.size() >= spec_.max_pending) return;
  reading_ = true;
  stream_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                      [this](boost::system::error_code ec) {
                        if (ec) return;  // cancelled by stop(): `this` may be gone
                        reading_ = false;
                        if (!running_) return;
                        onReadable();
                      });
}

void LocalConnector::onReadable() {
  alignas(struct inotify_event) char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) {
      if (n < 0 && errno != EAGAIN && errno != EINTR)
        ctx_.log->error("source {}: inotify read: {}", spec_.name, std::strerror(errno));
      break;
    }
    // Renames pair up by cookie within one read; a lone IN_MOVED_FROM is a removal.
    std::unordered_map<std::uint32_t, std::pair<std::string, std::string>> moves;
    for (char* p = buf; p < buf + n;) {
      auto* ie = reinterpret_cast<struct inotify_event*>(p);
      handle(ie, moves);
      p += sizeof(struct inotify_event) + ie->len;
    }
    for (auto& [_, m] : moves) fileGone(m.first, {{"mask", {"IN_MOVED_FROM"}}});
    if (pending_.size() >= spec_.max_pending) break;
  }
  flush();
  arm();
}

void LocalConnector::handle(
    const struct inotify_event* ie,
    std::unordered_map<std::uint32_t, std::pair<std::string, std::string>>& moves) {
  if (ie->mask & IN_Q_OVERFLOW) {
    overflows_.inc();
    ctx_.log->warn("source {}: inotify queue overflow; rescanning {}", spec_.name, root_);
    scan(root_, "overflow");
    return;
  }
  auto it = dirs_.find(ie->wd);
  if (it == dirs_.end()) return;
  if (ie->mask & IN_IGNORED) {
    wds_.erase(it->second);
    dirs_.erase(it);
    return;
  }
  if (ie->mask & IN_DELETE_SELF) {
    if (it->second == root_) degraded("the watched directory " + root_ + " was removed");
    return;
  }
  if (ie->len == 0) return;
  std::string name(ie->name, strnlen(ie->name, ie->len));
  if (name.empty() || ignored(spec_.ignore, name)) return;
  std::string path = it->second + "/" + name;
  nlohmann::json native = {
      {"mask", maskNames(ie->mask)}, {"cookie", ie->cookie}, {"name", toUtf8Lossy(name)}};
  if (ie->mask & IN_ISDIR) {
    if ((ie->mask & (IN_CREATE | IN_MOVED_TO)) && spec_.recursive) {
      scan(path, "new-directory");  // watch first, then list: nothing created before is missed
    } else if (ie->mask & (IN_MOVED_FROM | IN_DELETE)) {
      removeWatches(path);
      forgetSubtree(path, native);
    }
    return;
  }
  if (ie->mask & IN_CLOSE_WRITE) {
    fileWritten(path, native);
  } else if (ie->mask & IN_MOVED_FROM) {
    const FileVersion* known = index_.find(path);
    moves[ie->cookie] = {path, known ? toFingerprint(*known) : ""};
  } else if (ie->mask & IN_MOVED_TO) {
    auto m = moves.find(ie->cookie);
    if (m != moves.end()) {
      fileMoved(m->second.first, m->second.second, path, native);
      moves.erase(m);
    } else {
      fileWritten(path, native);
    }
  } else if (ie->mask & IN_DELETE) {
    fileGone(path, native);
  }
}

void LocalConnector::fileWritten(const std::string& path, const nlohmann::json& native) {
  const std::int64_t now = ctx_.clock.nowMs();
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) {
    // Gone before we could look: still delivered, with what is known and why.
    int err = errno;
    record(EventType::Created, spec_.emit_created,
           builder_.make(EventType::Created, path, std::nullopt, "vanished@" + std::to_string(now),
                         native, now, std::nullopt,
                         std::string("the file could not be examined: ") + std::strerror(err)),
           {path, std::nullopt});
    return;
  }
  if (!S_ISREG(st.st_mode)) return;
  FileVersion v = versionOf(st);
  if (const FileVersion* known = index_.find(path); known && *known == v) return;
  std::string fp = toFingerprint(v);
  record(EventType::Created, spec_.emit_created,
         builder_.make(EventType::Created, path, st, fp, native, now), {path, fp});
}

void LocalConnector::fileGone(const std::string& path, const nlohmann::json& native) {
  const FileVersion* known = index_.find(path);
  if (!known) return;  // never announced (ignored, or removed while being written)
  std::string fp = toFingerprint(*known);
  record(EventType::Removed, spec_.emit_removed,
         builder_.make(EventType::Removed, path, std::nullopt, fp, native, ctx_.clock.nowMs()),
         {path, std::nullopt});
}

void LocalConnector::fileMoved(const std::string& from, const std::string& old_fp,
                               const std::string& to, const nlohmann::json& native) {
  struct stat st {};
  if (old_fp.empty() || !spec_.emit_moved || lstat(to.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    fileGone(from, native);
    fileWritten(to, native);
    return;
  }
  std::string fp = fingerprint(st);
  pending_.push_back({std::nullopt, {from, std::nullopt}});
  index_.erase(from);
  record(EventType::Moved, true,
         builder_.make(EventType::Moved, to, st, fp, native, ctx_.clock.nowMs(), from), {to, fp});
}

void LocalConnector::forgetSubtree(const std::string& prefix, const nlohmann::json& native) {
  for (const auto& p : index_.filesUnder(prefix)) fileGone(p, native);
}

void LocalConnector::record(EventType, bool selected, Event ev, IndexUpdate idx) {
  if (idx.fingerprint) {
    index_.set(idx.key, parseFingerprint(*idx.fingerprint).value_or(FileVersion{}));
    // Recorded while scans run (an inotify event, another scan): not gone. In the directory
    // a scan is listing, the name counts as seen; elsewhere a full scan will not judge it.
    auto [d, name] = splitPath(idx.key);
    for (auto& sc : scan_queue_) {
      if (sc.listing == d) sc.names.insert(name);
      else if (sc.full) sc.vouched.insert(idx.key);
    }
  } else {
    index_.erase(idx.key);
  }
  pending_.push_back({selected ? std::optional<Event>(std::move(ev)) : std::nullopt, std::move(idx)});
  if (pending_.size() % kBatchEntries == 0) flush();  // long scans commit as they go
}

void LocalConnector::flush() {
  if (committing_ || paused_ || stopped_) return;
  if (pending_.empty()) {
    notifyIdle();
    return;
  }
  Batch b;
  b.source = spec_.name;
  const std::size_t n = std::min(kBatchEntries, pending_.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (pending_[i].event) b.events.push_back(*pending_[i].event);
    b.index.push_back(pending_[i].index);
  }
  committing_ = true;
  ctx_.intake.commit(std::move(b), [this, n](CommitResult r) {
    committing_ = false;
    if (r.ok) {
      pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
      if (failures_ > 0) ctx_.log->info("source {}: queue writable again, intake resumed", spec_.name);
      failures_ = 0;
      flush();
      arm();
      runScans();
      return;
    }
    if (failures_++ == 0)
      ctx_.log->error("source {}: commit failed ({}); intake paused, {} changes held, retrying",
                      spec_.name, r.error, pending_.size());
    if (!running_) {  // `sluice once`: report instead of waiting for space
      auto waiters = std::move(idle_waiters_);
      idle_waiters_.clear();
      for (auto& w : waiters) w("queue commit failed: " + r.error);
      return;
    }
    paused_ = true;
    retry_timer_.expires_after(std::chrono::milliseconds(250 << std::min(failures_, 7)));
    retry_timer_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      paused_ = false;
      flush();
      arm();
      runScans();
    });
  });
}

void LocalConnector::notifyIdle() {
  if (committing_ || !pending_.empty() || !scan_queue_.empty() || idle_waiters_.empty()) return;
  auto waiters = std::move(idle_waiters_);
  idle_waiters_.clear();
  for (auto& w : waiters) w("");
}

}  // namespace sluice::connectors::local
