#include "daemon/status_api.hpp"

#include <charconv>

#include "daemon/crypto.hpp"
#include "daemon/event.hpp"
#include "daemon/sigv4.hpp"
#include "daemon/status_pages.hpp"
#include "daemon/web/web_assets.hpp"

namespace sluice {
namespace {

// Cursors are shown to operators, not used: a long one (an S3 listing state) is cut.
constexpr std::size_t kMaxCursorShown = 200;


ServerResponse json(int status, const nlohmann::json& j) {
  return {status, "application/json", safeDump(j, 1) + "\n", {{"Cache-Control", "no-store"}}};
}

ServerResponse error(int status, const std::string& why) {
  ServerResponse r = json(status, {{"error", why}});
  if (status == 401) r.headers["WWW-Authenticate"] = "Bearer realm=\"sluice admin\"";
  return r;
}

// The page loads nothing from elsewhere and runs no inline script: a hostile file name that
// slipped past the page's escaping still could not run.
std::map<std::string, std::string> pageHeaders() {
  return {{"Content-Security-Policy",
           "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
           "connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; "
           "frame-ancestors 'none'"},
          {"X-Content-Type-Options", "nosniff"},
          {"Referrer-Policy", "no-referrer"},
          {"Cache-Control", "no-cache"}};
}

std::string lowerAscii(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

}  // namespace

void StatusBoard::committed(const std::string& source, const std::vector<LiveEvent>& events,
                            const std::optional<std::string>& cursor) {
  const std::int64_t now = clock_.nowMs();
  {
    std::lock_guard lock(mu_);
    SourceView& v = sources_[source];
    if (cursor) v.cursor = cursor->substr(0, kMaxCursorShown);
    v.events += events.size();
    if (!events.empty())
      v.last_event = nlohmann::json{{"time_ms", now},
                                    {"id", events.back().id},
                                    {"type", events.back().type},
                                    {"subject", events.back().subject}};
  }
  for (auto& ev : events) hub_.publish(liveEventLine(source, ev, now));
}

void StatusBoard::settled(const LiveDelivery& d) {
  const std::int64_t now = clock_.nowMs();
  {
    std::lock_guard lock(mu_);
    SinkView& v = sinks_[d.sink];
    ++(d.outcome == "done" ? v.done : d.outcome == "dead" ? v.dead : v.retried);
    v.last = nlohmann::json{{"time_ms", now},      {"event_id", d.event_id},
                            {"subject", d.subject}, {"outcome", d.outcome},
                            {"reason", d.reason}};
  }
  hub_.publish(liveDeliveryLine(d, now));
}

void StatusBoard::cursorLoaded(const std::string& source, const std::optional<std::string>& cursor) {
  std::lock_guard lock(mu_);
  if (cursor) sources_[source].cursor = cursor->substr(0, kMaxCursorShown);
}

void StatusBoard::sample(const QueueStats& stats) {
  DepthSample s{clock_.nowMs()};
  for (auto& ss : stats.sinks) {
    s.pending += ss.pending;
    s.leased += ss.leased;
    s.dead += ss.dead;
  }
  std::lock_guard lock(mu_);
  samples_.push_back(s);
  while (samples_.size() > max_samples_) samples_.pop_front();
}

nlohmann::json StatusBoard::statusJson(const std::vector<std::pair<std::string, std::string>>& sources,
                                       const std::vector<Health::Component>& health,
                                       const QueueStats& stats) {
  using nlohmann::json;
  const std::int64_t now = clock_.nowMs();
  std::lock_guard lock(mu_);
  json j = {{"now_ms", now}, {"ready", true}, {"sources", json::array()},
            {"sinks", json::array()}, {"health", json::array()}};
  for (auto& c : health) {
    j["health"].push_back({{"component", c.name}, {"state", healthStateName(c.state)}, {"message", c.message}});
    if (c.state != HealthState::Ok) j["ready"] = false;
  }
  for (auto& [name, type] : sources) {
    const SourceHealth h = sourceHealth(health, name);
    auto& v = sources_[name];
    json s = {{"name", name}, {"type", type}, {"state", healthStateName(h.state)}, {"why", h.why},
              {"events", v.events}, {"cursor", v.cursor ? json(*v.cursor) : json(nullptr)},
              {"last_event", v.last_event ? *v.last_event : json(nullptr)}};
    j["sources"].push_back(std::move(s));
  }
  std::int64_t pending = 0, leased = 0, dead = 0;
  for (auto& ss : stats.sinks) {
    auto& v = sinks_[ss.sink];
    pending += ss.pending;
    leased += ss.leased;
    dead += ss.dead;
    j["sinks"].push_back(
        {{"name", ss.sink}, {"pending", ss.pending - ss.leased}, {"in_flight", ss.leased},
         {"dead", ss.dead}, {"done", v.done}, {"retried", v.retried}, {"dead_lettered", v.dead},
         {"oldest_pending_age_ms",
          ss.oldest_pending_ms ? json(now - *ss.oldest_pending_ms) : json(nullptr)},
         {"last", v.last ? *v.last : json(nullptr)}});
  }
  j["queue"] = {{"events", stats.events}, {"bytes", stats.event_bytes}, {"pending", pending},
                {"in_flight", leased}, {"dead", dead}};
  json history = json::array();
  for (auto& s : samples_) history.push_back({s.time_ms, s.pending, s.leased, s.dead});
  j["history"] = {{"columns", {"time_ms", "pending", "in_flight", "dead"}}, {"samples", history}};
  return j;
}

nlohmann::json deadJson(const std::vector<DeliveryRow>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (auto& r : rows)
    out.push_back({{"seq", r.seq}, {"sink", r.sink}, {"event_id", r.event_id},
                   {"subject", r.subject}, {"attempts", r.attempts}, {"last_error", r.last_error},
                   {"first_seen_ms", r.first_seen_ms}, {"state", r.state}});
  return out;
}

bool sameOrigin(const ServerRequest& r) {
  auto origin = r.headers.find("origin");
  if (origin == r.headers.end()) return true;  // not a browser: nothing to hijack
  auto host = r.headers.find("host");
  if (host == r.headers.end()) return false;
  std::string o = lowerAscii(origin->second);
  auto scheme = o.find("://");
  if (scheme == std::string::npos) return false;
  return o.substr(scheme + 3) == lowerAscii(host->second);
}

int adminCheck(const ServerRequest& r, const std::optional<std::string>& token) {
  if (!token || token->empty()) return 403;
  auto bearer = authorization(r, "bearer");
  return bearer && constantTimeEqual(*bearer, *token) ? 0 : 401;
}

StatusApi::StatusApi(StatusApiOptions opts, StatusBoard& board, LiveFeedHub& hub,
                     StatsCache& stats, Health& health, QueueAdmin& admin,
                     std::function<void(const std::string&)> replayed)
    : opts_(std::move(opts)),
      board_(board),
      hub_(hub),
      stats_(stats),
      health_(health),
      admin_(admin),
      replayed_(std::move(replayed)),
      worker_([this] { workerLoop(); }) {}

StatusApi::~StatusApi() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  worker_.join();
  for (auto& [respond, _] : jobs_) respond(error(503, "shutting down"));
}

void StatusApi::offload(Responder respond, std::function<ServerResponse()> job) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_ && jobs_.size() < kMaxJobs) {
      jobs_.emplace_back(std::move(respond), std::move(job));
      cv_.notify_one();
      return;
    }
  }
  respond(error(503, "too many queue requests at once; try again"));
}

