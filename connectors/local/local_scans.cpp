// LocalConnector's background jobs (see local_connector.hpp): walks that reconcile the index
// with the tree, forgets that announce the removals of a directory that went away, and prunes
// of old tombstones. All run in bounded steps on the event loop, one job at a time.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>

#include "connectors/local/local_connector.hpp"
#include "daemon/metrics.hpp"

namespace sluice::connectors::local {

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
          .native = {{"scan", why}},
          .now_ms = ctx_.clock.nowMs()};
  if (sc.full)
    scan_queue_.push_back(std::move(sc));
  else
    enqueueFirst(std::move(sc));  // new directories should not wait behind the whole tree
}

void LocalConnector::enqueueFirst(Scan sc) {
  auto at =
      std::find_if(scan_queue_.begin(), scan_queue_.end(), [](const Scan& x) { return x.full; });
  scan_queue_.insert(at, std::move(sc));
}

void LocalConnector::enqueuePrune() {
  const bool queued = std::any_of(scan_queue_.begin(), scan_queue_.end(),
                                  [](const Scan& x) { return x.kind == Scan::Kind::Prune; });
  if (index_.marks() == 0 || queued) return;
  scan_queue_.push_back(Scan{.kind = Scan::Kind::Prune, .why = "prune"});
}

void LocalConnector::forgetSubtree(const std::string& prefix, nlohmann::json native) {
  std::vector<std::string> dirs = index_.dirsUnder(prefix);
  if (dirs.empty()) return;
  // Announced in steps: until then its files stay known, and settle() announces the removal
  // of one first when a file is recorded at its path meanwhile.
  enqueueFirst(Scan{.kind = Scan::Kind::Forget,
                    .why = "forget",
                    .root = prefix,
                    .native = std::move(native),
                    .ending = true,
                    .vanished = std::move(dirs),
                    .now_ms = ctx_.clock.nowMs()});
}

bool LocalConnector::vouches(const Scan& sc, const std::string& path) const {
  return sc.full || (sc.kind == Scan::Kind::Forget && isUnder(path, sc.root));
}

void LocalConnector::settle(const std::string& path) {
  for (auto& sc : scan_queue_)
    if (sc.kind == Scan::Kind::Forget && isUnder(path, sc.root) && !sc.vouched.count(path)) {
      fileGone(path, sc.native);  // nothing when the forget has announced it already
      return;
    }
}

