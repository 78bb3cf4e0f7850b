// Operator repairs and the queue's limits: moving deliveries of a renamed sink, dead-lettering
// a removed one, releases that do not count an attempt, queue.max_size, bad bytes.
#include <gtest/gtest.h>

#include "daemon/queue_sqlite.hpp"
#include "tests/unit/daemon/queue_fixture.hpp"

namespace sluice {
namespace {

using test::makeEvent;
using test::QueueFixture;

// The in-memory counts after an operator change equal a fresh full count of the file.
void expectCountsMatchTheDisk(SqliteQueue& q, const QueueOptions& opts, const Clock& clock) {
  auto o = opts;
  o.release_leases_on_open = false;
  auto fresh = openSqliteQueue(o, clock)->stats();
  auto mine = q.stats();
  EXPECT_EQ(mine.events, fresh.events);
  ASSERT_EQ(mine.sinks.size(), fresh.sinks.size());
  for (std::size_t i = 0; i < mine.sinks.size(); ++i) {
    EXPECT_EQ(mine.sinks[i].sink, fresh.sinks[i].sink);
    EXPECT_EQ(mine.sinks[i].pending, fresh.sinks[i].pending);
    EXPECT_EQ(mine.sinks[i].leased, fresh.sinks[i].leased);
    EXPECT_EQ(mine.sinks[i].dead, fresh.sinks[i].dead);
  }
}

SinkStats statsOf(SqliteQueue& q, const std::string& sink) {
  for (auto& s : q.stats().sinks)
    if (s.sink == sink) return s;
  return SinkStats{sink};
}

TEST_F(QueueFixture, MoveGivesARenamedSinksDeliveriesToTheNewName) {
  auto q = openSqliteQueue(opts(), clock);
  append(*q, {makeEvent("/a"), makeEvent("/b")}, {"old"});
  append(*q, {makeEvent("/c")}, {"old", "new"});  // routed to both: merged, not doubled
  auto l = lease(*q, "old", 1);
  ASSERT_TRUE(settle(*q, {{l[0].seq, "old", Outcome::Dead, 0, "HTTP 400"}}));
  auto r = q->move("old", "new");
  EXPECT_EQ(r.moved, 2u);
  EXPECT_EQ(r.merged, 1u);
  EXPECT_EQ(statsOf(*q, "old").pending, 0);
  EXPECT_EQ(statsOf(*q, "new").pending, 2);  // /b and /c (the /c of "new" was already there)
  EXPECT_EQ(statsOf(*q, "new").dead, 1);     // /a kept its state and reason
  EXPECT_EQ(q->list(Selector{.sink = "new"}).at(0).last_error, "HTTP 400");
  expectCountsMatchTheDisk(*q, opts(), clock);
  auto got = lease(*q, "new", 10);
  ASSERT_EQ(got.size(), 2u);
  std::vector<Settlement> done;
  for (auto& x : got) done.push_back({x.seq, "new", Outcome::Done, 0, ""});
  ASSERT_TRUE(settle(*q, done));
  EXPECT_EQ(q->stats().events, 1);  // only the dead letter's event is left
}

TEST_F(QueueFixture, DeadLetterParksARemovedSinksPendingDeliveriesWithTheReason) {
  auto q = openSqliteQueue(opts(), clock);
  append(*q, {makeEvent("/a"), makeEvent("/b")}, {"gone"});
  lease(*q, "gone", 1);
  EXPECT_EQ(q->deadLetter("gone", "sink removed from the config"), 2u);
  auto s = statsOf(*q, "gone");
  EXPECT_EQ(s.pending, 0);
  EXPECT_EQ(s.dead, 2);
  EXPECT_EQ(q->list(Selector{.sink = "gone"}).at(1).last_error, "sink removed from the config");
  expectCountsMatchTheDisk(*q, opts(), clock);
}

TEST_F(QueueFixture, ReleaseTakesTheAttemptBack) {
  auto q = openSqliteQueue(opts(), clock);
  append(*q, {makeEvent("/a")}, {"hook"});
  auto l = lease(*q, "hook", 1);
  ASSERT_EQ(l.at(0).attempt, 1);
  ASSERT_TRUE(settle(*q, {{l[0].seq, "hook", Outcome::Release, clock.nowMs(), ""}}));
  l = lease(*q, "hook", 1);
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].attempt, 1);
}

