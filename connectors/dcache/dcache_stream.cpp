// The channel and its SSE stream: find or create the channel, read events in order, and react
// to everything that may have lost changes (PROTOCOLS.md §1.3, §1.7).
#include <spdlog/logger.h>

#include <algorithm>
#include <boost/asio/post.hpp>

#include "connectors/dcache/dcache_connector.hpp"
#include "daemon/metrics.hpp"
#include "daemon/sigv4.hpp"

namespace sluice::connectors::dcache {
namespace {

std::string statusText(long status, const std::string& body) {
  std::string msg = errorMessage(body);
  return "HTTP " + std::to_string(status) + (msg.empty() ? "" : " (" + msg + ")");
}

}  // namespace

void DcacheConnector::openChannel() {
  if (stopped_ || streaming_) return;
  if (!channel_.empty()) return connect();
  if (std::exchange(create_new_, false)) return createChannel();
  findChannel();
}

// A restarted sluice whose state was lost finds the channel it made before by its client-id
// (dCache never reuses one on POST), instead of leaving it to expire and making another.
void DcacheConnector::findChannel() {
  HttpRequest req;
  req.method = "GET";
  req.url = spec_.url + "/events/channels?client-id=" + uriEncode(client_id_, false);
  req.headers = {{"Accept", "application/json"}};
  request(std::move(req), [this](HttpResponse r) {
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (r.status == 200 && j.is_array() && !j.empty() && j[0].is_string())
      return setChannel(j[0].get<std::string>(), true);
    if (r.status == 200) return createChannel();
    retryLater("listing channels: " + (r.status ? statusText(r.status, r.body) : r.error),
               r.status);
  });
}

void DcacheConnector::createChannel() {
  HttpRequest req;
  req.method = "POST";
  req.url = spec_.url + "/events/channels";
  req.headers = {{"Content-Type", "application/json"}, {"Accept", "application/json"}};
  req.body = nlohmann::json{{"client-id", client_id_}}.dump();
  request(std::move(req), [this](HttpResponse r) {
    const std::string* loc = r.header("location");
    if (r.status == 201 && loc && !loc->empty()) return setChannel(*loc, true);
    std::string why = "creating a channel: " + (r.status ? statusText(r.status, r.body) : r.error);
    if (r.status == 429)
      why +=
          "; this user has too many channels: delete unused ones "
          "(DELETE {url}/events/channels/ID) or wait for them to expire";
    retryLater(why, r.status);
  });
}

void DcacheConnector::setChannel(const std::string& url, bool fresh) {
  if (url != channel_) {
    channel_ = url;
    last_id_.clear();
    parser_ = SseParser();
    subs_.clear();
    dirs_.clear();
  }
  if (fresh) {
    ctx_.log->info("source {}: using channel {}", spec_.name, channel_);
    // Long enough to outlive a restart or a scheduled `sluice once`: dCache buffers events
    // for the channel meanwhile (and deletes it after this long without a client).
    HttpRequest patch;
    patch.method = "PATCH";
    patch.url = channel_;
    patch.headers = {{"Content-Type", "application/json"}};
    patch.body = nlohmann::json{{"timeout", spec_.channel_timeout.count() / 1000}}.dump();
    request(std::move(patch), [this](HttpResponse r) {
      if (r.status != 204 && r.status != 200)
        ctx_.log->warn("source {}: could not set the channel timeout to {}s: {}", spec_.name,
                       spec_.channel_timeout.count() / 1000,
                       r.status ? statusText(r.status, r.body) : r.error);
    });
    CommitPump::Work w;  // the channel is remembered even before any event arrives
    w.batch.source = spec_.name;
    w.batch.cursor = cursorJson();
    pump_.enqueue(std::move(w));
    if (resync_why_.empty()) resync_why_ = "new channel";
  }
  connect();
}

void DcacheConnector::connect() {
  if (stopped_ || streaming_ || once_finished_) return;
  HttpRequest req;
  req.method = "GET";
  req.url = channel_;
  req.headers = {{"Accept", "text/event-stream"}};
  if (!last_id_.empty())
    req.headers.emplace_back("Last-Event-ID", last_id_);
  else if (resync_why_.empty())
    // dCache replays nothing to a stream without Last-Event-ID: what it buffered since the
    // last stream ended (before sluice read any id) is only found by listing.
    resync_why_ = "reconnected before any event id was read";
  req.timeout = std::chrono::milliseconds(0);
  req.idle_timeout = spec_.idle_timeout;  // dCache sends no keep-alives: a silent TCP may be dead
  req.on_response = [this, alive = alive_](long status, const HttpHeaders&) {
    return *alive && onResponse(status);
  };
  req.on_body = [this, alive = alive_](std::string_view chunk) { return *alive && onChunk(chunk); };
  streaming_ = true;
  stream_status_ = 0;
  error_body_.clear();
  parser_.reset();
  if (std::string why = auth_.apply(req); !why.empty())
    ctx_.log->warn("source {}: {} (the last good token is used)", spec_.name, why);
  stream_id_ = ctx_.http->send(std::move(req), [this, alive = alive_](HttpResponse r) {
    if (*alive) onStreamEnd(r);
  });
  if (paused_) ctx_.http->pause(stream_id_);
}

bool DcacheConnector::onResponse(long status) {
  stream_status_ = status;
  if (status != 200) return true;  // the body says why
  stream_open_ = true;
  metrics_.connected.set(1);
  last_byte_ms_ = ctx_.clock.nowMs();
  backoff_ = std::chrono::milliseconds(1000);
  if (!stream_error_.empty()) ctx_.log->info("source {}: stream open again", spec_.name);
  stream_error_.clear();
  publishHealth();
  // Subscribe and list only now: what changes from here on is in the stream.
  if (!resync_why_.empty()) reconcile(std::exchange(resync_why_, ""), true, spec_.paths, {});
  checkOnceDone();
  return true;
}

bool DcacheConnector::onChunk(std::string_view chunk) {
  if (stream_status_ != 200) {
    appendCapped(error_body_, chunk);
    return true;
  }
  last_byte_ms_ = ctx_.clock.nowMs();
  parser_.feed(
      chunk, [this](SseEvent&& ev) { onSse(std::move(ev)); },
      [this](std::string_view why) {
        metrics_.bad_events.inc();
        ctx_.log->warn("source {}: unreadable SSE from dCache ({}); skipped", spec_.name, why);
      });
  pauseIfBehind();
  return !stopped_ && !once_finished_;
}

void DcacheConnector::onStreamEnd(const HttpResponse& r) {
  const bool was_open = stream_open_;
  streaming_ = false;
  stream_open_ = false;
  stream_id_ = 0;
  metrics_.connected.set(0);
  if (stopped_ || once_finished_) return;
  if (r.cancelled) return openChannel();  // ended on purpose (a new channel): go on at once
  if (stream_status_ == 404 || r.status == 404) {
    ctx_.log->warn("source {}: channel {} is gone", spec_.name, channel_);
    return lost("the channel is gone (expired while disconnected, or dCache restarted)", true);
  }
  if (was_open) metrics_.reconnects.inc();
  std::string why = stream_status_ != 0 && stream_status_ != 200
                        ? statusText(stream_status_, error_body_)
                    : r.curl_code != 0 ? r.error
                                       : "the stream ended";
  retryLater(why, stream_status_);
}

void DcacheConnector::retryLater(const std::string& why, long status) {
  if (stopped_) return;
  if (why != stream_error_)
    ctx_.log->warn("source {}: {}; trying again in {} ms", spec_.name, why, backoff_.count());
  stream_error_ = why;
  publishHealth();
  if (!running_) return checkOnceDone();  // `sluice once` reports it instead
  auto wait = backoff_;
  if (status == 401 || status == 403 || status == 429)
    wait = std::max(wait, std::chrono::milliseconds(60'000));  // a person has to act
  backoff_ = std::min(backoff_ * 2, std::chrono::milliseconds(60'000));
  reconnect_timer_.expires_after(wait);
  reconnect_timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
    if (!ec && *alive) openChannel();
  });
}

void DcacheConnector::onSse(SseEvent&& ev) {
  if (ev.id) last_id_ = *ev.id;
  if (ev.type == "SYSTEM") {
    if (auto s = parseSystem(ev.data)) return onSystem(*s);
    metrics_.bad_events.inc();
    ctx_.log->warn("source {}: unreadable SYSTEM event {:.200}", spec_.name, ev.data);
    return;
  }
  if (ev.type == "inotify") {
    std::string why;
    if (auto n = parseInotify(ev.data, &why)) return onInotify(*n, ev.id);
    metrics_.bad_events.inc();
    ctx_.log->warn("source {}: unreadable inotify event ({}): {:.200}", spec_.name, why, ev.data);
  }
  Step s;  // another event type, or one sluice cannot read: only the cursor moves past it
  s.id = ev.id;
  addStep(std::move(s));
}

void DcacheConnector::onSystem(const SystemEvent& s) {
  if (s.type == "EVENT_LOSS") return lost("dCache lost events of this channel (EVENT_LOSS)", false);
  if (s.type == "COMPETING_CLIENT") {
    // Another client (a second sluice with this state?) took the channel: leave it to it.
    return lost("another client took over the channel (COMPETING_CLIENT)", true);
  }
  if (s.type == "SUBSCRIPTION_CLOSED") {
    auto it = subs_.find(s.subscription);
    if (it == subs_.end()) return;
    ctx_.log->info("source {}: dCache closed the watch on {}", spec_.name, it->second);
    dirs_.erase(it->second);
    subs_.erase(it);
    return;
  }
  if (s.type == "SHUTDOWN")
    ctx_.log->info("source {}: the dCache frontend is stopping", spec_.name);
}

void DcacheConnector::lost(const std::string& why, bool new_channel) {
  metrics_.gaps.inc();
  ctx_.log->warn("source {}: {}; listing the watched tree again", spec_.name, why);
  Step gap;
  gap.kind = Step::Gap;
  gap.why = why;
  addStep(std::move(gap));
  if (!new_channel) return reconcile(why, true, spec_.paths, {});
  resync_why_ = why;
  channel_.clear();
  last_id_.clear();
  subs_.clear();
  dirs_.clear();
  create_new_ = true;
  if (streaming_ && stream_id_ != 0)
    ctx_.http->cancel(stream_id_);  // onStreamEnd() goes on with a new channel
  else
    boost::asio::post(ctx_.io, [this, alive = alive_] {
      if (*alive) openChannel();
    });
}

void DcacheConnector::onInotify(const Inotify& n, const std::optional<std::string>& id) {
  Step s;
  s.id = id;
  s.native = n.data;
  auto sub = subs_.find(n.subscription);
  if (sub == subs_.end()) return addStep(std::move(s));  // a watch sluice no longer keeps
  const std::string dir = sub->second;
  if (n.flag == "IN_Q_OVERFLOW") {
    addStep(std::move(s));
    return lost("dCache dropped events of the watch on " + dir + " (IN_Q_OVERFLOW)", false);
  }
  if (n.name.empty()) {  // about the watched directory itself
    if (n.flag == "IN_IGNORED" || n.flag == "IN_DELETE_SELF" || n.flag == "IN_MOVE_SELF") {
      dirs_.erase(dir);
      subs_.erase(sub);
      if (std::find(spec_.paths.begin(), spec_.paths.end(), dir) != spec_.paths.end()) {
        ctx_.log->error("source {}: the watched path {} was {}", spec_.name, dir,
                        n.flag == "IN_MOVE_SELF" ? "moved away" : "deleted");
        scan_error_ = "the watched path " + dir + " is gone";
        publishHealth();
      }
    }
    return addStep(std::move(s));
  }
  s.path = childPath(dir, n.name);
  if (scan_) scan_->touched.insert(s.path);
  if (n.is_dir) {
    if ((n.flag == "IN_CREATE" || n.flag == "IN_MOVED_TO") && spec_.recursive)
      reconcile("new directory " + s.path, false, {s.path}, {});
    if (n.flag == "IN_DELETE" || n.flag == "IN_MOVED_FROM") {
      s.kind = Step::DirGone;
      forgetSubscriptionsUnder(s.path);
    }
    return addStep(std::move(s));
  }
  if (n.flag == "IN_CREATE") {
    uploading_.insert(s.path);  // a listing meanwhile must not take the half-written file
  } else if (n.flag == "IN_CLOSE_WRITE") {
    uploading_.erase(s.path);
    s.kind = Step::Written;
    s.needs_stat = true;
  } else if (n.flag == "IN_MOVED_TO") {
    s.kind = Step::MovedTo;
    s.needs_stat = true;
    s.cookie = n.cookie;
  } else if (n.flag == "IN_DELETE") {
    uploading_.erase(s.path);
    s.kind = Step::Deleted;
  } else if (n.flag == "IN_MOVED_FROM") {
    s.kind = Step::MovedFrom;
    s.cookie = n.cookie;
  }
  addStep(std::move(s));
}

}  // namespace sluice::connectors::dcache
