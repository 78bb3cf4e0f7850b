// The onedata source against an in-process stand-in for the changes stream and a recording
// intake (the fake Oneprovider in tests/integration checks the wire end to end): the cursor
// never passes a file still settling, the stream is asked again when it ends, 401/403 reach
// health, and bad lines are counted.
#include "connectors/onedata/onedata_connector.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <mutex>

#include "daemon/health.hpp"
#include "daemon/metrics.hpp"
#include "tests/unit/support/loop.hpp"
#include "tests/unit/support/recording_intake.hpp"
#include "tests/unit/support/source_entry.hpp"
#include "tests/unit/support/temp_dir.hpp"
#include "tests/unit/support/test_http_server.hpp"

namespace sluice::connectors::onedata {
namespace {

using sluice::test::CannedResponse;
using sluice::test::RecordedRequest;

// RecordingIntake, plus the cursors committed (in order).
class CursorIntake final : public Intake {
 public:
  explicit CursorIntake(boost::asio::io_context& io) : inner(io) {}
  void commit(Batch b, std::function<void(CommitResult)> done) override {
    if (b.cursor) cursors.push_back(*parseCursor(b.cursor));
    inner.commit(std::move(b), std::move(done));
  }
  SourceState loadState(const std::string& s, const IndexVisitor& v) override {
    auto st = inner.loadState(s, v);
    st.cursor = cursor;
    return st;
  }
  test::RecordingIntake inner;
  std::vector<std::int64_t> cursors;
  std::optional<std::string> cursor;
};

std::string line(std::int64_t seq, const std::string& id, const std::string& extra) {
  return R"({"fileId":")" + id + R"(","filePath":"/space1/in/)" + id + R"(","seq":)" +
         std::to_string(seq) +
         R"(,"fileMeta":{"changed":false,"deleted":false,"fields":{"deleted":false,"name":")" + id +
         R"(","type":"REG"}})" + extra + "}\r\n";
}

struct OnedataFixture : ::testing::Test {
  boost::asio::io_context io;
  CursorIntake intake{io};
  Metrics metrics;
  Health health;
  ManualClock clock;
  HttpClient http{io};
  ConnectorContext ctx{
      io,
      intake,
      metrics,
      health,
      clock,
      std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::null_sink_mt>()),
      Duration(86'400'000),
      &http,
      nullptr};
  test::TestHttpServer server;
  test::TempDir dir;
  std::mutex mu;
  std::vector<CannedResponse> streams;  // answered in turn; then requests are left open
  std::unique_ptr<ConnectorSpec> spec;
  std::unique_ptr<Connector> conn;

  void SetUp() override {
    server.setHandler([this](const RecordedRequest&) -> std::optional<CannedResponse> {
      std::lock_guard<std::mutex> lock(mu);
      if (streams.empty()) return std::nullopt;
      auto r = streams.front();
      streams.erase(streams.begin());
      return r;
    });
  }
  void stream(std::vector<std::string> chunks) {
    std::lock_guard<std::mutex> lock(mu);
    streams.push_back(CannedResponse{200, {{"Content-Type", "application/json"}}, "", chunks});
  }
  void make(const std::string& extra = "") {
    auto token = dir.path() / "tok";
    FILE* f = std::fopen(token.c_str(), "w");
    std::fputs("secret-token\n", f);
    std::fclose(f);
    std::string error;
    spec = test::parseSourceEntry("{name: od, type: onedata, provider: '" + server.url("") +
                                      "', space_id: sp1, token_file: '" + token.string() +
                                      "', settle: 5s, timeout: 2s" + extra + "}",
                                  &error);
    ASSERT_TRUE(spec) << error;
    conn = spec->create(ctx);
  }
  bool runUntil(const std::function<bool()>& pred) { return test::runUntil(io, pred); }
  std::vector<RecordedRequest> changes() {
    std::vector<RecordedRequest> out;
    for (auto& r : server.requests())
      if (r.target.find("/changes/metadata/sp1") != std::string::npos) out.push_back(r);
    return out;
  }
};

