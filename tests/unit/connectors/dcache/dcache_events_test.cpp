// The dcache source's protocol half without I/O: its config, SSE `data` and namespace listings
// parsed as dCache writes them (PROTOCOLS.md §1), and the ids every path of a change shares.
#include "connectors/dcache/dcache_events.hpp"

#include <gtest/gtest.h>

#include <cstdio>

#include "connectors/dcache/dcache_spec.hpp"
#include "tests/unit/support/source_entry.hpp"
#include "tests/unit/support/temp_dir.hpp"

namespace sluice::connectors::dcache {
namespace {

class DcacheConfig : public ::testing::Test {
 protected:
  void SetUp() override {
    token_ = (dir_.path() / "dc.token").string();
    FILE* f = std::fopen(token_.c_str(), "w");
    std::fputs("tok\n", f);
    std::fclose(f);
  }
  std::string parse(const std::string& body, std::unique_ptr<ConnectorSpec>* out = nullptr) {
    std::string error;
    auto spec = test::parseSourceEntry("{name: dc, type: dcache, " + body + "}", &error);
    if (out) *out = std::move(spec);
    return error;
  }
  std::string auth() const { return "auth: {bearer_file: '" + token_ + "'}"; }
  test::TempDir dir_;
  std::string token_;
};

TEST_F(DcacheConfig, DefaultsAndKeys) {
  std::unique_ptr<ConnectorSpec> spec;
  ASSERT_EQ(
      parse("url: 'https://dc.example.org:3880/api/v1/', paths: [/data/in/], " + auth(), &spec),
      "");
  auto* dc = dynamic_cast<DcacheSpec*>(spec.get());
  ASSERT_NE(dc, nullptr);
  EXPECT_EQ(dc->url, "https://dc.example.org:3880/api/v1");
  EXPECT_EQ(dc->paths, std::vector<std::string>{"/data/in"});
  EXPECT_FALSE(dc->recursive);
  EXPECT_TRUE(dc->emit_created);
  EXPECT_FALSE(dc->emit_removed);
  EXPECT_FALSE(dc->emit_moved);
  EXPECT_EQ(dc->channel_timeout.count(), 3'600'000);
  EXPECT_EQ(dc->idle_timeout.count(), 600'000);
  EXPECT_EQ(dc->auth.token_header, "Authorization");
  ASSERT_EQ(parse("url: 'https://x/api/v1', paths: [/], recursive: true, "
                  "events: [created, removed, moved], client_id: site-a, "
                  "channel_timeout: 2h, " +
                      auth(),
                  &spec),
            "");
  dc = dynamic_cast<DcacheSpec*>(spec.get());
  EXPECT_EQ(dc->paths, std::vector<std::string>{"/"});
  EXPECT_TRUE(dc->recursive && dc->emit_removed && dc->emit_moved);
  EXPECT_EQ(dc->client_id, "site-a");
}

TEST_F(DcacheConfig, ErrorsNameTheKey) {
  const std::string base = "url: 'https://x/api/v1', ";
  EXPECT_NE(parse(base + auth()).find("paths"), std::string::npos);
  EXPECT_NE(parse(base + "paths: [/a]").find("auth"), std::string::npos);
  EXPECT_NE(parse(base + "paths: [incoming], " + auth()).find("paths"), std::string::npos);
  EXPECT_NE(parse(base + "paths: ['/a/../b'], " + auth()).find("paths"), std::string::npos);
  EXPECT_NE(parse(base + "paths: [/a], events: [modified], " + auth()).find("events"),
            std::string::npos);
  EXPECT_NE(parse(base + "paths: [/a], channel_timeout: 2d, " + auth()).find("channel_timeout"),
            std::string::npos);
  EXPECT_NE(parse(base + "paths: [/a], colour: red, " + auth()).find("colour"), std::string::npos);
  EXPECT_NE(parse("url: 'ftp://x', paths: [/a], " + auth()).find("url"), std::string::npos);
  EXPECT_NE(
      parse(base + "paths: [/a], auth: {bearer_file: /nonexistent/dc.token}").find("bearer_file"),
      std::string::npos);
  EXPECT_NE(parse(base + "paths: [/a], auth: {cert: /nonexistent/c.pem}").find("cert"),
            std::string::npos);
  EXPECT_NE(parse(base + "paths: [/a], ca_path: '" + token_ + "', " + auth()).find("ca_path"),
            std::string::npos);
  // A grid proxy: certificate and key in one file.
  std::unique_ptr<ConnectorSpec> spec;
  ASSERT_EQ(parse(base + "paths: [/a], auth: {cert: '" + token_ + "'}", &spec), "");
  EXPECT_EQ(dynamic_cast<DcacheSpec*>(spec.get())->auth.key, token_);
}

TEST(DcacheInotify, ParsesWhatDcacheSends) {
  std::string why;
  auto n = parseInotify(
      R"({"event":{"name":"f 1.dat","cookie":"0r6/JbKH+oZ0D2ETnzGMQA","mask":["IN_MOVED_TO"]},)"
      R"("subscription":"http://h/api/v1/events/channels/c/subscriptions/inotify/AAA"})",
      &why);
  ASSERT_TRUE(n) << why;
  EXPECT_EQ(n->flag, "IN_MOVED_TO");
  EXPECT_EQ(n->name, "f 1.dat");
  EXPECT_EQ(n->cookie, "0r6/JbKH+oZ0D2ETnzGMQA");
  EXPECT_FALSE(n->is_dir);
  EXPECT_EQ(n->subscription, "http://h/api/v1/events/channels/c/subscriptions/inotify/AAA");
  n = parseInotify(R"({"event":{"name":"d","mask":["IN_CREATE","IN_ISDIR"]},"subscription":"s"})",
                   &why);
  ASSERT_TRUE(n) << why;
  EXPECT_TRUE(n->is_dir);
  EXPECT_EQ(n->flag, "IN_CREATE");
  n = parseInotify(R"({"event":{"mask":["IN_Q_OVERFLOW"]},"subscription":"s"})", &why);
  ASSERT_TRUE(n) << why;
  EXPECT_TRUE(n->name.empty());
}

TEST(DcacheInotify, RejectsWhatItCannotUseAndSaysWhy) {
  const char* bad[] = {
      "",
      "[1]",
      R"({"event":{"oops"}})",
      R"({"subscription":"s"})",
      R"({"event":{"name":"a","mask":[]},"subscription":"s"})",
      R"({"event":{"name":"a","mask":["IN_ISDIR"]},"subscription":"s"})",
      R"({"event":{"name":"a","mask":[7]},"subscription":"s"})",
      R"({"event":{"name":"a","mask":["IN_CREATE"]}})",
      R"({"event":{"name":"../etc","mask":["IN_CREATE"]},"subscription":"s"})",
      R"({"event":{"name":"a/b","mask":["IN_CREATE"]},"subscription":"s"})",
      R"({"event":{"name":"..","mask":["IN_CREATE"]},"subscription":"s"})",
  };
  for (const char* data : bad) {
    std::string why;
    EXPECT_FALSE(parseInotify(data, &why)) << data;
    EXPECT_FALSE(why.empty()) << data;
  }
}

TEST(DcacheSystem, TypeAndSubscription) {
  auto s = parseSystem(R"({"type":"SUBSCRIPTION_CLOSED","subscription":"u"})");
  ASSERT_TRUE(s);
  EXPECT_EQ(s->type, "SUBSCRIPTION_CLOSED");
  EXPECT_EQ(s->subscription, "u");
  EXPECT_EQ(parseSystem(R"({"type":"EVENT_LOSS"})")->type, "EVENT_LOSS");
  EXPECT_FALSE(parseSystem(R"({"kind":"EVENT_LOSS"})"));
  EXPECT_FALSE(parseSystem("[1,2"));
}

TEST(DcacheListing, ReadsEntriesAndSkipsUnaddressableNames) {
  auto l = parseListing(R"({
  "fileMimeType" : "application/vnd.dcache.folder",
  "children" : [ {"fileName":"a.dat","fileType":"REGULAR","pnfsId":"0000AB","mtime":1700000000123,"size":3},
                 {"fileName":"sub","fileType":"DIR","pnfsId":"0000CD","mtime":1,"size":512},
                 {"fileName":"ln","fileType":"LINK","pnfsId":"0000EF","mtime":1,"size":4},
                 {"fileName":"x/y","fileType":"REGULAR","pnfsId":"0000FF","mtime":1,"size":1},
                 {"fileName":"..","fileType":"DIR","pnfsId":"000011","mtime":1,"size":1} ],
  "fileType" : "DIR",
  "pnfsId" : "000000",
  "mtime" : 5,
  "size" : 512
})");
  ASSERT_EQ(l.error, "");
  EXPECT_TRUE(l.self.is_dir);
  ASSERT_EQ(l.children.size(), 3u);
  EXPECT_EQ(l.children[0].name, "a.dat");
  EXPECT_TRUE(l.children[0].regular);
  EXPECT_EQ(l.children[0].version.etag, "0000AB");
  EXPECT_EQ(l.children[0].version.mtime_ms, 1700000000123);
  EXPECT_EQ(l.children[0].version.size, 3);
  EXPECT_TRUE(l.children[1].is_dir);
  EXPECT_FALSE(l.children[2].regular || l.children[2].is_dir);
  EXPECT_NE(parseListing("{}").error, "");
  EXPECT_NE(parseListing(R"({"fileType":"DIR","children":{}})").error, "");
  EXPECT_NE(parseListing("<html>").error, "");
}

TEST(DcacheErrors, MessageOfAnErrorBody) {
  EXPECT_EQ(errorMessage(R"({"errors":[{"message":"Too Many Requests","status":"429"}]})"),
            "Too Many Requests");
  EXPECT_EQ(errorMessage("Service Unavailable"), "");
  EXPECT_EQ(errorMessage(R"({"errors":[]})"), "");
}

TEST(DcachePaths, UrlsAndPrefixes) {
  EXPECT_EQ(pathUrl("https://h/api/v1/namespace", "/data/a b/%#?.dat"),
            "https://h/api/v1/namespace/data/a%20b/%25%23%3F.dat");
  EXPECT_EQ(childPath("/", "a"), "/a");
  EXPECT_EQ(childPath("/data", "a"), "/data/a");
  EXPECT_TRUE(isUnder("/data/in/x", "/data/in"));
  EXPECT_TRUE(isUnder("/data/in", "/data/in"));
  EXPECT_FALSE(isUnder("/data/inbox/x", "/data/in"));
  EXPECT_TRUE(isUnder("/x", "/"));
}

// A change seen on the stream (then stat'ed) and the same file found by a listing make one id;
// another version, place, kind or site makes another.
TEST(DcacheEvents, IdsComeFromTheFactsOnly) {
  const Origin o{"dc", "https://h/api/v1"};
  const ObjectVersion v{"0000AB", 1700000000123, 3};
  const Event a = fileEvent(o, EventType::Created, "/data/in/a", v, "", 1);
  const Event b = fileEvent(o, EventType::Created, "/data/in/a", v, "chan#7", 999);
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.size, 3);
  EXPECT_EQ(a.version, "0000AB");
  EXPECT_EQ(a.storage, "dcache");
  EXPECT_NE(a.id,
            fileEvent(o, EventType::Created, "/data/in/a", {"0000AC", 1700000000123, 3}, "", 1).id);
  EXPECT_NE(a.id, fileEvent(o, EventType::Removed, "/data/in/a", v, "", 1).id);
  EXPECT_NE(a.id, fileEvent(o, EventType::Created, "/data/in/b", v, "", 1).id);
  EXPECT_NE(
      a.id,
      fileEvent({"dc", "https://other/api/v1"}, EventType::Created, "/data/in/a", v, "", 1).id);
  // A removal of a file never seen: the fallback keeps distinct removals apart.
  const ObjectVersion none;
  EXPECT_NE(fileEvent(o, EventType::Removed, "/data/in/x", none, "c#1", 1).id,
            fileEvent(o, EventType::Removed, "/data/in/x", none, "c#2", 1).id);
  const Event m = fileEvent(o, EventType::Moved, "/data/in/b", v, "", 1, "/data/in/a");
  EXPECT_EQ(m.previous_path, "/data/in/a");
  const Event g = gapEvent(o, "https://h/api/v1/events/channels/c", "41", "EVENT_LOSS", 5);
  EXPECT_EQ(g.type, EventType::Gap);
  EXPECT_NE(g.note.value_or("").find("EVENT_LOSS"), std::string::npos);
}

}  // namespace
}  // namespace sluice::connectors::dcache
