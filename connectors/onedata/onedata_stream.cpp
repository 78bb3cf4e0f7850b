// The changes stream of `mode: changes`: one POST at a time, read line by line, resumed from the
// last seq read (last_seq is inclusive: +1). The provider ends the stream after `timeout` ms
// without changes (it sends no heartbeats): that is normal and sluice asks again at once.
#include <spdlog/logger.h>

#include <algorithm>

#include "connectors/onedata/onedata_connector.hpp"
#include "daemon/metrics.hpp"

namespace sluice::connectors::onedata {
namespace {

constexpr std::int64_t kOnceTimeoutMs = 2000;        // `sluice once`: the stream ends this soon
constexpr std::int64_t kBadLineLogEveryMs = 10'000;  // at most one warning per this long
constexpr std::chrono::milliseconds kAuthRetry{60'000};

}  // namespace

void OnedataConnector::connect() {
  if (stopped_ || streaming_) return;
  if (connects_++ > 0) metrics_.reconnects.inc();
  const std::int64_t since = read_seq_ ? *read_seq_ + 1 : 0;
  const std::int64_t timeout = once_done_
                                   ? std::min<std::int64_t>(spec_.timeout.count(), kOnceTimeoutMs)
                                   : spec_.timeout.count();
  HttpRequest req = request("POST", spec_.apiUrl() + "/changes/metadata/" + spec_.space_id +
                                        "?timeout=" + std::to_string(timeout) +
                                        "&last_seq=" + std::to_string(since));
  req.headers.emplace_back("Content-Type", "application/json");
  req.body = changesSpecification();
  req.timeout = std::chrono::milliseconds(0);
  // The server ends an idle stream after `timeout`; silence well past it means a dead
  // connection (whole seconds: the client's granularity).
  req.idle_timeout = std::chrono::milliseconds((timeout / 1000 + 10) * 1000);
  req.on_response = [this, alive = alive_](long status, const HttpHeaders&) {
    return *alive && onResponse(status);
  };
  req.on_body = [this, alive = alive_](std::string_view chunk) { return *alive && onChunk(chunk); };
  streaming_ = true;
  stream_status_ = 0;
  error_body_.clear();
  framer_.reset();
  stream_id_ = ctx_.http->send(std::move(req), [this, alive = alive_](HttpResponse r) {
    if (*alive) onStreamEnd(r);
  });
  if (paused_) ctx_.http->pause(stream_id_);
}

bool OnedataConnector::onResponse(long status) {
  stream_status_ = status;
  if (status != 200) return true;  // its body says why (collected by onChunk)
  metrics_.connected.set(1);
  backoff_ = std::chrono::milliseconds(1000);
  if (!stream_error_.empty())
    ctx_.log->info("source {}: changes stream open again (from seq {})", spec_.name,
                   read_seq_ ? *read_seq_ + 1 : 0);
  stream_error_.clear();
  auth_failed_ = false;
  startup_pending_ = false;
  publishHealth();
  return true;
}

bool OnedataConnector::onChunk(std::string_view chunk) {
  if (stream_status_ != 200) {
    appendCapped(error_body_, chunk);
    return true;
  }
  Batch b;
  b.source = spec_.name;
  framer_.feed(chunk, [&](std::string_view line, bool too_long) { onLine(line, too_long, b); });
  addCursor(b);
  if (!b.events.empty() || !b.index.empty() || b.cursor) enqueue(Work{std::move(b), {}});
  armSettleTimer();
  return true;
}

void OnedataConnector::onLine(std::string_view line, bool too_long, Batch& b) {
  if (too_long) return badLine("a line longer than 1 MiB");
  if (line.find_first_not_of(" \t") == std::string_view::npos) return;  // not a change
  ChangeLine c = parseChangeLine(line);
  if (!c.error.empty()) return badLine(c.error);
  read_seq_ = std::max(read_seq_.value_or(c.seq), c.seq);
  auto indexed = by_id_.find(c.file_id);
  const std::string* indexed_path = indexed == by_id_.end() ? nullptr : &indexed->second;
  if (scan_) {
    if (!c.path.empty()) scan_->touched.insert(c.path);
    if (indexed_path) scan_->touched.insert(*indexed_path);
  }
  const std::int64_t now = ctx_.clock.nowMs();
  if (c.deleted) {
    // The line of a deleted file has no path any more: the index knows where it was.
    tracker_.forget(c.file_id);
    if (indexed_path) addRemoved(b, *indexed_path, now, "");
    return;
  }
  if (!c.has_meta || c.type != "REG") return;               // directories and links are not objects
  if (c.path.empty() && !tracker_.find(c.file_id)) return;  // gone meanwhile: removal follows
  if (!c.path.empty() && !spec_.wanted(c.path)) {
    tracker_.forget(c.file_id);
    if (indexed_path) addRemoved(b, *indexed_path, now, "moved out of the watched paths");
    return;
  }
  tracker_.observe(c, now, indexed_path ? index_.find(*indexed_path) : nullptr);
}

void OnedataConnector::badLine(const std::string& why) {
  metrics_.bad_events.inc();
  metrics_.gaps.inc();
  const std::int64_t now = ctx_.clock.nowMs();
  if (now - last_bad_log_ms_ >= kBadLineLogEveryMs) {
    ctx_.log->warn("source {}: unreadable changes stream line ({}){}; listing the space",
                   spec_.name, why,
                   bad_unlogged_ ? " and " + std::to_string(bad_unlogged_) + " more" : "");
    last_bad_log_ms_ = now;
    bad_unlogged_ = 0;
  } else {
    ++bad_unlogged_;
  }
  // Its seq is unknown, so whatever it said is found by a listing instead.
  if (running_) reconcile("an unreadable changes stream line", {});
}

std::optional<std::int64_t> OnedataConnector::safeCursor() const {
  if (!read_seq_) return std::nullopt;
  auto pending = tracker_.minSeq();
  return pending ? std::min(*read_seq_, *pending - 1) : *read_seq_;
}

void OnedataConnector::addCursor(Batch& b) {
  auto c = safeCursor();
  if (!c || (enqueued_cursor_ && *c <= *enqueued_cursor_)) return;
  b.cursor = formatCursor(*c);
  enqueued_cursor_ = c;
}

void OnedataConnector::onStreamEnd(const HttpResponse& r) {
  streaming_ = false;
  stream_id_ = 0;
  paused_ = false;
  metrics_.connected.set(0);
  framer_.reset();  // a cut line's seq was not read: it comes again from read_seq_ + 1
  if (stopped_) return;
  std::chrono::milliseconds wait{0};
  if (stream_status_ == 200 && r.curl_code == 0) {
    // The inactivity timeout (or the provider ended its feed): normal, ask again.
    if (once_done_) {
      once_stream_ended_ = true;
      return checkSettled();
    }
  } else {
    HttpResponse failed = r;
    failed.status = stream_status_;
    failed.body = error_body_;
    auth_failed_ = stream_status_ == 401 || stream_status_ == 403;
    stream_error_ = "changes stream: " + describe(failed, true);
    if (once_done_) {
      auto done = std::move(once_done_);
      once_done_ = nullptr;
      publishHealth();
      return pump_.whenIdle(std::move(done), stream_error_);
    }
    wait = auth_failed_ ? kAuthRetry : backoff_;
    if (!auth_failed_) backoff_ = std::min(backoff_ * 2, std::chrono::milliseconds(60'000));
    stream_error_ += "; again in " + std::to_string(wait.count() / 1000) + "s";
    if (auth_failed_)
      ctx_.log->error("source {}: {}", spec_.name, stream_error_);
    else
      ctx_.log->warn("source {}: {}", spec_.name, stream_error_);
    publishHealth();
  }
  reconnect_timer_.expires_after(wait);
  reconnect_timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
    if (!ec && *alive) connect();
  });
}

}  // namespace sluice::connectors::onedata
