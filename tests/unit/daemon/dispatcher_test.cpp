#include "daemon/dispatcher.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <deque>
#include <limits>
#include <future>

#include "daemon/queue_sqlite.hpp"
#include "tests/unit/support/loop.hpp"
#include "tests/unit/support/temp_dir.hpp"

namespace sluice {
namespace {

// A sink whose answers the test scripts; it records concurrency and can hold deliveries.
class ScriptedSink final : public Sink {
 public:
  explicit ScriptedSink(boost::asio::io_context& io) : io_(io) {}
  void deliver(const Event& ev, const DeliveryInfo& info, DeliveryCallback done) override {
    ++inflight;
    max_inflight = std::max(max_inflight, inflight);
    attempts.push_back({ev.path, info.attempt});
    if (hold) {
      held.push_back(std::move(done));
      return;
    }
    DeliveryResult r = Done{};
    if (!script.empty()) {
      r = script.front();
      script.pop_front();
    }
    boost::asio::post(io_, [this, done = std::move(done), r] {
      --inflight;
      done(r);
    });
  }
  void abort() override {
    ++aborts;
    for (auto& d : held) {
      boost::asio::post(io_, [this, d] {
        --inflight;
        d(Retry{std::nullopt, "aborted at shutdown"});
      });
    }
    held.clear();
  }

  // Room for this many deliveries at once (a sink whose jobs wait for GPUs); unlimited: max.
  int room() const override {
    return capacity == std::numeric_limits<int>::max() ? capacity : capacity - inflight;
  }

  boost::asio::io_context& io_;
  int capacity = std::numeric_limits<int>::max();
  std::deque<DeliveryResult> script;
  std::vector<std::pair<std::string, int>> attempts;
  std::vector<DeliveryCallback> held;
  bool hold = false;
  int inflight = 0, max_inflight = 0, aborts = 0;
};

struct DispatcherFixture : ::testing::Test {
  test::TempDir dir;
  SystemClock clock;
  boost::asio::io_context io;
  // The queue answers from its own thread: keep the loop alive between its posts.
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
  Metrics metrics;
  Health health;
  std::unique_ptr<SqliteQueue> queue;
  ScriptedSink sink{io};
  std::unique_ptr<Dispatcher> dispatcher;
  DeliveryPolicy policy;

