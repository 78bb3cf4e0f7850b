#include "daemon/dispatcher.hpp"

#include <algorithm>
#include <limits>
#include <set>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

namespace sluice {
namespace {

// How often a sink without room (Sink::room) is asked again, besides after each finished
// delivery: room can also come from outside (a GPU that someone else's process frees).
constexpr std::int64_t kRoomPollMs = 1'000;

}  // namespace

struct Dispatcher::Worker {
  Worker(boost::asio::io_context& io, std::string n, Sink& s, DeliveryPolicy p)
      : name(std::move(n)), sink(s), policy(std::move(p)), timer(io), grace(io) {}
  std::string name;
  Sink& sink;
  DeliveryPolicy policy;
  boost::asio::steady_timer timer;
  boost::asio::steady_timer grace;  // stop(): how long in-flight deliveries may still run
  int inflight = 0;
  bool leasing = false;
  bool exhausted = false;  // the last lease found nothing more that is due now
  bool aborted = false;    // stop() cut its in-flight deliveries short
  Counter* done = nullptr;
  Counter* retried = nullptr;
  Counter* dead = nullptr;
  Counter* released = nullptr;
  std::int64_t last_retry_log_ms = std::numeric_limits<std::int64_t>::min();
  std::uint64_t retries_not_logged = 0;
  std::uint64_t summary_done = 0, summary_retried = 0, summary_dead = 0;  // at the last summary
  Histogram* latency = nullptr;
  Histogram* attempt_time = nullptr;
};

Dispatcher::Dispatcher(boost::asio::io_context& io, Queue& queue, Metrics& metrics,
                       Health& health, const Clock& clock, std::shared_ptr<spdlog::logger> log,
                       LiveFeed* feed)
    : io_(io),
      queue_(queue),
      metrics_(metrics),
      health_(health),
      clock_(clock),
      log_(std::move(log)),
      rng_(std::random_device{}()),
      summary_timer_(io),
      feed_(feed) {}

Dispatcher::~Dispatcher() = default;

void Dispatcher::add(const std::string& name, Sink& sink, const DeliveryPolicy& policy) {
  auto w = std::make_unique<Worker>(io_, name, sink, policy);
  Labels l{{"sink", name}};
  w->done = &metrics_.counter("sluice_deliveries_done_total", "deliveries accepted by the sink", l);
  w->retried = &metrics_.counter("sluice_deliveries_retried_total", "failed attempts to be retried", l);
  w->dead = &metrics_.counter("sluice_deliveries_dead_total", "deliveries moved to the dead-letter queue", l);
  w->released = &metrics_.counter("sluice_deliveries_released_total",
                                   "deliveries cut short at shutdown or reload (attempt not counted)", l);
  w->latency = &metrics_.histogram("sluice_delivery_latency_seconds",
                                   "from durable commit to accepted delivery", l, latencyBuckets());
  w->attempt_time = &metrics_.histogram("sluice_delivery_attempt_seconds",
                                        "duration of one delivery attempt", l, latencyBuckets());
  workers_[name] = std::move(w);
}

void Dispatcher::start() {
  started_ = true;
  for (auto& [_, w] : workers_) pump(*w);
}

void Dispatcher::wake(const std::string& sink) {
  auto it = workers_.find(sink);
  if (it == workers_.end() || !started_) return;
  it->second->exhausted = false;
  it->second->timer.cancel();
  pump(*it->second);
}

void Dispatcher::pump(Worker& w) {
  if (stopping_ || w.leasing || w.inflight >= w.policy.concurrency) return;
  const int room = w.sink.room();
  if (room <= 0) {  // e.g. no free GPU: the deliveries wait in the queue, not in a lease
    schedule(w, clock_.nowMs() + kRoomPollMs);
    return;
  }
  w.leasing = true;
  const auto want = static_cast<std::size_t>(std::min(w.policy.concurrency - w.inflight, room));
  // A lease outlives the sink's own timeout, so it only expires for a hung or dead process.
  const Duration lease_for = w.policy.timeout * 2 + Duration(30'000);
  queue_.lease(w.name, want, lease_for,
               [this, &w, want](bool ok, std::vector<Lease> leases, std::optional<std::int64_t> next) {
                 boost::asio::post(io_, [this, &w, want, ok, leases = std::move(leases), next]() mutable {
                   w.leasing = false;
                   if (!ok) {
                     health_.set("queue", HealthState::Failed,
                                 "the queue cannot lease deliveries: " + queue_.lastError());
                     schedule(w, clock_.nowMs() + 1000);
                     checkStopped();
                     return;
                   }
                   w.exhausted = leases.size() < want;
                   for (auto& l : leases) {
                     if (stopping_) {  // leased while stopping: release untouched
                       settle(w, {l.seq, w.name, Outcome::Release, clock_.nowMs(), ""});
                       continue;
                     }
                     startDelivery(w, std::move(l));
                   }
                   if (!w.exhausted) pump(w);
                   else schedule(w, next);
                   checkDrained();
                   checkStopped();  // stop() may have come while this lease was on its way
                 });
               });
}

void Dispatcher::schedule(Worker& w, std::optional<std::int64_t> next_due_ms) {
  if (stopping_) return;
  // Commits of our own sources wake the worker at once; the poll cap is for what other
  // processes change in the queue (`sluice queue replay` while the daemon runs).
  constexpr std::int64_t kPollMs = 2'000;
  auto delay = next_due_ms ? std::max<std::int64_t>(0, *next_due_ms - clock_.nowMs()) : kPollMs;
  w.timer.expires_after(std::chrono::milliseconds(std::min<std::int64_t>(delay, kPollMs)));
  w.timer.async_wait([this, &w](boost::system::error_code ec) {
    if (ec) return;
    w.exhausted = false;
    pump(w);
  });
}

void Dispatcher::startDelivery(Worker& w, Lease lease) {
  ++w.inflight;
  auto started = std::chrono::steady_clock::now();
  DeliveryInfo info{w.name, lease.seq, lease.attempt, lease.first_seen_ms};
  auto shared = std::make_shared<Lease>(std::move(lease));
  w.sink.deliver(shared->event, info, [this, &w, shared, started](DeliveryResult r) {
    --w.inflight;
    finish(w, *shared, std::move(r), started);
    pump(w);
    checkDrained();
    checkStopped();
  });
}

void Dispatcher::finish(Worker& w, const Lease& l, DeliveryResult r,
                        std::chrono::steady_clock::time_point started) {
  const std::int64_t now = clock_.nowMs();
  auto emit = routeEmitted(w.name, std::visit([](auto& x) { return std::move(x.emit); }, r));
  auto with = [&emit, &l](Settlement s) {
    s.emit = emit;
    // The queue keeps these only with an output; the live feed shows them for every outcome.
    s.event_id = l.event.id;
    s.subject = l.event.subject();
    s.attempts = l.attempt;
    return s;
  };
  w.attempt_time->observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  if (std::holds_alternative<Done>(r)) {
    w.latency->observe(static_cast<double>(std::max<std::int64_t>(0, now - l.first_seen_ms)) / 1000.0);
    log_->debug("sink {}: event {} ({}) delivered on attempt {}", w.name, l.event.id,
                l.event.subject(), l.attempt);
    Settlement s = with({l.seq, w.name, Outcome::Done, 0, ""});
    if (auto& out = std::get<Done>(r).output) {
      s.output = std::move(*out);
      s.event_id = l.event.id;
      s.subject = l.event.subject();
      s.attempts = l.attempt;
    }
    settle(w, std::move(s), w.done);
    return;
  }
  if (w.aborted) {  // cut short by stop(): not the receiver's failure, not an attempt
    log_->debug("sink {}: event {} released at shutdown ({})", w.name, l.event.id, describe(r));
    settle(w, {l.seq, w.name, Outcome::Release, now, ""}, w.released);
    return;
  }
  if (auto* retry = std::get_if<Retry>(&r)) {
    std::string why;
    if (l.attempt >= w.policy.max_attempts)
      why = "gave up after " + std::to_string(l.attempt) + " attempts; last: " + retry->reason;
    else if (now - l.first_seen_ms >= w.policy.max_age.count())
      why = "older than max_age; last: " + retry->reason;
    if (why.empty()) {
      auto delay = retryDelay(w.policy.backoff, l.attempt, retry->after, rng_);
      // Never parked past max_age: the attempt at that moment is the last one.
      std::int64_t due = std::min(now + delay.count(), l.first_seen_ms + w.policy.max_age.count());
      logRetry(w, l, *retry, Duration(due - now));
      settle(w, with({l.seq, w.name, Outcome::Retry, due, retry->reason}), w.retried);
      return;
    }
    r = Dead{why, {}};
  }
  const auto& reason = std::get<Dead>(r).reason;
  log_->warn("sink {}: event {} ({}) dead-lettered: {}", w.name, l.event.id, l.event.subject(), reason);
  settle(w, with({l.seq, w.name, Outcome::Dead, 0, reason}), w.dead);
}

std::optional<RoutedBatch> Dispatcher::routeEmitted(const std::string& sink,
                                                     std::vector<Event> emitted) const {
  if (emitted.empty() || !emit_router_) return std::nullopt;
  RoutedBatch rb;
  rb.batch.source = sink;
  bool any = false;
  for (auto& ev : emitted) {
    rb.sinks.push_back(emit_router_(sink, ev));
    any = any || !rb.sinks.back().empty();
    rb.batch.events.push_back(std::move(ev));
  }
  if (!any) return std::nullopt;
  return rb;
}

void Dispatcher::logRetry(Worker& w, const Lease& l, const Retry& r, Duration delay) {
  // One line per sink per 10 s: an outage of a busy receiver must not flood the log.
  constexpr std::int64_t kEveryMs = 10'000;
  const std::int64_t now = clock_.nowMs();
  const bool logged_before = w.last_retry_log_ms != std::numeric_limits<std::int64_t>::min();
  if (logged_before && now - w.last_retry_log_ms < kEveryMs) {
    ++w.retries_not_logged;
    log_->debug("sink {}: event {} attempt {} failed ({}); retry in {} ms", w.name, l.event.id,
                l.attempt, r.reason, delay.count());
    return;
  }
  std::string others = w.retries_not_logged
                           ? " (and " + std::to_string(w.retries_not_logged) + " more failed attempts since the last such line)"
                           : "";
  log_->warn("sink {}: event {} ({}) attempt {} failed: {}; retry in {} ms{}", w.name, l.event.id,
             l.event.subject(), l.attempt, r.reason, delay.count(), others);
  w.last_retry_log_ms = now;
  w.retries_not_logged = 0;
}

void Dispatcher::settle(Worker& w, Settlement s, Counter* counted) {
  ++settling_;
  std::set<std::string> woken;  // the sinks of emitted events: new deliveries once durable
  if (s.emit)
    for (auto& list : s.emit->sinks) woken.insert(list.begin(), list.end());
  std::optional<LiveDelivery> live;  // releases are no outcome: not shown
  if (feed_ && s.outcome != Outcome::Release)
    live = LiveDelivery{s.sink, s.event_id, s.subject,
                        s.outcome == Outcome::Done ? "done" : s.outcome == Outcome::Dead ? "dead" : "retry",
                        s.attempts, s.reason};
  queue_.settle({std::move(s)}, [this, &w, counted, woken = std::move(woken),
                                 live = std::move(live)](bool ok) {
    boost::asio::post(io_, [this, &w, ok, counted, woken, live] {
      if (ok && live) feed_->settled(*live);
      --settling_;
      // Counted once durable, so the metrics never run ahead of what the queue shows.
      if (ok && counted) counted->inc();
      if (ok)
        for (auto& sink : woken) wake(sink);
      if (!ok) {
        // The lease expires and the delivery is handed out again: at least once, never lost.
        log_->error("sink {}: could not record a delivery outcome; it will be retried", w.name);
        health_.set("queue", HealthState::Failed,
                    "the queue cannot record delivery outcomes: " + queue_.lastError());
      }
      checkDrained();
      checkStopped();
    });
  });
}

void Dispatcher::whenDrained(std::function<void()> done) {
  drained_waiters_.push_back(std::move(done));
  checkDrained();
}

void Dispatcher::checkDrained() {
  if (drained_waiters_.empty() || settling_ > 0) return;
  for (auto& [_, w] : workers_)
    if (w->inflight > 0 || w->leasing || !w->exhausted) return;
  auto waiters = std::move(drained_waiters_);
  drained_waiters_.clear();
  for (auto& f : waiters) f();
}

void Dispatcher::stop(std::function<void()> done, bool reload) {
  stopping_ = true;
  on_stopped_ = std::move(done);
  summary_timer_.cancel();
  for (auto& [name, wp] : workers_) {
    Worker& w = *wp;
    w.timer.cancel();
    if (w.inflight == 0) continue;
    if (reload && w.sink.handOver()) {
      log_->info("sink {}: {} deliveries in flight are handed over to the reloaded process", name,
                 w.inflight);
      w.aborted = true;  // their callbacks come now: released, the attempt not counted
      continue;
    }
    log_->info("sink {}: waiting up to {} ms (shutdown_grace) for {} deliveries in flight", name,
               w.policy.shutdown_grace.count(), w.inflight);
    w.grace.expires_after(w.policy.shutdown_grace);
    w.grace.async_wait([this, &w](boost::system::error_code ec) {
      if (ec || w.inflight == 0) return;
      log_->warn("sink {}: {} deliveries still running after shutdown_grace; cutting them short "
                 "and releasing them (the attempt is not counted)", w.name, w.inflight);
      w.aborted = true;
      w.sink.abort();
    });
  }
  checkStopped();
}

void Dispatcher::logSummaryEvery(std::chrono::milliseconds interval) {
  summary_every_ = interval;
  if (stopping_ || interval.count() <= 0) return;
  summary_timer_.expires_after(interval);
  summary_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopping_) return;
    summary();
    logSummaryEvery(summary_every_);
  });
}

