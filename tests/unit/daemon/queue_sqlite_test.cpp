#include "daemon/queue_sqlite.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "tests/unit/daemon/queue_fixture.hpp"

namespace sluice {
namespace {

using test::makeEvent;
using test::QueueFixture;

TEST_F(QueueFixture, AppendDedupsWithinHorizonAndStoresCursor) {
  auto q = openSqliteQueue(opts(), clock);
  auto r = append(*q, {makeEvent("/a"), makeEvent("/b"), makeEvent("/a")}, {"hook"}, "c1");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.committed, 2u);
  EXPECT_EQ(r.deduplicated, 1u);
  r = append(*q, {makeEvent("/a")}, {"hook"});
  EXPECT_EQ(r.deduplicated, 1u);
  EXPECT_EQ(q->loadState("in", {}).cursor, "c1");
  clock.advance(61'000);  // past the horizon: the same id is new again
  r = append(*q, {makeEvent("/a")}, {"hook"});
  EXPECT_EQ(r.committed, 1u);
  auto st = q->stats();
  ASSERT_EQ(st.sinks.size(), 1u);
  EXPECT_EQ(st.sinks[0].pending, 3);
}

TEST_F(QueueFixture, UnroutedEventsAreCountedNotStored) {
  auto q = openSqliteQueue(opts(), clock);
  auto r = append(*q, {makeEvent("/a")}, {});
  EXPECT_EQ(r.unrouted, 1u);
  EXPECT_EQ(q->stats().events, 0);
}

TEST_F(QueueFixture, LeaseRetryDoneReclaimsStorage) {
  auto q = openSqliteQueue(opts(), clock);
  append(*q, {makeEvent("/a")}, {"hook", "job"});
  auto l = lease(*q, "hook", 10);
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].attempt, 1);
  EXPECT_EQ(l[0].event.path, "/a");
  EXPECT_TRUE(lease(*q, "hook", 10).empty());  // leased: not handed out twice
  ASSERT_TRUE(settle(*q, {{l[0].seq, "hook", Outcome::Retry, clock.nowMs() + 5000, "HTTP 503"}}));
  std::optional<std::int64_t> next;
  EXPECT_TRUE(lease(*q, "hook", 10, &next).empty());
  EXPECT_EQ(next, clock.nowMs() + 5000);
  clock.advance(5000);
  l = lease(*q, "hook", 10);
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].attempt, 2);
  settle(*q, {{l[0].seq, "hook", Outcome::Done, 0, ""}});
  EXPECT_EQ(q->stats().events, 1);  // the job sink still owes a delivery
  auto j = lease(*q, "job", 10);
  settle(*q, {{j[0].seq, "job", Outcome::Done, 0, ""}});
  EXPECT_EQ(q->stats().events, 0);
}

// A settlement may carry events (a job's result): stored in its transaction, with deliveries
// for their sinks, and deduplicated by id like any event (a re-emission after a crash).
TEST_F(QueueFixture, EventsEmittedWithASettlementAreStoredOnce) {
  auto q = openSqliteQueue(opts(), clock);
  append(*q, {makeEvent("/a"), makeEvent("/b")}, {"job"});
  auto l = lease(*q, "job", 10);
  ASSERT_EQ(l.size(), 2u);
  auto emitted = [](const std::string& path) {
    RoutedBatch rb;
    rb.batch.source = "job";
    Event ev = makeEvent(path);
    ev.id = eventId({"result-of", path});
    ev.type = EventType::JobSucceeded;
    rb.batch.events = {ev};
    rb.sinks = {{"hook"}};
    return rb;
  };
  Settlement first{l[0].seq, "job", Outcome::Done, 0, ""};
  first.emit = emitted(l[0].event.path);
  Settlement again{l[1].seq, "job", Outcome::Retry, clock.nowMs() + 1000, "exit status 1"};
  again.emit = emitted(l[0].event.path);  // the same result event a second time
  ASSERT_TRUE(settle(*q, {first, again}));
  auto h = lease(*q, "hook", 10);
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h[0].event.type, EventType::JobSucceeded);
  EXPECT_EQ(h[0].event.path, l[0].event.path);
}

TEST_F(QueueFixture, LeasesOfACrashedProcessBecomeDueOnReopen) {
  {
    auto q = openSqliteQueue(opts(), clock);
    append(*q, {makeEvent("/a"), makeEvent("/b")}, {"hook"});
    ASSERT_EQ(lease(*q, "hook", 10).size(), 2u);
    // the process "dies" holding both leases: no settle
  }
  auto q = openSqliteQueue(opts(), clock);
  auto l = lease(*q, "hook", 10);
  ASSERT_EQ(l.size(), 2u);
  EXPECT_EQ(l[0].attempt, 2);  // the crashed attempt counts
}

TEST_F(QueueFixture, ExpiredLeaseIsHandedOutAgain) {
  auto q = openSqliteQueue(opts(), clock);
  append(*q, {makeEvent("/a")}, {"hook"});
  ASSERT_EQ(lease(*q, "hook", 1).size(), 1u);
  clock.advance(29'000);
  EXPECT_TRUE(lease(*q, "hook", 1).empty());
  clock.advance(1'000);
  EXPECT_EQ(lease(*q, "hook", 1).size(), 1u);
}

TEST_F(QueueFixture, DeadLetterListReplayPurge) {
  auto q = openSqliteQueue(opts(), clock);
  append(*q, {makeEvent("/a"), makeEvent("/b")}, {"hook"});
  auto l = lease(*q, "hook", 10);
  settle(*q, {{l[0].seq, "hook", Outcome::Dead, 0, "HTTP 400"},
              {l[1].seq, "hook", Outcome::Dead, 0, "HTTP 404"}});
  Selector dead;
  auto rows = q->list(dead);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].last_error, "HTTP 400");
  EXPECT_EQ(rows[0].subject, "/a");
  EXPECT_EQ(rows[0].state, "dead");
  Selector one;
  one.event_id = makeEvent("/a").id;
  EXPECT_EQ(q->replay(one), 1u);
  l = lease(*q, "hook", 10);
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].attempt, 1);  // attempts reset by replay
  EXPECT_EQ(q->purge(dead), 1u);
  settle(*q, {{l[0].seq, "hook", Outcome::Done, 0, ""}});
  EXPECT_EQ(q->stats().events, 0);
}

