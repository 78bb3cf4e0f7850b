#include "daemon/line_framer.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sluice {
namespace {

struct Lines {
  std::vector<std::string> text;
  std::vector<bool> too_long;
  std::function<void(std::string_view, bool)> sink() {
    return [this](std::string_view l, bool tl) {
      text.emplace_back(l);
      too_long.push_back(tl);
    };
  }
};

TEST(LineFramer, LinesCutAnywhereComeOutWhole) {
  const std::string stream = "{\"a\":1}\n \r\n{\"Records\":null}\r\nlast";
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    LineFramer f;
    Lines got;
    f.feed(stream.substr(0, cut), got.sink());
    f.feed(stream.substr(cut), got.sink());
    ASSERT_EQ(got.text, (std::vector<std::string>{"{\"a\":1}", " ", "{\"Records\":null}"}))
        << "cut at " << cut;
    EXPECT_EQ(f.buffered(), 4u);  // "last" waits for its newline
  }
}

TEST(LineFramer, ByteByByteIsTheSame) {
  LineFramer f;
  Lines got;
  for (char c : std::string("ab\n\ncd\n")) f.feed(std::string_view(&c, 1), got.sink());
  EXPECT_EQ(got.text, (std::vector<std::string>{"ab", "", "cd"}));
}

TEST(LineFramer, ALineOverTheLimitIsSkippedAndReportedWithoutGrowingTheBuffer) {
  LineFramer f(8);
  Lines got;
  f.feed("12345", got.sink());
  f.feed("6789abcdef", got.sink());  // past 8 bytes: dropped from here on
  EXPECT_EQ(f.buffered(), 0u);
  f.feed(std::string(1 << 20, 'x'), got.sink());
  EXPECT_EQ(f.buffered(), 0u);
  f.feed("zz\nok\n12345678\n", got.sink());
  EXPECT_EQ(got.text, (std::vector<std::string>{"", "ok", "12345678"}));
  EXPECT_EQ(got.too_long, (std::vector<bool>{true, false, false}));
}

TEST(LineFramer, ResetForgetsAPartialLine) {
  LineFramer f;
  Lines got;
  f.feed("half a li", got.sink());
  f.reset();
  f.feed("ne\nnext\n", got.sink());
  EXPECT_EQ(got.text, (std::vector<std::string>{"ne", "next"}));
}

}  // namespace
}  // namespace sluice
