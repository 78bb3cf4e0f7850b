// Operator selections beyond sink and id: subject prefix, first-seen time range, and replays
// and purges that work in chunks and report their progress.
#include <gtest/gtest.h>

#include "daemon/cli_queue.hpp"
#include "daemon/queue_sqlite.hpp"
#include "tests/unit/daemon/queue_fixture.hpp"

namespace sluice {
namespace {

using test::makeEvent;
using test::QueueFixture;

std::vector<std::string> subjects(const std::vector<DeliveryRow>& rows) {
  std::vector<std::string> out;
  for (auto& r : rows) out.push_back(r.subject);
  return out;
}

TEST_F(QueueFixture, SelectsBySubjectPrefixAndFirstSeenTime) {
  auto q = openSqliteQueue(opts(), clock);
  append(*q, {makeEvent("/raw/a"), makeEvent("/cal/a")}, {"hook"});
  const std::int64_t second = clock.nowMs() + 60'000;
  clock.set(second);
  append(*q, {makeEvent("/raw/b"), makeEvent("/raw%_/c")}, {"hook"});

  Selector raw{.state = "any", .subject_prefix = "/raw/"};
  EXPECT_EQ(subjects(q->list(raw)), (std::vector<std::string>{"/raw/a", "/raw/b"}));
  // A prefix, not a LIKE pattern: % and _ match only themselves.
  Selector odd{.state = "any", .subject_prefix = "/raw%_"};
  EXPECT_EQ(subjects(q->list(odd)), (std::vector<std::string>{"/raw%_/c"}));
  Selector late{.state = "any", .since_ms = second};
  EXPECT_EQ(q->list(late).size(), 2u);
  Selector early{.state = "any", .until_ms = second};
  EXPECT_EQ(subjects(q->list(early)), (std::vector<std::string>{"/raw/a", "/cal/a"}));
  Selector both{.state = "any", .subject_prefix = "/raw/", .since_ms = second};
  EXPECT_EQ(q->purge(both), 1u);
  EXPECT_EQ(subjects(q->list(raw)), (std::vector<std::string>{"/raw/a"}));
  EXPECT_EQ(q->stats().events, 3);  // the purged delivery's event went with it
}

TEST_F(QueueFixture, ReplayWorksInChunksAndReportsEach) {
  auto q = openSqliteQueue(opts(), clock);
  std::vector<Event> evs;
  for (int i = 0; i < 11000; ++i) evs.push_back(makeEvent("/f" + std::to_string(i)));
  append(*q, evs, {"hook"});
  auto leased = lease(*q, "hook", 11000);
  std::vector<Settlement> dead;
  for (auto& l : leased) dead.push_back({l.seq, "hook", Outcome::Dead, 0, "HTTP 400"});
  ASSERT_TRUE(settle(*q, dead));

  std::vector<std::pair<std::size_t, std::size_t>> reports;
  auto n = q->replay(Selector{.sink = "hook"},
                     [&](std::size_t done, std::size_t total) { reports.emplace_back(done, total); });
  EXPECT_EQ(n, 11000u);
  EXPECT_EQ(reports, (std::vector<std::pair<std::size_t, std::size_t>>{
                         {5000, 11000}, {10000, 11000}, {11000, 11000}}));
  auto s = q->stats().sinks.at(0);
  EXPECT_EQ(s.dead, 0);
  EXPECT_EQ(s.pending, 11000);
  EXPECT_EQ(q->replay(Selector{.sink = "hook"}), 0u);  // nothing dead is left to replay
}

TEST(WhenArg, ReadsTimesDatesAndDurationsBackFromNow) {
  const std::int64_t now = 1'800'000'000'000;
  EXPECT_EQ(whenArg("2026-12-01T10:00:00Z", now), 1'796'119'200'000);
  EXPECT_EQ(whenArg("2026-12-01", now), 1'796'083'200'000);
  EXPECT_EQ(whenArg("2h", now), now - 7'200'000);
  EXPECT_EQ(whenArg("7d", now), now - 7 * 86'400'000LL);
  EXPECT_EQ(whenArg("last tuesday", now), std::nullopt);
  EXPECT_EQ(whenArg("", now), std::nullopt);
  EXPECT_EQ(whenArg("2026-13-45", now), std::nullopt);
}

}  // namespace
}  // namespace sluice