void StatusApi::workerLoop() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    if (stopping_) return;
    auto [respond, job] = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    ServerResponse r;
    try {
      r = job();
    } catch (const std::exception& e) {
      r = error(500, e.what());
    }
    respond(std::move(r));
    lock.lock();
  }
}

std::variant<Selector, std::string> deadSelector(std::string_view query, std::size_t max_limit) {
  Selector sel;
  sel.state = "dead";
  sel.limit = 100;
  if (auto s = queryValue(query, "sink"); s && !s->empty()) sel.sink = *s;
  if (auto p = queryValue(query, "prefix"); p && !p->empty()) sel.subject_prefix = *p;
  if (auto l = queryValue(query, "limit")) {
    std::size_t n = 0;
    auto [p, ec] = std::from_chars(l->data(), l->data() + l->size(), n);
    if (ec != std::errc() || p != l->data() + l->size() || n == 0)
      return std::string("limit: a positive number");
    sel.limit = std::min(n, max_limit);
  }
  return sel;
}

std::optional<Selector> replaySelector(const std::string& body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  auto is = [&j](const char* key, bool (nlohmann::json::*type)() const noexcept) {
    return !j.contains(key) || (j[key].*type)();
  };
  if (!j.is_object() || !j.contains("sink") || !j["sink"].is_string() ||
      !is("event_id", &nlohmann::json::is_string) || !is("prefix", &nlohmann::json::is_string) ||
      !is("since_ms", &nlohmann::json::is_number_integer) ||
      !is("until_ms", &nlohmann::json::is_number_integer))
    return std::nullopt;
  Selector sel;
  sel.state = "dead";
  sel.sink = j["sink"].get<std::string>();
  if (j.contains("event_id")) sel.event_id = j["event_id"].get<std::string>();
  if (j.contains("prefix")) sel.subject_prefix = j["prefix"].get<std::string>();
  if (j.contains("since_ms")) sel.since_ms = j["since_ms"].get<std::int64_t>();
  if (j.contains("until_ms")) sel.until_ms = j["until_ms"].get<std::int64_t>();
  return sel;
}

