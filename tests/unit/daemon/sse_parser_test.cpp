#include "daemon/sse_parser.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sluice {
namespace {

struct Got {
  std::vector<SseEvent> events;
  std::vector<std::string> errors;
  void feed(SseParser& p, std::string_view chunk) {
    p.feed(
        chunk, [this](SseEvent&& e) { events.push_back(std::move(e)); },
        [this](std::string_view why) { errors.emplace_back(why); });
  }
};

// dCache's framing (PROTOCOLS.md §1.4): SYSTEM events carry no id.
const std::string kDcache =
    "event: SYSTEM\n"
    "data: {\"type\":\"NEW_SUBSCRIPTION\",\"subscription\":\"https://d/s/1\"}\n"
    "\n"
    "event: inotify\n"
    "id: 7\n"
    "data: "
    "{\"event\":{\"name\":\"f.dat\",\"mask\":[\"IN_CLOSE_WRITE\"]},\"subscription\":\"https://d/s/"
    "1\"}\n"
    "\n"
    ": keep-alive\n"
    "\n"
    "event: SYSTEM\n"
    "data: {\"type\":\"EVENT_LOSS\"}\n"
    "\n";

TEST(SseParser, DcacheEventsCutAnywhereComeOutWhole) {
  for (std::size_t cut = 0; cut <= kDcache.size(); ++cut) {
    SseParser p;
    Got got;
    got.feed(p, kDcache.substr(0, cut));
    got.feed(p, kDcache.substr(cut));
    ASSERT_EQ(got.events.size(), 3u) << "cut at " << cut;
    EXPECT_EQ(got.events[0].type, "SYSTEM");
    EXPECT_FALSE(got.events[0].id.has_value());
    EXPECT_EQ(got.events[1].type, "inotify");
    EXPECT_EQ(got.events[1].id, "7");
    EXPECT_EQ(got.events[1].data.substr(0, 9), "{\"event\":");
    EXPECT_FALSE(got.events[2].id.has_value());  // not the inotify event's id
    EXPECT_EQ(got.events[2].data, "{\"type\":\"EVENT_LOSS\"}");
    EXPECT_EQ(p.lastEventId(), "7");
    EXPECT_TRUE(got.errors.empty());
  }
}

TEST(SseParser, EveryLineEndingAndTheStandardsFieldRules) {
  SseParser p;
  Got got;
  // CR alone, CRLF cut between chunks, BOM, no space after the colon, two data lines,
  // an event without data (not dispatched), unknown fields, retry, an id holding NUL.
  got.feed(p,
           "\xEF\xBB\xBF"
           "data:a\r"
           "data: b\r");
  got.feed(p, "\n\r\nevent: x\nid: 1\n\nevent:\ndata\nfoo: bar\nretry: 1500\n");
  got.feed(p, std::string("id: bad\0id\n\n", 12));
  ASSERT_EQ(got.events.size(), 2u);
  EXPECT_EQ(got.events[0].type, "message");
  EXPECT_EQ(got.events[0].data, "a\nb");
  EXPECT_EQ(got.events[1].type, "message");  // `event:` empty is the default
  EXPECT_EQ(got.events[1].data, "");         // `data` without a colon is an empty line of data
  EXPECT_EQ(got.events[1].retry_ms, 1500);
  EXPECT_FALSE(got.events[1].id.has_value());
  EXPECT_EQ(p.lastEventId(), "1");  // set by the event without data; the NUL id is ignored
}

TEST(SseParser, OversizedLinesAndEventsAreDroppedAndTheStreamGoesOn) {
  SseParser p(64, 100);
  Got got;
  got.feed(p, "data: " + std::string(200, 'x') + "\n\n");  // one line over 64
  got.feed(p, "data: " + std::string(50, 'y') + "\ndata: " + std::string(50, 'z') + "\n\n");
  got.feed(p, "id: 9\ndata: ok\n\n");
  ASSERT_EQ(got.events.size(), 1u);
  EXPECT_EQ(got.events[0].data, "ok");
  EXPECT_EQ(got.errors.size(), 2u);
}

TEST(SseParser, ResetForgetsThePartialEventButNotTheLastId) {
  SseParser p;
  Got got;
  got.feed(p, "id: 3\ndata: one\n\ndata: cut off by a reconnect");
  p.reset();
  got.feed(p, "\n\ndata: two\n\n");
  ASSERT_EQ(got.events.size(), 2u);
  EXPECT_EQ(got.events[1].data, "two");
  EXPECT_EQ(p.lastEventId(), "3");
}

}  // namespace
}  // namespace sluice
