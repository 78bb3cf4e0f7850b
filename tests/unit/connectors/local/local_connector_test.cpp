#include "connectors/local/local_connector.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <fstream>

#include "daemon/health.hpp"
#include "daemon/metrics.hpp"
#include "daemon/registry.hpp"
#include "tests/unit/support/loop.hpp"
#include "tests/unit/support/temp_dir.hpp"

namespace sluice::connectors::local {
namespace {

// Stands in for the queue at the connector's seam: keeps what was committed and can refuse.
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
    } else {
      r.ok = true;
      for (auto& u : b.index) {
        if (u.fingerprint) index[u.key] = *u.fingerprint;
        else index.erase(u.key);
      }
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
  std::vector<Event> events;
  int fail_next = 0;
  int commits = 0;
  bool hold = false;
  std::vector<std::function<void()>> held;
};

struct LocalFixture : ::testing::Test {
  test::TempDir dir;
  boost::asio::io_context io;
  RecordingIntake intake{io};
  Metrics metrics;
  Health health;
  SystemClock clock;
  ConnectorContext ctx{io, intake, metrics, health, clock,
                       std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::null_sink_mt>())};
  std::unique_ptr<ConnectorSpec> spec;
  std::unique_ptr<Connector> conn;

  std::string root() const { return dir.path().string() + "/in"; }
  void make(const std::string& extra = "",
            const std::function<void(LocalSpec&)>& tune = nullptr) {
    std::filesystem::create_directories(root());
    YAML::Node n = YAML::Load("{name: in, type: local, path: '" + root() + "'" + extra + "}");
    ConfigErrors errors;
    MapReader m(n, "sources[0]", errors);
    m.string("name");
    m.string("type");
    spec = findConnector("local")(m);
    ASSERT_TRUE(errors.empty()) << errors.list().at(0).str();
    spec->name = "in";
    if (tune) tune(static_cast<LocalSpec&>(*spec));
    conn = spec->create(ctx);
  }
  bool runUntil(const std::function<bool()>& pred) { return test::runUntil(io, pred); }
  static void write(const std::string& path, const std::string& data) {
    std::ofstream(path, std::ios::binary) << data;
  }
  std::vector<std::string> paths(EventType t) const {
    std::vector<std::string> out;
    for (auto& e : intake.events)
      if (e.type == t) out.push_back(e.path.substr(root().size()));
    return out;
  }
};

TEST_F(LocalFixture, StartupScanDeliversExistingFilesOnceAcrossRestarts) {
  make();
  write(root() + "/a.txt", "aaa");
  std::filesystem::create_directories(root() + "/sub");
  write(root() + "/sub/b.txt", "b");
  conn->start();
  ASSERT_TRUE(runUntil([&] { return intake.events.size() == 2; }));
  for (auto& e : intake.events) {
    EXPECT_EQ(e.type, EventType::Created);
    EXPECT_EQ(e.storage, "local");
    EXPECT_TRUE(e.size.has_value());
  }
  auto first_ids = intake.events;
  conn->stop();
  // "Restart": a new connector over the saved index finds nothing new, then sees a new file.
  conn = spec->create(ctx);
  write(root() + "/c.txt", "c");
  conn->start();
  ASSERT_TRUE(runUntil([&] { return intake.events.size() == 3; }));
  EXPECT_EQ(paths(EventType::Created).back(), "/c.txt");
}

TEST_F(LocalFixture, CreatedMeansClosedAfterWritingNotCreated) {
  make();
  conn->start();
  int fd = ::open((root() + "/slow.bin").c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, "xy", 2), 2);
  // inotify is ordered: once the marker (written after) has arrived, the open file had its
  // chance to produce an event and must not have.
  write(root() + "/marker", "m");
  ASSERT_TRUE(runUntil([&] { return intake.events.size() == 1; }));
  EXPECT_EQ(paths(EventType::Created), std::vector<std::string>{"/marker"});
  ::close(fd);
  ASSERT_TRUE(runUntil([&] { return intake.events.size() == 2; }));
  EXPECT_EQ(intake.events[1].size, 2);
  EXPECT_EQ(intake.events[1].native["mask"][0], "IN_CLOSE_WRITE");
}