Dispatcher::Totals Dispatcher::totals() const {
  Totals t;
  for (auto& [name, w] : workers_) {
    t.done += w->done->value();
    t.retried += w->retried->value();
    t.dead += w->dead->value();
  }
  return t;
}

void Dispatcher::summary() {
  std::map<std::string, std::int64_t> pending;
  for (auto& ss : queue_.stats().sinks) pending[ss.sink] = ss.pending;
  std::string line;
  bool anything = false;
  for (auto& [name, w] : workers_) {
    const std::uint64_t done = w->done->value(), retried = w->retried->value(), dead = w->dead->value();
    const std::uint64_t d = done - w->summary_done, r = retried - w->summary_retried,
                        x = dead - w->summary_dead;
    w->summary_done = done;
    w->summary_retried = retried;
    w->summary_dead = dead;
    anything = anything || d || r || x || pending[name];
    line += (line.empty() ? "" : "; ") + name + ": " + std::to_string(d) + " delivered, " +
            std::to_string(r) + " retried, " + std::to_string(x) + " dead, " +
            std::to_string(pending[name]) + " pending";
  }
  if (anything)
    log_->info("deliveries in the last {}s: {}", summary_every_.count() / 1000, line);
}

void Dispatcher::checkStopped() {
  if (!stopping_ || !on_stopped_ || settling_ > 0) return;
  for (auto& [_, w] : workers_)
    if (w->inflight > 0 || w->leasing) return;
  for (auto& [_, w] : workers_) w->grace.cancel();
  auto f = std::move(on_stopped_);
  on_stopped_ = nullptr;
  f();
}

}  // namespace sluice
