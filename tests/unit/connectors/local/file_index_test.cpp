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
  auto under = ix.dirsUnder("/r/sub");
  std::sort(under.begin(), under.end());
  EXPECT_EQ(under, (std::vector<std::string>{"/r/sub", "/r/sub/deeper"}));
  ASSERT_NE(ix.dir("/r/sub"), nullptr);
  EXPECT_EQ(ix.dir("/r/sub")->size(), 1u);
  ix.erase("/r/sub/b");
  ix.erase("/r/sub/b");  // twice: no effect
  EXPECT_EQ(ix.size(), 3u);
  EXPECT_EQ(ix.dir("/r/sub"), nullptr);  // empty directories are dropped
  EXPECT_EQ(ix.dirs().size(), 3u);
}

TEST(FileIndex, MarksRoundTripThroughTheQueuesText) {
  const std::string id = "0123456789abcdef fedcba9876543210";
  const std::string hex = "0123456789abcdeffedcba9876543210";
  ASSERT_FALSE(toMark(id, 1));  // not 32 hex digits
  auto m = toMark(hex, 1'700'000'000'000);
  ASSERT_TRUE(m);
  EXPECT_EQ(markId(*m), hex);
  FileVersion v{12, 34, 56};
  EXPECT_EQ(encodeEntry(&v, nullptr), "12:34:56");  // as before marks existed
  EXPECT_EQ(encodeEntry(&v, &*m), "12:34:56|" + hex + "@1700000000000");
  EXPECT_EQ(encodeEntry(nullptr, &*m), "|" + hex + "@1700000000000");
  for (auto* file : {&v, static_cast<FileVersion*>(nullptr)}) {
    auto e = decodeEntry(encodeEntry(file, &*m));
    EXPECT_EQ(e.file.has_value(), file != nullptr);
    EXPECT_EQ(e.mark, m);
  }
  // Unreadable parts: a file counts as changed, a mark is left out.
  EXPECT_EQ(decodeEntry("garbage").file, FileVersion{});
  EXPECT_FALSE(decodeEntry("garbage").mark);
  EXPECT_FALSE(decodeEntry("1:2:3|nothex@5").mark);
  EXPECT_FALSE(decodeEntry("|" + hex + "@").mark);
  EXPECT_FALSE(decodeEntry("|" + hex).mark);
}

TEST(FileIndex, TombstonesAreNotFiles) {
  FileIndex ix;
  Mark old{1, 1, 100}, recent{2, 2, 900};
  ix.setMark("/r/gone", old);
  ix.setMark("/r/sub/back", old);
  ix.set("/r/sub/back", {1, 1, 1});  // came back: the mark stays, as its epoch
  ix.setMark("/r/new", recent);
  EXPECT_EQ(ix.size(), 1u);
  EXPECT_EQ(ix.marks(), 3u);
  EXPECT_EQ(ix.find("/r/gone"), nullptr);
  EXPECT_EQ(ix.dir("/r"), nullptr);  // reconciliation sees no file in /r
  EXPECT_EQ(ix.dirs(), std::vector<std::string>{"/r/sub"});
  ASSERT_NE(ix.mark("/r/sub/back"), nullptr);
  EXPECT_EQ(*ix.mark("/r/sub/back"), old);
  // Only tombstones (no file) older than the cutoff expire.
  EXPECT_EQ(ix.expiredTombstones(500), std::vector<std::string>{"/r/gone"});
  ix.eraseMark("/r/gone");
  ix.eraseMark("/r/gone");
  EXPECT_EQ(ix.marks(), 2u);
  ix.erase("/r/sub/back");
  EXPECT_NE(ix.mark("/r/sub/back"), nullptr);  // erasing the file keeps the mark
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