TEST_F(LocalFixture, RenameIntoPlaceIsCreatedAndIgnoredNamesAreNot) {
  make(", ignore: ['*.part']");
  conn->start();
  write(root() + "/data.part", "payload");
  std::filesystem::rename(root() + "/data.part", root() + "/data");
  ASSERT_TRUE(runUntil([&] { return intake.events.size() == 1; }));
  EXPECT_EQ(paths(EventType::Created), std::vector<std::string>{"/data"});
}

TEST_F(LocalFixture, FilesInANewDirectoryAreNotMissed) {
  make();
  conn->start();
  std::filesystem::create_directories(root() + "/new/deeper");
  write(root() + "/new/deeper/f1", "1");
  write(root() + "/new/f2", "2");
  ASSERT_TRUE(runUntil([&] { return intake.events.size() >= 2; }));
  auto got = paths(EventType::Created);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"/new/deeper/f1", "/new/f2"}));
  write(root() + "/new/deeper/f3", "3");  // the new directories are watched too
  ASSERT_TRUE(runUntil([&] { return intake.events.size() == 3; }));
}

TEST_F(LocalFixture, RemovedAndMovedWhenSelected) {
  make(", events: [created, removed, moved]");
  write(root() + "/a", "a");
  conn->start();
  ASSERT_TRUE(runUntil([&] { return intake.events.size() == 1; }));
  std::filesystem::rename(root() + "/a", root() + "/b");
  ASSERT_TRUE(runUntil([&] { return intake.events.size() == 2; }));
  EXPECT_EQ(intake.events[1].type, EventType::Moved);
  EXPECT_EQ(intake.events[1].previous_path, root() + "/a");
  std::filesystem::remove(root() + "/b");
  ASSERT_TRUE(runUntil([&] { return intake.events.size() == 3; }));
  EXPECT_EQ(paths(EventType::Removed), std::vector<std::string>{"/b"});
  EXPECT_TRUE(intake.index.empty());
}

TEST_F(LocalFixture, RemovedWhileDownIsFoundByTheStartupScan) {
  make(", events: [created, removed]");
  std::filesystem::create_directories(root() + "/dir/deep");
  for (auto f : {"/gone", "/kept", "/dir/deep/a", "/dir/deep/b"}) write(root() + f, "x");
  conn->start();
  ASSERT_TRUE(runUntil([&] { return intake.events.size() == 4; }));
  conn->stop();
  std::filesystem::remove(root() + "/gone");
  std::filesystem::remove_all(root() + "/dir");  // a whole directory: its files are gone too
  conn = spec->create(ctx);
  conn->start();
  ASSERT_TRUE(runUntil([&] { return intake.events.size() == 7; }));
  auto removed = paths(EventType::Removed);
  std::sort(removed.begin(), removed.end());
  EXPECT_EQ(removed, (std::vector<std::string>{"/dir/deep/a", "/dir/deep/b", "/gone"}));
  EXPECT_EQ(intake.index.size(), 1u);
}

TEST_F(LocalFixture, FailedCommitsPauseAndRetryWithoutLoss) {
  make();
  intake.fail_next = 3;
  for (int i = 0; i < 5; ++i) write(root() + "/f" + std::to_string(i), "x");
  conn->start();
  ASSERT_TRUE(runUntil([&] { return intake.events.size() == 5; }));
  EXPECT_GE(intake.commits, 4);
}

TEST_F(LocalFixture, WatchCapIsADegradedStateWithTheRemedy) {
  make(", max_watches: 2");
  for (auto d : {"/d1", "/d2", "/d3"}) std::filesystem::create_directories(root() + d);
  write(root() + "/d3/f", "x");
  conn->start();
  EXPECT_FALSE(health.ready());
  EXPECT_NE(health.report().find("raise max_watches"), std::string::npos) << health.report();
  // Files in the unwatched directory were still found by the scan.
  ASSERT_TRUE(runUntil([&] { return intake.events.size() == 1; }));
}

TEST_F(LocalFixture, CatchUpReportsWhenEverythingIsCommitted) {
  make();
  for (int i = 0; i < 2500; ++i) write(root() + "/f" + std::to_string(i), "x");
  bool done = false;
  std::string error = "unset";
  conn->catchUp([&](std::string e) {
    done = true;
    error = e;
  });
  ASSERT_TRUE(runUntil([&] { return done; }));
  EXPECT_EQ(error, "");
  EXPECT_EQ(intake.events.size(), 2500u);
  EXPECT_GE(intake.commits, 3);  // committed in batches
}

