#include "connectors/local/file_index.hpp"

#include <gtest/gtest.h>

#include <algorithm>

namespace sluice::connectors::local {
namespace {

TEST(FileIndex, FingerprintsRoundTripAndGarbageIsRejected) {
  FileVersion v{123456789, 1'700'000'000'123'456'789, 42};
  EXPECT_EQ(toFingerprint(v), "123456789:1700000000123456789:42");
  EXPECT_EQ(parseFingerprint(toFingerprint(v)), v);
  for (auto bad : {"", "1:2", "1:2:3:4", "a:2:3", "1::3", "1:2:", "-1:2:3", "1:2:3 "})
    EXPECT_FALSE(parseFingerprint(bad)) << bad;
}

TEST(FileIndex, KeepsFilesPerDirectory) {
  FileIndex ix;
  ix.set("/r/a", {1, 1, 1});
  ix.set("/r/sub/b", {2, 2, 2});
  ix.set("/r/sub/deeper/c", {3, 3, 3});
  ix.set("/r/subway/d", {4, 4, 4});  // a sibling with the same prefix, not below /r/sub
  ix.set("/r/a", {5, 5, 5});         // replaced, not added
  EXPECT_EQ(ix.size(), 4u);
  ASSERT_NE(ix.find("/r/a"), nullptr);
  EXPECT_EQ(ix.find("/r/a")->ino, 5u);
  EXPECT_EQ(ix.find("/r/nope"), nullptr);
  auto under = ix.filesUnder("/r/sub");
  std::sort(under.begin(), under.end());
  EXPECT_EQ(under, (std::vector<std::string>{"/r/sub/b", "/r/sub/deeper/c"}));
  ASSERT_NE(ix.dir("/r/sub"), nullptr);
  EXPECT_EQ(ix.dir("/r/sub")->size(), 1u);
  ix.erase("/r/sub/b");
  ix.erase("/r/sub/b");  // twice: no effect
  EXPECT_EQ(ix.size(), 3u);
  EXPECT_EQ(ix.dir("/r/sub"), nullptr);  // empty directories are dropped
  EXPECT_EQ(ix.dirs().size(), 3u);
}

TEST(FileIndex, SplitsPathsAtTheLastSlash) {
  EXPECT_EQ(splitPath("/a/b/c"), (std::pair<std::string, std::string>{"/a/b", "c"}));
  EXPECT_EQ(splitPath("/c"), (std::pair<std::string, std::string>{"", "c"}));
  EXPECT_TRUE(isUnder("/a/b/c", "/a/b"));
  EXPECT_FALSE(isUnder("/a/bc", "/a/b"));
  EXPECT_FALSE(isUnder("/a/b", "/a/b"));
}

}  // namespace
}  // namespace sluice::connectors::local
