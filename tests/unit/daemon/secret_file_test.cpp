#include "daemon/secret_file.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/unit/support/temp_dir.hpp"

namespace sluice {
namespace {

namespace fs = std::filesystem;

TEST(SecretFile, ARotatedTokenIsReadAgainAndAMissingOneKeepsTheLast) {
  test::TempDir dir;
  const fs::path file = dir.path() / "token";
  SecretFile s(file);
  auto none = s.read();
  EXPECT_EQ(none.secret, "");
  EXPECT_NE(none.error, "");

  std::ofstream(file) << "first\n";
  auto a = s.read();
  EXPECT_EQ(a.secret, "first");
  EXPECT_TRUE(a.changed);
  EXPECT_EQ(a.error, "");
  EXPECT_FALSE(s.read().changed);  // unchanged: not read again

  // Rotation the way agents do it: a new file renamed over the old one.
  std::ofstream(dir.path() / "token.new") << "second-token\r\n";
  fs::rename(dir.path() / "token.new", file);
  auto b = s.read();
  EXPECT_EQ(b.secret, "second-token");
  EXPECT_TRUE(b.changed);

  fs::remove(file);  // mid-rotation
  auto c = s.read();
  EXPECT_EQ(c.secret, "second-token");
  EXPECT_NE(c.error.find(file.string()), std::string::npos);
  EXPECT_EQ(c.error.find("second-token"), std::string::npos);  // never in an error

  std::ofstream(file) << "";  // truncated, not written yet
  auto d = s.read();
  EXPECT_EQ(d.secret, "second-token");
  EXPECT_NE(d.error.find("empty"), std::string::npos);
  std::ofstream(file) << "third";
  EXPECT_EQ(s.read().secret, "third");
}

TEST(SecretFile, ADirectoryIsAClearError) {
  test::TempDir dir;
  SecretFile s(dir.path());
  auto v = s.read();
  EXPECT_EQ(v.secret, "");
  EXPECT_NE(v.error, "");
}

}  // namespace
}  // namespace sluice
