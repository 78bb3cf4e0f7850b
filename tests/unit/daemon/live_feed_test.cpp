#include "daemon/live_feed.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace sluice {
namespace {

TEST(LiveSubscriber, WakesOnlyWhenTheBufferWasEmpty) {
  int wakes = 0;
  LiveSubscriber s(10, 1 << 20, [&] { ++wakes; });
  s.push("a");
  s.push("b");
  EXPECT_EQ(wakes, 1);
  EXPECT_EQ(s.next(), "a");
  EXPECT_EQ(s.next(), "b");
  EXPECT_EQ(s.next(), std::nullopt);
  s.push("c");
  EXPECT_EQ(wakes, 2);
}

TEST(LiveSubscriber, ASlowReaderLosesTheOldestLinesAndIsToldHowMany) {
  LiveSubscriber s(3, 1 << 20, nullptr);
  for (int i = 0; i < 10; ++i) s.push(std::to_string(i));
  auto notice = nlohmann::json::parse(*s.next());
  EXPECT_EQ(notice["kind"], "dropped");
  EXPECT_EQ(notice["count"], 7);
  EXPECT_EQ(s.next(), "7");
  EXPECT_EQ(s.next(), "8");
  EXPECT_EQ(s.next(), "9");
  EXPECT_EQ(s.next(), std::nullopt);
  EXPECT_EQ(s.droppedTotal(), 7u);
}

TEST(LiveSubscriber, TheByteBoundHoldsButTheNewestLineAlwaysStays) {
  LiveSubscriber s(100, 10, nullptr);
  s.push("12345");
  s.push("67890");
  s.push(std::string(50, 'x'));  // alone above the bound: kept, everything older goes
  EXPECT_EQ(nlohmann::json::parse(*s.next())["count"], 2);
  EXPECT_EQ(s.next()->size(), 50u);
}

TEST(LiveFeedHub, FansOutAndForgetsDroppedSubscribers) {
  LiveFeedHub hub(LiveFeedHub::Options{.max_lines = 5, .max_bytes = 1000, .max_subscribers = 2});
  auto a = hub.subscribe(nullptr);
  auto b = hub.subscribe(nullptr);
  EXPECT_EQ(hub.subscribe(nullptr), nullptr);  // the cap
  hub.publish("x");
  EXPECT_EQ(a->next(), "x");
  EXPECT_EQ(b->next(), "x");
  b.reset();
  EXPECT_EQ(hub.subscribers(), 1u);
  EXPECT_NE(hub.subscribe(nullptr), nullptr);  // room again
}

TEST(LiveFeedLines, InvalidUtf8NeverBreaksALine) {
  LiveEvent ev{"id1", "created", std::string("bad\xff<script>", 12), {"hook"}};
  auto j = nlohmann::json::parse(liveEventLine("inbox", ev, 5));
  EXPECT_EQ(j["kind"], "event");
  EXPECT_EQ(j["sinks"][0], "hook");
  EXPECT_NE(j["subject"].get<std::string>().find("<script>"), std::string::npos);
  auto d = nlohmann::json::parse(
      liveDeliveryLine({"hook", "id1", "s", "dead", 3, "HTTP 400"}, 7));
  EXPECT_EQ(d["outcome"], "dead");
  EXPECT_EQ(d["attempt"], 3);
}

}  // namespace
}  // namespace sluice
