// The local source's background jobs (local_scans.cpp): forgets and prunes. The walks' own
// tests (start-up, bounded steps, reconciliation) are in local_connector_test.cpp.
#include <gtest/gtest.h>

#include "tests/unit/connectors/local/local_fixture.hpp"

namespace sluice::connectors::local {
namespace {

struct LocalScans : test::LocalFixture {
  static constexpr std::size_t kLimit = 256, kBatch = LocalConnector::kBatchEntries;
  static constexpr std::size_t kFiles = 2 * kBatch + 100;  // more than a step, and the bound

  LocalConnector& local() { return static_cast<LocalConnector&>(*conn); }
  // A watched directory `big` with kFiles files, all announced.
  void startWithBigDirectory() {
    make(", events: [created, removed]", [&](LocalSpec& s) { s.max_pending = kLimit; });
    std::filesystem::create_directories(root() + "/big");
    for (std::size_t i = 0; i < kFiles; ++i) write(root() + "/big/f" + std::to_string(i), "");
    conn->start();
    ASSERT_TRUE(runUntil([&] { return intake.events.size() == kFiles && health.ready(); }));
  }
  // runUntil, keeping the most changes ever held between two handlers.
  bool runWatching(const std::function<bool()>& pred) {
    return runUntil([&] {
      most = std::max(most, local().held());
      return pred();
    });
  }
  std::size_t most = 0;
};

// Issue 12a: a moved-away directory queued every removal at once.
TEST_F(LocalScans, ADirectoryMovedAwayIsAnnouncedInBoundedSteps) {
  startWithBigDirectory();
  intake.hold = true;
  std::filesystem::rename(root() + "/big", dir.path() / "big");
  ASSERT_TRUE(runWatching([&] { return local().held() >= kLimit; }));
  io.poll();
  EXPECT_LT(std::max(most, local().held()), kLimit + kBatch);
  release();
  ASSERT_TRUE(runWatching([&] { return paths(EventType::Removed).size() == kFiles; }));
  EXPECT_LT(most, kLimit + kBatch);
  EXPECT_EQ(indexedFiles(), 0u);
}

// While a forget waits, a file recorded at one of its paths has the old file's removal
// announced first: never two created in a row, never a new file's entry erased.
TEST_F(LocalScans, AFileRecordedWhileItsOldDirectoryIsForgottenIsRemovedFirst) {
  startWithBigDirectory();
  intake.hold = true;
  std::filesystem::rename(root() + "/big", dir.path() / "big");
  ASSERT_TRUE(runWatching([&] { return local().held() >= kLimit; }));
  std::filesystem::create_directories(root() + "/big");
  write(root() + "/big/f7", "new");
  release();
  ASSERT_TRUE(runWatching([&] {
    return paths(EventType::Removed).size() == kFiles &&
           paths(EventType::Created).size() == kFiles + 1;
  }));
  std::vector<EventType> f7;
  for (auto& e : intake.events)
    if (e.path == root() + "/big/f7") f7.push_back(e.type);
  EXPECT_EQ(f7,
            (std::vector<EventType>{EventType::Created, EventType::Removed, EventType::Created}));
  EXPECT_EQ(indexedFiles(), 1u);
  EXPECT_LT(most, kLimit + kBatch);
}

TEST_F(LocalScans, TombstonesArePrunedAfterTheDedupHorizon) {
  ctx.dedup_horizon = std::chrono::hours(1);
  make(", events: [created, removed]");
  write(root() + "/a", "a");
  write(root() + "/b", "b");
  conn->start();
  ASSERT_TRUE(runUntil([&] { return intake.events.size() == 2; }));
  std::filesystem::remove(root() + "/a");
  ASSERT_TRUE(runUntil([&] { return intake.events.size() == 3; }));
  clock.advance(30 * 60'000);
  std::filesystem::remove(root() + "/b");
  ASSERT_TRUE(runUntil([&] { return intake.events.size() == 4; }));
  EXPECT_EQ(intake.index.count(root() + "/a"), 1u);  // tombstones, committed with the removals
  clock.advance(31 * 60'000);
  stop();
  conn = spec->create(ctx);
  EXPECT_EQ(catchUp(), "");                          // a full scan prunes at its end
  EXPECT_EQ(intake.index.count(root() + "/a"), 0u);  // 61 minutes old
  ASSERT_EQ(intake.index.count(root() + "/b"), 1u);  // 31 minutes old: still needed
  EXPECT_EQ(intake.index[root() + "/b"].rfind('|', 0), 0u);
}

}  // namespace
}  // namespace sluice::connectors::local
