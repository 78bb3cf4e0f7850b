#include "connectors/s3/bucket_connector.hpp"

#include <spdlog/logger.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <stdexcept>

#include "daemon/crypto.hpp"
#include "daemon/health.hpp"
#include "daemon/ingress.hpp"
#include "daemon/metrics.hpp"
#include "daemon/sigv4.hpp"

namespace sluice::connectors::s3 {
namespace {

constexpr std::size_t kMaxBatch = 1000;  // events per commit
constexpr std::size_t kMaxLine = 1 << 20;

ServerResponse answer(int status, std::string body) {
  ServerResponse r;
  r.status = status;
  r.body = std::move(body);
  if (status == 503) r.headers["Retry-After"] = "5";
  return r;
}

}  // namespace

BucketConnector::BucketConnector(const BucketSpec& spec, ConnectorContext& ctx)
    : spec_(spec),
      ctx_(ctx),
      health_key_("source:" + spec.name),
      origin_{spec.name, spec.endpointUrl(), spec.storage, spec.storage == "minio"},
      batch_limit_(kMaxBatch),
      retry_timer_(ctx.io),
      framer_(kMaxLine),
      reconnect_timer_(ctx.io),
      scan_timer_(ctx.io),
      poll_timer_(ctx.io),
      visibility_timer_(ctx.io),
      quiet_timer_(ctx.io),
      bad_lines_(ctx.metrics.counter(
          "sluice_minio_bad_lines_total",
          "listen stream lines sluice could not read (each starts a reconciliation)",
          {{"source", spec.name}})) {
  AwsCredentialSource creds = resolveAwsCredentials(spec.credentials, processEnv());
  if (creds.error.empty()) {
    if (!ctx.http) throw std::logic_error("bucket source without an HTTP client");
    creds_ =
        std::make_unique<AwsCredentialsProvider>(ctx.io, ctx.http, std::move(creds), ctx.clock);
    s3_ = std::make_unique<S3Client>(ctx.io, *ctx.http, *creds_, ctx.clock, spec.s3Config());
  } else if (!spec.takesPushes()) {
    throw std::runtime_error("source " + spec.name + ": no credentials for " + spec.endpointUrl() +
                             ": " + creds.error);
  }
  if (spec.takesPushes()) {
    if (!ctx.ingress) throw std::logic_error("bucket push source without the ingress");
    IngressRoute route;
    route.max_body = spec.max_push_body;
    route.handler = [this, alive = alive_](ServerRequest req, Responder respond) {
      if (*alive) onPush(req, std::move(respond));
    };
    ctx.ingress->add(spec.name, std::move(route));
  }
}

BucketConnector::~BucketConnector() {
  *alive_ = false;
  if (streaming_ && ctx_.http) ctx_.http->cancel(stream_id_);
}

void BucketConnector::loadIndex() {
  Work expired;  // tombstones past the dedup horizon: forgotten (committed with the next work)
  expired.batch.source = spec_.name;
  const std::int64_t horizon = ctx_.clock.nowMs() - ctx_.dedup_horizon.count();
  ctx_.intake.loadState(spec_.name, [&](const std::string& key, const std::string& fp) {
    if (auto v = parseFingerprint(fp)) {
      index_[key] = *v;
    } else if (auto t = parseTombstone(fp)) {
      if (t->removed_ms >= horizon)
        gone_[key] = *t;
      else
        expired.batch.index.push_back({key, std::nullopt});
    }
  });
  loaded_ = true;
  if (!expired.batch.index.empty()) enqueue(std::move(expired));
}

IndexUpdate BucketConnector::removal(const std::string& key, const ObjectVersion& v) const {
  if (v.etag.empty()) return {key, std::nullopt};
  return {key, toTombstone({v, ctx_.clock.nowMs()})};
}

void BucketConnector::start() {
  running_ = true;
  if (!loaded_) loadIndex();
  // Not ready until the bucket has been reconciled with what changed while sluice was away.
  startup_pending_ = static_cast<bool>(s3_);
  publishHealth();
  if (spec_.mode == "listen")
    connect();  // reconciles once the stream is open
  else if (spec_.mode == "sqs")
    pollSqs();  // SQS keeps what came meanwhile: nothing to reconcile
  else if (s3_)
    reconcile("start-up", {});
  const std::string doing = spec_.mode == "listen" ? "listening to"
                            : spec_.mode == "scan" ? "scanning"
                            : spec_.mode == "sqs"  ? "reading " + spec_.queue_url + " for"
                                                   : "taking pushes for";
  if (s3_)
    ctx_.log->info("source {}: {} {} bucket {} on {} ({} keys known, credentials from {})",
                   spec_.name, doing, spec_.storage, spec_.bucket, spec_.endpointUrl(),
                   index_.size(), creds_->description());
  else
    ctx_.log->info("source {}: taking pushes for bucket {} (no credentials: not reconciled)",
                   spec_.name, spec_.bucket);
}

void BucketConnector::stop() {
  stopped_ = true;
  running_ = false;
  retry_timer_.cancel();
  reconnect_timer_.cancel();
  scan_timer_.cancel();
  quiet_timer_.cancel();
  poll_timer_.cancel();
  visibility_timer_.cancel();
  if (streaming_) ctx_.http->cancel(stream_id_);
  // Pushes not committed yet: their senders keep them (503); SQS messages come back.
  for (std::size_t i = inflight_works_; i < queue_.size(); ++i)
    if (auto after = std::exchange(queue_[i].after, nullptr)) after(false);
}

void BucketConnector::catchUp(Done done) {
  if (!loaded_) loadIndex();
  once_error_.clear();  // a new attempt: what an earlier one held back is committed first
  pump();
  last_push_ms_ = ctx_.clock.nowMs();
  Done then = [this, alive = alive_, done = std::move(done)](std::string error) {
    if (!*alive) return;
    if (!error.empty() || !spec_.takesPushes()) return done(error);
    waitQuiet(done);  // MinIO's queue_dir sends what it kept once sluice answers
  };
  if (spec_.mode == "sqs") {
    drained_waiters_.push_back(std::move(then));
    pollSqs();
  } else if (s3_) {
    reconcile("catch-up", std::move(then));
  } else {
    whenIdle(std::move(then), "");
  }
}

bool BucketConnector::wanted(const std::string& key) const {
  return key.size() >= spec_.prefix.size() + spec_.suffix.size() &&
         key.compare(0, spec_.prefix.size(), spec_.prefix) == 0 &&
         key.compare(key.size() - spec_.suffix.size(), spec_.suffix.size(), spec_.suffix) == 0;
}

void BucketConnector::addRecord(Batch& b, const ParsedRecord& r) {
  if ((!spec_.bucket.empty() && r.bucket != spec_.bucket) || !wanted(r.key)) return;
  const bool indexed = spec_.mode != "sqs";
  if (scan_) scan_->touched.insert(r.key);
  auto known = index_.find(r.key);
  if (r.type == EventType::Created) {
    // Seen and committed. Only where the id has the modification time: without it the same
    // bytes uploaded again look the same, and the queue's dedup (with its horizon) decides.
    if (origin_.mtime_in_id && known != index_.end() && sameVersion(known->second, r.version))
      return;
    if (spec_.emit_created) {
      Event ev = objectEvent(origin_, EventType::Created, r.bucket, r.key, r.version, r.sequencer,
                             r.time_ms);
      ev.native = r.native;
      b.events.push_back(std::move(ev));
    }
    if (indexed) b.index.push_back({r.key, toFingerprint(r.version)});
    return;
  }
  // The removed version is the one the index knew (so a listing that finds it gone agrees),
  // or the one whose removal it remembers (this is that removal, seen again: the same id).
  auto gone = gone_.find(r.key);
  const ObjectVersion prev = known != index_.end() ? known->second
                             : gone != gone_.end() ? gone->second.version
                                                   : ObjectVersion{};
  if (spec_.emit_removed) {
    Event ev =
        objectEvent(origin_, EventType::Removed, r.bucket, r.key, prev, r.sequencer, r.time_ms);
    ev.native = r.native;
    b.events.push_back(std::move(ev));
  }
  if (indexed && gone == gone_.end()) b.index.push_back(removal(r.key, prev));
}

// ---- commits ----

void BucketConnector::enqueue(Work w) {
  queue_.push_back(std::move(w));
  if (streaming_ && !paused_ && queue_.size() >= kHighWater) {
    paused_ = true;  // a stream not started yet is paused as it starts (connect())
    if (stream_id_ != 0) ctx_.http->pause(stream_id_);
  }
  pump();
}

void BucketConnector::pump() {
  if (committing_ || retry_pending_ || queue_.empty() || stopped_) return;
  // A work bigger than a full queue lets in goes in parts; index updates go with the last part,
  // so that no key is recorded as known before its event is stored.
  if (queue_.front().batch.events.size() > batch_limit_ && !queue_.front().after) {
    Work first;
    first.batch.source = spec_.name;
    auto& events = queue_.front().batch.events;
    first.batch.events.assign(std::make_move_iterator(events.begin()),
                              std::make_move_iterator(events.begin() + batch_limit_));
    events.erase(events.begin(), events.begin() + batch_limit_);
    queue_.push_front(std::move(first));
  }
  Batch b;
  b.source = spec_.name;
  std::size_t n = 0;
  for (auto& w : queue_) {
    if (n > 0 && b.events.size() + w.batch.events.size() > batch_limit_) break;
    for (auto& [i, why] : w.batch.dead) b.dead.emplace(b.events.size() + i, why);
    b.events.insert(b.events.end(), w.batch.events.begin(), w.batch.events.end());
    b.index.insert(b.index.end(), w.batch.index.begin(), w.batch.index.end());
    ++n;
  }
  committing_ = true;
  inflight_works_ = n;
  ctx_.intake.commit(std::move(b), [this, alive = alive_, n](CommitResult r) {
    if (*alive) committed(n, r);
  });
}

void BucketConnector::committed(std::size_t works, const CommitResult& r) {
  committing_ = false;
  inflight_works_ = 0;
  if (r.ok) {
    for (std::size_t i = 0; i < works; ++i) {
      for (auto& u : queue_.front().batch.index) {
        index_.erase(u.key);
        gone_.erase(u.key);
        if (!u.fingerprint) continue;
        if (auto v = parseFingerprint(*u.fingerprint))
          index_[u.key] = *v;
        else if (auto t = parseTombstone(*u.fingerprint))
          gone_[u.key] = *t;
      }
      if (queue_.front().after) queue_.front().after(true);
      queue_.pop_front();
    }
    if (failures_ > 0) {
      ctx_.log->info("source {}: queue writable again, intake resumed", spec_.name);
      failures_ = 0;
      intake_error_.clear();
      publishHealth();
    }
    batch_limit_ = std::min(kMaxBatch, batch_limit_ * 2);
    drained();
    return;
  }
  if (failures_++ == 0)
    ctx_.log->error("source {}: commit failed ({}); intake paused, {} changes held, retrying",
                    spec_.name, r.error, queue_.size());
  intake_error_ = "intake paused, " + std::to_string(queue_.size()) + " changes held: " + r.error;
  publishHealth();
  // A push is not held here: its sender keeps it (503) and sends it again.
  std::size_t i = 0;
  for (std::size_t k = 0; k < works; ++k) {
    if (queue_[i].after && !queue_[i].keep_on_failure) {
      queue_[i].after(false);
      queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
  std::size_t events = 0;
  for (std::size_t k = 0; k < i; ++k) events += queue_[k].batch.events.size();
  // Only a work without a sender to answer can go in parts (pump()); others wait for space.
  const bool split = r.full && i > 0 && !queue_.front().after && events > 1;
  if (split) batch_limit_ = std::max<std::size_t>(1, events / 2);
  if (!running_) {  // `sluice once`: report (now and to whoever waits later), do not wait
    once_error_ = "queue commit failed: " + r.error;
    notifyIdle();
    return;
  }
  retry_pending_ = true;
  retry_timer_.expires_after(split ? std::chrono::milliseconds(1)
                                   : std::chrono::milliseconds(250 << std::min(failures_, 7)));
  retry_timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
    if (ec || !*alive) return;
    retry_pending_ = false;
    pump();
  });
  drained();  // the pushes given up may have emptied the queue (pump() waits for the timer)
}

void BucketConnector::whenIdle(Done done, std::string error) {
  idle_waiters_.emplace_back(std::move(done), std::move(error));
  boost::asio::post(ctx_.io, [this, alive = alive_] {
    if (*alive) notifyIdle();
  });
}

void BucketConnector::notifyIdle() {
  if (!once_error_.empty()) {
    for (auto& w : std::exchange(idle_waiters_, {})) w.first(once_error_);
    return;
  }
  if (committing_ || !queue_.empty() || deletes_in_flight_ > 0) return;
  for (auto& [done, error] : std::exchange(idle_waiters_, {})) done(error);
}

void BucketConnector::drained() {
  if (queue_.size() < kHighWater / 2) {
    if (paused_) {
      paused_ = false;
      if (stream_id_ != 0) ctx_.http->resume(stream_id_);
      // MinIO does not wait for a slow listener: what it could not hand over meanwhile is
      // gone from the stream, so the bucket is listed again.
      reconcile("the stream was paused while commits were behind", {});
    }
    if (spec_.mode == "sqs") pollSqs();
    if (scan_ && scan_->waiting) {
      scan_->waiting = false;
      listPage();
    }
  }
  pump();
  notifyIdle();
}

void BucketConnector::publishHealth() {
  if (!intake_error_.empty())
    ctx_.health.set(health_key_, HealthState::Degraded, intake_error_);
  else if (!stream_error_.empty())
    ctx_.health.set(health_key_, HealthState::Degraded, stream_error_);
  else if (startup_pending_)
    ctx_.health.set(health_key_, HealthState::Failed,
                    spec_.mode == "listen" ? "connecting and reconciling the bucket"
                                           : "start-up reconciliation in progress");
  else if (!scan_error_.empty())
    ctx_.health.set(health_key_, HealthState::Degraded, scan_error_);
  else
    ctx_.health.set(health_key_, HealthState::Ok);
}

// ---- pushes ----

void BucketConnector::onPush(const ServerRequest& req, Responder respond) {
  last_push_ms_ = ctx_.clock.nowMs();
  if (stopped_) return;  // the ingress answers 503
  if (retry_pending_ || queue_.size() >= 4 * kHighWater) {
    // Not held while the queue cannot take it: the sender keeps it and tries again (Ceph RGW
    // retries at once, so holding would pile up requests).
    respond(answer(503, "the queue cannot take it now; send it again\n"));
    return;
  }
  PushBody body = parsePushBody(req.body, spec_.storage == "minio");
  Work w;
  w.batch.source = spec_.name;
  if (!body.error.empty()) {
    // Parked, not refused: a non-2xx would make MinIO's queue_dir send it forever and hold
    // back every event behind it (Ceph RGW would retry it thousands of times a second).
    park(w.batch, eventId({"bucket-push", spec_.name, hexEncode(sha256(req.body))}),
         "a push sluice cannot use: " + body.error, req.body);
    ctx_.log->warn(
        "source {}: a push sluice cannot use ({}; {} bytes from {}); parked in the "
        "dead-letter queue",
        spec_.name, body.error, req.body.size(), req.peer);
  } else {
    for (auto& r : body.records) addRecord(w.batch, r);
  }
  if (w.batch.events.empty() && w.batch.index.empty()) {
    respond(answer(200, "nothing to store\n"));
    return;
  }
  w.after = [respond = std::move(respond)](bool ok) {
    respond(ok ? answer(200, "stored\n") : answer(503, "could not store it now; send it again\n"));
  };
  enqueue(std::move(w));
}

void BucketConnector::park(Batch& b, const std::string& id, const std::string& why,
                           const std::string& body) {
  Event ev;
  ev.id = id;
  ev.source = origin_.endpoint + "/" + uriEncode(spec_.bucket, false);
  ev.type = EventType::Gap;
  ev.time_ms = ctx_.clock.nowMs();
  ev.storage = origin_.storage;
  ev.connector = spec_.name;
  ev.path = "/" + spec_.bucket;
  if (!spec_.bucket.empty()) ev.bucket = spec_.bucket;
  ev.note = why;
  // Kept whole, so that it can be looked at and replayed.
  ev.native = isUtf8(body) ? nlohmann::json{{"body", body}}
                           : nlohmann::json{{"body_base64", base64Encode(body)}};
  b.dead.emplace(b.events.size(), why);
  b.events.push_back(std::move(ev));
}

void BucketConnector::waitQuiet(Done done) {
  const std::int64_t quiet = ctx_.clock.nowMs() - last_push_ms_;
  if (quiet >= spec_.push_quiet.count()) return whenIdle(std::move(done), "");
  quiet_timer_.expires_after(std::chrono::milliseconds(spec_.push_quiet.count() - quiet));
  quiet_timer_.async_wait(
      [this, alive = alive_, done = std::move(done)](boost::system::error_code ec) mutable {
        if (!ec && *alive) waitQuiet(std::move(done));
      });
}

}  // namespace sluice::connectors::s3
