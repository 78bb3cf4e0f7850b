#include "daemon/event.hpp"

#include <gtest/gtest.h>

namespace sluice {
namespace {

Event sample() {
  Event ev;
  ev.id = eventId({"inbox", "/data/a.tif", "12:34:56", "created"});
  ev.source = "file://node/data";
  ev.type = EventType::Created;
  ev.time_ms = 1'795'000'000'123;
  ev.storage = "local";
  ev.connector = "inbox";
  ev.path = "/data/a.tif";
  ev.size = 1048576;
  ev.mtime_ms = 1'795'000'000'000;
  ev.native = {{"mask", {"IN_CLOSE_WRITE"}}};
  return ev;
}

TEST(EventId, IsDeterministicAndSensitiveToEveryPart) {
  EXPECT_EQ(eventId({"a", "b"}), eventId({"a", "b"}));
  EXPECT_NE(eventId({"ab", "c"}), eventId({"a", "bc"}));  // parts are length-prefixed
  EXPECT_NE(eventId({"a", "b"}), eventId({"a", "b", ""}));
  EXPECT_EQ(eventId({"x"}).size(), 32u);
}

TEST(Event, CloudEventsJsonRoundTrip) {
  Event ev = sample();
  auto j = toJson(ev);
  EXPECT_EQ(j["specversion"], "1.0");
  EXPECT_EQ(j["type"], "sluice.object.created");
  EXPECT_EQ(j["subject"], "/data/a.tif");
  EXPECT_EQ(j["time"], "2026-11-18T11:06:40.123Z");
  EXPECT_EQ(j["datacontenttype"], "application/json");
  EXPECT_EQ(j["data"]["size"], 1048576);
  EXPECT_TRUE(j["data"]["etag"].is_null());
  Event back = fromJson(nlohmann::json::parse(j.dump()));
  EXPECT_EQ(back.id, ev.id);
  EXPECT_EQ(back.path, ev.path);
  EXPECT_EQ(back.size, ev.size);
  EXPECT_EQ(back.mtime_ms, ev.mtime_ms);
  EXPECT_EQ(back.time_ms, ev.time_ms);
  EXPECT_EQ(back.native, ev.native);
  EXPECT_EQ(toJson(back), j);
}

TEST(Event, InvalidUtf8PathsSurviveExactly) {
  Event ev = sample();
  ev.path = "/in/bad\xff\xfe name\nwith newline";
  ev.previous_path = std::string("/in/old\xc3", 8);
  auto text = toJson(ev).dump();  // must not throw
  auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["subject"], "/in/bad\xEF\xBF\xBD\xEF\xBF\xBD name\nwith newline");
  EXPECT_TRUE(j["data"].contains("path_b64"));
  Event back = fromJson(j);
  EXPECT_EQ(back.path, ev.path);
  EXPECT_EQ(back.previous_path, ev.previous_path);
}

TEST(Event, NoByteStringMakesTheEncoderThrow) {
  Event ev = sample();
  ev.source = "file://node/data/in\xff\xfe dir%";
  ev.connector = "in\xc3";
  ev.note = std::string("stat failed on \xff");
  ev.etag = std::string("\x80");
  ev.native = {{"name", "bad\xff"}, {"list", {"ok", "\xfe"}}, {"key\xff", 1}};
  auto j = toJson(ev);
  std::string text;
  ASSERT_NO_THROW(text = j.dump());  // the strict encoder: throws on invalid UTF-8
  EXPECT_NO_THROW(ev.data().dump());
  // The source stays a URI: its invalid bytes (and '%', so distinct sources stay distinct)
  // are percent-encoded, the rest kept.
  EXPECT_EQ(j["source"], "file://node/data/in%FF%FE dir%25");
  EXPECT_EQ(j["data"]["native"]["name"], "bad\xEF\xBF\xBD");
  EXPECT_EQ(j["data"]["native"]["list"][1], "\xEF\xBF\xBD");
  EXPECT_TRUE(j["data"]["native"].contains("key\xEF\xBF\xBD"));
  EXPECT_EQ(j["data"]["connector"], "in\xEF\xBF\xBD");
  // What toJson() makes, fromJson() reads back to the same document.
  Event back = fromJson(nlohmann::json::parse(text));
  EXPECT_EQ(back.source, "file://node/data/in%FF%FE dir%25");
  EXPECT_EQ(back.path, ev.path);
  EXPECT_EQ(toJson(back), j);
}

TEST(Event, ValidTextIsKeptAsItIs) {
  Event ev = sample();
  ev.source = "file://node/data/caf\xc3\xa9 in%20box";  // valid UTF-8: not touched
  ev.native = {{"name", "caf\xc3\xa9"}};
  auto j = toJson(ev);
  EXPECT_EQ(j["source"], ev.source);
  EXPECT_EQ(j["data"]["native"], ev.native);
}

TEST(Utf8, UriEscapeKeepsTextAndEncodesTheRest) {
  EXPECT_EQ(uriEscape("/data/caf\xc3\xa9 x"), "/data/caf\xc3\xa9 x");
  EXPECT_EQ(uriEscape("/a%b\n\x7f"), "/a%25b%0A%7F");
  EXPECT_EQ(uriEscape("/bad\xff\xc3("), "/bad%FF%C3(");
  EXPECT_NE(uriEscape("/\xff"), uriEscape("/%FF"));
  EXPECT_TRUE(isUtf8("caf\xc3\xa9"));
  EXPECT_FALSE(isUtf8("\xc3"));
  EXPECT_FALSE(isUtf8("\xed\xa0\x80"));  // a surrogate
  EXPECT_TRUE(isUtf8(""));
}

TEST(Event, ValidUtf8HasNoBase64Copy) {
  Event ev = sample();
  ev.path = "/in/caf\xc3\xa9/\xe6\x97\xa5.txt";
  auto j = toJson(ev);
  EXPECT_FALSE(j["data"].contains("path_b64"));
  EXPECT_EQ(fromJson(j).path, ev.path);
}

TEST(Event, MalformedJsonIsAClearError) {
  auto j = toJson(sample());
  j.erase("id");
  EXPECT_THROW(fromJson(j), std::invalid_argument);
  j = toJson(sample());
  j["type"] = "sluice.object.exploded";
  EXPECT_THROW(fromJson(j), std::invalid_argument);
  j = toJson(sample());
  j["data"]["path_b64"] = "***";
  EXPECT_THROW(fromJson(j), std::invalid_argument);
}

TEST(Time, FormatsAndParsesRfc3339) {
  EXPECT_EQ(formatTime(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(parseTime("2026-11-22T10:31:02.118Z"), 1'795'343'462'118);
  EXPECT_EQ(parseTime("2026-11-22T11:31:02.118+01:00"), 1'795'343'462'118);
  EXPECT_EQ(parseTime("2026-11-22T10:31:02Z"), 1'795'343'462'000);
  EXPECT_FALSE(parseTime("yesterday"));
  EXPECT_FALSE(parseTime("2026-11-22T10:31:02"));
}

TEST(Base64, RoundTrip) {
  for (std::string s : {std::string(""), std::string("a"), std::string("ab"), std::string("abc"),
                        std::string("\0\xff\x10", 3)})
    EXPECT_EQ(base64Decode(base64Encode(s)), s);
  EXPECT_FALSE(base64Decode("abc"));
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

// Found by fuzz_event_json / fuzz_event_bytes: a stored event must always read back.
TEST(EventFuzzFindings, OutOfRangeNumbersAndTimesAreRefusedNotMisread) {
  auto j = toJson(Event{.id = "x", .source = "s", .storage = "local", .connector = "c", .path = "/p"});
  j["data"]["size"] = 1e300;
  EXPECT_THROW(fromJson(j), std::invalid_argument);
  j["data"]["size"] = 18446744073709551615ULL;
  EXPECT_THROW(fromJson(j), std::invalid_argument);
  EXPECT_FALSE(parseTime("9999-12-31T23:59:59.999-23:59"));
  EXPECT_EQ(parseTime(formatTime(253'402'300'799'999LL)), 253'402'300'799'999LL);
}

}  // namespace
}  // namespace sluice
