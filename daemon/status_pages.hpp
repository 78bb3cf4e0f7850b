#pragma once
// What the embedded HTTP server shows: /healthz, /readyz, /metrics, /status, and the queue
// gauges behind /metrics (read through a short cache so scrapes never pile up on the queue).
#include <mutex>

#include "daemon/clock.hpp"
#include "daemon/health.hpp"
#include "daemon/http_server.hpp"
#include "daemon/metrics.hpp"
#include "daemon/queue.hpp"

namespace sluice {

// Thread-safe: the server thread and the io thread both read it.
class StatsCache {
 public:
  // `sinks`: the configured sink names, reported (with zeros) even before their first delivery.
  StatsCache(Queue& queue, const Clock& clock, std::vector<std::string> sinks,
             std::int64_t max_age_ms = 1000)
      : queue_(queue), clock_(clock), sinks_(std::move(sinks)), max_age_ms_(max_age_ms) {}
  QueueStats get();

 private:
  Queue& queue_;
  const Clock& clock_;
  std::vector<std::string> sinks_;
  std::int64_t max_age_ms_;
  std::mutex mu_;
  std::int64_t at_ms_ = -1;
  QueueStats cached_;
};

// Adds a zero row for each name in `sinks` that `stats` lacks, keeping the order sorted.
void includeSinks(QueueStats& stats, const std::vector<std::string>& sinks);

// max_bytes: queue.max_size (0 = no cap), exported so alerts can compare the stored bytes to it.
void addQueueMetrics(Metrics& metrics, StatsCache& stats, const Clock& clock, std::uint64_t max_bytes);
void addStatusRoutes(HttpServer& server, Metrics& metrics, Health& health, StatsCache& stats);

}  // namespace sluice
