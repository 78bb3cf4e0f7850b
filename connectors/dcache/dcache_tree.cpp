// Reconciliation: the watched tree listed through the namespace API (each directory subscribed
// before it is listed, so a file is either in the listing or in the stream), compared with the
// source index: files new or changed are `created`, files gone are `removed`.
#include <spdlog/logger.h>

#include "connectors/dcache/dcache_connector.hpp"
#include "daemon/metrics.hpp"

namespace sluice::connectors::dcache {
namespace {

constexpr int kListingsInFlight = 4;
// Every flag sluice acts on; the rest (IN_OPEN, IN_MODIFY, IN_ACCESS, ...) would only cost.
const nlohmann::json kFlags = {"IN_CLOSE_WRITE", "IN_CREATE",      "IN_DELETE",   "IN_MOVED_FROM",
                               "IN_MOVED_TO",    "IN_DELETE_SELF", "IN_MOVE_SELF"};

}  // namespace

void DcacheConnector::reconcile(const std::string& why, bool full, std::vector<std::string> roots,
                                Done done) {
  if (stopped_) return;
  if (scan_) {
    if (full) {
      full_again_ = true;
      full_again_why_ = why;
      if (done) full_again_waiters_.push_back(std::move(done));
    } else if (scan_->full) {
      for (auto& r : roots) scan_->dirs.push_back(r);  // listed with the running pass
    } else {
      scans_waiting_.emplace_back(why, std::move(roots));
    }
    return;
  }
  scan_ = std::make_unique<Scan>();
  scan_->why = why;
  scan_->full = full;
  scan_->roots = roots;
  scan_->dirs.assign(roots.begin(), roots.end());
  if (done) scan_->waiters.push_back(std::move(done));
  if (full) metrics_.reconciliations.inc();
  listNext();
}

void DcacheConnector::listNext() {
  if (!scan_) return;
  while (scan_->in_flight < kListingsInFlight && !scan_->dirs.empty() && scan_->error.empty()) {
    std::string dir = std::move(scan_->dirs.front());
    scan_->dirs.pop_front();
    listDir(dir);
  }
  if (scan_->in_flight == 0 && (scan_->dirs.empty() || !scan_->error.empty())) finishScan();
}

void DcacheConnector::listDir(const std::string& dir) {
  ++scan_->in_flight;
  subscribe(dir, [this, dir](bool ok) {
    if (!scan_) return;
    if (!ok) {
      --scan_->in_flight;
      return listNext();
    }
    HttpRequest req;
    req.method = "GET";
    req.url = pathUrl(spec_.url + "/namespace", dir) + "?children=true";
    req.headers = {{"Accept", "application/json"}};
    req.timeout = std::chrono::milliseconds(300'000);  // a big directory takes a while
    req.max_response_body = 512u << 20;
    request(std::move(req), [this, dir](HttpResponse r) { onListing(dir, r); });
  });
}

void DcacheConnector::onListing(const std::string& dir, const HttpResponse& r) {
  if (!scan_) return;
  --scan_->in_flight;
  const bool root = std::find(scan_->roots.begin(), scan_->roots.end(), dir) != scan_->roots.end();
  Listing l = r.status == 200 ? parseListing(r.body) : Listing{};
  if (r.status == 404 && !root) return listNext();  // gone meanwhile: its IN_DELETE tells
  if (r.status != 200 || !l.error.empty()) {
    if (scan_->error.empty())
      scan_->error =
          "listing " + dir + ": " +
          (r.status == 404    ? std::string("no such directory")
           : r.status != 0    ? "HTTP " + std::to_string(r.status) + " " + errorMessage(r.body)
           : !l.error.empty() ? l.error
                              : r.error);
    return listNext();
  }
  CommitPump::Work w;
  w.batch.source = spec_.name;
  const std::int64_t now = ctx_.clock.nowMs();
  for (auto& e : l.children) {
    const std::string path = childPath(dir, e.name);
    if (e.is_dir) {
      if (spec_.recursive) scan_->dirs.push_back(path);
      continue;
    }
    if (!e.regular) continue;
    scan_->seen.insert(path);
    // The stream's news is newer than this listing; a file being written is not ready yet.
    if (scan_->touched.count(path) || uploading_.count(path)) continue;
    if (const ObjectVersion* k = known(path); k && sameVersion(*k, e.version)) continue;
    if (spec_.emit_created) {
      Event ev = fileEvent(origin_, EventType::Created, path, e.version, "", now);
      ev.note = "found by listing the watched tree (" + scan_->why + ")";
      w.batch.events.push_back(std::move(ev));
    }
    metrics_.found_created.inc();
    note(w.batch, {path, toFingerprint(e.version)});
  }
  if (!w.batch.index.empty()) pump_.enqueue(std::move(w));
  listNext();
}

void DcacheConnector::finishScan() {
  std::unique_ptr<Scan> done = std::move(scan_);
  if (done->error.empty() && done->full) {
    // Known files under the watched paths that the listing no longer has are gone (unless the
    // stream said otherwise since).
    CommitPump::Work w;
    w.batch.source = spec_.name;
    std::vector<std::string> missing;
    for (auto& [path, v] : index_.objects()) {
      if (done->seen.count(path) || done->touched.count(path) || overlay_.count(path)) continue;
      bool under = false;
      for (auto& root : done->roots) under = under || isUnder(path, root);
      if (under) missing.push_back(path);
    }
    for (auto& path : missing) {
      removeFile(w.batch, path, "",
                 "missing from a listing of the watched tree (" + done->why + ")");
      metrics_.found_removed.inc();
    }
    for (auto& u : index_.expired(ctx_.clock.nowMs() - ctx_.dedup_horizon.count()))
      if (!done->touched.count(u.key) && !overlay_.count(u.key)) note(w.batch, u);
    if (!w.batch.index.empty() || !w.batch.events.empty()) pump_.enqueue(std::move(w));
    if (!scan_error_.empty()) ctx_.log->info("source {}: the watched tree lists again", spec_.name);
    scan_error_.clear();
    if (startup_pending_) {
      ctx_.log->info("source {}: watching {} directories, {} files known", spec_.name, dirs_.size(),
                     index_.objects().size() + overlay_.size());
      // Ready once what the listing found is stored: works commit in order, so an empty one
      // enqueued now is done when every change before it is.
      CommitPump::Work marker;
      marker.batch.source = spec_.name;
      marker.keep_on_failure = true;
      marker.after = [this, alive = alive_](bool ok) {
        if (!*alive || !ok) return;
        startup_pending_ = false;
        publishHealth();
        checkOnceDone();
      };
      if (running_)
        pump_.enqueue(std::move(marker));
      else
        startup_pending_ = false;  // `sluice once` waits for the queue itself
    }
  } else if (!done->error.empty()) {
    ctx_.log->error("source {}: reconciliation failed: {}", spec_.name, done->error);
    scan_error_ = "reconciliation failed: " + done->error;
    if (done->full && running_) {
      scan_timer_.expires_after(std::chrono::milliseconds(30'000));
      scan_timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
        if (!ec && *alive) reconcile("retry after a failed reconciliation", true, spec_.paths, {});
      });
    }
    if (!running_) startup_pending_ = false;  // `sluice once` reports it
  }
  publishHealth();
  for (auto& w : done->waiters) pump_.whenIdle(std::move(w), done->error);
  if (full_again_) {
    full_again_ = false;
    auto waiters = std::exchange(full_again_waiters_, {});
    reconcile(full_again_why_, true, spec_.paths, {});
    for (auto& w : waiters) scan_->waiters.push_back(std::move(w));
  } else if (!scans_waiting_.empty()) {
    auto [why, roots] = std::move(scans_waiting_.front());
    scans_waiting_.erase(scans_waiting_.begin());
    reconcile(why, false, std::move(roots), {});
  }
  checkOnceDone();
}

void DcacheConnector::subscribe(const std::string& dir, std::function<void(bool ok)> then) {
  if (dirs_.count(dir) || channel_.empty()) return then(!channel_.empty());
  HttpRequest req;
  req.method = "POST";
  req.url = channel_ + "/subscriptions/inotify";
  req.headers = {{"Content-Type", "application/json"}, {"Accept", "application/json"}};
  req.body = nlohmann::json{{"path", dir}, {"flags", kFlags}}.dump();
  const std::string channel = channel_;
  request(std::move(req), [this, dir, channel, then = std::move(then)](HttpResponse r) {
    if (channel != channel_) return then(false);  // the channel changed meanwhile
    const std::string* loc = r.header("location");
    // 303: this directory was watched on the channel already (dCache merges the watch).
    if ((r.status == 201 || r.status == 303) && loc && !loc->empty()) {
      subs_[*loc] = dir;
      dirs_[dir] = *loc;
      return then(true);
    }
    const std::string msg = errorMessage(r.body);
    if (r.status == 400 && msg.rfind("Not found", 0) == 0) {
      if (scan_ && std::find(scan_->roots.begin(), scan_->roots.end(), dir) != scan_->roots.end() &&
          scan_->error.empty())
        scan_->error = "cannot watch " + dir + ": " + msg;
      return then(false);
    }
    if (scan_ && scan_->error.empty())
      scan_->error = "subscribing to " + dir + ": " +
                     (r.status ? "HTTP " + std::to_string(r.status) + " " + msg : r.error);
    then(false);
  });
}

void DcacheConnector::forgetSubscriptionsUnder(const std::string& dir) {
  // Watches follow their directory; events of one moved away would name wrong paths.
  for (auto it = dirs_.begin(); it != dirs_.end();) {
    if (isUnder(it->first, dir)) {
      subs_.erase(it->second);
      it = dirs_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace sluice::connectors::dcache
