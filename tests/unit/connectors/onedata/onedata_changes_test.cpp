// The onedata source's protocol half without I/O: its config, one changes line parsed, the
// settle tracker on a manual clock, and the ids both modes share.
#include "connectors/onedata/onedata_changes.hpp"

#include <gtest/gtest.h>

#include "connectors/onedata/onedata_spec.hpp"
#include "tests/unit/support/source_entry.hpp"
#include "tests/unit/support/temp_dir.hpp"

namespace sluice::connectors::onedata {
namespace {

class OnedataConfig : public ::testing::Test {
 protected:
  void SetUp() override {
    token_ = (dir_.path() / "od.token").string();
    FILE* f = std::fopen(token_.c_str(), "w");
    std::fputs("tok\n", f);
    std::fclose(f);
  }
  std::string parse(const std::string& extra, std::unique_ptr<ConnectorSpec>* out = nullptr) {
    std::string error;
    auto spec = test::parseSourceEntry(
        "{name: od, type: onedata, provider: 'https://op.example.org/', space_id: s1, "
        "token_file: '" +
            token_ + "'" + extra + "}",
        &error);
    if (out) *out = std::move(spec);
    return error;
  }
  test::TempDir dir_;
  std::string token_;
};

TEST_F(OnedataConfig, DefaultsAndKeys) {
  std::unique_ptr<ConnectorSpec> spec;
  ASSERT_EQ(parse(", paths: [/space1/in/], events: [created, removed], settle: 2s", &spec), "");
  auto* od = dynamic_cast<OnedataSpec*>(spec.get());
  ASSERT_NE(od, nullptr);
  EXPECT_EQ(od->provider, "https://op.example.org");
  EXPECT_EQ(od->mode, "changes");
  EXPECT_EQ(od->settle.count(), 2000);
  EXPECT_EQ(od->timeout.count(), 60'000);
  EXPECT_EQ(od->interval.count(), 300'000);
  EXPECT_EQ(od->paths, std::vector<std::string>{"/space1/in"});
  EXPECT_EQ(od->auth.token_header, "X-Auth-Token");
  EXPECT_TRUE(od->emit_removed);
  EXPECT_TRUE(od->wanted("/space1/in/a"));
  EXPECT_TRUE(od->wanted("/space1/in"));
  EXPECT_FALSE(od->wanted("/space1/inbox/a"));
  EXPECT_TRUE(od->descend("/space1"));
  EXPECT_FALSE(od->descend("/space1/other"));
  std::string error;
  EXPECT_TRUE(
      test::parseSourceEntry("{name: od, type: onedata, provider: https://x, space_id: s, "
                             "auth: {token_file: '" +
                                 token_ + "'}}",
                             &error))
      << error;
}

TEST_F(OnedataConfig, ErrorsNameTheKey) {
  EXPECT_NE(parse(", mode: stream").find("mode"), std::string::npos);
  EXPECT_NE(parse(", settle: soon").find("settle"), std::string::npos);
  EXPECT_NE(parse(", colour: red").find("colour"), std::string::npos);
  EXPECT_NE(parse(", events: [moved]").find("events"), std::string::npos);
  EXPECT_NE(parse(", paths: [incoming]").find("paths"), std::string::npos);
  EXPECT_NE(parse(", timeout: 10ms").find("timeout"), std::string::npos);
  std::string error;
  EXPECT_FALSE(
      test::parseSourceEntry("{name: od, type: onedata, provider: ftp://x, space_id: s, "
                             "token_file: '" +
                                 token_ + "'}",
                             &error));
  EXPECT_NE(error.find("provider"), std::string::npos);
  EXPECT_FALSE(
      test::parseSourceEntry("{name: od, type: onedata, provider: https://x, "
                             "token_file: '" +
                                 token_ + "'}",
                             &error));
  EXPECT_NE(error.find("space_id"), std::string::npos);
  error.clear();
  EXPECT_FALSE(test::parseSourceEntry("{name: od, type: onedata, provider: https://x, space_id: s}",
                                      &error));
  EXPECT_NE(error.find("token_file"), std::string::npos);
  error.clear();
  EXPECT_FALSE(
      test::parseSourceEntry("{name: od, type: onedata, provider: https://x, space_id: "
                             "s, token_file: /nonexistent/od.token}",
                             &error));
  EXPECT_NE(error.find("token_file"), std::string::npos);
}

TEST(OnedataLine, ParsesTheRecordsSluiceAsksFor) {
  auto c = parseChangeLine(
      R"({"fileId":"00AB","filePath":"/space1/in/a","seq":7,)"
      R"("fileLocation":{"changed":true,"deleted":false,"fields":{"size":12},"rev":"1-x"},)"
      R"("fileMeta":{"changed":false,"deleted":false,"fields":{"deleted":false,"name":"a",)"
      R"("type":"REG"}}})");
  ASSERT_EQ(c.error, "");
  EXPECT_EQ(c.file_id, "00AB");
  EXPECT_EQ(c.path, "/space1/in/a");
  EXPECT_EQ(c.seq, 7);
  EXPECT_TRUE(c.has_meta);
  EXPECT_EQ(c.type, "REG");
  EXPECT_FALSE(c.deleted);
  EXPECT_EQ(c.size, 12);
  EXPECT_FALSE(c.mtime_ms);

  c = parseChangeLine(
      R"({"fileId":"00AB","filePath":"","seq":"9","fileMeta":{"changed":true,"deleted":true,)"
      R"("fields":{"deleted":true,"name":"a","type":"REG"}}})");
  ASSERT_EQ(c.error, "");
  EXPECT_EQ(c.seq, 9);  // a string seq, as the Swagger says, is read too
  EXPECT_TRUE(c.deleted);

  c = parseChangeLine(R"({"fileId":"1","filePath":"/s/a","seq":3,"times":{"deleted":false,)"
                      R"("fields":{"mtime":1700000000}},"fileMeta":{"fields":{"type":"REG"}}})");
  EXPECT_EQ(c.mtime_ms, 1'700'000'000'000);

  EXPECT_NE(parseChangeLine(R"({"fileId": oops)").error, "");
  EXPECT_NE(parseChangeLine(R"([1,2])").error, "");
  EXPECT_NE(parseChangeLine(R"({"filePath":"/s/a","seq":1})").error, "");
  EXPECT_NE(parseChangeLine(R"({"fileId":"1","seq":-1})").error, "");
  EXPECT_NE(parseChangeLine(R"({"fileId":"1"})").error, "");
  // The body asks fileMeta with `always` only (see onedata_changes.hpp).
  auto spec = nlohmann::json::parse(changesSpecification());
  EXPECT_TRUE(spec["fileMeta"]["always"].get<bool>());
  EXPECT_FALSE(spec["fileLocation"].contains("always"));
  EXPECT_FALSE(spec["times"].contains("always"));
}

ChangeLine change(std::int64_t seq, std::optional<std::int64_t> size,
                  std::optional<std::int64_t> mtime_ms, const std::string& id = "F1") {
  ChangeLine c;
  c.file_id = id;
  c.path = "/space1/in/" + id;
  c.seq = seq;
  c.has_meta = true;
  c.type = "REG";
  c.size = size;
  c.mtime_ms = mtime_ms;
  return c;
}

TEST(OnedataSettle, AFileCountsOnceSizeAndMtimeStayForSettle) {
  ManualClock clock;
  const std::int64_t t0 = clock.nowMs();
  SettleTracker t;
  t.observe(change(1, std::nullopt, std::nullopt), clock.nowMs(), nullptr);
  t.observe(change(2, std::nullopt, t0), clock.nowMs(), nullptr);
  t.observe(change(3, 10, std::nullopt), clock.nowMs(), nullptr);
  EXPECT_EQ(t.minSeq(), 1);
  clock.advance(4000);
  t.observe(change(5, 20, t0 + 4000), clock.nowMs(), nullptr);  // still written
  clock.advance(4000);
  EXPECT_TRUE(t.takeSettled(clock.nowMs(), 5000).empty());
  EXPECT_EQ(t.nextDue(5000), t0 + 9000);
  clock.advance(1000);
  auto done = t.takeSettled(clock.nowMs(), 5000);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].first, "F1");
  EXPECT_EQ(done[0].second.size, 20);
  EXPECT_EQ(done[0].second.mtime_ms, t0 + 4000);
  EXPECT_EQ(done[0].second.first_seq, 1);
  EXPECT_TRUE(t.empty());
  EXPECT_FALSE(t.minSeq());
}

TEST(OnedataSettle, AnOldMtimeNeedsNoWaitAndAnUnknownSizeIsFetched) {
  ManualClock clock;
  SettleTracker t;
  t.observe(change(4, 3, clock.nowMs() - 60'000, "OLD"), clock.nowMs(), nullptr);
  t.observe(change(6, std::nullopt, std::nullopt, "MOVED"), clock.nowMs(), nullptr);
  auto done = t.takeSettled(clock.nowMs(), 5000);
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].first, "OLD");
  EXPECT_TRUE(t.incomplete(clock.nowMs(), 5000).empty());
  clock.advance(5000);
  EXPECT_EQ(t.incomplete(clock.nowMs(), 5000), std::vector<std::string>{"MOVED"});
  // What the index knows fills in what a touch does not carry.
  ObjectVersion known{"K", clock.nowMs() - 1000, 9};
  t.observe(change(8, std::nullopt, clock.nowMs(), "K"), clock.nowMs(), &known);
  EXPECT_EQ(t.find("K")->size, 9);
}

TEST(OnedataEvents, BothModesShareTheIdAndTheRecordIsOneTriggers) {
  Origin o{"od", "https://op", "s1", "https://op/s1"};
  ObjectVersion v{"00AB", 1'700'000'000'000, 5};
  Event a = fileEvent(o, EventType::Created, "/space1/in/a.dat", v, 1);
  Event b = fileEvent(o, EventType::Created, "/space1/in/a.dat", v, 2);
  EXPECT_EQ(a.id, b.id);
  EXPECT_NE(a.id, fileEvent(o, EventType::Removed, "/space1/in/a.dat", v, 1).id);
  EXPECT_NE(a.id, fileEvent(o, EventType::Created, "/space1/in/a.dat", {"00AB", 1, 5}, 1).id);
  EXPECT_EQ(a.storage, "onedata");
  EXPECT_EQ(a.etag, "00AB");
  EXPECT_EQ(a.native["Key"], "/space1/in/a.dat");
  EXPECT_EQ(a.native["Records"][0]["objectKey"], "a.dat");
  EXPECT_EQ(a.native["Records"][0]["eventSource"], "OneTrigger");
  EXPECT_EQ(a.native["Records"][0]["eventTime"], "1970-01-01T00:00:00.001000");
  EXPECT_EQ(parseCursor(formatCursor(42)), 42);
  EXPECT_FALSE(parseCursor(std::string("garbage")));
}

}  // namespace
}  // namespace sluice::connectors::onedata
