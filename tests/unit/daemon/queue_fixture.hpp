#pragma once
// Shared by the queue tests: a queue in a temporary directory with a manual clock, and
// blocking helpers around its callback API.
#include <gtest/gtest.h>

#include <future>
#include <optional>
#include <string>
#include <vector>

#include "daemon/clock.hpp"
#include "daemon/queue_sqlite.hpp"
#include "tests/unit/support/temp_dir.hpp"

namespace sluice::test {

inline Event makeEvent(const std::string& path) {
  Event ev;
  ev.id = eventId({"src", path});
  ev.source = "file://host/in";
  ev.storage = "local";
  ev.connector = "in";
  ev.path = path;
  ev.time_ms = 1'700'000'000'000;
  return ev;
}

struct QueueFixture : ::testing::Test {
  test::TempDir dir;
  ManualClock clock;
  QueueOptions opts() {
    QueueOptions o;
    o.path = (dir.path() / "queue.db").string();
    o.dedup_horizon = Duration(60'000);
    return o;
  }
  static CommitResult append(SqliteQueue& q, std::vector<Event> evs,
                             std::vector<std::string> sinks,
                             std::optional<std::string> cursor = std::nullopt) {
    RoutedBatch rb;
    rb.batch.source = "in";
    rb.batch.cursor = cursor;
    for (auto& e : evs) {
      rb.batch.events.push_back(e);
      rb.sinks.push_back(sinks);
    }
    std::promise<CommitResult> p;
    q.append(std::move(rb), [&](CommitResult r) { p.set_value(r); });
    return p.get_future().get();
  }
  static std::vector<Lease> lease(SqliteQueue& q, const std::string& sink, size_t n,
                                  std::optional<std::int64_t>* next = nullptr) {
    std::promise<std::vector<Lease>> p;
    q.lease(sink, n, Duration(30'000),
            [&](bool ok, std::vector<Lease> l, std::optional<std::int64_t> nd) {
              EXPECT_TRUE(ok);
              if (next) *next = nd;
              p.set_value(std::move(l));
            });
    return p.get_future().get();
  }
  static bool settle(SqliteQueue& q, std::vector<Settlement> s) {
    std::promise<bool> p;
    q.settle(std::move(s), [&](bool ok) { p.set_value(ok); });
    return p.get_future().get();
  }
};

}  // namespace sluice::test
