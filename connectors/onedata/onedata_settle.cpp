// When a written file counts as created. Onedata has no close-write signal: the stream only
// says that a file's size (file_location) or mtime (times) changed. A file is emitted once both
// stayed the same for `settle` by sluice's clock, or once its mtime is that old already (a file
// replayed long after it was written need not wait). Where the stream did not carry the size or
// mtime (a rename into a watched path), the file's attributes are read once it is quiet.
#include <spdlog/logger.h>

#include <algorithm>

#include "connectors/onedata/onedata_connector.hpp"

namespace sluice::connectors::onedata {
namespace {

// sluice's clock may be moved (a manual clock in tests, an NTP step): waits are re-checked at
// least this often while files are settling.
constexpr std::int64_t kMaxSettleWaitMs = 250;

}  // namespace

void OnedataConnector::checkSettled() {
  if (stopped_) return;
  const std::int64_t now = ctx_.clock.nowMs();
  Batch b;
  b.source = spec_.name;
  for (auto& [id, p] : tracker_.takeSettled(now, spec_.settle.count())) addCreated(b, id, p);
  addCursor(b);
  if (!b.events.empty() || !b.index.empty() || b.cursor) enqueue(Work{std::move(b), {}});
  for (auto& id : tracker_.incomplete(now, spec_.settle.count())) fetchAttributes(id);
  armSettleTimer();
  finishOnceIfSettled();
}

void OnedataConnector::armSettleTimer() {
  auto due = tracker_.nextDue(spec_.settle.count());
  if (!due || stopped_) return;
  const std::int64_t wait =
      std::clamp<std::int64_t>(*due - ctx_.clock.nowMs(), 0, kMaxSettleWaitMs);
  settle_timer_.expires_after(std::chrono::milliseconds(wait));
  settle_timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
    if (!ec && *alive) checkSettled();
  });
}

void OnedataConnector::fetchAttributes(const std::string& file_id) {
  auto* p = tracker_.find(file_id);
  if (!p) return;
  p->fetching = true;
  ++fetches_;
  HttpRequest req =
      request("GET", spec_.apiUrl() + "/data/" + file_id +
                         "?attributes=type&attributes=size&attributes=mtime&attributes=path");
  ctx_.http->send(std::move(req), [this, alive = alive_, file_id](HttpResponse r) {
    if (!*alive) return;
    --fetches_;
    auto* p = tracker_.find(file_id);
    if (p) {
      p->fetching = false;
      auto j = nlohmann::json::parse(r.body, nullptr, false);
      if (r.status == 200 && j.is_object()) {
        if (j.value("type", "") != "REG" || !spec_.wanted(j.value("path", p->path))) {
          tracker_.forget(file_id);
        } else {
          if (j.contains("size") && j["size"].is_number_integer()) p->size = j["size"];
          if (j.contains("mtime") && j["mtime"].is_number_integer())
            p->mtime_ms = j["mtime"].get<std::int64_t>() * 1000;
          if (j.contains("path") && j["path"].is_string()) p->path = j["path"];
          if (!p->size || !p->mtime_ms) tracker_.forget(file_id);  // not a file's attributes
        }
      } else if (r.status == 400 || r.status == 404) {
        tracker_.forget(file_id);  // gone (posix enoent): its deletion line follows
      } else {
        ctx_.log->warn("source {}: reading the attributes of {}: {}", spec_.name, file_id,
                       describe(r, false));
        p->changed_ms = ctx_.clock.nowMs();  // tried again after `settle`
        if (once_done_) {
          // Kept (the cursor stays below it); this `sluice once` reports the failure instead.
          auto done = std::move(once_done_);
          once_done_ = nullptr;
          pump_.whenIdle(std::move(done),
                         "reading the attributes of " + file_id + ": " + describe(r, false));
        }
      }
    }
    checkSettled();
    pump_.notifyIdle();
  });
}

void OnedataConnector::addCreated(Batch& b, const std::string& file_id,
                                  const SettleTracker::Pending& p) {
  const std::int64_t now = ctx_.clock.nowMs();
  const ObjectVersion v{file_id, *p.mtime_ms, *p.size};
  if (scan_) scan_->touched.insert(p.path);
  auto old = by_id_.find(file_id);
  if (old != by_id_.end() && old->second != p.path) addRemoved(b, old->second, now, "moved");
  const ObjectVersion* known = index_.find(p.path);
  if (known && sameVersion(*known, v)) return;  // a replay, or a touch that changed nothing
  if (spec_.emit_created)
    b.events.push_back(fileEvent(origin_, EventType::Created, p.path, v, v.mtime_ms));
  b.index.push_back({p.path, toFingerprint(v)});
}

void OnedataConnector::addRemoved(Batch& b, const std::string& path, std::int64_t now,
                                  const char* note) {
  const ObjectVersion prev = index_.lastKnown(path);
  if (spec_.emit_removed && spec_.wanted(path)) {
    Event ev = fileEvent(origin_, EventType::Removed, path, prev, now);
    if (note && *note) ev.note = note;
    b.events.push_back(std::move(ev));
  }
  if (!index_.findGone(path)) b.index.push_back(VersionIndex::removal(path, prev, now));
}

void OnedataConnector::finishOnceIfSettled() {
  if (!once_done_ || !once_stream_ended_ || !tracker_.empty() || fetches_ > 0) return;
  Batch b;
  b.source = spec_.name;
  addCursor(b);
  if (b.cursor) enqueue(Work{std::move(b), {}});
  auto done = std::move(once_done_);
  once_done_ = nullptr;
  pump_.whenIdle(std::move(done), "");
}

}  // namespace sluice::connectors::onedata
