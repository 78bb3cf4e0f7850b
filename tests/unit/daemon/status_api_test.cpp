#include "daemon/status_api.hpp"

#include <gtest/gtest.h>

#include "daemon/web/web_assets.hpp"

namespace sluice {
namespace {

ServerRequest withHeaders(std::map<std::string, std::string> h) {
  ServerRequest r;
  r.headers = std::move(h);
  return r;
}

TEST(StatusBoard, ShowsSourcesSinksAndHistoryAndForwardsTheFeed) {
  ManualClock clock(1'000'000);
  LiveFeedHub hub(LiveFeedHub::Options{});
  auto sub = hub.subscribe(nullptr);
  StatusBoard board(clock, hub, 2);
  board.cursorLoaded("inbox", std::string(500, 'c'));
  board.committed("inbox", {{"e1", "created", "/in/a", {"hook"}}}, std::nullopt);
  board.settled({"hook", "e1", "/in/a", "done", 1, ""});
  board.settled({"hook", "e2", "/in/b", "dead", 3, "HTTP 400"});
  QueueStats qs;
  qs.events = 2;
  qs.sinks.push_back(SinkStats{"hook", 4, 1, 2, clock.nowMs() - 5000});
  for (int i = 0; i < 3; ++i) {
    board.sample(qs);
    clock.advance(10'000);
  }
  std::vector<Health::Component> health{{"source:inbox", HealthState::Ok, ""},
                                        {"source:inbox:intake", HealthState::Degraded, "queue full"},
                                        {"queue", HealthState::Ok, ""}};
  auto j = board.statusJson({{"inbox", "local"}, {"other", "s3"}}, health, qs);
  EXPECT_EQ(j["ready"], false);
  ASSERT_EQ(j["sources"].size(), 2u);
  EXPECT_EQ(j["sources"][0]["state"], "degraded");
  EXPECT_EQ(j["sources"][0]["why"][0], "queue full");
  EXPECT_EQ(j["sources"][0]["cursor"].get<std::string>().size(), 200u);  // cut for display
  EXPECT_EQ(j["sources"][0]["last_event"]["subject"], "/in/a");
  EXPECT_EQ(j["sources"][1]["state"], "ok");
  EXPECT_TRUE(j["sources"][1]["last_event"].is_null());
  auto& sink = j["sinks"][0];
  EXPECT_EQ(sink["pending"], 3);  // waiting, not counting the one in flight
  EXPECT_EQ(sink["in_flight"], 1);
  EXPECT_EQ(sink["done"], 1);
  EXPECT_EQ(sink["dead_lettered"], 1);
  EXPECT_EQ(sink["oldest_pending_age_ms"], 35'000);
  EXPECT_EQ(j["history"]["samples"].size(), 2u);  // max_samples
  EXPECT_EQ(j["history"]["samples"][1][1], 4);
  EXPECT_EQ(nlohmann::json::parse(*sub->next())["kind"], "event");
  EXPECT_EQ(nlohmann::json::parse(*sub->next())["outcome"], "done");
}

TEST(StatusApi, AdminCheckNeedsTheConfiguredBearerToken) {
  std::optional<std::string> token = "s3cret";
  EXPECT_EQ(adminCheck(withHeaders({}), token), 401);
  EXPECT_EQ(adminCheck(withHeaders({{"authorization", "Bearer wrong"}}), token), 401);
  EXPECT_EQ(adminCheck(withHeaders({{"authorization", "Basic czNjcmV0"}}), token), 401);
  EXPECT_EQ(adminCheck(withHeaders({{"authorization", "bearer  s3cret "}}), token), 0);
  EXPECT_EQ(adminCheck(withHeaders({{"authorization", "Bearer s3cret"}}), std::nullopt), 403);
}

TEST(StatusApi, OnlySameOriginBrowsersMayOpenTheFeed) {
  EXPECT_TRUE(sameOrigin(withHeaders({{"host", "127.0.0.1:8787"}})));
  EXPECT_TRUE(sameOrigin(withHeaders({{"host", "127.0.0.1:8787"}, {"origin", "http://127.0.0.1:8787"}})));
  EXPECT_FALSE(sameOrigin(withHeaders({{"host", "127.0.0.1:8787"}, {"origin", "https://evil.example"}})));
  EXPECT_FALSE(sameOrigin(withHeaders({{"host", "127.0.0.1:8787"}, {"origin", "null"}})));
}

TEST(StatusApi, DeadRowsCarryWhatThePageShows) {
  DeliveryRow r{7, "hook", "dead", 3, 0, 123, "e1", "/in/<b>", "HTTP 400"};
  auto j = deadJson({r});
  EXPECT_EQ(j[0]["seq"], 7);
  EXPECT_EQ(j[0]["subject"], "/in/<b>");
  EXPECT_EQ(j[0]["last_error"], "HTTP 400");
  EXPECT_EQ(j[0]["first_seen_ms"], 123);
}

TEST(WebAssets, ThePageIsEmbedded) {
  const WebAsset* page = findWebAsset("/index.html");
  ASSERT_NE(page, nullptr);
  EXPECT_NE(page->type.find("text/html"), std::string_view::npos);
  EXPECT_NE(page->body.find("/static/app.js"), std::string_view::npos);
  ASSERT_NE(findWebAsset("/static/app.js"), nullptr);
  ASSERT_NE(findWebAsset("/static/app.css"), nullptr);
  EXPECT_EQ(findWebAsset("/static/missing.js"), nullptr);
  // No inline script: the page's Content-Security-Policy allows script from 'self' only.
  EXPECT_EQ(page->body.find("<script>"), std::string_view::npos);
}

}  // namespace
}  // namespace sluice
