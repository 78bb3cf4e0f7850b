// How a bucket source looks at the bucket itself: MinIO's ListenBucketNotification stream
// (live, no replay) and reconciliation by ListObjectsV2 against the source index (after every
// (re)connect, so what changed while the stream was down is delivered once; periodically in
// `mode: scan`).
#include <spdlog/logger.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <unordered_set>

#include "connectors/s3/bucket_connector.hpp"
#include "daemon/metrics.hpp"
#include "daemon/sigv4.hpp"

namespace sluice::connectors::s3 {
namespace {

constexpr int kPageKeys = 1000;

}  // namespace

// ---- the listen stream ----

void BucketConnector::connect() {
  if (stopped_ || streaming_) return;
  HttpRequest req;
  req.method = "GET";
  // Both kinds always: removals keep the index true even when only `created` is emitted.
  req.url = s3_->bucketUrl(spec_.bucket) + "?events=" + uriEncode("s3:ObjectCreated:*", true) +
            "&events=" + uriEncode("s3:ObjectRemoved:*", true) +
            "&ping=" + std::to_string(spec_.ping.count() / 1000) +
            "&prefix=" + uriEncode(spec_.prefix, true) + "&suffix=" + uriEncode(spec_.suffix, true);
  req.timeout = std::chrono::milliseconds(0);
  // Three pings missed: the connection is dead even if TCP has not noticed.
  req.idle_timeout = std::chrono::milliseconds(spec_.ping.count() * 3 + 5000);
  req.on_response = [this, alive = alive_](long status, const HttpHeaders&) {
    return *alive && onResponse(status);
  };
  req.on_body = [this, alive = alive_](std::string_view chunk) { return *alive && onChunk(chunk); };
  streaming_ = true;
  stream_id_ = 0;  // until started: sendSigned starts it a turn (or a credentials fetch) later
  stream_status_ = 0;
  error_body_.clear();
  framer_.reset();
  s3_->send(
      std::move(req),
      [this, alive = alive_](HttpResponse r) {
        if (*alive) onStreamEnd(r);
      },
      [this, alive = alive_](std::uint64_t id) {
        if (!*alive) return;
        if (stopped_) return ctx_.http->cancel(id);
        stream_id_ = id;
        if (paused_) ctx_.http->pause(id);
      });
}

bool BucketConnector::onResponse(long status) {
  stream_status_ = status;
  if (status != 200) return true;  // its body says why (collected by onChunk)
  // MinIO sends the headers with the first ping: from here on it is sending every change.
  stream_open_ = true;
  backoff_ = std::chrono::milliseconds(1000);
  if (!stream_error_.empty()) ctx_.log->info("source {}: listen stream open again", spec_.name);
  stream_error_.clear();
  publishHealth();
  reconcile(startup_pending_ ? "start-up" : "reconnect", {});
  return true;
}

bool BucketConnector::onChunk(std::string_view chunk) {
  if (stream_status_ != 200) {
    appendCapped(error_body_, chunk);
    return true;
  }
  Batch b;
  b.source = spec_.name;
  bool lost = false;
  framer_.feed(chunk, [&](std::string_view line, bool too_long) {
    StreamLine parsed;
    if (too_long)
      parsed.error = "a line longer than 1 MiB";
    else
      parsed = parseStreamLine(line);
    if (!parsed.error.empty()) {
      // What it held is not known: a listing finds the change, if there was one.
      if (!lost)
        ctx_.log->warn("source {}: unreadable listen stream line ({}); reconciling", spec_.name,
                       parsed.error);
      bad_lines_.inc();
      lost = true;
    }
    for (auto& r : parsed.records) addRecord(b, r);
  });
  if (!b.events.empty() || !b.index.empty()) enqueue(Work{std::move(b), {}});
  if (lost) reconcile("unreadable stream line", {});
  return true;
}

void BucketConnector::onStreamEnd(const HttpResponse& r) {
  streaming_ = false;
  stream_open_ = false;
  paused_ = false;
  stream_id_ = 0;
  if (stopped_) return;
  std::string why;
  if (stream_status_ != 0 && stream_status_ != 200) {
    HttpResponse failed = r;
    failed.status = stream_status_;
    failed.body = error_body_;
    why = S3Client::resultOf(failed).error;
  } else if (!r.error.empty()) {
    why = r.error;
  } else {
    why = "the server ended the stream";
  }
  stream_error_ = "listen stream: " + why + "; reconnecting in " +
                  std::to_string(backoff_.count() / 1000) + "s";
  ctx_.log->warn("source {}: {}", spec_.name, stream_error_);
  publishHealth();
  reconnect_timer_.expires_after(backoff_);
  backoff_ = std::min(backoff_ * 2, std::chrono::milliseconds(60'000));
  reconnect_timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
    if (!ec && *alive) connect();
  });
}

// ---- reconciliation ----

void BucketConnector::reconcile(const std::string& why, Done done) {
  if (scan_) {
    // Changes may have been missed after this pass listed their keys: one more pass.
    scan_->again = true;
    scan_->again_why = why;
    if (done) scan_->again_waiters.push_back(std::move(done));
    return;
  }
  scan_ = std::make_unique<Scan>();
  scan_->why = why;
  if (done) scan_->waiters.push_back(std::move(done));
  ctx_.log->info("source {}: reconciling bucket {} ({})", spec_.name, spec_.bucket, why);
  listPage();
}

void BucketConnector::listPage() {
  if (!scan_ || stopped_ || scan_->page_in_flight) return;
  if (pump_.size() >= kHighWater) {  // resumed from committed()
    scan_->waiting = true;
    return;
  }
  scan_->page_in_flight = true;
  s3_->list(spec_.bucket, spec_.prefix, scan_->token, kPageKeys,
            [this, alive = alive_](S3ListPage page) {
              if (*alive) onPage(std::move(page));
            });
}

void BucketConnector::onPage(S3ListPage page) {
  scan_->page_in_flight = false;
  if (stopped_) return;
  if (!page.result.error.empty()) {
    const bool retry = page.result.transient && (running_ || scan_->attempts < 3);
    if (!retry) return finishScan("listing bucket " + spec_.bucket + ": " + page.result.error);
    auto pause = std::chrono::milliseconds(1000 << std::min(scan_->attempts++, 5));
    ctx_.log->warn("source {}: listing bucket {} failed ({}); again in {}s", spec_.name,
                   spec_.bucket, page.result.error, pause.count() / 1000);
    scan_timer_.expires_after(pause);
    scan_timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
      if (!ec && *alive) listPage();
    });
    return;
  }
  scan_->attempts = 0;
  Work w;
  w.batch.source = spec_.name;
  for (auto& o : page.objects) {
    if (!wanted(o.key)) continue;
    scan_->seen.insert(o.key);
    if (scan_->touched.count(o.key)) continue;  // the stream's news is newer than this page
    ObjectVersion v{o.etag, o.last_modified_ms, o.size};
    const ObjectVersion* known = index_.find(o.key);
    if (known && sameVersion(*known, v)) continue;
    if (spec_.emit_created) {
      Event ev =
          objectEvent(origin_, EventType::Created, spec_.bucket, o.key, v, "", o.last_modified_ms);
      ev.note = "found by listing the bucket (" + scan_->why + ")";
      w.batch.events.push_back(std::move(ev));
    }
    w.batch.index.push_back({o.key, toFingerprint(v)});
  }
  if (!w.batch.index.empty()) enqueue(std::move(w));
  if (page.next_token.empty()) return finishScan("");
  scan_->token = std::move(page.next_token);
  listPage();
}