TEST_F(OnedataFixture, TheCursorStaysBelowAFileStillSettling) {
  const std::int64_t mtime_s = clock.nowMs() / 1000;
  intake.cursor = formatCursor(9);
  stream({line(10, "A", ""),
          line(11, "A", R"(,"times":{"fields":{"mtime":)" + std::to_string(mtime_s) + "}}"),
          line(12, "A", R"(,"fileLocation":{"fields":{"size":4}})"),
          R"({"fileId":"D","filePath":"/space1/in/d","seq":13,"fileMeta":{"fields":)"
          R"({"deleted":false,"name":"d","type":"DIR"}}})"
          "\r\n"});
  make();
  conn->start();
  // The stream ended (inactivity): asked again at once, from the last seq read + 1.
  ASSERT_TRUE(runUntil([&] { return changes().size() >= 2; }));
  auto reqs = changes();
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_NE(reqs[0].target.find("timeout=2000&last_seq=10"), std::string::npos);
  EXPECT_NE(reqs[1].target.find("last_seq=14"), std::string::npos) << reqs[1].target;
  ASSERT_NE(reqs[0].header("x-auth-token"), nullptr);
  EXPECT_EQ(*reqs[0].header("x-auth-token"), "secret-token");
  EXPECT_EQ(*reqs[0].header("content-type"), "application/json");
  EXPECT_EQ(reqs[0].body, changesSpecification());
  EXPECT_TRUE(intake.inner.events.empty());
  for (auto c : intake.cursors) EXPECT_LE(c, 9);  // A (from seq 10) still settles
  EXPECT_TRUE(runUntil([&] { return health.state("source:od") == HealthState::Ok; }));

  clock.advance(5000);
  ASSERT_TRUE(runUntil([&] { return intake.inner.events.size() == 1; }));
  ASSERT_TRUE(runUntil([&] { return !intake.cursors.empty() && intake.cursors.back() == 13; }));
  const Event& ev = intake.inner.events[0];
  EXPECT_EQ(ev.path, "/space1/in/A");
  EXPECT_EQ(ev.size, 4);
  EXPECT_EQ(ev.etag, "A");
  EXPECT_EQ(ev.mtime_ms, mtime_s * 1000);
  EXPECT_EQ(intake.inner.index.at("/space1/in/A"), toFingerprint({"A", mtime_s * 1000, 4}));
  conn->stop();
}

TEST_F(OnedataFixture, AReplayedFileIsNotEmittedAgainAndADeletionIsARemoval) {
  intake.inner.index["/space1/in/A"] = toFingerprint({"A", 1'600'000'000'000, 4});
  stream({line(3, "A",
               R"(,"fileLocation":{"fields":{"size":4}},"times":{"fields":{"mtime":)"
               "1600000000}}"),
          R"({"fileId":"A","filePath":"","seq":5,"fileMeta":{"changed":true,"deleted":true,)"
          R"("fields":{"deleted":true,"name":"A","type":"REG"}}})"
          "\r\n"});
  make(", events: [created, removed]");
  conn->start();
  ASSERT_TRUE(runUntil([&] { return intake.inner.events.size() == 1; }));
  EXPECT_EQ(intake.inner.events[0].type, EventType::Removed);
  EXPECT_EQ(intake.inner.events[0].path, "/space1/in/A");
  ASSERT_TRUE(runUntil([&] { return intake.inner.index.at("/space1/in/A")[0] == '~'; }));
  conn->stop();
}

TEST_F(OnedataFixture, ForbiddenReachesHealthAndIsNotRetriedAtOnce) {
  {
    std::lock_guard<std::mutex> lock(mu);
    streams.push_back(CannedResponse{
        403,
        {{"Content-Type", "application/json"}},
        R"({"error":{"id":"forbidden","description":"You are not authorized to perform this )"
        R"(operation."}})"});
  }
  make();
  conn->start();
  ASSERT_TRUE(runUntil([&] {
    return health.state("source:od") == HealthState::Failed &&
           health.report().find("403") != std::string::npos;
  }));
  EXPECT_NE(health.report().find("space_view_changes_stream"), std::string::npos);
  // A 60 s wait, not a crash loop.
  test::runUntil(
      io, [] { return false; }, std::chrono::milliseconds(300));
  EXPECT_EQ(changes().size(), 1u);
  conn->stop();
}

