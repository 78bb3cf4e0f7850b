#include "sinks/supervisor/effect_log.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/unit/support/temp_dir.hpp"

namespace sluice::sinks::supervisor {
namespace {

namespace fs = std::filesystem;

TEST(EffectLog, ARecordSurvivesAndIsReplaced) {
  test::TempDir dir;
  {
    EffectLog log(dir.path() / "succeeded");
    EXPECT_FALSE(log.find("abc"));
    std::string why;
    ASSERT_TRUE(log.record("abc", {"abc-1", 0, 1200, 1000, {1}, true, {}}, &why)) << why;
  }
  EffectLog again(dir.path() / "succeeded");  // a restart
  auto e = again.find("abc");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->folder, "abc-1");
  EXPECT_EQ(e->duration_ms, 1200);
  EXPECT_EQ(e->gpus, std::vector<int>{1});
  EXPECT_TRUE(e->outputs_pending);
  std::string why;
  ASSERT_TRUE(again.record("abc", {"abc-1", 0, 1200, 1000, {1}, false, {"out:r/x.json"}}, &why));
  e = again.find("abc");
  ASSERT_TRUE(e);
  EXPECT_FALSE(e->outputs_pending);
  EXPECT_EQ(e->uploaded, std::vector<std::string>{"out:r/x.json"});
}

TEST(EffectLog, IdsThatAreNoFileNamesAreHashedNotFollowed) {
  test::TempDir dir;
  EffectLog log(dir.path() / "succeeded");
  std::string why;
  ASSERT_TRUE(log.record("../../escape", {"f", 0, 1, 1, {}, false, {}}, &why)) << why;
  EXPECT_FALSE(fs::exists(dir.path() / "escape.json"));
  EXPECT_TRUE(log.find("../../escape"));
  EXPECT_FALSE(log.find("escape"));
}

TEST(EffectLog, PruneRemovesOldAndUnreadableRecords) {
  test::TempDir dir;
  EffectLog log(dir.path() / "s");
  std::string why;
  ASSERT_TRUE(log.record("old", {"o", 0, 1, 1000, {}, false, {}}, &why));
  ASSERT_TRUE(log.record("new", {"n", 0, 1, 5000, {}, false, {}}, &why));
  std::ofstream(dir.path() / "s" / "junk.json") << "{not json";
  EXPECT_EQ(log.prune(2000), 2u);
  EXPECT_FALSE(log.find("old"));
  EXPECT_TRUE(log.find("new"));
}

TEST(EffectLog, AnUnwritableFolderSaysWhy) {
  test::TempDir dir;
  EffectLog log(dir.path() / "s");
  fs::remove_all(dir.path() / "s");
  std::string why;
  EXPECT_FALSE(log.record("x", {}, &why));
  EXPECT_NE(why.find("cannot write"), std::string::npos) << why;
}

}  // namespace
}  // namespace sluice::sinks::supervisor
