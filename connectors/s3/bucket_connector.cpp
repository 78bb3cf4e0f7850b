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
      pump_(ctx, spec.name,
            {[this](const Batch& b) { index_.apply(b.index); }, [this] { drained(); },
             [this] { publishHealth(); }, [this] { return deletes_in_flight_ > 0; }},
            kMaxBatch),
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
  index_.load(ctx_.intake, spec_.name, ctx_.clock.nowMs() - ctx_.dedup_horizon.count(),
              expired.batch.index);
  if (!expired.batch.index.empty()) enqueue(std::move(expired));
}

void BucketConnector::start() {
  running_ = true;
  pump_.setRunning(true);
  if (!index_.loaded()) loadIndex();
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
                   index_.objects().size(), creds_->description());
  else
    ctx_.log->info("source {}: taking pushes for bucket {} (no credentials: not reconciled)",
                   spec_.name, spec_.bucket);
}

void BucketConnector::stop() {
  stopped_ = true;
  running_ = false;
  pump_.stop();
  reconnect_timer_.cancel();
  scan_timer_.cancel();
  quiet_timer_.cancel();
  poll_timer_.cancel();
  visibility_timer_.cancel();
  if (streaming_) ctx_.http->cancel(stream_id_);
  // Pushes not committed yet: their senders keep them (503); SQS messages come back.
}

void BucketConnector::catchUp(Done done) {
  if (!index_.loaded()) loadIndex();
  pump_.retryAfterOnceFailure();  // a new attempt: what an earlier one held back goes first
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
    pump_.whenIdle(std::move(then), "");
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
  const ObjectVersion* known = index_.find(r.key);
  if (r.type == EventType::Created) {
    // Seen and committed. Only where the id has the modification time: without it the same
    // bytes uploaded again look the same, and the queue's dedup (with its horizon) decides.
    if (origin_.mtime_in_id && known && sameVersion(*known, r.version)) return;
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
  const ObjectVersion prev = index_.lastKnown(r.key);
  if (spec_.emit_removed) {
    Event ev =
        objectEvent(origin_, EventType::Removed, r.bucket, r.key, prev, r.sequencer, r.time_ms);
    ev.native = r.native;
    b.events.push_back(std::move(ev));
  }
  if (indexed && !index_.findGone(r.key))
    b.index.push_back(VersionIndex::removal(r.key, prev, ctx_.clock.nowMs()));
}

// ---- commits ----

void BucketConnector::enqueue(Work w) {
  pump_.enqueue(std::move(w));
  if (streaming_ && !paused_ && pump_.size() >= kHighWater) {
    paused_ = true;  // a stream not started yet is paused as it starts (connect())
    if (stream_id_ != 0) ctx_.http->pause(stream_id_);
  }
}

void BucketConnector::drained() {
  if (pump_.size() < kHighWater / 2) {
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
}

void BucketConnector::publishHealth() {
  if (!pump_.intakeError().empty())
    ctx_.health.set(health_key_, HealthState::Degraded, pump_.intakeError());
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
  if (pump_.retryPending() || pump_.size() >= 4 * kHighWater) {
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
  if (quiet >= spec_.push_quiet.count()) return pump_.whenIdle(std::move(done), "");
  quiet_timer_.expires_after(std::chrono::milliseconds(spec_.push_quiet.count() - quiet));
  quiet_timer_.async_wait(
      [this, alive = alive_, done = std::move(done)](boost::system::error_code ec) mutable {
        if (!ec && *alive) waitQuiet(std::move(done));
      });
}

}  // namespace sluice::connectors::s3
