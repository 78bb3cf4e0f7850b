#include "daemon/dispatcher.hpp"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

namespace sluice {

struct Dispatcher::Worker {
  Worker(boost::asio::io_context& io, std::string n, Sink& s, DeliveryPolicy p)
      : name(std::move(n)), sink(s), policy(std::move(p)), timer(io) {}
  std::string name;
  Sink& sink;
  DeliveryPolicy policy;
  boost::asio::steady_timer timer;
  int inflight = 0;
  bool leasing = false;
  bool exhausted = false;  // the last lease found nothing more that is due now
  Counter* done = nullptr;
  Counter* retried = nullptr;
  Counter* dead = nullptr;
  Histogram* latency = nullptr;
  Histogram* attempt_time = nullptr;
};

Dispatcher::Dispatcher(boost::asio::io_context& io, Queue& queue, Metrics& metrics,
                       Health& health, const Clock& clock, std::shared_ptr<spdlog::logger> log)
    : io_(io),
      queue_(queue),
      metrics_(metrics),
      health_(health),
      clock_(clock),
      log_(std::move(log)),
      rng_(std::random_device{}()) {}

Dispatcher::~Dispatcher() = default;

void Dispatcher::add(const std::string& name, Sink& sink, const DeliveryPolicy& policy) {
  auto w = std::make_unique<Worker>(io_, name, sink, policy);
  Labels l{{"sink", name}};
  w->done = &metrics_.counter("sluice_deliveries_done_total", "deliveries accepted by the sink", l);
  w->retried = &metrics_.counter("sluice_deliveries_retried_total", "failed attempts to be retried", l);
  w->dead = &metrics_.counter("sluice_deliveries_dead_total", "deliveries moved to the dead-letter queue", l);
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
  w.leasing = true;
  const auto want = static_cast<std::size_t>(w.policy.concurrency - w.inflight);
  // A lease outlives the sink's own timeout, so it only expires for a hung or dead process.
  const Duration lease_for = w.policy.timeout * 2 + Duration(30'000);
  queue_.lease(w.name, want, lease_for,
               [this, &w, want](bool ok, std::vector<Lease> leases, std::optional<std::int64_t> next) {
                 boost::asio::post(io_, [this, &w, want, ok, leases = std::move(leases), next]() mutable {
                   w.leasing = false;
                   if (!ok) {
                     health_.set("queue", HealthState::Failed, "the queue cannot lease deliveries");
                     schedule(w, clock_.nowMs() + 1000);
                     checkStopped();
                     return;
                   }
                   w.exhausted = leases.size() < want;
                   for (auto& l : leases) {
                     if (stopping_) {  // leased while stopping: release untouched
                       settle(w, {l.seq, w.name, Outcome::Retry, clock_.nowMs(), "released at shutdown"});
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
  w.attempt_time->observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  if (std::holds_alternative<Done>(r)) {
    w.latency->observe(static_cast<double>(std::max<std::int64_t>(0, now - l.first_seen_ms)) / 1000.0);
    settle(w, {l.seq, w.name, Outcome::Done, 0, ""}, w.done);
    return;
  }
  if (auto* retry = std::get_if<Retry>(&r)) {
    std::string why;
    if (l.attempt >= w.policy.max_attempts)
      why = "gave up after " + std::to_string(l.attempt) + " attempts; last: " + retry->reason;
    else if (now - l.first_seen_ms >= w.policy.max_age.count())
      why = "older than max_age; last: " + retry->reason;
    if (why.empty()) {
      auto delay = backoffDelay(w.policy.backoff, l.attempt, rng_);
      if (retry->after && *retry->after > delay) delay = *retry->after;
      log_->debug("sink {}: event {} attempt {} failed ({}); retry in {} ms", w.name, l.event.id,
                  l.attempt, retry->reason, delay.count());
      settle(w, {l.seq, w.name, Outcome::Retry, now + delay.count(), retry->reason}, w.retried);
      return;
    }
    r = Dead{why};
  }
  const auto& reason = std::get<Dead>(r).reason;
  log_->warn("sink {}: event {} ({}) dead-lettered: {}", w.name, l.event.id, l.event.subject(), reason);
  settle(w, {l.seq, w.name, Outcome::Dead, 0, reason}, w.dead);
}

void Dispatcher::settle(Worker& w, Settlement s, Counter* counted) {
  ++settling_;
  queue_.settle({std::move(s)}, [this, &w, counted](bool ok) {
    boost::asio::post(io_, [this, &w, ok, counted] {
      --settling_;
      // Counted once durable, so the metrics never run ahead of what the queue shows.
      if (ok && counted) counted->inc();
      if (!ok) {
        // The lease expires and the delivery is handed out again: at least once, never lost.
        log_->error("sink {}: could not record a delivery outcome; it will be retried", w.name);
        health_.set("queue", HealthState::Failed, "the queue cannot record delivery outcomes");
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

void Dispatcher::stop(std::chrono::milliseconds deadline, std::function<void()> done) {
  stopping_ = true;
  on_stopped_ = std::move(done);
  for (auto& [_, w] : workers_) w->timer.cancel();
  deadline_ = std::make_unique<boost::asio::steady_timer>(io_, deadline);
  deadline_->async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    for (auto& [name, w] : workers_)
      if (w->inflight > 0) {
        log_->warn("sink {}: {} deliveries still running at the shutdown deadline; aborting and "
                   "releasing them", name, w->inflight);
        w->sink.abort();
      }
  });
  checkStopped();
}

void Dispatcher::checkStopped() {
  if (!stopping_ || !on_stopped_ || settling_ > 0) return;
  for (auto& [_, w] : workers_)
    if (w->inflight > 0 || w->leasing) return;
  if (deadline_) deadline_->cancel();
  auto f = std::move(on_stopped_);
  on_stopped_ = nullptr;
  f();
}

}  // namespace sluice
