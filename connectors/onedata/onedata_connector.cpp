#include "connectors/onedata/onedata_connector.hpp"

#include <spdlog/logger.h>

#include <stdexcept>

#include "daemon/health.hpp"
#include "daemon/metrics.hpp"

namespace sluice::connectors::onedata {
namespace {

constexpr std::size_t kMaxBatch = 1000;
constexpr std::size_t kMaxLine = 1 << 20;

}  // namespace

std::unique_ptr<Connector> OnedataSpec::create(ConnectorContext& ctx) const {
  return std::make_unique<OnedataConnector>(*this, ctx);
}

OnedataConnector::OnedataConnector(const OnedataSpec& spec, ConnectorContext& ctx)
    : spec_(spec),
      ctx_(ctx),
      health_key_("source:" + spec.name),
      origin_{spec.name, spec.provider, spec.space_id, spec.sourceUri()},
      auth_(spec.auth),
      pump_(ctx, spec.name,
            {[this](const Batch& b) { stored(b); }, [this] { drained(); },
             [this] { publishHealth(); }, [this] { return fetches_ > 0; }},
            kMaxBatch),
      framer_(kMaxLine),
      reconnect_timer_(ctx.io),
      settle_timer_(ctx.io),
      scan_timer_(ctx.io),
      metrics_(ctx.metrics, spec.name) {
  if (!ctx.http) throw std::logic_error("onedata source without an HTTP client");
}

OnedataConnector::~OnedataConnector() {
  *alive_ = false;
  if (streaming_ && stream_id_ != 0) ctx_.http->cancel(stream_id_);
}

void OnedataConnector::loadIndex() {
  Work expired;  // tombstones past the dedup horizon: forgotten with the next commit
  expired.batch.source = spec_.name;
  auto cursor = index_.load(ctx_.intake, spec_.name,
                            ctx_.clock.nowMs() - ctx_.dedup_horizon.count(), expired.batch.index);
  for (auto& [path, v] : index_.objects()) by_id_[v.etag] = path;
  read_seq_ = parseCursor(cursor);
  enqueued_cursor_ = read_seq_;
  if (!expired.batch.index.empty()) enqueue(std::move(expired));
}

void OnedataConnector::stored(const Batch& b) {
  for (auto& u : b.index) {
    if (auto* old = index_.find(u.key)) {
      auto it = by_id_.find(old->etag);
      if (it != by_id_.end() && it->second == u.key) by_id_.erase(it);
    }
  }
  index_.apply(b.index);
  for (auto& u : b.index)
    if (auto* v = index_.find(u.key)) by_id_[v->etag] = u.key;
}

void OnedataConnector::start() {
  running_ = true;
  pump_.setRunning(true);
  if (!index_.loaded()) loadIndex();
  publishHealth();
  ctx_.log->info("source {}: {} space {} on {} ({} files known, {}, token from {})", spec_.name,
                 spec_.mode == "poll" ? "polling" : "following the changes of", spec_.space_id,
                 spec_.provider, index_.objects().size(),
                 read_seq_ ? "from seq " + std::to_string(*read_seq_ + 1) : "from the start",
                 spec_.auth.describe());
  if (spec_.mode == "poll")
    reconcile("start-up", {});
  else
    connect();
}

void OnedataConnector::stop() {
  stopped_ = true;
  running_ = false;
  pump_.stop();
  reconnect_timer_.cancel();
  settle_timer_.cancel();
  scan_timer_.cancel();
  if (streaming_ && stream_id_ != 0) ctx_.http->cancel(stream_id_);
  metrics_.connected.set(0);
  // Files still settling are not lost: the committed cursor is below them.
}

void OnedataConnector::catchUp(Done done) {
  if (!index_.loaded()) loadIndex();
  pump_.retryAfterOnceFailure();
  if (spec_.mode == "poll") return reconcile("catch-up", std::move(done));
  // Read the stream from the cursor until its inactivity timeout ends it, then let what it
  // reported settle (by sluice's clock; nothing more is read meanwhile) and commit.
  once_done_ = std::move(done);
  once_stream_ended_ = false;
  connect();
}

void OnedataConnector::enqueue(Work w) {
  pump_.enqueue(std::move(w));
  if (streaming_ && !paused_ && pump_.size() >= kHighWater) {
    paused_ = true;  // TCP flow control holds the provider back; nothing is lost
    if (stream_id_ != 0) ctx_.http->pause(stream_id_);
  }
}

void OnedataConnector::drained() {
  if (pump_.size() >= kHighWater / 2) return;
  if (paused_) {
    paused_ = false;
    if (stream_id_ != 0) ctx_.http->resume(stream_id_);
  }
  if (scan_ && scan_->waiting) {
    scan_->waiting = false;
    listPage();
  }
}

void OnedataConnector::publishHealth() {
  if (!pump_.intakeError().empty())
    ctx_.health.set(health_key_, HealthState::Degraded, pump_.intakeError());
  else if (auth_failed_)
    ctx_.health.set(health_key_, HealthState::Failed, stream_error_);
  else if (!stream_error_.empty())
    ctx_.health.set(health_key_, HealthState::Degraded, stream_error_);
  else if (startup_pending_)
    ctx_.health.set(
        health_key_, HealthState::Failed,
        spec_.mode == "poll" ? "start-up listing in progress" : "connecting to the changes stream");
  else if (!scan_error_.empty())
    ctx_.health.set(health_key_, HealthState::Degraded, scan_error_);
  else
    ctx_.health.set(health_key_, HealthState::Ok);
}

HttpRequest OnedataConnector::request(const std::string& method, const std::string& url) {
  HttpRequest req;
  req.method = method;
  req.url = url;
  // Read at every request: a rotated token file is used from the next request on.
  std::string error = auth_.apply(req);
  if (!error.empty()) ctx_.log->warn("source {}: {}", spec_.name, error);
  return req;
}

std::string OnedataConnector::describe(const HttpResponse& r, bool stream) const {
  if (r.status == 0) return r.error.empty() ? "no answer" : r.error;
  std::string what = std::to_string(r.status);
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    what += " " + j["error"].value("id", "");
    if (j["error"].contains("details") && j["error"]["details"].is_object() &&
        j["error"]["details"].contains("authError"))
      what += "/" + j["error"]["details"]["authError"].value("id", "");
    what += ": " + j["error"].value("description", "");
  }
  if (r.status == 401)
    what += " (the token in " + spec_.auth.token_file +
            " is not valid here: expired, revoked, or limited by a data-access caveat)";
  if (r.status == 403)
    what += stream ? " (the token lacks the space_view_changes_stream privilege in space " +
                         spec_.space_id + ")"
                   : " (the token may not read space " + spec_.space_id + ")";
  return what;
}

}  // namespace sluice::connectors::onedata
