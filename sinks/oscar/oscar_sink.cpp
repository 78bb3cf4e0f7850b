#include "sinks/oscar/oscar_sink.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <utility>

#include "daemon/http_delivery.hpp"
#include "daemon/payload_format.hpp"
#include "sinks/oscar/oscar_job.hpp"

namespace sluice::sinks::oscar {
namespace {

constexpr std::chrono::milliseconds kMaxRequestTimeout{30'000};
constexpr std::chrono::milliseconds kMinRequestTimeout{1'000};
constexpr std::size_t kKeptErrorBody = 4096;
constexpr int kMaxTries = 1000;         // job names "-1" … "-1000": failed runs of one event
constexpr int kMaxMissingPolls = 3;     // our job absent from the list this often: ask again
constexpr int kMaxPagesPerPoll = 1000;  // a list this long is not read to its end

std::string pct(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace

struct OscarSink::Call {
  Call(boost::asio::io_context& io, DeliveryCallback d) : timer(io), done(std::move(d)) {}
  std::string event_id;
  std::string body;
  std::string content_type;
  std::int64_t deadline_ms = 0;
  int try_no = 1;
  std::uint64_t generation = 0;  // of the token sent
  bool refreshed = false;        // the token was refreshed once after a 401
  bool found_existing = false;   // polling a job that was there before (a name collision)
  std::string page;              // the job list's page being read
  int pages = 0;
  int missing = 0;
  std::string last_status = "Pending";
  std::optional<std::uint64_t> http_id;
  boost::asio::steady_timer timer;
  DeliveryCallback done;
  std::string name;  // the job's, when job ids are on
};

namespace {
// For callbacks that find the sink gone: the delivery is released, nothing else is touched.
template <typename C>
void orphaned(const C& call) {
  if (auto done = std::move(call->done)) done(Retry{std::nullopt, "aborted at shutdown"});
}
}  // namespace

OscarSink::OscarSink(std::string name, OscarConfig config, DeliveryPolicy policy, SinkContext& ctx)
    : name_(std::move(name)),
      config_(std::move(config)),
      policy_(std::move(policy)),
      io_(ctx.io),
      http_(ctx.http),
      clock_(ctx.clock),
      log_(ctx.log),
      token_(ctx.io, ctx.http, config_.auth,
             config_.endpoint + "/system/services/" + config_.service) {
  if (!log_) return;
  if (config_.endpoint.rfind("http://", 0) == 0)
    log_->warn("sink {}: the OSCAR token is sent over plain http://", name_);
  if (config_.confirm == Confirm::Completion && !token_.hasBasic())
    log_->info(
        "sink {}: confirm: completion reads /system/logs with the token: that works with "
        "an OIDC token, not with a service token (give username and password_file then)",
        name_);
}

OscarSink::~OscarSink() {
  *alive_ = false;
  abort();
}

void OscarSink::abort() {
  aborted_ = true;
  token_.cancel();
  auto calls = calls_;  // the callbacks erase from the set later
  for (auto& c : calls) {
    if (c->http_id) http_.cancel(*c->http_id);
    c->timer.cancel();
  }
}

std::chrono::milliseconds OscarSink::requestTimeout(const Call& call, bool whole_run) const {
  auto left = std::chrono::milliseconds(call.deadline_ms - clock_.nowMs());
  if (!whole_run) left = std::min(left, kMaxRequestTimeout);
  return std::max(left, kMinRequestTimeout);
}

void OscarSink::deliver(const Event& ev, const DeliveryInfo&, DeliveryCallback done) {
  auto call = std::make_shared<Call>(io_, std::move(done));
  try {
    Payload p = encodePayload(config_.format, ev);
    call->body = std::move(p.body);
    call->content_type = std::move(p.content_type);
  } catch (const std::exception& e) {
    boost::asio::post(io_, [done = std::move(call->done), why = std::string(e.what())] {
      done(Dead{"cannot encode event: " + why});
    });
    return;
  }
  call->event_id = ev.id;
  call->deadline_ms = clock_.nowMs() + policy_.timeout.count();
  calls_.insert(call);
  invoke(call);
}

void OscarSink::finish(const CallPtr& call, DeliveryResult result) {
  calls_.erase(call);
  call->http_id.reset();
  auto done = std::move(call->done);
  if (done) done(std::move(result));
}

void OscarSink::invoke(const CallPtr& call) {
  call->name = jobName(config_.service, name_, call->event_id, call->try_no);
  token_.get([this, alive = alive_, call](const TokenResult& t) {
    if (!*alive) return orphaned(call);
    if (t.token.empty())
      return finish(call, t.permanent ? DeliveryResult{Dead{t.error}}
                                      : DeliveryResult{Retry{std::nullopt, t.error}});
    call->generation = t.generation;
    post(call, t.token);
  });
}

void OscarSink::post(const CallPtr& call, const std::string& token) {
  if (aborted_) return finish(call, Retry{std::nullopt, "aborted at shutdown"});
  const bool sync = config_.mode == Mode::Sync;
  HttpRequest req;
  req.method = "POST";
  req.url = config_.endpoint + (sync ? "/run/" : "/job/") + config_.service;
  if (!config_.owner.empty()) req.url += "?owner=" + pct(config_.owner);
  req.body = call->body;
  req.headers = {{"Content-Type", call->content_type},
                 {"User-Agent", "sluice/" SLUICE_VERSION},
                 {"Authorization", "Bearer " + token},
                 {"X-Sluice-Event-Id", call->event_id}};
  if (!sync && config_.job_ids) req.headers.emplace_back("X-Delegated-Job-ID", call->name);
  req.timeout = requestTimeout(*call, sync);
  req.connect_timeout = std::min(req.timeout, std::chrono::milliseconds(10'000));
  req.max_response_body = sync ? config_.max_output : kKeptErrorBody;
  token_.applyTls(req);
  call->http_id = http_.send(std::move(req), [this, alive = alive_, call](HttpResponse r) {
    if (!*alive) return orphaned(call);
    call->http_id.reset();
    onInvoked(call, r);
  });
}

void OscarSink::onInvoked(const CallPtr& call, const HttpResponse& r) {
  const bool sync = config_.mode == Mode::Sync;
  if (r.cancelled || r.curl_code != 0)
    return finish(call, classifyHttpResponse(r, policy_, clock_.nowMs()));
  if (r.status == 401) return onUnauthorized(call, r);
  if (r.status >= 200 && r.status < 300) {
    if (sync) return finish(call, Done{r.body});
    if (config_.confirm == Confirm::Accepted) return finish(call, Done{});
    call->found_existing = false;
    call->missing = 0;
    return schedulePoll(call, config_.poll_interval);
  }
  if (!sync && config_.job_ids && isNameCollision(r.status, r.body)) {
    // A job of this name exists: an earlier attempt (or another node) submitted it.
    if (config_.confirm == Confirm::Accepted) return finish(call, Done{});
    call->found_existing = true;
    call->missing = 0;
    return poll(call);
  }
  const std::string what =
      "OSCAR " + std::string(sync ? "/run" : "/job") + " answered " + std::to_string(r.status);
  if (r.status == 400 || r.status == 403 || r.status == 404)
    return finish(call, Dead{withBody(what, r.body)});
  auto res = classifyHttpResponse(r, policy_, clock_.nowMs());
  if (auto* d = std::get_if<Dead>(&res)) d->reason = withBody(what, r.body);
  finish(call, std::move(res));
}

void OscarSink::onUnauthorized(const CallPtr& call, const HttpResponse& r) {
  const std::string rejected = withBody("token rejected (401)", r.body);
  if (call->refreshed) return finish(call, Dead{rejected + " after a refresh"});
  call->refreshed = true;
  token_.refresh(call->generation, [this, alive = alive_, call, rejected](const TokenResult& t) {
    if (!*alive) return orphaned(call);
    if (t.token.empty() && !t.permanent && !t.error.empty())
      return finish(call, Retry{std::nullopt, t.error});  // the lookup failed for now
    if (t.token.empty() || t.stale)
      return finish(call, Dead{rejected + (t.error.empty() ? "" : "; " + t.error)});
    call->generation = t.generation;
    post(call, t.token);
  });
}

void OscarSink::schedulePoll(const CallPtr& call, Duration after) {
  if (clock_.nowMs() + after.count() > call->deadline_ms)
    return finish(call, Retry{std::nullopt, "job " + call->name + " still " + call->last_status +
                                                " when the sink's timeout ran out"});
  call->timer.expires_after(after);
  call->timer.async_wait([this, alive = alive_, call](const boost::system::error_code& ec) {
    if (!*alive) return orphaned(call);
    if (ec || aborted_) return finish(call, Retry{std::nullopt, "aborted at shutdown"});
    call->page.clear();
    call->pages = 0;
    poll(call);
  });
}

void OscarSink::poll(const CallPtr& call) {
  if (aborted_) return finish(call, Retry{std::nullopt, "aborted at shutdown"});
  auto send = [this, call](const std::string& bearer) {
    HttpRequest req;
    req.method = "GET";
    req.url = config_.endpoint + "/system/logs/" + config_.service;
    std::string query;
    if (!call->page.empty()) query += "page=" + pct(call->page);
    if (!config_.owner.empty())
      query += (query.empty() ? "" : "&") + ("owner=" + pct(config_.owner));
    if (!query.empty()) req.url += "?" + query;
    req.headers = {{"Accept", "application/json"}, {"User-Agent", "sluice/" SLUICE_VERSION}};
    if (!bearer.empty()) req.headers.emplace_back("Authorization", "Bearer " + bearer);
    token_.applyBasic(req);
    token_.applyTls(req);
    req.timeout = requestTimeout(*call, false);
    req.max_response_body = 16 << 20;
    call->http_id = http_.send(std::move(req), [this, alive = alive_, call](HttpResponse r) {
      if (!*alive) return orphaned(call);
      call->http_id.reset();
      onPolled(call, r);
    });
  };
  if (token_.hasBasic()) return send("");
  token_.get([this, alive = alive_, call, send](const TokenResult& t) {
    if (!*alive) return orphaned(call);
    if (t.token.empty()) return finish(call, Retry{std::nullopt, t.error});
    send(t.token);
  });
}

void OscarSink::onPolled(const CallPtr& call, const HttpResponse& r) {
  if (r.cancelled) return finish(call, Retry{std::nullopt, "aborted at shutdown"});
  if (r.status == 401 || r.status == 403)
    return finish(call,
                  Dead{withBody("job " + call->name +
                                    " was submitted, but its status cannot be read: "
                                    "/system/logs answered " +
                                    std::to_string(r.status) +
                                    " (it takes username and password_file or an OIDC token, not a "
                                    "service token)",
                                r.body)});
  if (r.curl_code != 0 || r.status != 200) {  // transient: ask again at the next interval
    call->last_status +=
        " (status unknown: " + (r.curl_code ? r.error : "HTTP " + std::to_string(r.status)) + ")";
    return schedulePoll(call, config_.poll_interval);
  }
  JobListPage page = findJobStatus(r.body, call->name);
  if (!page.error.empty()) return finish(call, Retry{std::nullopt, "/system/logs: " + page.error});
  if (!page.status) {
    if (!page.next_page.empty() && page.next_page != call->page &&
        ++call->pages < kMaxPagesPerPoll) {
      call->page = page.next_page;
      return poll(call);
    }
    if (++call->missing >= kMaxMissingPolls)
      return finish(call, Retry{std::nullopt, "job " + call->name + " is not in the job list of " +
                                                  config_.service});
    return schedulePoll(call, config_.poll_interval);
  }
  call->missing = 0;
  call->last_status = *page.status;
  if (*page.status == "Succeeded") return finish(call, Done{});
  if (*page.status == "Failed") {
    if (call->found_existing && call->try_no < kMaxTries) {
      // An earlier attempt's job failed (its retry is this attempt): a new job, a new name.
      ++call->try_no;
      call->refreshed = false;
      return invoke(call);
    }
    return finish(call, Retry{std::nullopt, "job " + call->name + " Failed"});
  }
  schedulePoll(call, config_.poll_interval);
}

std::unique_ptr<Sink> OscarSpec::create(SinkContext& ctx) const {
  return std::make_unique<OscarSink>(name, config, policy, ctx);
}

}  // namespace sluice::sinks::oscar