ServerResponse StatusApi::dead(const ServerRequest& req) {
  auto sel = deadSelector(req.query, opts_.max_limit);
  if (auto* why = std::get_if<std::string>(&sel)) return error(400, *why);
  auto& s = std::get<Selector>(sel);
  return json(200, {{"dead", deadJson(admin_.list(s))}, {"limit", s.limit}});
}

ServerResponse StatusApi::replay(const std::string& body) {
  auto sel = replaySelector(body);
  if (!sel)
    return error(400, R"(expected {"sink": "NAME"} with optional "event_id", "prefix" (of the subject), "since_ms", "until_ms" (first seen); without them: every dead letter of the sink)");
  std::size_t n = admin_.replay(*sel);
  if (n == 0) return error(404, "no dead letter matches");
  if (replayed_) replayed_(*sel->sink);
  return json(200, {{"replayed", n}});
}

void StatusApi::attach(HttpServer& server) {
  auto page = [](std::string_view path) {
    return [path](const ServerRequest& r, Responder respond) {
      const WebAsset* a = findWebAsset(path == "" ? r.path : path);
      if (!a) return respond({404, "text/plain; charset=utf-8", "not found\n", {}});
      respond({200, std::string(a->type), std::string(a->body), pageHeaders()});
    };
  };
  server.route("GET", "/", page("/index.html"));
  server.route("GET", "/static", page(""), RouteOptions{.prefix = true});
  server.route("GET", "/api/status", [this](const ServerRequest&, Responder respond) {
    auto stats = stats_.get();  // cached, cheap: fine on the server thread
    respond(json(200, board_.statusJson(opts_.sources, health_.snapshot(), stats)));
  });
  server.route("GET", "/api/dead", [this](const ServerRequest& r, Responder respond) {
    offload(std::move(respond), [this, r] { return dead(r); });
  });
  server.route("POST", "/api/dead/replay", [this](const ServerRequest& r, Responder respond) {
    if (int status = adminCheck(r, opts_.admin_token))
      return respond(error(status, status == 403
                                       ? "admin actions are off: set http.admin_token_file"
                                       : "this needs the admin token as \"Authorization: Bearer T\""));
    offload(std::move(respond), [this, body = r.body] { return replay(body); });
  }, RouteOptions{.max_body = 64 * 1024});
  server.websocket("/live", [this](const ServerRequest& r, std::function<void()> wake)
                                -> std::unique_ptr<WsStream> {
    if (!sameOrigin(r)) return nullptr;
    struct Stream final : WsStream {
      std::shared_ptr<LiveSubscriber> sub;
      std::optional<std::string> next() override { return sub->next(); }
    };
    auto sub = hub_.subscribe(std::move(wake));
    if (!sub) return nullptr;  // max_subscribers connected
    auto s = std::make_unique<Stream>();
    s->sub = std::move(sub);
    s->sub->push(R"({"kind":"hello"})");
    return s;
  });
}

}  // namespace sluice
