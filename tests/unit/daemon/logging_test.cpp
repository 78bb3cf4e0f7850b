#include "daemon/logging.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace sluice {
namespace {

TEST(Logging, EscapeControlLeavesPrintableUtf8Alone) {
  EXPECT_EQ(escapeControl("plain /data/inbox/a b.tif"), "plain /data/inbox/a b.tif");
  EXPECT_EQ(escapeControl("Gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x93\x81"),
            "Gr\xc3\xbc\xc3\x9f \xe2\x82\xac \xf0\x9f\x93\x81");
  EXPECT_EQ(escapeControl(""), "");
}

TEST(Logging, EscapeControlEscapesC0DelAndTheBackslash) {
  EXPECT_EQ(escapeControl("a\nb\rc\td"), "a\\nb\\rc\\td");
  EXPECT_EQ(escapeControl(std::string("\x00\x01\x1b[31m\x7f", 8)), "\\x00\\x01\\x1b[31m\\x7f");
  // The backslash itself, so an escaped newline and a name spelling "\n" stay apart.
  EXPECT_EQ(escapeControl("a\\nb"), "a\\\\nb");
}

TEST(Logging, EscapeControlEscapesC1AndInvalidUtf8ByteByByte) {
  EXPECT_EQ(escapeControl("x\xc2\x9b" "31m\xc2\x85y"), "x\\u009b31m\\u0085y");  // CSI, NEL
  EXPECT_EQ(escapeControl("\xc2\xa0"), "\xc2\xa0");                            // U+00A0 stays
  EXPECT_EQ(escapeControl("bad\xff name"), "bad\\xff name");
  EXPECT_EQ(escapeControl("\xc0\x8a"), "\\xc0\\x8a");          // overlong "\n"
  EXPECT_EQ(escapeControl("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // a surrogate
  EXPECT_EQ(escapeControl("\xf4\x90\x80\x80"), "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
  EXPECT_EQ(escapeControl("cut \xe2\x82"), "cut \\xe2\\x82");  // truncated sequence
}

// A hostile file name cannot forge a second record or reach the terminal.
TEST(Logging, TextLinesAreOneLineAndRedacted) {
  const std::string name = "x\n2023-11-14T22:13:20.000Z error forged \x1b]0;pwned\x07";
  auto line =
      formatLogLine(false, 1'700'000'000'000, "info", "created " + name + " tok3n", {"tok3n"});
  EXPECT_EQ(line,
            "2023-11-14T22:13:20.000Z info created x\\n2023-11-14T22:13:20.000Z error forged "
            "\\x1b]0;pwned\\x07 <redacted>\n");
  auto json = formatLogLine(true, 1'700'000'000'000, "info", "created " + name, {});
  EXPECT_EQ(json.find('\n'), json.size() - 1);
  EXPECT_EQ(nlohmann::json::parse(json)["msg"], "created " + name);
}

}  // namespace
}  // namespace sluice