  void SetUp() override {
    QueueOptions o;
    o.path = (dir.path() / "q.db").string();
    queue = openSqliteQueue(o, clock);
    policy.backoff = {Duration(1), Duration(5), 2.0, false};
    policy.concurrency = 3;
    policy.max_attempts = 4;
    policy.shutdown_grace = Duration(50);
  }
  void TearDown() override {
    queue.reset();  // finishes the writer's callbacks while the dispatcher and loop exist
    dispatcher.reset();
  }
  void begin() {
    dispatcher = std::make_unique<Dispatcher>(
        io, *queue, metrics, health, clock,
        std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::null_sink_mt>()));
    dispatcher->add("s", sink, policy);
    dispatcher->start();
  }
  void add(int n) {
    RoutedBatch rb;
    rb.batch.source = "src";
    for (int i = 0; i < n; ++i) {
      Event ev;
      ev.path = "/f" + std::to_string(i);
      ev.id = eventId({ev.path});
      ev.source = "test://";
      ev.storage = "local";
      ev.connector = "src";
      rb.batch.events.push_back(ev);
      rb.sinks.push_back({"s"});
    }
    std::promise<void> p;
    queue->append(rb, [&](CommitResult r) {
      EXPECT_TRUE(r.ok);
      p.set_value();
    });
    p.get_future().get();
    if (dispatcher) dispatcher->wake("s");
  }
  bool runUntil(const std::function<bool()>& pred) { return test::runUntil(io, pred); }
  std::uint64_t count(const char* name) {
    return metrics.counter(name, "", {{"sink", "s"}}).value();
  }
};

TEST_F(DispatcherFixture, DeliversEverythingWithinTheConcurrencyLimit) {
  add(20);
  begin();
  ASSERT_TRUE(runUntil([&] { return count("sluice_deliveries_done_total") == 20; }));
  EXPECT_LE(sink.max_inflight, 3);
  EXPECT_GE(sink.max_inflight, 2);
  ASSERT_TRUE(runUntil([&] { return queue->stats().events == 0; }));
}

// A sink with room for one (one free GPU) gets one delivery at a time although its concurrency
// allows three; the others wait in the queue unleased, so no attempt is spent on waiting.
TEST_F(DispatcherFixture, ASinkWithoutRoomIsLeasedNothingAndSpendsNoAttempts) {
  sink.capacity = 1;
  sink.hold = true;
  add(3);
  begin();
  for (int delivered = 0; delivered < 3; ++delivered) {
    ASSERT_TRUE(runUntil([&] { return sink.held.size() == 1; }));
    EXPECT_EQ(sink.attempts.size(), static_cast<std::size_t>(delivered + 1));
    auto done = std::move(sink.held.front());
    sink.held.clear();
    --sink.inflight;
    done(Done{});
  }
  ASSERT_TRUE(runUntil([&] { return count("sluice_deliveries_done_total") == 3; }));
  EXPECT_EQ(sink.max_inflight, 1);
  for (auto& [path, attempt] : sink.attempts) EXPECT_EQ(attempt, 1) << path;
}

// A delivery's emitted events (a job's result) are routed from the source named after the
// sink, stored with its settlement, and delivered to the sinks their routes name.
TEST_F(DispatcherFixture, EmittedEventsAreRoutedAndDeliveredOnce) {
  ScriptedSink next{io};
  Event result;
  result.id = eventId({"job", "f0"});
  result.type = EventType::JobSucceeded;
  result.path = "/f0";
  result.source = "sluice:jobs/s";
  result.connector = "s";
  sink.script = {Done{std::nullopt, {result}}};
  dispatcher = std::make_unique<Dispatcher>(
      io, *queue, metrics, health, clock,
      std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::null_sink_mt>()));
  std::vector<std::string> asked;
  dispatcher->routeEmitted([&](const std::string& source, const Event& ev) {
    asked.push_back(source + ":" + std::string(toString(ev.type)));
    return std::vector<std::string>{"next"};
  });
  dispatcher->add("s", sink, policy);
  dispatcher->add("next", next, policy);
  dispatcher->start();
  add(1);
  ASSERT_TRUE(runUntil([&] { return next.attempts.size() == 1; }));
  EXPECT_EQ(next.attempts[0].first, "/f0");
  EXPECT_EQ(asked, std::vector<std::string>{"s:job.succeeded"});
  ASSERT_TRUE(runUntil([&] { return queue->stats().events == 0; }));
}

TEST_F(DispatcherFixture, RetriesThenSucceeds) {
  sink.script = {Retry{std::nullopt, "HTTP 503"}, Retry{std::nullopt, "HTTP 503"}, Done{}};
  add(1);
  begin();
  ASSERT_TRUE(runUntil([&] { return count("sluice_deliveries_done_total") == 1; }));
  EXPECT_EQ(count("sluice_deliveries_retried_total"), 2u);
  ASSERT_EQ(sink.attempts.size(), 3u);
  EXPECT_EQ(sink.attempts[2].second, 3);
}

TEST_F(DispatcherFixture, RetryAfterIsHonoured) {
  policy.backoff = {Duration(1), Duration(1000), 2.0, false};  // Retry-After is capped at max
  sink.script = {Retry{Duration(300), "HTTP 429"}};
  add(1);
  begin();
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(runUntil([&] { return count("sluice_deliveries_done_total") == 1; }));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(290));
}

TEST_F(DispatcherFixture, GivesUpAfterMaxAttemptsIntoTheDeadLetterQueue) {
  for (int i = 0; i < 10; ++i) sink.script.push_back(Retry{std::nullopt, "HTTP 500"});
  add(1);
  begin();
  ASSERT_TRUE(runUntil([&] { return count("sluice_deliveries_dead_total") == 1; }));
  EXPECT_EQ(sink.attempts.size(), 4u);
  auto rows = queue->list(Selector{});
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_NE(rows[0].last_error.find("gave up after 4 attempts; last: HTTP 500"), std::string::npos);
}

TEST_F(DispatcherFixture, PermanentFailureIsDeadAtOnce) {
  sink.script = {Dead{"HTTP 400"}};
  add(1);
  begin();
  ASSERT_TRUE(runUntil([&] { return count("sluice_deliveries_dead_total") == 1; }));
  EXPECT_EQ(sink.attempts.size(), 1u);
  EXPECT_EQ(queue->list(Selector{}).at(0).last_error, "HTTP 400");
}

