#include "connectors/dcache/dcache_connector.hpp"

#include <spdlog/logger.h>

#include "daemon/health.hpp"
#include "daemon/metrics.hpp"

namespace sluice::connectors::dcache {

DcacheConnector::DcacheConnector(const DcacheSpec& spec, ConnectorContext& ctx)
    : spec_(spec),
      ctx_(ctx),
      health_key_("source:" + spec.name),
      origin_{spec.name, spec.url},
      client_id_(spec.client_id.empty() ? "sluice/" + spec.name : spec.client_id),
      auth_(spec.auth),
      pump_(ctx, spec.name,
            {[this](const Batch& b) { stored(b); }, [this] { drained(); },
             [this] { publishHealth(); }, nullptr}),
      reconnect_timer_(ctx.io),
      step_timer_(ctx.io),
      scan_timer_(ctx.io),
      quiet_timer_(ctx.io),
      metrics_(ctx.metrics, spec.name) {
  if (!ctx.http) throw std::logic_error("dcache source without an HTTP client");
}

DcacheConnector::~DcacheConnector() {
  *alive_ = false;
  if (streaming_ && stream_id_ != 0) ctx_.http->cancel(stream_id_);
}

void DcacheConnector::load() {
  CommitPump::Work expired;
  expired.batch.source = spec_.name;
  auto cursor = index_.load(ctx_.intake, spec_.name,
                            ctx_.clock.nowMs() - ctx_.dedup_horizon.count(), expired.batch.index);
  if (cursor) {
    auto j = nlohmann::json::parse(*cursor, nullptr, false);
    if (j.is_object() && j.contains("channel") && j["channel"].is_string()) {
      channel_ = j["channel"].get<std::string>();
      if (j.contains("last_id") && j["last_id"].is_string())
        last_id_ = j["last_id"].get<std::string>();
    }
  }
  if (!expired.batch.index.empty()) pump_.enqueue(std::move(expired));
}

std::string DcacheConnector::cursorJson() const {
  nlohmann::json j = {{"channel", channel_}};
  if (!last_id_.empty()) j["last_id"] = last_id_;
  return j.dump();
}

void DcacheConnector::start() {
  running_ = true;
  pump_.setRunning(true);
  if (!index_.loaded()) load();
  startup_pending_ = true;
  resync_why_ = "start-up";
  publishHealth();
  ctx_.log->info(
      "source {}: following {} on {} ({}{} files known, {})", spec_.name,
      spec_.paths.size() == 1 ? spec_.paths[0] : std::to_string(spec_.paths.size()) + " paths",
      spec_.url, spec_.recursive ? "recursive, " : "", index_.objects().size(),
      spec_.auth.describe());
  openChannel();
}

void DcacheConnector::stop() {
  stopped_ = true;
  running_ = false;
  pump_.stop();
  reconnect_timer_.cancel();
  step_timer_.cancel();
  scan_timer_.cancel();
  quiet_timer_.cancel();
  if (streaming_ && stream_id_ != 0) ctx_.http->cancel(stream_id_);
}

void DcacheConnector::catchUp(Done done) {
  once_ = true;
  once_finished_ = false;
  if (!index_.loaded()) load();
  pump_.retryAfterOnceFailure();
  startup_pending_ = true;
  resync_why_ = "catch-up";
  once_waiters_.push_back(std::move(done));
  openChannel();
}

void DcacheConnector::checkOnceDone() {
  if (running_ || once_waiters_.empty()) return;
  if (!pump_.onceError().empty() || (!stream_error_.empty() && !stream_open_)) {
    const std::string error =
        !pump_.onceError().empty() ? pump_.onceError() : "dCache stream: " + stream_error_;
    once_finished_ = true;
    if (streaming_ && stream_id_ != 0) ctx_.http->cancel(stream_id_);
    for (auto& w : std::exchange(once_waiters_, {})) pump_.whenIdle(std::move(w), error);
    return;
  }
  if (startup_pending_ || scan_ || !steps_.empty() || !stream_open_) return;
  const std::int64_t quiet = ctx_.clock.nowMs() - last_byte_ms_;
  if (quiet < spec_.once_quiet.count()) {
    quiet_timer_.expires_after(std::chrono::milliseconds(spec_.once_quiet.count() - quiet));
    quiet_timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
      if (!ec && *alive) checkOnceDone();
    });
    return;
  }
  // Nothing more is buffered for this channel: end the stream (dCache keeps the channel and
  // buffers what comes next for the next run) and finish once the queue has it all.
  once_finished_ = true;
  if (streaming_ && stream_id_ != 0) ctx_.http->cancel(stream_id_);
  for (auto& w : std::exchange(once_waiters_, {})) pump_.whenIdle(std::move(w), scan_error_);
}

void DcacheConnector::request(HttpRequest req, std::function<void(HttpResponse)> done) {
  if (std::string why = auth_.apply(req); !why.empty())
    ctx_.log->warn("source {}: {} (the last good token is used)", spec_.name, why);
  ctx_.http->send(std::move(req), [alive = alive_, done = std::move(done)](HttpResponse r) {
    if (*alive) done(std::move(r));
  });
}

void DcacheConnector::publishHealth() {
  if (!pump_.intakeError().empty())
    ctx_.health.set(health_key_, HealthState::Degraded, pump_.intakeError());
  else if (!stream_error_.empty())
    ctx_.health.set(health_key_, startup_pending_ ? HealthState::Failed : HealthState::Degraded,
                    "disconnected from dCache: " + stream_error_);
  else if (startup_pending_)
    ctx_.health.set(health_key_, HealthState::Failed,
                    "connecting to dCache and listing the watched tree");
  else if (!scan_error_.empty())
    ctx_.health.set(health_key_, HealthState::Degraded, scan_error_);
  else
    ctx_.health.set(health_key_, HealthState::Ok);
}

std::unique_ptr<Connector> DcacheSpec::create(ConnectorContext& ctx) const {
  return std::make_unique<DcacheConnector>(*this, ctx);
}

}  // namespace sluice::connectors::dcache
