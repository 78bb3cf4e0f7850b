#include "daemon/status_pages.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace sluice {

QueueStats StatsCache::get() {
  std::lock_guard lock(mu_);
  std::int64_t now = clock_.nowMs();
  if (at_ms_ < 0 || now - at_ms_ >= max_age_ms_) {
    try {
      cached_ = queue_.stats();
      includeSinks(cached_, sinks_);
    } catch (const std::exception&) {
      // A busy or failing queue must not take the daemon down for a gauge: keep the last
      // figures; commit failures are reported through /readyz by the intake.
    }
    at_ms_ = now;
  }
  return cached_;
}

void includeSinks(QueueStats& stats, const std::vector<std::string>& sinks) {
  for (auto& name : sinks) {
    bool found = false;
    for (auto& ss : stats.sinks) found = found || ss.sink == name;
    if (!found) stats.sinks.push_back(SinkStats{name});
  }
  std::sort(stats.sinks.begin(), stats.sinks.end(),
            [](const SinkStats& a, const SinkStats& b) { return a.sink < b.sink; });
}

void addQueueMetrics(Metrics& metrics, StatsCache& stats, const Clock& clock, std::uint64_t max_bytes) {
  metrics.addCollector([&stats, &clock, max_bytes](std::string& out) {
    auto s = stats.get();
    auto family = [&](const char* name, const char* help, const char* type, auto value) {
      // Appended piece by piece: g++ 12 misreports long operator+ chains (-Warray-bounds).
      out.append("# HELP ").append(name).append(" ").append(help).append("\n");
      out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
      for (auto& ss : s.sinks) {
        out.append(name).append("{sink=\"").append(Metrics::escapeLabel(ss.sink)).append("\"} ");
        out.append(value(ss)).append("\n");
      }
    };
    family("sluice_queue_pending", "deliveries waiting or in flight", "gauge",
           [](const SinkStats& ss) { return std::to_string(ss.pending); });
    family("sluice_queue_leased", "deliveries in flight", "gauge",
           [](const SinkStats& ss) { return std::to_string(ss.leased); });
    family("sluice_queue_dead", "deliveries in the dead-letter queue", "gauge",
           [](const SinkStats& ss) { return std::to_string(ss.dead); });
    family("sluice_queue_oldest_pending_age_seconds", "age of the oldest pending delivery",
           "gauge", [&](const SinkStats& ss) {
             if (!ss.oldest_pending_ms) return std::string("0");
             return std::to_string(static_cast<double>(clock.nowMs() - *ss.oldest_pending_ms) / 1000.0);
           });
    out.append("# HELP sluice_queue_events stored events not yet finished\n"
               "# TYPE sluice_queue_events gauge\nsluice_queue_events ");
    out.append(std::to_string(s.events)).append("\n");
    out.append("# HELP sluice_queue_bytes stored event bodies, what queue.max_size caps\n"
               "# TYPE sluice_queue_bytes gauge\nsluice_queue_bytes ");
    out.append(std::to_string(s.event_bytes)).append("\n");
    out.append("# HELP sluice_queue_max_bytes queue.max_size (0: no cap)\n"
               "# TYPE sluice_queue_max_bytes gauge\nsluice_queue_max_bytes ");
    out.append(std::to_string(max_bytes)).append("\n");
  });
}

void addStatusRoutes(HttpServer& server, Metrics& metrics, Health& health, StatsCache& stats) {
  server.route("GET", "/healthz", [](const ServerRequest&, Responder respond) {
    respond({200, "text/plain; charset=utf-8", "ok\n", {}});
  });
  server.route("GET", "/readyz", [&health](const ServerRequest&, Responder respond) {
    bool ready = health.ready();
    respond({ready ? 200 : 503, "text/plain; charset=utf-8",
             (ready ? "ready\n" : "not ready\n") + health.report(), {}});
  });
  server.route("GET", "/metrics", [&metrics](const ServerRequest&, Responder respond) {
    respond({200, "text/plain; version=0.0.4; charset=utf-8", metrics.render(), {}});
  });
  server.route("GET", "/status", [&health, &stats](const ServerRequest&, Responder respond) {
    auto s = stats.get();
    nlohmann::json j = {{"ready", health.ready()}, {"health", health.report()},
                        {"events", s.events}, {"sinks", nlohmann::json::object()}};
    for (auto& ss : s.sinks)
      j["sinks"][ss.sink] = {{"pending", ss.pending}, {"leased", ss.leased}, {"dead", ss.dead}};
    respond({200, "application/json", j.dump(2) + "\n", {}});
  });
}

}  // namespace sluice