TEST_F(QueueFixture, MaxSizeCountsOnlyWhatDeliveringFrees) {
  auto o = opts();
  o.max_bytes = 64 * 1024;
  auto q = openSqliteQueue(o, clock);
  Event big = makeEvent("/big");
  big.native = std::string(10'000, 'x');
  // Many events delivered one after another: dedup ids and freed events never fill the cap.
  for (int i = 0; i < 200; ++i) {
    big.id = eventId({"big", std::to_string(i)});
    auto r = append(*q, {big}, {"hook"});
    ASSERT_TRUE(r.ok) << i << ": " << r.error;
    auto l = lease(*q, "hook", 1);
    ASSERT_TRUE(settle(*q, {{l.at(0).seq, "hook", Outcome::Done, 0, ""}}));
  }
  EXPECT_EQ(q->stats().event_bytes, 0);
  // Undelivered events fill it: the batch that would pass the cap fails as "full".
  CommitResult r;
  int stored = 0;
  for (int i = 0; i < 20 && (r = append(*q, {big}, {"hook"})).ok; ++i) {
    ++stored;
    big.id = eventId({"more", std::to_string(i)});
  }
  ASSERT_FALSE(r.ok);
  EXPECT_TRUE(r.full);
  EXPECT_NE(r.error.find("queue.max_size"), std::string::npos) << r.error;
  EXPECT_GT(stored, 2);
  EXPECT_LT(stored, 8);
  // Deliveries free it again.
  auto l = lease(*q, "hook", 100);
  std::vector<Settlement> done;
  for (auto& x : l) done.push_back({x.seq, "hook", Outcome::Done, 0, ""});
  ASSERT_TRUE(settle(*q, done));
  EXPECT_TRUE(append(*q, {big}, {"hook"}).ok);
}

TEST_F(QueueFixture, AnEmptyQueueTakesABatchBiggerThanTheCap) {
  auto o = opts();
  o.max_bytes = 4 * 1024;
  auto q = openSqliteQueue(o, clock);
  Event big = makeEvent("/big");
  big.native = std::string(10'000, 'x');
  EXPECT_TRUE(append(*q, {big}, {"hook"}).ok);
  big.id = "second";
  EXPECT_FALSE(append(*q, {big}, {"hook"}).ok);
}

TEST_F(QueueFixture, BytesThatAreNotUtf8AreStoredAndLeasedNotThrown) {
  auto q = openSqliteQueue(opts(), clock);
  Event ev = makeEvent("/in/\xff\xfe.tif");
  ev.source = "file://host/\xc3(root";
  ev.native = {{"name", "\xff"}, {"\x80", 1}};
  CommitResult r;
  ASSERT_NO_THROW(r = append(*q, {ev}, {"hook"}));
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.committed, 1u);
  // toJson() encodes any bytes (lossy text plus exact base64): pending, not dead-lettered.
  EXPECT_EQ(r.unencodable, 0u);
  auto l = lease(*q, "hook", 1);
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].event.path, ev.path);  // the exact bytes survive
}

TEST_F(QueueFixture, ExpiredDedupIdsAreRemovedInChunks) {
  auto q = openSqliteQueue(opts(), clock);
  std::vector<Event> evs;
  for (int i = 0; i < 12'000; ++i) evs.push_back(makeEvent("/f" + std::to_string(i)));
  append(*q, evs, {});  // unrouted: only their dedup ids stay
  EXPECT_EQ(q->stats().dedup_entries, 12'000);
  clock.advance(4 * 3'600'000LL);  // past the horizon and the hourly expiry
  for (int i = 0; i < 4 && q->stats().dedup_entries > 0; ++i) append(*q, {}, {});
  EXPECT_EQ(q->stats().dedup_entries, 0);
}

}  // namespace
}  // namespace sluice
