#pragma once
// The connectors' door into the queue: routes each event to its sinks, commits the batch
// durably, counts what happened and tells the dispatcher which sinks have new work.
// Runs on the io_context thread; the queue's callback is posted back there.
#include <functional>
#include <set>
#include <string>

#include <boost/asio/io_context.hpp>

#include "daemon/connector.hpp"
#include "daemon/health.hpp"
#include "daemon/live_feed.hpp"
#include "daemon/metrics.hpp"
#include "daemon/queue.hpp"
#include "daemon/router.hpp"

namespace spdlog {
class logger;
}

namespace sluice {

class QueueIntake final : public Intake {
 public:
  using NewWork = std::function<void(const std::set<std::string>& sinks)>;
  QueueIntake(boost::asio::io_context& io, Queue& queue, const Router& router, Metrics& metrics,
              Health& health, std::shared_ptr<spdlog::logger> log, NewWork on_new_work,
              LiveFeed* feed = nullptr);  // told of every durable batch; null: nobody watches
  void commit(Batch batch, std::function<void(CommitResult)> done) override;
  SourceState loadState(const std::string& source, const IndexVisitor& index) override {
    auto state = queue_.loadState(source, index);
    if (feed_) feed_->cursorLoaded(source, state.cursor);
    return state;
  }

 private:
  boost::asio::io_context& io_;
  Queue& queue_;
  const Router& router_;
  Metrics& metrics_;
  Health& health_;
  std::shared_ptr<spdlog::logger> log_;
  NewWork on_new_work_;
  LiveFeed* feed_;
  Counter& failures_;
};

}  // namespace sluice
