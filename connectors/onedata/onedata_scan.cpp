// Listing the space tree by file id (`GET /data/{id}/children`, paged by `token`) against the
// source index: every `interval` in `mode: poll`, and in `mode: changes` after a line sluice
// could not read (its change is unknown). A file whose mtime is younger than `settle` may still
// be written: it is left to the next pass (poll) or to the stream (changes).
#include <spdlog/logger.h>

#include "connectors/onedata/onedata_connector.hpp"
#include "daemon/metrics.hpp"
#include "daemon/sigv4.hpp"

namespace sluice::connectors::onedata {
namespace {

constexpr const char* kPage =
    "/children?limit=1000&attributes=fileId&attributes=name&attributes=type&attributes=size"
    "&attributes=mtime&attributes=path";

}  // namespace

void OnedataConnector::reconcile(const std::string& why, Done done) {
  if (scan_) {  // one pass at a time; the stream covers what changes meanwhile
    if (done) scan_->waiters.push_back(std::move(done));
    return;
  }
  scan_ = std::make_unique<Scan>();
  scan_->why = why;
  scan_->started_ms = ctx_.clock.nowMs();
  // The space directory is listed by the space id (Oneprovider accepts it for the space's
  // root); its children carry full paths ("/<space name>/...").
  scan_->dirs.emplace_back(spec_.space_id, "");
  if (done) scan_->waiters.push_back(std::move(done));
  metrics_.reconciliations.inc();
  ctx_.log->info("source {}: listing space {} ({})", spec_.name, spec_.space_id, why);
  listPage();
}

void OnedataConnector::listPage() {
  if (!scan_ || stopped_ || scan_->in_flight) return;
  if (pump_.size() >= kHighWater) {  // resumed from drained()
    scan_->waiting = true;
    return;
  }
  if (scan_->dir_id.empty()) {
    if (scan_->dirs.empty()) return finishScan("");
    std::tie(scan_->dir_id, scan_->dir_path) = std::move(scan_->dirs.back());
    scan_->dirs.pop_back();
    scan_->token.clear();
  }
  std::string url = spec_.apiUrl() + "/data/" + uriEncode(scan_->dir_id, false) + kPage;
  if (!scan_->token.empty()) url += "&token=" + uriEncode(scan_->token, false);
  scan_->in_flight = true;
  ctx_.http->send(request("GET", url), [this, alive = alive_](HttpResponse r) {
    if (*alive) onPage(r);
  });
}

void OnedataConnector::onPage(const HttpResponse& r) {
  scan_->in_flight = false;
  if (stopped_) return;
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (r.status != 200 || !j.is_object() || !j.contains("children") || !j["children"].is_array()) {
    if (r.status == 400 && !scan_->dir_path.empty()) {
      // A directory removed (or replaced by a file) while the pass ran: nothing to list.
      scan_->dir_id.clear();
      return listPage();
    }
    const std::string error =
        r.status == 200 ? "a listing that is not {\"children\": [...]}" : describe(r, false);
    const bool transient = r.status == 0 || r.status == 429 || r.status >= 500;
    if (!transient || (!running_ && scan_->attempts >= 3))
      return finishScan("listing " + (scan_->dir_path.empty() ? "the space" : scan_->dir_path) +
                        ": " + error);
    auto pause = std::chrono::milliseconds(1000 << std::min(scan_->attempts++, 5));
    ctx_.log->warn("source {}: listing failed ({}); again in {}s", spec_.name, error,
                   pause.count() / 1000);
    scan_timer_.expires_after(pause);
    scan_timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
      if (!ec && *alive) listPage();
    });
    return;
  }
  scan_->attempts = 0;
  const std::int64_t now = ctx_.clock.nowMs();
  Work w;
  w.batch.source = spec_.name;
  for (auto& c : j["children"]) {
    if (!c.is_object()) continue;
    const std::string type = c.value("type", ""), path = c.value("path", "");
    const std::string id = c.value("fileId", "");
    if (path.empty() || id.empty()) continue;
    if (type == "DIR") {
      if (spec_.descend(path)) scan_->dirs.emplace_back(id, path);
      continue;
    }
    if (type != "REG" || !spec_.wanted(path)) continue;
    scan_->seen.insert(path);
    if (scan_->touched.count(path) || tracker_.find(id)) continue;  // the stream's news is newer
    if (!c["size"].is_number_integer() || !c["mtime"].is_number_integer()) continue;
    const ObjectVersion v{id, c["mtime"].get<std::int64_t>() * 1000, c["size"].get<std::int64_t>()};
    if (now - v.mtime_ms < spec_.settle.count() + 1000) continue;  // may still be written
    const ObjectVersion* known = index_.find(path);
    if (known && sameVersion(*known, v)) continue;
    if (spec_.emit_created) {
      Event ev = fileEvent(origin_, EventType::Created, path, v, v.mtime_ms);
      ev.note = "found by listing the space (" + scan_->why + ")";
      w.batch.events.push_back(std::move(ev));
    }
    w.batch.index.push_back({path, toFingerprint(v)});
    metrics_.found_created.inc();
    ++scan_->found_created;
  }
  if (!w.batch.index.empty()) enqueue(std::move(w));
  if (j.value("isLast", true)) {
    scan_->dir_id.clear();
  } else {
    scan_->token = j.value("nextPageToken", "");
    if (scan_->token.empty()) scan_->dir_id.clear();  // no way on: this directory is done
  }
  listPage();
}

void OnedataConnector::finishScan(std::string error) {
  const std::int64_t now = ctx_.clock.nowMs();
  if (error.empty()) {
    // Known files the listing no longer has are gone (unless the stream said otherwise).
    Work w;
    w.batch.source = spec_.name;
    for (auto& [path, v] : index_.objects()) {
      if (scan_->seen.count(path) || scan_->touched.count(path) || !spec_.wanted(path)) continue;
      if (tracker_.find(v.etag)) continue;
      addRemoved(w.batch, path, now, "missing from a listing of the space");
      metrics_.found_removed.inc();
    }
    // Removals remembered past the dedup horizon are forgotten: the queue forgot their ids.
    const std::int64_t horizon = now - ctx_.dedup_horizon.count();
    for (auto& [path, t] : index_.removals())
      if (t.removed_ms < horizon && !scan_->touched.count(path))
        w.batch.index.push_back({path, std::nullopt});
    if (!w.batch.index.empty()) enqueue(std::move(w));
    if (!scan_error_.empty()) ctx_.log->info("source {}: listing works again", spec_.name);
    scan_error_.clear();
    ctx_.log->info("source {}: listed space {} ({} new or changed)", spec_.name, spec_.space_id,
                   scan_->found_created);
  } else {
    ctx_.log->error("source {}: listing failed: {}", spec_.name, error);
    scan_error_ = "listing failed: " + error;
  }
  std::unique_ptr<Scan> done = std::move(scan_);
  if (spec_.mode == "poll") startup_pending_ = false;
  publishHealth();
  for (auto& w : done->waiters) pump_.whenIdle(std::move(w), error);
  if (!running_) return;
  const bool failed = !error.empty();
  if (spec_.mode != "poll" && !failed) return;
  scan_timer_.expires_after(failed ? std::chrono::milliseconds(60'000)
                                   : std::chrono::milliseconds(spec_.interval.count()));
  scan_timer_.async_wait([this, alive = alive_, failed](boost::system::error_code ec) {
    if (!ec && *alive) reconcile(failed ? "retry after a failed listing" : "interval", {});
  });
}

}  // namespace sluice::connectors::onedata
