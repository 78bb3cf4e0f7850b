#include "connectors/local/local_connector.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
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
// How often tombstones past the dedup horizon are dropped (full scans drop them too).
constexpr auto kPruneEvery = std::chrono::hours(1);

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
  return std::make_unique<LocalConnector>(*this, ctx, rootDirectory(*this));
}

LocalConnector::LocalConnector(const LocalSpec& spec, ConnectorContext& ctx, std::string root)
    : spec_(spec),
      ctx_(ctx),
      root_(std::move(root)),
      // Percent-encoded: a root whose name is not UTF-8 must not make events unencodable.
      builder_{spec, "file://" + uriEscape(hostName()) + uriEscape(root_)},
      health_key_("source:" + spec.name),
      retry_timer_(ctx.io),
      rescan_timer_(ctx.io),
      prune_timer_(ctx.io),
      step_timer_(ctx.io),
      overflows_(ctx.metrics.counter("sluice_local_overflows_total",
                                     "inotify queue overflows (each triggers a rescan)",
                                     {{"source", spec.name}})),
      scans_(ctx.metrics.counter("sluice_local_scans_total", "reconciliation scans",
                                 {{"source", spec.name}})),
      unexaminable_(ctx.metrics.counter(
          "sluice_local_unexaminable_total",
          "files and directories that are there but could not be examined or listed",
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
  ctx_.intake.loadState(spec_.name, [this](const std::string& key, const std::string& text) {
    DecodedEntry e = decodeEntry(text);
    if (e.file) index_.set(key, *e.file);
    if (e.mark) index_.setMark(key, *e.mark);
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
  startup_pending_ = true;
  publishHealth();
  scan(root_, "startup");  // adds the watches first, directory by directory, then lists
  arm();
  schedulePeriodicScan();
  schedulePrune();
}

void LocalConnector::stop() {
  running_ = false;
  stopped_ = true;
  retry_timer_.cancel();
  rescan_timer_.cancel();
  prune_timer_.cancel();
  step_timer_.cancel();
  if (stream_) stream_->cancel();
}

void LocalConnector::catchUp(std::function<void(std::string)> done) {
  if (!loaded_) loadIndex();
  idle_waiters_.push_back(std::move(done));
  scan(root_, "catch-up");
}

bool LocalConnector::addWatch(const std::string& dir) {
  if (fd_ < 0) return true;
  // Asked even when the path is watched: the kernel answers with the watch of the directory
  // that has the path now, which need not be the one watched under it before.
  auto had = wds_.find(dir);
  if (had == wds_.end() && spec_.max_watches && wds_.size() >= spec_.max_watches) {
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
  if (had != wds_.end() && had->second != wd) {
    // Another directory has the path now (the watched one was removed or moved away, and its
    // events are not read yet, or were lost in an overflow): what is known below the path was
    // the other's, and the old watch's events must not be taken for this one's.
    removeWatches(dir, wd);
    forgetSubtree(dir, {{"scan", "replaced-directory"}});
  }
  if (auto other = dirs_.find(wd); other != dirs_.end() && other->second != dir) {
    // This directory, watched under another path (a rename whose events are not read yet).
    if (auto w = wds_.find(other->second); w != wds_.end() && w->second == wd) wds_.erase(w);
  }
  dirs_[wd] = dir;
  wds_[dir] = wd;
  return true;
}

void LocalConnector::removeWatches(const std::string& prefix, int keep) {
  for (auto it = wds_.begin(); it != wds_.end();) {
    if (it->first == prefix || isUnder(it->first, prefix)) {
      if (it->second != keep) inotify_rm_watch(fd_, it->second);
      dirs_.erase(it->second);
      it = wds_.erase(it);
    } else {
      ++it;
    }
  }
}

void LocalConnector::degraded(const std::string& why) {
  degraded_why_ = why;
  const bool was = std::exchange(degraded_, true);
  publishHealth();
  if (was) return;
  ctx_.log->error("source {}: degraded: {}", spec_.name, why);
  schedulePeriodicScan();
}

void LocalConnector::unexaminable(const std::string& path, int err, Scan* in, const char* verb) {
  unexaminable_.inc();
  std::string what = toUtf8Lossy(path) + " (" + std::strerror(err) + ")";
  if (!in || in->unexaminable < kLoggedPerScan)
    ctx_.log->warn("source {}: cannot {} {}", spec_.name, verb, what);
  if (in) {
    ++in->unexaminable;
    in->last_unexaminable = what;
  }
  ++unexaminable_count_;
  unexaminable_last_ = std::move(what);
  publishHealth();
}

void LocalConnector::publishHealth() {
  std::string why;
  if (degraded_) why = degraded_why_ + "; until then unwatched directories are rescanned every 60s";
  if (unexaminable_count_ > 0)
    why += (why.empty() ? "" : "; ") + std::to_string(unexaminable_count_) +
           " path(s) could not be examined, the last " + unexaminable_last_ +
           "; a full scan that finds none clears this";
  if (!why.empty()) ctx_.health.set(health_key_, HealthState::Degraded, why);
  else if (startup_pending_)
    ctx_.health.set(health_key_, HealthState::Failed, "start-up scan in progress");
  else ctx_.health.set(health_key_, HealthState::Ok);
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

void LocalConnector::schedulePrune() {
  if (!running_) return;
  prune_timer_.expires_after(kPruneEvery);
  prune_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || !running_) return;
    enqueuePrune();
    runScans();
    schedulePrune();
  });
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
    const auto got = static_cast<std::size_t>(n);
    if (decodeInotify(buf, got, [&](const InotifyRecord& r) { handle(r, moves); }) != got)
      ctx_.log->error("source {}: an inotify read ended inside a record", spec_.name);
    for (auto& [_, m] : moves) fileGone(m.first, {{"mask", {"IN_MOVED_FROM"}}});
    if (pending_.size() >= spec_.max_pending) break;
  }
  flush();
  arm();
}

void LocalConnector::handle(
    const InotifyRecord& ie,
    std::unordered_map<std::uint32_t, std::pair<std::string, std::string>>& moves) {
  if (ie.mask & IN_Q_OVERFLOW) {
    overflows_.inc();
    ctx_.log->warn("source {}: inotify queue overflow; rescanning {}", spec_.name, root_);
    scan(root_, "overflow");
    return;
  }
  auto it = dirs_.find(ie.wd);
  if (it == dirs_.end()) return;
  if (ie.mask & IN_IGNORED) {
    // The path may be watched anew by now (another directory): that watch stays.
    if (auto w = wds_.find(it->second); w != wds_.end() && w->second == ie.wd) wds_.erase(w);
    dirs_.erase(it);
    return;
  }
  if (ie.mask & IN_DELETE_SELF) {
    if (it->second == root_) degraded("the watched directory " + root_ + " was removed");
    return;
  }
  std::string name(ie.name);
  if (name.empty() || ignored(spec_.ignore, name)) return;
  std::string path = it->second + "/" + name;
  nlohmann::json native = {
      {"mask", maskNames(ie.mask)}, {"cookie", ie.cookie}, {"name", toUtf8Lossy(name)}};
  if (ie.mask & IN_ISDIR) {
    if ((ie.mask & (IN_CREATE | IN_MOVED_TO)) && spec_.recursive) {
      scan(path, "new-directory");  // watch first, then list: nothing created before is missed
    } else if (ie.mask & (IN_MOVED_FROM | IN_DELETE)) {
      removeWatches(path);
      forgetSubtree(path, std::move(native));
      runScans();
    }
    return;
  }
  if (ie.mask & IN_CLOSE_WRITE) {
    fileWritten(path, native);
  } else if (ie.mask & IN_MOVED_FROM) {
    const FileVersion* known = index_.find(path);
    moves[ie.cookie] = {path, known ? toFingerprint(*known) : ""};
  } else if (ie.mask & IN_MOVED_TO) {
    auto m = moves.find(ie.cookie);
    if (m != moves.end()) {
      fileMoved(m->second.first, m->second.second, path, native);
      moves.erase(m);
    } else {
      fileWritten(path, native);
    }
  } else if (ie.mask & IN_DELETE) {
    fileGone(path, native);
  }
}

void LocalConnector::fileWritten(const std::string& path, const nlohmann::json& native) {
  settle(path);
  const std::int64_t now = ctx_.clock.nowMs();
  const FileVersion* known = index_.find(path);
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0) {
    int err = errno;
    if (!isGone(err)) unexaminable(path, err, nullptr, "examine");
    // Known: its removal follows (gone), or nothing tells a change (unexaminable). Unknown:
    // still delivered, with what is known and why, and kept known (as 0:0:0) so that the
    // removal that follows is announced too: a created is never left without its removed.
    if (known) return;
    recordFile(spec_.emit_created,
               builder_.make(EventType::Created, path, std::nullopt,
                             "vanished@" + std::to_string(now), markOf(path), native, now,
                             std::nullopt,
                             std::string("the file could not be examined: ") + std::strerror(err)),
               path, FileVersion{});
    return;
  }
  if (!S_ISREG(st.st_mode)) return;
  FileVersion v = versionOf(st);
  if (known && *known == v) return;
  recordFile(spec_.emit_created,
             builder_.make(EventType::Created, path, st, toFingerprint(v), markOf(path), native,
                           now),
             path, v);
}