void BucketConnector::finishScan(std::string error) {
  if (error.empty()) {
    // Known keys the listing no longer has are gone (unless the stream said otherwise since).
    Work w;
    w.batch.source = spec_.name;
    const std::int64_t now = ctx_.clock.nowMs();
    for (auto& [key, v] : index_.objects()) {
      if (scan_->seen.count(key) || scan_->touched.count(key)) continue;
      if (key.compare(0, spec_.prefix.size(), spec_.prefix) != 0) continue;  // not listed
      if (spec_.emit_removed && wanted(key)) {
        Event ev = objectEvent(origin_, EventType::Removed, spec_.bucket, key, v, "", now);
        ev.note = "missing from a listing of the bucket (" + scan_->why + ")";
        w.batch.events.push_back(std::move(ev));
      }
      w.batch.index.push_back(VersionIndex::removal(key, v, now));
    }
    // Removals remembered past the dedup horizon are forgotten: the queue forgot their ids.
    const std::int64_t horizon = now - ctx_.dedup_horizon.count();
    for (auto& [key, t] : index_.removals())
      if (t.removed_ms < horizon && !scan_->touched.count(key))
        w.batch.index.push_back({key, std::nullopt});
    if (!w.batch.index.empty()) enqueue(std::move(w));
    if (!scan_error_.empty()) ctx_.log->info("source {}: listing works again", spec_.name);
    scan_error_.clear();
  } else {
    ctx_.log->error("source {}: reconciliation failed: {}", spec_.name, error);
    scan_error_ = "reconciliation failed: " + error;
  }
  std::unique_ptr<Scan> done = std::move(scan_);
  startup_pending_ = false;
  publishHealth();
  for (auto& w : done->waiters) pump_.whenIdle(std::move(w), error);
  if (done->again) {
    reconcile(done->again_why, {});
    for (auto& w : done->again_waiters) scan_->waiters.push_back(std::move(w));
  } else if (running_ && (!error.empty() || (spec_.mode == "scan" && spec_.interval.count() > 0))) {
    const bool failed = !error.empty();
    scan_timer_.expires_after(failed ? std::chrono::milliseconds(60'000)
                                     : std::chrono::milliseconds(spec_.interval.count()));
    scan_timer_.async_wait([this, alive = alive_, failed](boost::system::error_code ec) {
      if (!ec && *alive) reconcile(failed ? "retry after a failed reconciliation" : "interval", {});
    });
  }
}

}  // namespace sluice::connectors::s3
