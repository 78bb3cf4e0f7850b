// The local source's object store: in place for reading, a hard link or a copy for a job,
// never a symlink and never through one.
#include "connectors/local/local_store.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <optional>
#include <sstream>

#include "tests/unit/support/loop.hpp"
#include "tests/unit/support/temp_dir.hpp"

namespace sluice::connectors::local {
namespace {

namespace fs = std::filesystem;

std::string readAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct LocalStoreTest : ::testing::Test {
  test::TempDir dir;
  boost::asio::io_context io;
  LocalStore store{io};
  std::string fetch(const Event& ev, const fs::path& dest) {
    std::optional<std::string> why;
    store.fetch(ev, dest, [&](std::string e) { why = std::move(e); });
    EXPECT_FALSE(why.has_value()) << "answered inline";
    EXPECT_TRUE(test::runUntil(io, [&] { return why.has_value(); }));
    return why.value_or("no answer");
  }
};

TEST_F(LocalStoreTest, ReadsInPlaceAndHardLinksForJobs) {
  Event ev;
  ev.path = (dir.path() / "in.dat").string();
  std::ofstream(ev.path) << "payload";
  EXPECT_EQ(store.localPath(ev), ev.path);
  auto dest = dir.path() / "job-input";
  EXPECT_EQ(fetch(ev, dest), "");
  EXPECT_EQ(readAll(dest), "payload");
  struct stat a {
  }, b{};
  ASSERT_EQ(::lstat(ev.path.c_str(), &a), 0);
  ASSERT_EQ(::lstat(dest.c_str(), &b), 0);
  EXPECT_TRUE(S_ISREG(b.st_mode));
  EXPECT_EQ(a.st_ino, b.st_ino);  // a hard link, not a copy and not a symlink
}

TEST_F(LocalStoreTest, ASymlinkIsNeverFollowedNorLinked) {
  std::ofstream(dir.path() / "secret") << "s";
  Event ev;
  ev.path = (dir.path() / "link").string();
  fs::create_symlink(dir.path() / "secret", ev.path);
  auto why = fetch(ev, dir.path() / "job-input");
  EXPECT_NE(why.find("not a regular file"), std::string::npos) << why;
  EXPECT_FALSE(fs::exists(fs::symlink_status(dir.path() / "job-input")));
}

TEST_F(LocalStoreTest, AVanishedFileIsAnErrorNamingIt) {
  Event ev;
  ev.path = (dir.path() / "gone").string();
  auto why = fetch(ev, dir.path() / "job-input");
  EXPECT_NE(why.find("gone"), std::string::npos) << why;
}

// put(): a job's output into the source's folder, whole (a hidden name, then a rename), and
// never outside it.
struct LocalPutTest : ::testing::Test {
  test::TempDir dir;
  boost::asio::io_context io;
  fs::path root() const { return dir.path() / "root"; }
  LocalStore store{io, dir.path() / "root"};
  std::string put(const fs::path& src, const std::string& name) {
    std::optional<std::string> why;
    store.put(src, name, [&](std::string e) { why = std::move(e); });
    EXPECT_FALSE(why.has_value()) << "answered inline";
    EXPECT_TRUE(test::runUntil(io, [&] { return why.has_value(); }));
    return why.value_or("no answer");
  }
  void SetUp() override { fs::create_directories(root()); }
};

TEST_F(LocalPutTest, WritesBelowTheFolderAndReplacesWhole) {
  auto out = dir.path() / "out.txt";
  std::ofstream(out) << "v1";
  EXPECT_EQ(put(out, "results/run 1/out.txt"), "");
  EXPECT_EQ(readAll(root() / "results/run 1/out.txt"), "v1");
  std::ofstream(out) << "version two";
  EXPECT_EQ(put(out, "results/run 1/out.txt"), "");
  EXPECT_EQ(readAll(root() / "results/run 1/out.txt"), "version two");
  std::size_t entries = 0;
  for (auto& e : fs::directory_iterator(root() / "results/run 1")) {
    (void)e;
    ++entries;
  }
  EXPECT_EQ(entries, 1u);  // no temporary left behind
}

TEST_F(LocalPutTest, NamesThatLeaveTheFolderAreRefused) {
  auto out = dir.path() / "out.txt";
  std::ofstream(out) << "x";
  fs::create_directories(dir.path() / "elsewhere");
  fs::create_symlink(dir.path() / "elsewhere", root() / "link");
  for (const std::string& name :
       std::vector<std::string>{"../escape", "/etc/passwd", "a//b", "a/./b", "a/../../b", "",
                                "link/x", std::string("nul\0byte", 8)}) {
    EXPECT_NE(put(out, name), "") << name;
  }
  EXPECT_TRUE(fs::is_empty(dir.path() / "elsewhere"));
  EXPECT_FALSE(fs::exists(dir.path() / "escape"));
  LocalStore rootless{io};
  std::optional<std::string> why;
  rootless.put(out, "x", [&](std::string e) { why = std::move(e); });
  EXPECT_TRUE(test::runUntil(io, [&] { return why.has_value(); }));
  EXPECT_NE(*why, "");
}

}  // namespace
}  // namespace sluice::connectors::local
