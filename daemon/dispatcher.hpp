#pragma once
// Moves deliveries from the queue to the sinks: lease → deliver → done / retry / dead.
//
// Invariants:
//  - Per sink at most policy.concurrency deliveries are in flight; leases are taken only for
//    free slots (a lease counts an attempt).
//  - Every outcome is settled in the queue: Retry becomes dead once max_attempts or max_age is
//    reached (with the reason); otherwise it is due again after backoff (full jitter) or the
//    receiver's Retry-After, whichever is later.
//  - stop(): no new leases; each sink's in-flight deliveries may finish within its
//    policy.shutdown_grace, then the sink aborts them and they are released: due now, and the
//    attempt their lease counted is taken back (sluice cut them short, the receiver did not
//    fail). `done` runs after every settlement.
//  - Retries and dead letters of every sink are logged (retries at most one line per sink per
//    10 s, with a count of the others); logSummaryEvery() adds a periodic one-line summary.
//  - Events a delivery emits (DeliveryResult's `emit`) are routed as coming from the source
//    named after the sink and settled together with the delivery; their sinks are woken once
//    that is durable.
//  - All methods run on the io_context thread.
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "daemon/clock.hpp"
#include "daemon/health.hpp"
#include "daemon/live_feed.hpp"
#include "daemon/metrics.hpp"
#include "daemon/queue.hpp"
#include "daemon/sink.hpp"

namespace spdlog {
class logger;
}

namespace sluice {

class Dispatcher {
 public:
  Dispatcher(boost::asio::io_context& io, Queue& queue, Metrics& metrics, Health& health,
             const Clock& clock, std::shared_ptr<spdlog::logger> log,
             LiveFeed* feed = nullptr);  // told of every durable outcome; null: nobody watches
  ~Dispatcher();

  void add(const std::string& name, Sink& sink, const DeliveryPolicy& policy);
  // Which sinks an emitted event goes to (the routes from `source`); unset: emitted events are
  // dropped (a config without routes from job sources never needs it).
  using EmitRouter =
      std::function<std::vector<std::string>(const std::string& source, const Event& ev)>;
  void routeEmitted(EmitRouter router) { emit_router_ = std::move(router); }
  void start();
  // New deliveries were committed for `sink`: look now instead of at the next due time.
  void wake(const std::string& sink);
  // Graceful stop (see invariants).
  // `reload`: sinks that can hand their in-flight work over to the next process image do so
  // (Sink::handOver) instead of waiting for it.
  void stop(std::function<void()> done, bool reload = false);
  // Logs, every `interval` while something happened or waits, one line: per sink delivered,
  // retried, dead in the interval and pending now. Stops with stop().
  void logSummaryEvery(std::chrono::milliseconds interval);
  // Deliveries settled since start, over every sink (for `sluice once`'s summary and progress).
  struct Totals {
    std::uint64_t done = 0, retried = 0, dead = 0;
  };
  Totals totals() const;
  // `sluice once`: calls `done` when no sink has a due delivery left and nothing is in flight.
  void whenDrained(std::function<void()> done);

 private:
  struct Worker;
  void pump(Worker& w);
  void startDelivery(Worker& w, Lease lease);
  void finish(Worker& w, const Lease& lease, DeliveryResult r,
              std::chrono::steady_clock::time_point started);
  void settle(Worker& w, Settlement s, Counter* counted = nullptr);
  // The batch of `emitted` with its sinks, or nullopt when none has a route.
  std::optional<RoutedBatch> routeEmitted(const std::string& sink, std::vector<Event> emitted) const;
  void schedule(Worker& w, std::optional<std::int64_t> next_due_ms);
  void checkDrained();
  void checkStopped();
  void logRetry(Worker& w, const Lease& l, const Retry& r, Duration delay);
  void summary();

  boost::asio::io_context& io_;
  Queue& queue_;
  Metrics& metrics_;
  Health& health_;
  const Clock& clock_;
  std::shared_ptr<spdlog::logger> log_;
  std::mt19937_64 rng_;
  std::map<std::string, std::unique_ptr<Worker>> workers_;
  bool started_ = false, stopping_ = false;
  std::size_t settling_ = 0;
  boost::asio::steady_timer summary_timer_;
  std::chrono::milliseconds summary_every_{0};
  std::function<void()> on_stopped_;
  std::vector<std::function<void()>> drained_waiters_;
  EmitRouter emit_router_;
  LiveFeed* feed_;
};

}  // namespace sluice
