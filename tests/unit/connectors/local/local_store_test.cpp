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
  struct stat a {}, b {};
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

}  // namespace
}  // namespace sluice::connectors::local