TEST_F(LocalFixture, ScansStopWhileCommitsWaitAndMissNothing) {
  constexpr std::size_t kLimit = 1024, kBatch = LocalConnector::kBatchEntries;
  constexpr std::size_t kFiles = kLimit + 2 * kBatch;
  make(", events: [created, removed]", [&](LocalSpec& s) { s.max_pending = kLimit; });
  std::filesystem::create_directories(root() + "/sub");
  for (std::size_t i = 0; i < kFiles; ++i)
    write(root() + "/sub/f" + std::to_string(i), "");
  intake.hold = true;
  conn->start();
  auto& local = static_cast<LocalConnector&>(*conn);
  ASSERT_TRUE(runUntil([&] { return local.held() >= kLimit; }));
  io.poll();  // nothing left to run: the scan waits for its commits
  EXPECT_LT(local.held(), kLimit + kBatch);
  EXPECT_LT(intake.events.size() + local.held(), kFiles);  // the walk stopped short
  EXPECT_EQ(intake.held.size(), 1u);  // one commit in flight at a time
  EXPECT_FALSE(health.ready());       // the start-up scan has not caught up yet
  // Files written meanwhile (in a directory the scan has walked, in a new directory) are not
  // mistaken for removals when the scan ends.
  write(root() + "/late", "x");
  std::filesystem::create_directories(root() + "/newdir");
  write(root() + "/newdir/f", "x");
  ASSERT_TRUE(runUntil([&] { return local.held() >= kLimit; }));
  intake.hold = false;
  auto held = std::move(intake.held);
  for (auto& h : held) h();
  ASSERT_TRUE(runUntil([&] { return intake.events.size() == kFiles + 2; }));
  EXPECT_TRUE(paths(EventType::Removed).empty());
  ASSERT_TRUE(runUntil([&] { return health.ready(); }));
}

TEST_F(LocalFixture, RemovalsFoundByAScanAreAnnouncedInBoundedSteps) {
  constexpr std::size_t kLimit = 256, kBatch = LocalConnector::kBatchEntries;
  constexpr std::size_t kFiles = 2 * kBatch;
  make(", events: [created, removed]", [&](LocalSpec& s) { s.max_pending = kLimit; });
  // While sluice is down, one directory loses its files (found by its listing) and another
  // disappears whole (found when the walk ends).
  // More removals in one directory than the bound, so a directory is not announced at once.
  constexpr std::size_t kEmptied = kLimit + kBatch + 256;
  for (auto [d, n] : {std::pair{"/emptied", kEmptied}, std::pair{"/vanished", kFiles - kEmptied}}) {
    std::filesystem::create_directories(root() + d);
    for (std::size_t i = 0; i < n; ++i) write(root() + d + "/f" + std::to_string(i), "");
  }
  conn->start();
  ASSERT_TRUE(runUntil([&] { return intake.events.size() == kFiles && health.ready(); }));
  conn->stop();
  for (std::size_t i = 0; i < kEmptied; ++i)
    std::filesystem::remove(root() + "/emptied/f" + std::to_string(i));
  std::filesystem::remove_all(root() + "/vanished");
  conn = spec->create(ctx);
  intake.hold = true;
  conn->start();
  auto& local = static_cast<LocalConnector&>(*conn);
  ASSERT_TRUE(runUntil([&] { return local.held() >= kLimit; }));
  io.poll();
  EXPECT_LT(local.held(), kLimit + kBatch);  // not every removal at once
  intake.hold = false;
  auto held = std::move(intake.held);
  for (auto& h : held) h();
  ASSERT_TRUE(runUntil([&] { return paths(EventType::Removed).size() == kFiles; }));
  EXPECT_TRUE(intake.index.empty());
}

TEST_F(LocalFixture, HostileNamesAreKeptByteExact) {
  make();
  conn->start();
  std::string odd = root() + "/new\nline \xff\xfe.bin";
  write(odd, "z");
  ASSERT_TRUE(runUntil([&] { return intake.events.size() == 1; }));
  EXPECT_EQ(intake.events[0].path, odd);
  EXPECT_EQ(fromJson(toJson(intake.events[0])).path, odd);
}

}  // namespace
}  // namespace sluice::connectors::local
