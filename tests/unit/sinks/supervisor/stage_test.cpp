#include "sinks/supervisor/stage.hpp"

#include <gtest/gtest.h>

namespace sluice::sinks::supervisor {
namespace {

namespace fs = std::filesystem;

TEST(StageName, HostileKeysStayOneComponentInsideTheInputFolder) {
  using namespace std::string_literals;
  const std::pair<std::string, std::string> cases[] = {
      {"images/raw/scan 01.tif", "scan 01.tif"},
      {"../../etc/passwd", "passwd"},
      {"/etc/shadow", "shadow"},
      {"..", "input"},
      {".", "input"},
      {"", "input"},
      {"a/b/../..", "input"},
      {"dir/", "dir"},
      {"///", "input"},
      {"nul\0byte.txt"s, "nul_byte.txt"},
      {"new\nline\r.txt", "new_line_.txt"},
      {"back\\slash", "back_slash"},
      {"esc\x1b[31m.txt", "esc_[31m.txt"},
      {".hidden", ".hidden"},
      {"d/\xc3\xa9t\xc3\xa9.csv", "\xc3\xa9t\xc3\xa9.csv"},
  };
  const fs::path input = "/state/jobs/gpu/abc-1/input";
  for (auto& [key, want] : cases) {
    const std::string name = stageName(key);
    EXPECT_EQ(name, want) << key;
    EXPECT_EQ(name.find('/'), std::string::npos) << key;
    EXPECT_EQ(name.find('\0'), std::string::npos) << key;
    const fs::path staged = (input / name).lexically_normal();
    EXPECT_EQ(staged.parent_path(), input) << key;
  }
}

TEST(StageName, LongNamesAreCutAtACharacterBoundaryKeepingTheExtension) {
  std::string key = "prefix/";
  for (int i = 0; i < 150; ++i) key += "\xc3\xa9";  // 300 bytes of 'é'
  key += ".tif";
  const std::string name = stageName(key);
  EXPECT_LE(name.size(), 200u);
  ASSERT_GE(name.size(), 4u);
  EXPECT_EQ(name.substr(name.size() - 4), ".tif");
  // Every 'é' is whole: an even number of bytes before the extension.
  EXPECT_EQ((name.size() - 4) % 2, 0u);
}

TEST(StageName, TheEventsKeyWinsOverItsPath) {
  Event ev;
  ev.path = "/bucket/a/b.txt";
  EXPECT_EQ(stagePath("/in", ev), fs::path("/in/b.txt"));
  ev.key = "a/../../c.txt";
  EXPECT_EQ(stagePath("/in", ev), fs::path("/in/c.txt"));
}

}  // namespace
}  // namespace sluice::sinks::supervisor
