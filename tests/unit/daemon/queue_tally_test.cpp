// The queue's in-memory counts must always equal a full count of what is on disk.
#include "daemon/queue_tally.hpp"

#include <gtest/gtest.h>

#include "tests/unit/daemon/queue_fixture.hpp"

namespace sluice {
namespace {

using test::makeEvent;
using test::QueueFixture;

// A second queue opened on the same file counts everything from scratch.
struct TallyFixture : QueueFixture {
  QueueStats recount() {
    auto o = opts();
    o.release_leases_on_open = false;
    return openSqliteQueue(o, clock)->stats();
  }
  static void expectSame(const QueueStats& a, const QueueStats& b) {
    EXPECT_EQ(a.events, b.events);
    EXPECT_EQ(a.dedup_entries, b.dedup_entries);
    ASSERT_EQ(a.sinks.size(), b.sinks.size());
    for (std::size_t i = 0; i < a.sinks.size(); ++i) {
      SCOPED_TRACE(a.sinks[i].sink);
      EXPECT_EQ(a.sinks[i].sink, b.sinks[i].sink);
      EXPECT_EQ(a.sinks[i].pending, b.sinks[i].pending);
      EXPECT_EQ(a.sinks[i].leased, b.sinks[i].leased);
      EXPECT_EQ(a.sinks[i].dead, b.sinks[i].dead);
      EXPECT_EQ(a.sinks[i].oldest_pending_ms, b.sinks[i].oldest_pending_ms);
    }
  }
};

TEST(QueueTally, CountsStatesAndOldestPendingSecond) {
  QueueTally t;
  t.add("hook", 0, 5'500, 2);
  t.add("hook", 0, 9'000, 1);
  t.move("hook", 0, 1, 5'500);
  t.move("hook", 1, 2, 5'500);  // one of the two oldest dies
  auto s = t.snapshot();
  ASSERT_EQ(s.sinks.size(), 1u);
  EXPECT_EQ(s.sinks[0].pending, 2);
  EXPECT_EQ(s.sinks[0].leased, 0);
  EXPECT_EQ(s.sinks[0].dead, 1);
  EXPECT_EQ(s.sinks[0].oldest_pending_ms, 5'000);  // to the second
  t.add("hook", 0, 5'500, -1);
  EXPECT_EQ(t.snapshot().sinks[0].oldest_pending_ms, 9'000);
  t.add("hook", 0, 9'000, -1);
  EXPECT_FALSE(t.snapshot().sinks[0].oldest_pending_ms);
}

TEST(QueueTally, MergeAddsADelta) {
  QueueTally a, d;
  a.add("hook", 0, 1'000, 3);
  a.addEvents(3);
  d.add("hook", 0, 1'000, -3);
  d.add("job", 2, 1'000, 1);
  d.addEvents(-2);
  EXPECT_FALSE(d.empty());
  a.merge(d);
  auto s = a.snapshot();
  EXPECT_EQ(s.events, 1);
  ASSERT_EQ(s.sinks.size(), 1u);  // hook has nothing left: listed no more, like a full count
  EXPECT_EQ(s.sinks[0].sink, "job");
  EXPECT_EQ(s.sinks[0].dead, 1);
}

TEST_F(TallyFixture, EveryOperationKeepsTheCountsEqualToAFullCount) {
  auto q = openSqliteQueue(opts(), clock);
  append(*q, {makeEvent("/a"), makeEvent("/b"), makeEvent("/c")}, {"hook", "job"});
  clock.advance(2'000);
  append(*q, {makeEvent("/d"), makeEvent("/a")}, {"hook"});  // /a: deduplicated
  expectSame(q->stats(), recount());

  auto l = lease(*q, "hook", 3);
  ASSERT_EQ(l.size(), 3u);
  expectSame(q->stats(), recount());
  EXPECT_EQ(q->stats().sinks.at(0).leased, 3);

  ASSERT_TRUE(settle(*q, {{l[0].seq, "hook", Outcome::Done, 0, ""},
                          {l[1].seq, "hook", Outcome::Retry, clock.nowMs() + 1000, "HTTP 503"},
                          {l[2].seq, "hook", Outcome::Dead, 0, "HTTP 400"}}));
  expectSame(q->stats(), recount());

  auto j = lease(*q, "job", 10);
  std::vector<Settlement> done;
  for (auto& x : j) done.push_back({x.seq, "job", Outcome::Done, 0, ""});
  ASSERT_TRUE(settle(*q, done));
  expectSame(q->stats(), recount());

  Selector dead;
  EXPECT_EQ(q->replay(dead), 1u);
  expectSame(q->stats(), recount());
  Selector any;
  any.state = "any";
  any.sink = "hook";
  l = lease(*q, "hook", 1);
  EXPECT_EQ(q->purge(any), 3u);
  expectSame(q->stats(), recount());
  auto s = q->stats();
  EXPECT_EQ(s.events, 0);
  EXPECT_TRUE(s.sinks.empty());
  EXPECT_EQ(s.dedup_entries, 4);
}

TEST_F(TallyFixture, ExpiredDedupEntriesAreUncounted) {
  auto q = openSqliteQueue(opts(), clock);
  append(*q, {makeEvent("/a")}, {"hook"});
  clock.advance(61'000);  // past the horizon: /a is new again, its dedup entry reused
  append(*q, {makeEvent("/a")}, {"hook"});
  EXPECT_EQ(q->stats().dedup_entries, 1);
  expectSame(q->stats(), recount());
}

TEST_F(TallyFixture, ChangesByAnotherProcessAreCountedAtTheNextTransaction) {
  auto q = openSqliteQueue(opts(), clock);
  append(*q, {makeEvent("/a"), makeEvent("/b")}, {"hook"});
  auto l = lease(*q, "hook", 10);
  settle(*q, {{l[0].seq, "hook", Outcome::Dead, 0, "HTTP 400"},
              {l[1].seq, "hook", Outcome::Dead, 0, "HTTP 400"}});
  {
    auto o = opts();
    o.release_leases_on_open = false;
    auto cli = openSqliteQueue(o, clock);  // `sluice queue replay` in another process
    Selector dead;
    EXPECT_EQ(cli->replay(dead), 2u);
  }
  EXPECT_EQ(lease(*q, "hook", 1).size(), 1u);
  auto s = q->stats().sinks.at(0);
  EXPECT_EQ(s.dead, 0);
  EXPECT_EQ(s.pending, 2);
  EXPECT_EQ(s.leased, 1);
  expectSame(q->stats(), recount());
}

}  // namespace
}  // namespace sluice