void LocalConnector::fileGone(const std::string& path, const nlohmann::json& native) {
  const FileVersion* known = index_.find(path);
  if (!known) return;  // never announced (ignored, or removed while being written)
  recordGone(spec_.emit_removed,
             builder_.make(EventType::Removed, path, std::nullopt, toFingerprint(*known),
                           markOf(path), native, ctx_.clock.nowMs()),
             path);
}

void LocalConnector::fileMoved(const std::string& from, const std::string& old_fp,
                               const std::string& to, const nlohmann::json& native) {
  settle(to);
  struct stat st {};
  if (old_fp.empty() || !spec_.emit_moved || lstat(to.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    fileGone(from, native);
    fileWritten(to, native);
    return;
  }
  const FileVersion v = versionOf(st);
  const std::int64_t now = ctx_.clock.nowMs();
  Event ev =
      builder_.make(EventType::Moved, to, st, toFingerprint(v), markOf(to), native, now, from);
  push(false, {}, bury(from, ev.id, now));  // the move is `from`'s removal too
  recordFile(true, std::move(ev), to, v);
}

std::string LocalConnector::markOf(const std::string& path) const {
  const Mark* m = index_.mark(path);
  return m ? markId(*m) : "";
}

void LocalConnector::recordFile(bool selected, Event ev, const std::string& path,
                                const FileVersion& v) {
  index_.set(path, v);
  // Recorded while jobs run (an inotify event, another scan): not gone. In the directory a
  // scan is listing, the name counts as seen; a full scan or a forget will not judge it.
  auto [d, name] = splitPath(path);
  for (auto& sc : scan_queue_) {
    if (sc.listing == d) sc.names.insert(name);
    else if (vouches(sc, path)) sc.vouched.insert(path);
  }
  push(selected, std::move(ev), {path, encodeEntry(&v, index_.mark(path))});
}

void LocalConnector::recordGone(bool selected, Event ev, const std::string& path) {
  IndexUpdate idx = bury(path, ev.id, ev.time_ms);
  push(selected, std::move(ev), std::move(idx));
}

IndexUpdate LocalConnector::bury(const std::string& path, const std::string& removal_id,
                                 std::int64_t ms) {
  index_.erase(path);
  std::optional<Mark> m = toMark(removal_id, ms);
  if (!m) {  // not an id eventId() made: nothing to tell the next appearance apart by
    index_.eraseMark(path);
    return {path, std::nullopt};
  }
  index_.setMark(path, *m);
  return {path, encodeEntry(nullptr, &*m)};
}

void LocalConnector::push(bool selected, Event ev, IndexUpdate idx) {
  pending_.push_back(
      {selected ? std::optional<Event>(std::move(ev)) : std::nullopt, std::move(idx)});
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
  const std::size_t n = std::min(batch_limit_, pending_.size());
  for (std::size_t i = 0; i < n; ++i) {
    if (pending_[i].event) b.events.push_back(*pending_[i].event);
    b.index.push_back(pending_[i].index);
  }
  committing_ = true;
  ctx_.intake.commit(std::move(b), [this, n](CommitResult r) {
    committing_ = false;
    if (r.ok) {
      pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
      if (failures_ > 0) {
        ctx_.log->info("source {}: queue writable again, intake resumed", spec_.name);
        ctx_.health.set(health_key_ + ":intake", HealthState::Ok);
      }
      failures_ = 0;
      batch_limit_ = std::min(kBatchEntries, batch_limit_ * 2);
      flush();
      arm();
      runScans();
      return;
    }
    if (failures_++ == 0)
      ctx_.log->error("source {}: commit failed ({}); intake paused, {} changes held, retrying",
                      spec_.name, r.error, pending_.size());
    ctx_.health.set(health_key_ + ":intake", HealthState::Degraded,
                    "paused, " + std::to_string(pending_.size()) + " changes held: " + r.error);
    // Too big for what queue.max_size leaves: smaller batches may fit now (down to one change).
    const bool split = r.full && n > 1;
    if (split) batch_limit_ = std::max<std::size_t>(1, n / 2);
    if (!running_) {  // `sluice once`: report instead of waiting for space
      auto waiters = std::move(idle_waiters_);
      idle_waiters_.clear();
      for (auto& w : waiters) w("queue commit failed: " + r.error);
      return;
    }
    paused_ = true;
    retry_timer_.expires_after(split ? std::chrono::milliseconds(0)
                                     : std::chrono::milliseconds(250 << std::min(failures_, 7)));
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
  for (auto& w : waiters) w(scan_error_);
}

}  // namespace sluice::connectors::local