void LocalConnector::runScans() {
  if (step_armed_ || stopped_) return;
  if (scan_queue_.empty() || paused_ || pending_.size() >= spec_.max_pending) {
    flush();  // the commit completion calls runScans() again
    return;
  }
  // A step may queue a job in front of this one (a forget): it is finished by identity.
  auto front = scan_queue_.begin();
  Scan& sc = *front;
  // The walk waits while removals found by its listings are being announced.
  if (sc.gone.empty() && !sc.ending) {
    if (sc.walk) {
      walkStep(sc);
    } else {  // a prune: collected when it runs, so that it sees the horizon as of now
      sc.now_ms = ctx_.clock.nowMs();
      sc.expired = index_.expiredTombstones(sc.now_ms - ctx_.dedup_horizon.count());
      sc.ending = true;
    }
  }
  if (!vanishStep(sc) && sc.ending) {
    Scan done = std::move(sc);
    scan_queue_.erase(front);
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

void LocalConnector::walkStep(Scan& sc) {
  TreeWalk::Visitor v{[&](const std::string& p, const struct stat& st) {
                        sc.names.insert(p.substr(sc.listing.size() + 1));
                        struct stat now = st;
                        if (openForWriting(p, now))
                          return;  // still being written: its close will announce it
                        settle(p);
                        FileVersion ver = versionOf(now);
                        if (const FileVersion* known = index_.find(p); known && *known == ver)
                          return;
                        ++sc.changes;
                        recordFile(spec_.emit_created,
                                   builder_.make(EventType::Created, p, now, toFingerprint(ver),
                                                 markOf(p), sc.native, sc.now_ms),
                                   p, ver);
                      },
                      [&](const std::string& d) {
                        if (!addWatch(d)) sc.watch_failed = true;
                        sc.listing = d;
                        sc.names.clear();
                      },
                      [&](const std::string& d, int err) {
                        // Vanished: its files are gone (unless vouched for). Unreadable (or a
                        // listing cut short): keep what is known of it and of everything below it.
                        if (isGone(err)) {
                          ctx_.log->debug("source {}: {} vanished before it was listed", spec_.name,
                                          toUtf8Lossy(d));
                        } else {
                          sc.unreadable.push_back(d);
                          unexaminable(d, err, &sc, "list");
                        }
                        sc.listing.clear();
                        sc.names.clear();
                      },
                      [&](const std::string& d) { listed(sc, d); },
                      [&](const std::string& p, int err) {
                        sc.names.insert(p.substr(sc.listing.size() + 1));  // there, so not gone
                        unexaminable(p, err, &sc, "examine");
                      }};
  if (sc.walk->step(kBatchEntries, v)) return;
  sc.ending = true;
  if (!sc.full) return;
  auto keep = [&](const std::string& d) {  // at or below an unreadable directory
    return std::any_of(sc.unreadable.begin(), sc.unreadable.end(),
                       [&](const std::string& u) { return d == u || isUnder(d, u); });
  };
  for (auto& d : index_.dirs())
    if (!sc.visited.count(d) && !keep(d)) sc.vanished.push_back(std::move(d));
}

void LocalConnector::finishScan(Scan& sc) {
  if (sc.kind == Scan::Kind::Prune) {
    if (sc.changes > 0)
      ctx_.log->debug("source {}: dropped {} tombstones past the dedup horizon", spec_.name,
                      sc.changes);
    return;
  }
  if (sc.kind == Scan::Kind::Forget) return;
  if (sc.full) {
    if (sc.was_degraded && !sc.watch_failed && fd_ >= 0) {
      degraded_ = false;
      ctx_.log->info("source {}: every directory is watched again", spec_.name);
    }
    if (sc.unexaminable > kLoggedPerScan)
      ctx_.log->warn("source {}: {} scan could not examine {} paths in all, the last {}",
                     spec_.name, sc.why, sc.unexaminable, sc.last_unexaminable);
    // The whole tree was looked at: what it could not examine is the current truth.
    unexaminable_count_ = sc.unexaminable;
    unexaminable_last_ = sc.last_unexaminable;
    scan_error_ = sc.unexaminable == 0
                      ? ""
                      : std::to_string(sc.unexaminable) +
                            " path(s) could not be examined, the last " + sc.last_unexaminable;
    enqueuePrune();
  }
  if (sc.full && rescan_pending_) {
    rescan_pending_ = false;
    enqueue(root_, "overflow");
  }
  if (sc.full && startup_pending_) {
    startup_pending_ = false;
    ctx_.log->info("source {}: watching {} ({} directories, {} known files, {} changes found)",
                   spec_.name, root_, wds_.size(), index_.size(), sc.changes);
  } else if (sc.changes > 0) {
    ctx_.log->info("source {}: {} scan of {} found {} changes", spec_.name, sc.why,
                   toUtf8Lossy(sc.root), sc.changes);
  }
  if (sc.full) publishHealth();
}

bool LocalConnector::vanishStep(Scan& sc) {
  std::size_t n = 0;
  while (!sc.gone.empty() && n < kBatchEntries) {
    auto [p, version] = std::move(sc.gone.front());
    sc.gone.pop_front();
    if (const FileVersion* known = index_.find(p); !known || !(*known == version)) continue;
    fileGone(p, sc.native);
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
    for (const auto& p : gone) fileGone(p, sc.native);
    n += gone.size();
    sc.changes += gone.size();
    if (exhausted) sc.vanished.pop_back();
  }
  const std::int64_t cutoff = sc.now_ms - ctx_.dedup_horizon.count();
  while (!sc.expired.empty() && n < kBatchEntries) {
    std::string p = std::move(sc.expired.back());
    sc.expired.pop_back();
    // A file came back meanwhile, or a newer removal: the mark is needed.
    const Mark* m = index_.mark(p);
    if (!m || index_.find(p) || m->time_ms >= cutoff) continue;
    index_.eraseMark(p);
    push(false, {}, {p, std::nullopt});
    ++n;
    ++sc.changes;
  }
  return !sc.gone.empty() || !sc.vanished.empty() || !sc.expired.empty();
}

void LocalConnector::listed(Scan& sc, const std::string& d) {
  if (sc.full) sc.visited.insert(d);
  if (const auto* known = index_.dir(d))
    for (const auto& [name, version] : *known)
      if (!sc.names.count(name)) sc.gone.emplace_back(d + "/" + name, version);
  sc.listing.clear();
  sc.names.clear();
}

}  // namespace sluice::connectors::local