TEST_F(DispatcherFixture, StopWaitsThenAbortsAndReleasesInFlightDeliveries) {
  sink.hold = true;
  add(2);
  begin();
  ASSERT_TRUE(runUntil([&] { return sink.held.size() == 2; }));
  bool stopped = false;
  dispatcher->stop([&] { stopped = true; });
  ASSERT_TRUE(runUntil([&] { return stopped; }));
  EXPECT_EQ(sink.aborts, 1);
  auto st = queue->stats();
  ASSERT_EQ(st.sinks.size(), 1u);
  EXPECT_EQ(st.sinks[0].pending, 2);  // released, not lost
  EXPECT_EQ(st.sinks[0].leased, 0);
  EXPECT_EQ(count("sluice_deliveries_released_total"), 2u);
  EXPECT_EQ(count("sluice_deliveries_retried_total"), 0u);
  // The attempt cut short is not counted: the next lease is attempt 1 again.
  for (auto& row : queue->list(Selector{.state = "any"})) EXPECT_EQ(row.attempts, 0);
}

TEST_F(DispatcherFixture, ShutdownOfASingleAttemptSinkDoesNotDeadLetter) {
  policy.max_attempts = 1;
  sink.hold = true;
  add(1);
  begin();
  ASSERT_TRUE(runUntil([&] { return sink.held.size() == 1; }));
  bool stopped = false;
  dispatcher->stop([&] { stopped = true; });
  ASSERT_TRUE(runUntil([&] { return stopped; }));
  auto st = queue->stats();
  EXPECT_EQ(st.sinks.at(0).dead, 0);
  EXPECT_EQ(st.sinks.at(0).pending, 1);
  // A new process delivers it, as attempt 1.
  sink.hold = false;
  dispatcher.reset();
  begin();
  ASSERT_TRUE(runUntil([&] { return count("sluice_deliveries_done_total") == 1; }));
  EXPECT_EQ(sink.attempts.back().second, 1);
}

TEST_F(DispatcherFixture, StopWaitsForTheSinksOwnGraceBeforeAborting) {
  policy.shutdown_grace = Duration(60'000);
  sink.hold = true;
  add(1);
  begin();
  ASSERT_TRUE(runUntil([&] { return sink.held.size() == 1; }));
  bool stopped = false;
  dispatcher->stop([&] { stopped = true; });
  // Well past the old 30 s cap's test value: still waiting, nothing aborted.
  EXPECT_FALSE(test::runUntil(io, [&] { return stopped || sink.aborts > 0; }, std::chrono::milliseconds(300)));
  auto done = std::move(sink.held.front());
  sink.held.clear();
  --sink.inflight;
  done(Done{});
  ASSERT_TRUE(runUntil([&] { return stopped; }));
  EXPECT_EQ(sink.aborts, 0);
  EXPECT_EQ(count("sluice_deliveries_done_total"), 1u);
}

TEST_F(DispatcherFixture, RetryAfterIsCappedAtBackoffMaxAndMaxAge) {
  policy.backoff = {Duration(1), Duration(200), 2.0, false};
  sink.script = {Retry{Duration(365LL * 86'400'000), "HTTP 503"}};
  add(1);
  begin();
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(runUntil([&] { return count("sluice_deliveries_done_total") == 1; }));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
}

TEST_F(DispatcherFixture, RetryIsNeverParkedPastMaxAge) {
  policy.backoff = {Duration(600'000), Duration(600'000), 2.0, false};
  policy.max_age = Duration(300);
  sink.script = {Retry{std::nullopt, "HTTP 503"}, Retry{std::nullopt, "HTTP 503"}};
  add(1);
  begin();
  ASSERT_TRUE(runUntil([&] { return count("sluice_deliveries_dead_total") == 1; }));
  EXPECT_NE(queue->list(Selector{}).at(0).last_error.find("older than max_age"), std::string::npos);
}

TEST_F(DispatcherFixture, StopWhileALeaseIsOnItsWayStillFinishes) {
  begin();  // nothing queued: the start's lease finds nothing
  bool stopped = false;
  dispatcher->stop([&] { stopped = true; });  // before it answers
  ASSERT_TRUE(runUntil([&] { return stopped; }));
}

TEST_F(DispatcherFixture, WhenDrainedFiresOnceNothingIsDue) {
  add(5);
  begin();
  bool drained = false;
  dispatcher->whenDrained([&] { drained = true; });
  ASSERT_TRUE(runUntil([&] { return drained; }));
  EXPECT_EQ(count("sluice_deliveries_done_total"), 5u);
}

}  // namespace
}  // namespace sluice
