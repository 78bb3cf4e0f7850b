#pragma once
// A remote source's way into Intake::commit, shared by every connector that reads a stream or
// a listing: the changes it has read wait here in order as works (a batch, and what to do
// once that batch is stored), and go to the queue one commit at a time, merged up to a batch
// limit.
//
// Contract (persist, then acknowledge):
//  - Works are committed in the order they were enqueued; a work's `after(true)` and the
//    `stored` hook run only once its batch is durable, in that order.
//  - A failed commit loses nothing. While running it is retried with backoff (a full queue
//    halves the batch, so what fits goes in); a work whose sender keeps it (`after` set and not
//    `keep_on_failure`: a push answered 503) is given back with after(false) instead. Under
//    `sluice once` (not running) the failure is reported to every idle waiter instead.
//  - A work bigger than the batch limit goes in parts; its index updates go with the last part,
//    so no key is recorded as known before its event is stored.
//  - Everything runs on the io_context thread; callbacks never run inline from enqueue().
#include <boost/asio/steady_timer.hpp>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "daemon/connector.hpp"

namespace sluice {

class CommitPump {
 public:
  using Done = std::function<void(std::string error)>;
  struct Work {
    Batch batch;
    std::function<void(bool ok)> after;  // after the commit (a push: answers its sender)
    bool keep_on_failure = false;        // a failed commit is retried even though `after` is set
  };
  struct Hooks {
    // A work's batch is durable (commit order): the connector mirrors its index updates.
    std::function<void(const Batch&)> stored;
    // After each commit result: resume what waited for the queue to shorten.
    std::function<void()> drained;
    // intakeError() changed (the connector republishes its health).
    std::function<void()> intake_changed;
    // True while the connector has other work `sluice once` must wait for (e.g. SQS deletes).
    std::function<bool()> busy;
  };

  CommitPump(ConnectorContext& ctx, std::string source, Hooks hooks, std::size_t max_batch = 1000);
  ~CommitPump();
  CommitPump(const CommitPump&) = delete;
  CommitPump& operator=(const CommitPump&) = delete;

  void enqueue(Work w);
  // Commits what waits, unless a commit or a retry is pending.
  void pump();
  // Works waiting or in flight.
  std::size_t size() const { return queue_.size(); }
  // A failed commit waits for its retry: new pushes should be refused (503), not held.
  bool retryPending() const { return retry_pending_; }
  // Running (`sluice run`): failures are retried; otherwise (`sluice once`) they are reported.
  void setRunning(bool running) { running_ = running; }
  // No commit starts after this; works not in flight are given back (after(false)).
  void stop();
  // `done(error)` once nothing is queued or committing and hooks.busy() is false (or at once
  // with the commit failure of `sluice once`). Never inline.
  void whenIdle(Done done, std::string error);
  // Runs the idle waiters if their condition holds now (call when hooks.busy() turned false).
  void notifyIdle();
  // `sluice once`: a commit failed (then every waiter hears it); "" otherwise.
  const std::string& onceError() const { return once_error_; }
  // A new `sluice once` attempt: what an earlier one held back is committed first.
  void retryAfterOnceFailure();
  // Why intake is paused ("" while commits succeed).
  const std::string& intakeError() const { return intake_error_; }

 private:
  void committed(std::size_t works, const CommitResult& r);

  ConnectorContext& ctx_;
  const std::string source_;
  Hooks hooks_;
  const std::size_t max_batch_;
  std::size_t batch_limit_;
  std::deque<Work> queue_;
  bool committing_ = false, retry_pending_ = false, running_ = false, stopped_ = false;
  std::size_t inflight_works_ = 0;  // the works of the commit in flight (queue_'s first)
  int failures_ = 0;
  std::string once_error_, intake_error_;
  boost::asio::steady_timer retry_timer_;
  std::vector<std::pair<Done, std::string>> idle_waiters_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace sluice
