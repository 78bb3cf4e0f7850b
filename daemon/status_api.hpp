#pragma once
// The status page and the JSON API behind it:
//   GET  /                 the page (daemon/web/*, embedded at build time; see web_assets.hpp)
//   GET  /api/status       sources, sinks, queue depth now and over the last hour
//   GET  /api/dead         dead letters (?sink=&prefix=&limit=), what `sluice queue dead` lists
//   POST /api/dead/replay  {"sink": S, "event_id"?, "prefix"?, "since_ms"?, "until_ms"?}: those
//                          dead letters pending again, due now (`sluice queue replay`); 404 if none
//   GET  /live             WebSocket: the live feed (daemon/live_feed.hpp), one JSON per message
//
// Invariants:
//  - Read-only views are open like /metrics and /status. Replay needs http.admin_token_file's
//    token as "Authorization: Bearer T" (401 without or with a wrong one; 403 when no token is
//    configured: admin actions are then off). Nothing served contains a secret.
//  - Queue admin calls block on the queue's writer thread, so they run on StatusApi's own worker
//    thread, never on the HTTP server thread or the io_context; at most kMaxJobs wait (then 503).
//  - /live refuses a browser connection from another origin (cross-site WebSocket hijacking):
//    an Origin header, when present, must name the Host the request went to.
//  - StatusBoard is thread-safe: the io thread records, the server thread reads.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/clock.hpp"
#include "daemon/health.hpp"
#include "daemon/http_server.hpp"
#include "daemon/live_feed.hpp"
#include "daemon/queue.hpp"

namespace sluice {

class StatsCache;

struct DepthSample {
  std::int64_t time_ms = 0;
  std::int64_t pending = 0, leased = 0, dead = 0;  // summed over the sinks
};

// What the page shows beyond the queue's own figures: each source's last event and cursor, each
// sink's outcomes since start, and the queue depth history. Also forwards the feed to `hub`.
class StatusBoard final : public LiveFeed {
 public:
  StatusBoard(const Clock& clock, LiveFeedHub& hub, std::size_t max_samples = 360)
      : clock_(clock), hub_(hub), max_samples_(max_samples) {}
  void committed(const std::string& source, const std::vector<LiveEvent>& events,
                 const std::optional<std::string>& cursor) override;
  void settled(const LiveDelivery& d) override;
  void cursorLoaded(const std::string& source, const std::optional<std::string>& cursor) override;
  // Records one depth sample (the caller's timer decides how often); the oldest beyond
  // max_samples go.
  void sample(const QueueStats& stats);
  // `sources`: (name, type) of the configured sources, in config order.
  nlohmann::json statusJson(const std::vector<std::pair<std::string, std::string>>& sources,
                            const std::vector<Health::Component>& health,
                            const QueueStats& stats);

 private:
  struct SourceView {
    std::optional<nlohmann::json> last_event;
    std::optional<std::string> cursor;
    std::uint64_t events = 0;
  };
  struct SinkView {
    std::uint64_t done = 0, retried = 0, dead = 0;
    std::optional<nlohmann::json> last;
  };
  const Clock& clock_;
  LiveFeedHub& hub_;
  const std::size_t max_samples_;
  std::mutex mu_;
  std::map<std::string, SourceView> sources_;
  std::map<std::string, SinkView> sinks_;
  std::deque<DepthSample> samples_;
};

// Dead-letter rows as /api/dead answers them.
nlohmann::json deadJson(const std::vector<DeliveryRow>& rows);
// What POST /api/dead/replay's body selects: {"sink": NAME} with optional "event_id", "prefix"
// (of the subject), "since_ms", "until_ms" (first seen); always dead letters. nullopt: the body
// is not such an object.
std::optional<Selector> replaySelector(const std::string& body);
// What GET /api/dead's query selects (sink=, prefix=, limit= capped at `max_limit`); an
// unreadable limit is the error message.
std::variant<Selector, std::string> deadSelector(std::string_view query, std::size_t max_limit);
// Whether an Origin header (if any) names the request's own Host.
bool sameOrigin(const ServerRequest& r);
// 0 when `r` carries "Authorization: Bearer <token>" (compared in constant time), else the
// status to answer: 403 when no token is configured, 401 otherwise.
int adminCheck(const ServerRequest& r, const std::optional<std::string>& token);

struct StatusApiOptions {
  std::vector<std::pair<std::string, std::string>> sources;  // (name, type)
  std::optional<std::string> admin_token;
  std::size_t max_limit = 1000;  // /api/dead rows at most
};

class StatusApi {
 public:
  // `replayed(sink)`: called on the worker thread after a replay made deliveries of `sink` due
  // (the runtime posts a dispatcher wake-up to its loop).
  StatusApi(StatusApiOptions opts, StatusBoard& board, LiveFeedHub& hub, StatsCache& stats,
            Health& health, QueueAdmin& admin, std::function<void(const std::string&)> replayed);
  ~StatusApi();  // finishes the job running, drops the waiting ones (their clients get 503)
  StatusApi(const StatusApi&) = delete;
  StatusApi& operator=(const StatusApi&) = delete;
  void attach(HttpServer& server);

 private:
  static constexpr std::size_t kMaxJobs = 16;
  // Queues `job` for the worker; answers 503 itself when too many wait.
  void offload(Responder respond, std::function<ServerResponse()> job);
  void workerLoop();
  ServerResponse dead(const ServerRequest& r);
  ServerResponse replay(const std::string& body);

  StatusApiOptions opts_;
  StatusBoard& board_;
  LiveFeedHub& hub_;
  StatsCache& stats_;
  Health& health_;
  QueueAdmin& admin_;
  std::function<void(const std::string&)> replayed_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<Responder, std::function<ServerResponse()>>> jobs_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace sluice
