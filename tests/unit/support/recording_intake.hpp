#pragma once
// Stands in for the queue at a connector's seam (the Intake): keeps what was committed, and can
// hold commits back, refuse them, or refuse batches above a size as queue.max_size does.
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "daemon/connector.hpp"

namespace sluice::test {

class RecordingIntake final : public Intake {
 public:
  explicit RecordingIntake(boost::asio::io_context& io) : io_(io) {}
  void commit(Batch b, std::function<void(CommitResult)> done) override {
    ++commits;
    if (hold) {  // a slow disk: the commit completes when the test says so
      held.push_back([this, b = std::move(b), done = std::move(done)]() mutable {
        commit(std::move(b), std::move(done));
      });
      --commits;
      return;
    }
    CommitResult r;
    if (fail_next > 0) {
      --fail_next;
      r.error = "database or disk is full";
    } else if (max_batch > 0 && b.index.size() > max_batch) {  // queue.max_size too close
      r.full = true;
      r.error = "the queue is full: this batch would pass queue.max_size";
    } else {
      r.ok = true;
      for (auto& u : b.index) {
        if (u.fingerprint)
          index[u.key] = *u.fingerprint;
        else
          index.erase(u.key);
      }
      for (auto& [i, why] : b.dead) dead.emplace_back(b.events.at(i), why);
      for (auto& e : b.events) events.push_back(e);
      r.committed = b.events.size();
    }
    boost::asio::post(io_, [done = std::move(done), r] { done(r); });
  }
  SourceState loadState(const std::string&, const IndexVisitor& visit) override {
    if (visit)
      for (auto& [k, fp] : index) visit(k, fp);
    return {};
  }

  boost::asio::io_context& io_;
  std::map<std::string, std::string> index;
  std::vector<Event> events;                        // every committed event, parked ones too
  std::vector<std::pair<Event, std::string>> dead;  // Batch::dead entries, with the reason
  int fail_next = 0;
  std::size_t max_batch = 0;  // > 0: bigger batches fail as "full" (CommitResult::full)
  int commits = 0;
  bool hold = false;
  std::vector<std::function<void()>> held;
};

}  // namespace sluice::test