TEST_F(OnedataFixture, UnauthorizedNamesTheTokenFile) {
  {
    std::lock_guard<std::mutex> lock(mu);
    streams.push_back(CannedResponse{401, {}, R"({"error":{"id":"unauthorized"}})"});
  }
  make();
  conn->start();
  ASSERT_TRUE(runUntil([&] { return health.report().find("401") != std::string::npos; }));
  EXPECT_EQ(health.state("source:od"), HealthState::Failed);
  EXPECT_NE(health.report().find("tok"), std::string::npos);
  conn->stop();
}

TEST_F(OnedataFixture, BadLinesAreCountedAndTheStreamGoesOn) {
  const std::string old = R"(,"fileLocation":{"fields":{"size":1}},"times":{"fields":{"mtime":)"
                          "1600000000}}";
  stream({"{\"fileId\": oops\r\n", "\r\n", line(2, "B", old).substr(0, 30),
          line(2, "B", old).substr(30)});
  make();
  conn->start();
  ASSERT_TRUE(runUntil([&] { return intake.inner.events.size() == 1; }));
  EXPECT_EQ(intake.inner.events[0].path, "/space1/in/B");
  EXPECT_NE(metrics.render().find("sluice_source_bad_events_total{source=\"od\"} 1"),
            std::string::npos);
  conn->stop();
}

TEST_F(OnedataFixture, OnceReadsUntilTheStreamEndsAndWaitsForSettling) {
  stream({line(1, "C",
               R"(,"fileLocation":{"fields":{"size":2}},"times":{"fields":{"mtime":)" +
                   std::to_string(clock.nowMs() / 1000) + "}}")});
  make();
  std::optional<std::string> error;
  conn->catchUp([&](std::string e) { error = std::move(e); });
  ASSERT_TRUE(runUntil([&] { return changes().size() == 1; }));
  test::runUntil(
      io, [] { return false; }, std::chrono::milliseconds(300));
  EXPECT_FALSE(error);  // C still settles
  clock.advance(5000);
  ASSERT_TRUE(runUntil([&] { return error.has_value(); }));
  EXPECT_EQ(*error, "");
  EXPECT_EQ(intake.inner.events.size(), 1u);
  EXPECT_EQ(intake.cursors.back(), 1);
  EXPECT_NE(changes()[0].target.find("timeout=2000&last_seq=0"), std::string::npos);
}

}  // namespace
}  // namespace sluice::connectors::onedata

namespace sluice::connectors::onedata {
namespace {

TEST_F(OnedataFixture, TheStoreDownloadsByFileIdAndRefusesUploads) {
  {
    std::lock_guard<std::mutex> lock(mu);
    streams.push_back(CannedResponse{200, {}, "file bytes"});
  }
  make();
  auto store = spec->objectStore(io, http, clock);
  ASSERT_TRUE(store);
  Event ev =
      fileEvent({"od", "p", "sp1", "p/sp1"}, EventType::Created, "/space1/a", {"00F1D", 1, 10}, 1);
  EXPECT_FALSE(store->localPath(ev));
  const auto dest = dir.path() / "copy";
  std::optional<std::string> error;
  store->fetch(ev, dest, [&](std::string e) { error = std::move(e); });
  ASSERT_TRUE(runUntil([&] { return error.has_value(); }));
  EXPECT_EQ(*error, "");
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "GET");
  EXPECT_EQ(reqs[0].target, "/api/v3/oneprovider/data/00F1D/content");
  EXPECT_EQ(*reqs[0].header("x-auth-token"), "secret-token");
  EXPECT_EQ(std::filesystem::file_size(dest), 10u);
  error.reset();
  store->put(dest, "out.txt", [&](std::string e) { error = std::move(e); });
  ASSERT_TRUE(runUntil([&] { return error.has_value(); }));
  EXPECT_NE(error->find("not supported"), std::string::npos);
}

}  // namespace
}  // namespace sluice::connectors::onedata
