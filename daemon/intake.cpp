#include "daemon/intake.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>

namespace sluice {

QueueIntake::QueueIntake(boost::asio::io_context& io, Queue& queue, const Router& router,
                         Metrics& metrics, Health& health, std::shared_ptr<spdlog::logger> log,
                         NewWork on_new_work, LiveFeed* feed)
    : io_(io),
      queue_(queue),
      router_(router),
      metrics_(metrics),
      health_(health),
      log_(std::move(log)),
      on_new_work_(std::move(on_new_work)),
      feed_(feed),
      failures_(metrics.counter("sluice_queue_commit_failures_total",
                                "batches the queue could not commit (retried by the source)")) {
  metrics_.counter("sluice_events_dropped_total", "events lost by sluice (must stay 0)");
}

void QueueIntake::commit(Batch batch, std::function<void(CommitResult)> done) {
  RoutedBatch rb;
  std::set<std::string> sinks;
  for (std::size_t i = 0; i < batch.events.size(); ++i) {
    rb.sinks.push_back(batch.dead.count(i) ? router_.sinksOf(batch.source)
                                           : router_.sinksFor(batch.source, batch.events[i]));
    sinks.insert(rb.sinks.back().begin(), rb.sinks.back().end());
  }
  const std::string source = batch.source;
  const std::size_t received = batch.events.size();
  std::vector<LiveEvent> live;  // copied before the batch moves into the queue
  if (feed_)
    for (std::size_t i = 0; i < batch.events.size(); ++i) {
      const Event& ev = batch.events[i];
      live.push_back({ev.id, std::string(toString(ev.type)), ev.subject(), rb.sinks[i]});
    }
  std::optional<std::string> cursor = feed_ ? batch.cursor : std::nullopt;
  rb.batch = std::move(batch);
  queue_.append(std::move(rb), [this, source, received, sinks = std::move(sinks),
                                live = std::move(live), cursor = std::move(cursor),
                                done = std::move(done)](CommitResult r) mutable {
    boost::asio::post(io_, [this, source, received, sinks = std::move(sinks),
                            live = std::move(live), cursor = std::move(cursor),
                            done = std::move(done), r = std::move(r)] {
      Labels l{{"source", source}};
      if (r.ok) {
        metrics_.counter("sluice_events_received_total", "events read from sources", l)
            .inc(received);
        metrics_.counter("sluice_events_committed_total", "new events stored durably", l)
            .inc(r.committed);
        metrics_
            .counter("sluice_events_deduplicated_total",
                     "events already seen within the dedup horizon", l)
            .inc(r.deduplicated);
        metrics_.counter("sluice_events_unrouted_total", "new events no route wanted", l)
            .inc(r.unrouted);
        // Stored straight into the dead-letter queue: said once per batch, counted by cause.
        const struct {
          std::size_t n;
          const char *metric, *help, *what;
        } dead[] = {{r.unencodable, "sluice_events_unencodable_total",
                     "events stored straight into the dead-letter queue: not encodable",
                     "events could not be encoded exactly"},
                    {r.parked, "sluice_events_parked_total",
                     "unusable input stored straight into the dead-letter queue",
                     "unusable inputs (with the reason)"}};
        for (auto& d : dead) {
          if (d.n == 0) continue;
          metrics_.counter(d.metric, d.help, l).inc(d.n);
          log_->warn("source {}: {} {} went to the dead-letter queue (see `sluice queue dead`)",
                     source, d.n, d.what);
        }
        if (health_.state("queue") != HealthState::Ok) {
          health_.set("queue", HealthState::Ok);
          log_->info("queue: commits succeed again");
        }
        if (r.committed > 0 && on_new_work_) on_new_work_(sinks);
        if (feed_ && (r.deduplicated < received || cursor))
          feed_->committed(source, r.deduplicated < received ? live : std::vector<LiveEvent>{}, cursor);
      } else {
        failures_.inc();
        health_.set("queue", HealthState::Failed,
                    "the queue cannot commit (" + r.error + "): sources are paused until it can");
      }
      done(r);
    });
  });
}

}  // namespace sluice
