#include "daemon/commit_pump.hpp"

#include <spdlog/logger.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <iterator>

namespace sluice {

CommitPump::CommitPump(ConnectorContext& ctx, std::string source, Hooks hooks,
                       std::size_t max_batch)
    : ctx_(ctx),
      source_(std::move(source)),
      hooks_(std::move(hooks)),
      max_batch_(max_batch),
      batch_limit_(max_batch),
      retry_timer_(ctx.io) {}

CommitPump::~CommitPump() { *alive_ = false; }

void CommitPump::enqueue(Work w) {
  queue_.push_back(std::move(w));
  pump();
}

void CommitPump::pump() {
  if (committing_ || retry_pending_ || queue_.empty() || stopped_) return;
  if (queue_.front().batch.events.size() > batch_limit_ && !queue_.front().after) {
    Work first;
    first.batch.source = source_;
    auto& events = queue_.front().batch.events;
    first.batch.events.assign(std::make_move_iterator(events.begin()),
                              std::make_move_iterator(events.begin() + batch_limit_));
    events.erase(events.begin(), events.begin() + batch_limit_);
    queue_.push_front(std::move(first));
  }
  Batch b;
  b.source = source_;
  std::size_t n = 0;
  for (auto& w : queue_) {
    if (n > 0 && b.events.size() + w.batch.events.size() > batch_limit_) break;
    for (auto& [i, why] : w.batch.dead) b.dead.emplace(b.events.size() + i, why);
    b.events.insert(b.events.end(), w.batch.events.begin(), w.batch.events.end());
    b.index.insert(b.index.end(), w.batch.index.begin(), w.batch.index.end());
    if (w.batch.cursor) b.cursor = w.batch.cursor;  // the latest one wins
    ++n;
  }
  committing_ = true;
  inflight_works_ = n;
  ctx_.intake.commit(std::move(b), [this, alive = alive_, n](CommitResult r) {
    if (*alive) committed(n, r);
  });
}

void CommitPump::committed(std::size_t works, const CommitResult& r) {
  committing_ = false;
  inflight_works_ = 0;
  if (r.ok) {
    for (std::size_t i = 0; i < works; ++i) {
      Work w = std::move(queue_.front());
      queue_.pop_front();
      if (hooks_.stored) hooks_.stored(w.batch);
      if (w.after) w.after(true);
    }
    if (failures_ > 0) {
      ctx_.log->info("source {}: queue writable again, intake resumed", source_);
      failures_ = 0;
      intake_error_.clear();
      if (hooks_.intake_changed) hooks_.intake_changed();
    }
    batch_limit_ = std::min(max_batch_, batch_limit_ * 2);
    if (hooks_.drained) hooks_.drained();
    pump();
    notifyIdle();
    return;
  }
  if (failures_++ == 0)
    ctx_.log->error("source {}: commit failed ({}); intake paused, {} changes held, retrying",
                    source_, r.error, queue_.size());
  intake_error_ = "intake paused, " + std::to_string(queue_.size()) + " changes held: " + r.error;
  if (hooks_.intake_changed) hooks_.intake_changed();
  // A push is not held here: its sender keeps it (503) and sends it again.
  std::size_t i = 0;
  for (std::size_t k = 0; k < works; ++k) {
    if (queue_[i].after && !queue_[i].keep_on_failure) {
      auto after = std::move(queue_[i].after);
      queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(i));
      after(false);
    } else {
      ++i;
    }
  }
  std::size_t events = 0;
  for (std::size_t k = 0; k < i; ++k) events += queue_[k].batch.events.size();
  // Only a work without a sender to answer can go in parts (pump()); others wait for space.
  const bool split = r.full && i > 0 && !queue_.front().after && events > 1;
  if (split) batch_limit_ = std::max<std::size_t>(1, events / 2);
  if (!running_) {  // `sluice once`: report (now and to whoever waits later), do not wait
    once_error_ = "queue commit failed: " + r.error;
    notifyIdle();
    return;
  }
  retry_pending_ = true;
  retry_timer_.expires_after(split ? std::chrono::milliseconds(1)
                                   : std::chrono::milliseconds(250 << std::min(failures_, 7)));
  retry_timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
    if (ec || !*alive) return;
    retry_pending_ = false;
    pump();
  });
  // The pushes given up may have emptied the queue (pump() waits for the timer).
  if (hooks_.drained) hooks_.drained();
  notifyIdle();
}

void CommitPump::stop() {
  stopped_ = true;
  running_ = false;
  retry_timer_.cancel();
  // Pushes not committed yet: their senders keep them (503).
  for (std::size_t i = inflight_works_; i < queue_.size(); ++i)
    if (auto after = std::exchange(queue_[i].after, nullptr)) after(false);
}

void CommitPump::whenIdle(Done done, std::string error) {
  idle_waiters_.emplace_back(std::move(done), std::move(error));
  boost::asio::post(ctx_.io, [this, alive = alive_] {
    if (*alive) notifyIdle();
  });
}

void CommitPump::notifyIdle() {
  if (!once_error_.empty()) {
    for (auto& w : std::exchange(idle_waiters_, {})) w.first(once_error_);
    return;
  }
  if (committing_ || !queue_.empty() || (hooks_.busy && hooks_.busy())) return;
  for (auto& [done, error] : std::exchange(idle_waiters_, {})) done(error);
}

void CommitPump::retryAfterOnceFailure() {
  once_error_.clear();
  pump();
}

}  // namespace sluice