// A source's unusable input (Batch::dead) is stored, dead, with its reason, for every sink named,
// and never leased: an operator sees it in `queue dead` and can replay it.
TEST_F(QueueFixture, ParkedEventsGoStraightToTheDeadLetterQueue) {
  auto q = openSqliteQueue(opts(), clock);
  RoutedBatch rb;
  rb.batch.source = "in";
  rb.batch.events = {makeEvent("/ok"), makeEvent("/garbage")};
  rb.batch.dead[1] = "a push sluice cannot use: the body is not a JSON object";
  rb.sinks = {{"hook"}, {"hook", "gpu"}};
  std::promise<CommitResult> p;
  q->append(std::move(rb), [&](CommitResult r) { p.set_value(r); });
  CommitResult r = p.get_future().get();
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.committed, 2u);
  EXPECT_EQ(r.parked, 1u);
  EXPECT_EQ(r.unencodable, 0u);
  auto l = lease(*q, "hook", 10);
  ASSERT_EQ(l.size(), 1u);
  EXPECT_TRUE(lease(*q, "gpu", 10).empty());
  Selector dead;
  auto rows = q->list(dead);
  ASSERT_EQ(rows.size(), 2u);  // one per sink
  for (auto& row : rows) {
    EXPECT_EQ(row.subject, "/garbage");
    EXPECT_EQ(row.last_error, "a push sluice cannot use: the body is not a JSON object");
  }
  Selector gpu;
  gpu.sink = "gpu";
  EXPECT_EQ(q->replay(gpu), 1u);
  EXPECT_EQ(lease(*q, "gpu", 10).size(), 1u);
}

TEST_F(QueueFixture, IndexUpdatesAreStoredWithTheBatch) {
  auto q = openSqliteQueue(opts(), clock);
  RoutedBatch rb;
  rb.batch.source = "in";
  rb.batch.index = {{"/a", "1:2:3"}, {"/b", "4:5:6"}};
  std::promise<CommitResult> p;
  q->append(rb, [&](CommitResult r) { p.set_value(r); });
  ASSERT_TRUE(p.get_future().get().ok);
  RoutedBatch rb2;
  rb2.batch.source = "in";
  rb2.batch.index = {{"/a", std::nullopt}};
  std::promise<CommitResult> p2;
  q->append(rb2, [&](CommitResult r) { p2.set_value(r); });
  ASSERT_TRUE(p2.get_future().get().ok);
  std::map<std::string, std::string> index;
  q->loadState("in", [&](const std::string& k, const std::string& fp) { index[k] = fp; });
  EXPECT_EQ(index.size(), 1u);
  EXPECT_EQ(index.at("/b"), "4:5:6");
}

TEST_F(QueueFixture, ConcurrentAppendsAreGroupCommitted) {
  auto q = openSqliteQueue(opts(), clock);
  constexpr int kN = 200;
  std::vector<std::promise<CommitResult>> ps(kN);
  for (int i = 0; i < kN; ++i) {
    RoutedBatch rb;
    rb.batch.source = "in";
    rb.batch.events.push_back(makeEvent("/f" + std::to_string(i)));
    rb.sinks.push_back({"hook"});
    q->append(std::move(rb), [&ps, i](CommitResult r) { ps[static_cast<size_t>(i)].set_value(r); });
  }
  for (auto& p : ps) EXPECT_TRUE(p.get_future().get().ok);
  EXPECT_LT(q->commits(), static_cast<std::uint64_t>(kN));
  EXPECT_EQ(q->stats().sinks.at(0).pending, kN);
}

TEST_F(QueueFixture, FullQueueFailsTheCommitCleanlyAndRecoversWhenSpaceReturns) {
  auto o = opts();
  o.max_bytes = 256 * 1024;
  auto q = openSqliteQueue(o, clock);
  Event big = makeEvent("/big");
  big.native = std::string(20'000, 'x');
  CommitResult r;
  int stored = 0;
  for (int i = 0; i < 100; ++i) {
    big.id = eventId({"big", std::to_string(i)});
    r = append(*q, {big}, {"hook"});
    if (!r.ok) break;
    ++stored;
  }
  ASSERT_FALSE(r.ok);
  EXPECT_NE(r.error.find("full"), std::string::npos) << r.error;
  EXPECT_GT(stored, 0);
  // Nothing was lost: every committed event is still there, and after deliveries finish the
  // freed pages take new events again.
  auto leases = lease(*q, "hook", 1000);
  EXPECT_EQ(static_cast<int>(leases.size()), stored);
  std::vector<Settlement> done;
  for (auto& l : leases) done.push_back({l.seq, "hook", Outcome::Done, 0, ""});
  ASSERT_TRUE(settle(*q, done));
  big.id = eventId({"big", "after"});
  EXPECT_TRUE(append(*q, {big}, {"hook"}).ok);
}

}  // namespace
}  // namespace sluice
