// The minio source against an in-process stand-in for MinIO (listings and the listen stream)
// and a recording intake; pushes through the real ingress and HTTP server. The fake MinIO in
// tests/integration checks signatures and the wire end to end.
#include "connectors/s3/bucket_connector.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>

#include "daemon/health.hpp"
#include "daemon/ingress.hpp"
#include "daemon/metrics.hpp"
#include "daemon/registry.hpp"
#include "daemon/sigv4.hpp"
#include "tests/unit/support/loop.hpp"
#include "tests/unit/support/recording_intake.hpp"
#include "tests/unit/support/source_entry.hpp"
#include "tests/unit/support/test_http_server.hpp"

namespace sluice::connectors::s3 {
namespace {

using sluice::test::CannedResponse;
using sluice::test::RecordedRequest;

std::string queryValue(const std::string& target, const std::string& name) {
  auto q = target.find('?');
  std::string rest = q == std::string::npos ? "" : target.substr(q + 1);
  std::size_t at = 0;
  while (at <= rest.size()) {
    auto amp = rest.find('&', at);
    std::string kv = rest.substr(at, amp == std::string::npos ? std::string::npos : amp - at);
    auto eq = kv.find('=');
    if (kv.substr(0, eq) == name)
      return eq == std::string::npos ? "" : formDecode(kv.substr(eq + 1));
    if (amp == std::string::npos) break;
    at = amp + 1;
  }
  return "";
}

// MinIO's two GETs on a bucket: ListObjectsV2 (two keys a page, to walk continuation tokens)
// and ListenBucketNotification (the chunks a test sets, then the stream ends).
class FakeMinio {
 public:
  FakeMinio() {
    server.setHandler([this](const RecordedRequest& r) -> std::optional<CannedResponse> {
      std::lock_guard<std::mutex> lock(mu);
      if (r.target.find("list-type=2") != std::string::npos) return listing(r);
      if (r.target.find("events=") != std::string::npos) {
        ++streams;
        CannedResponse c{200, {{"Content-Type", "text/event-stream"}}, "", stream_chunks};
        if (c.chunks.empty()) c.chunks = {"{\"Records\":null}\n"};
        stream_chunks = {"{\"Records\":null}\n"};  // a reconnect gets only a ping
        return c;
      }
      return CannedResponse{404, {}, "no such route"};
    });
  }
  void put(const std::string& key, const std::string& etag, std::int64_t size = 1,
           std::int64_t mtime_ms = 1'700'000'000'000) {
    std::lock_guard<std::mutex> lock(mu);
    objects[key] = ObjectVersion{etag, mtime_ms, size};
  }
  void stream(std::vector<std::string> chunks) {
    std::lock_guard<std::mutex> lock(mu);
    stream_chunks = std::move(chunks);
  }
  std::size_t listings() const {
    std::lock_guard<std::mutex> lock(mu);
    return pages;
  }

  test::TestHttpServer server;
  int streams = 0;

 private:
  CannedResponse listing(const RecordedRequest& r) {
    ++pages;
    const std::string prefix = queryValue(r.target, "prefix");
    const std::string after = queryValue(r.target, "continuation-token");
    std::string xml =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult><Name>images</Name>"
        "<EncodingType>url</EncodingType>";
    int n = 0;
    std::string last;
    bool more = false;
    for (auto& [key, v] : objects) {
      if (key.compare(0, prefix.size(), prefix) != 0 || (!after.empty() && key <= after)) continue;
      if (n == 2) {
        more = true;
        break;
      }
      xml += "<Contents><Key>" + uriEncode(key, false) + "</Key><LastModified>" +
             formatTime(v.mtime_ms) + "</LastModified><ETag>&quot;" + v.etag +
             "&quot;</ETag><Size>" + std::to_string(v.size) + "</Size></Contents>";
      last = key;
      ++n;
    }
    xml += more ? "<IsTruncated>true</IsTruncated><NextContinuationToken>" + last +
                      "</NextContinuationToken>"
                : "<IsTruncated>false</IsTruncated>";
    return CannedResponse{200, {{"Content-Type", "application/xml"}}, xml + "</ListBucketResult>"};
  }

  mutable std::mutex mu;
  std::map<std::string, ObjectVersion> objects;
  std::vector<std::string> stream_chunks;
  std::size_t pages = 0;
};

std::string line(const std::string& name, const std::string& key, const std::string& etag = "",
                 std::int64_t mtime_ms = 1'700'000'000'000) {
  nlohmann::json obj = {{"key", key}, {"size", 1}, {"sequencer", ""}};
  if (!etag.empty()) obj["eTag"] = etag;
  char seq[32];
  std::snprintf(seq, sizeof seq, "%llX", static_cast<unsigned long long>(mtime_ms) * 1'000'000ULL);
  obj["sequencer"] = seq;
  nlohmann::json rec = {{"eventName", name},
                        {"eventTime", formatTime(mtime_ms)},
                        {"s3", {{"bucket", {{"name", "images"}}}, {"object", obj}}}};
  return nlohmann::json({{"Records", {rec}}}).dump() + "\n";
}

struct MinioFixture : ::testing::Test {
  boost::asio::io_context io;
  sluice::test::RecordingIntake intake{io};
  Metrics metrics;
  Health health;
  ManualClock clock;
  HttpClient http{io};
  std::optional<std::string> token = std::string("tok");
  Ingress ingress{io, token, metrics};
  ConnectorContext ctx{
      io,
      intake,
      metrics,
      health,
      clock,
      std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::null_sink_mt>()),
      Duration(86'400'000),
      &http,
      &ingress};
  FakeMinio minio;
  std::unique_ptr<ConnectorSpec> spec;
  std::unique_ptr<Connector> conn;

  void make(const std::string& extra = "", const std::string& type = "minio") {
    std::string error;
    spec = sluice::test::parseSourceEntry(
        "{name: m, type: " + type + ", endpoint: '" + minio.server.url("") +
            "', bucket: images, access_key: AK, secret_key: SK" + extra + "}",
        &error);
    ASSERT_TRUE(spec) << error;
    conn = spec->create(ctx);
  }
  bool runUntil(const std::function<bool()>& pred) { return sluice::test::runUntil(io, pred); }
  std::string catchUp() {
    std::optional<std::string> error;
    conn->catchUp([&](std::string e) { error = std::move(e); });
    EXPECT_TRUE(runUntil([&] { return error.has_value(); }));
    return error.value_or("timed out");
  }
  std::set<std::string> seen() const {  // "created a.jpg", "removed b.jpg"
    std::set<std::string> out;
    for (auto& e : intake.events) out.insert(std::string(toString(e.type)) + " " + *e.key);
    return out;
  }
  Event expected(EventType t, const std::string& key, ObjectVersion v) const {
    return objectEvent({"m", minio.server.url("")}, t, "images", key, v, "", 0);
  }
};

TEST_F(MinioFixture, CatchUpListsEveryPageAndCommitsOnlyWhatChanged) {
  intake.index["in/same.jpg"] = "e1:1700000000000:1";
  intake.index["in/changed.jpg"] = "old:1700000000000:1";
  intake.index["in/gone.jpg"] = "e3:1700000000000:7";
  minio.put("in/same.jpg", "e1");
  minio.put("in/changed.jpg", "new");
  for (int i = 0; i < 5; ++i) minio.put("in/new" + std::to_string(i) + ".jpg", "n");
  minio.put("in/notes.txt", "t");  // suffix filter
  minio.put("other/x.jpg", "o");   // prefix filter: never listed
  make(", prefix: in/, suffix: .jpg, events: [created, removed]");
  ASSERT_EQ(catchUp(), "");
  EXPECT_EQ(seen(), (std::set<std::string>{"created in/changed.jpg", "created in/new0.jpg",
                                           "created in/new1.jpg", "created in/new2.jpg",
                                           "created in/new3.jpg", "created in/new4.jpg",
                                           "removed in/gone.jpg"}));
  EXPECT_GE(minio.listings(), 4u);  // 8 keys under in/, two a page
  for (auto& e : intake.events) {
    if (e.type == EventType::Removed)  // the version the index knew
      EXPECT_EQ(e.id, expected(EventType::Removed, "in/gone.jpg", {"e3", 1'700'000'000'000, 7}).id);
    else
      EXPECT_EQ(e.size, 1);
  }
  // Remembered as removed (until the dedup horizon), not forgotten.
  EXPECT_EQ(intake.index.at("in/gone.jpg").rfind("~e3:1700000000000:7@", 0), 0u);
  EXPECT_EQ(intake.index.at("in/changed.jpg"), "new:1700000000000:1");
  EXPECT_EQ(intake.index.count("in/notes.txt"), 0u);
  for (auto& r : minio.server.requests())
    EXPECT_EQ(queryValue(r.target, "prefix"), "in/") << r.target;

  // Nothing changed since: nothing new.
  const std::size_t before = intake.events.size();
  ASSERT_EQ(catchUp(), "");
  EXPECT_EQ(intake.events.size(), before);
}

TEST_F(MinioFixture, TheStreamIsReadAndTheBucketReconciledOnceItIsOpen) {
  intake.index["gone.jpg"] = "e0:1700000000000:5";
  intake.index["stale.jpg"] = "e9:1700000000000:5";  // deleted while nobody listened
  minio.put("old.jpg", "e1");                        // written while nobody listened
  minio.put("new.jpg", "e2");
  minio.stream({"{\"Records\":null}\n", " ", line("s3:ObjectCreated:Put", "new.jpg", "e2"),
                line("s3:ObjectAccessed:Get", "new.jpg", "e2") + " ",
                line("s3:ObjectRemoved:Delete", "gone.jpg").substr(0, 40),
                line("s3:ObjectRemoved:Delete", "gone.jpg").substr(40)});
  make(", events: [created, removed], ping: 2s");
  conn->start();
  ASSERT_TRUE(runUntil([&] { return seen().size() == 4; })) << intake.events.size();
  EXPECT_EQ(seen(), (std::set<std::string>{"created new.jpg", "created old.jpg", "removed gone.jpg",
                                           "removed stale.jpg"}));
  EXPECT_EQ(intake.events.size(), 4u);  // the listing left what the stream said to the stream
  for (auto& e : intake.events) {
    if (*e.key == "new.jpg") {
      EXPECT_EQ(e.native["eventName"], "s3:ObjectCreated:Put");
    }
    if (*e.key == "gone.jpg") {
      EXPECT_EQ(e.id, expected(EventType::Removed, "gone.jpg", {"e0", 1'700'000'000'000, 5}).id);
    }
  }
  auto reqs = minio.server.requests();
  ASSERT_FALSE(reqs.empty());
  EXPECT_EQ(reqs[0].target,
            "/images?events=s3%3AObjectCreated%3A%2A&events=s3%3AObjectRemoved%3A%2A&ping=2&"
            "prefix=&suffix=");
  ASSERT_NE(reqs[0].header("authorization"), nullptr);
  EXPECT_TRUE(runUntil([&] { return health.state("source:m") == HealthState::Ok; }));
  conn->stop();
}

TEST_F(MinioFixture, AnUnreadableLineStartsAnotherReconciliation) {
  minio.put("a.jpg", "e1");
  minio.stream({"{\"Records\":null}\n", "{\"Records\": [ garbage\n"});
  make();
  conn->start();
  ASSERT_TRUE(runUntil([&] { return minio.listings() >= 2; }));
  ASSERT_TRUE(runUntil([&] { return seen().size() == 1; }));
  EXPECT_NE(metrics.render().find("sluice_minio_bad_lines_total{source=\"m\"} 1"),
            std::string::npos);
  EXPECT_EQ(intake.events.size(), 1u);  // found twice, committed once
  conn->stop();
}

TEST_F(MinioFixture, OnceReportsACommitThatFailsAndListingErrors) {
  minio.put("a.jpg", "e1");
  make();
  intake.fail_next = 1;
  EXPECT_NE(catchUp().find("queue commit failed"), std::string::npos);
  EXPECT_TRUE(intake.events.empty());
  ASSERT_EQ(catchUp(), "");  // held, not dropped: the next pass commits it
  EXPECT_EQ(seen(), (std::set<std::string>{"created a.jpg"}));

  minio.server.respondWith(CannedResponse{
      403, {}, "<Error><Code>AccessDenied</Code><Message>Access Denied.</Message></Error>"});
  std::string error = catchUp();
  EXPECT_NE(error.find("AccessDenied"), std::string::npos) << error;
}

// `type: s3`, `mode: scan`: the same reconciliation, at start and every `interval`; ids without
// the modification time (S3's notifications do not carry it).
TEST_F(MinioFixture, AnS3ScanListsAtStartAndAgainEveryInterval) {
  minio.put("a.jpg", "e1", 3, 1'700'000'000'500);
  make(", mode: scan, interval: 1s", "s3");
  conn->start();
  ASSERT_TRUE(runUntil([&] { return seen().size() == 1; }));
  const Origin s3{"m", minio.server.url(""), "s3", false};
  EXPECT_EQ(intake.events[0].id,
            objectEvent(s3, EventType::Created, "images", "a.jpg", {"e1", 0, 3}, "", 0).id);
  EXPECT_EQ(intake.events[0].storage, "s3");
  EXPECT_TRUE(runUntil([&] { return health.state("source:m") == HealthState::Ok; }));
  minio.put("b.jpg", "e2");
  ASSERT_TRUE(runUntil([&] { return seen().size() == 2; }));
  EXPECT_EQ(intake.events.size(), 2u);
  conn->stop();
}

// ---- pushes ----

struct MinioPushFixture : MinioFixture {
  HttpServer server{HttpServerOptions{"127.0.0.1:0"}};
  void SetUp() override {
    make(", mode: push, events: [created, removed]");
    ingress.attach(server);
    server.start();
  }
  std::optional<HttpResponse> answer;
  void post(const std::string& body, const std::string& auth = "Bearer tok") {
    answer.reset();
    HttpRequest req;
    req.url = "http://127.0.0.1:" + std::to_string(server.port()) + "/ingest/m";
    req.headers = {{"Authorization", auth}, {"Content-Type", "application/json"}};
    req.body = body;
    http.send(req, [this](HttpResponse r) { answer = std::move(r); });
  }
  long status() {
    EXPECT_TRUE(runUntil([&] { return answer.has_value(); }));
    return answer ? answer->status : 0;
  }
  static std::string webhook(const std::string& name, const std::string& escaped_key) {
    nlohmann::json l = nlohmann::json::parse(line(name, escaped_key, "e1"));
    return nlohmann::json({{"EventName", name}, {"Key", "images/x"}, {"Records", l["Records"]}})
        .dump();
  }
};

TEST_F(MinioPushFixture, APushIsAnsweredOnlyAfterItsCommit) {
  intake.hold = true;
  post(webhook("s3:ObjectCreated:Put", "photos%2Fa+b%2Bc.jpg"));
  ASSERT_TRUE(runUntil([&] { return intake.held.size() == 1; }));
  EXPECT_FALSE(answer.has_value());
  intake.hold = false;
  for (auto& h : std::exchange(intake.held, {})) h();
  EXPECT_EQ(status(), 200);
  EXPECT_EQ(seen(), (std::set<std::string>{"created photos/a b+c.jpg"}));
  EXPECT_EQ(intake.index.count("photos/a b+c.jpg"), 1u);
}

// A removal found by a listing and then replayed by the sender (MinIO's queue_dir kept it while
// sluice was down) names the same version: the same id, one removed event after dedup.
struct TombstoneFixture : MinioPushFixture {
  void SetUp() override {
    const std::int64_t now = clock.nowMs();
    intake.index["k.jpg"] = toTombstone({{"e1", 1'700'000'000'000, 1}, now});
    intake.index["old.jpg"] = toTombstone({{"e2", 1'700'000'000'000, 1}, now - 86'400'001});
    MinioPushFixture::SetUp();
    conn->start();  // loads the index; the bucket (empty) is reconciled meanwhile
  }
};

TEST_F(TombstoneFixture, ARemovalSeenAgainAfterTheListingHasTheSameId) {
  post(webhook("s3:ObjectRemoved:Delete", "k.jpg"));
  EXPECT_EQ(status(), 200);
  ASSERT_EQ(intake.events.size(), 1u);
  EXPECT_EQ(intake.events[0].id,
            expected(EventType::Removed, "k.jpg", {"e1", 1'700'000'000'000, 1}).id);
  EXPECT_EQ(intake.index.count("old.jpg"), 0u);  // past the dedup horizon: forgotten
  // The key coming back is a new object.
  post(webhook("s3:ObjectCreated:Put", "k.jpg"));
  EXPECT_EQ(status(), 200);
  EXPECT_EQ(seen(), (std::set<std::string>{"removed k.jpg", "created k.jpg"}));
  EXPECT_EQ(intake.index.at("k.jpg").front(), 'e');
}

TEST_F(MinioPushFixture, AFailedCommitIsA503SoTheSenderKeepsIt) {
  intake.fail_next = 1;
  post(webhook("s3:ObjectCreated:Put", "k.jpg"));
  EXPECT_EQ(status(), 503);
  ASSERT_NE(answer->header("retry-after"), nullptr);
  EXPECT_TRUE(intake.events.empty());
  // MinIO's queue_dir sends it again (every 3 s): refused while the queue backs off, then taken.
  ASSERT_TRUE(runUntil([&] {
    post(webhook("s3:ObjectCreated:Put", "k.jpg"));
    return status() == 200;
  }));
  EXPECT_EQ(seen(), (std::set<std::string>{"created k.jpg"}));
}

TEST_F(MinioPushFixture, ABodySluiceCannotUseIsParkedAndStill2xx) {
  for (std::string body : {std::string("not json"), std::string("{\"Records\":[{\"x\":1}]}"),
                           std::string("\xff\xfe{")}) {
    post(body);
    EXPECT_EQ(status(), 200) << body;
  }
  ASSERT_EQ(intake.dead.size(), 3u);
  for (auto& [ev, why] : intake.dead) {
    EXPECT_EQ(ev.type, EventType::Gap);
    EXPECT_NE(why.find("a push sluice cannot use"), std::string::npos) << why;
  }
  EXPECT_EQ(intake.dead[0].first.native["body"], "not json");
  EXPECT_EQ(intake.dead[2].first.native["body_base64"], base64Encode("\xff\xfe{"));
  // The same bad body again has the same id: the queue keeps it once.
  post("not json");
  EXPECT_EQ(status(), 200);
  EXPECT_EQ(intake.dead.back().first.id, intake.dead[0].first.id);
}

TEST_F(MinioPushFixture, WrongTokensNeverReachTheSource) {
  post(webhook("s3:ObjectCreated:Put", "k.jpg"), "Bearer nope");
  EXPECT_EQ(status(), 401);
  post(webhook("s3:ObjectAccessed:Get", "k.jpg"));  // a kind sluice skips: nothing to store
  EXPECT_EQ(status(), 200);
  EXPECT_EQ(intake.commits, 0);
}

TEST_F(MinioPushFixture, AfterStopPushesAre503AndTheCommitInFlightIsStillAnswered) {
  intake.hold = true;
  post(webhook("s3:ObjectCreated:Put", "a.jpg"));
  ASSERT_TRUE(runUntil([&] { return intake.held.size() == 1; }));
  conn->stop();
  intake.hold = false;
  for (auto& h : std::exchange(intake.held, {})) h();
  EXPECT_EQ(status(), 200);
  post(webhook("s3:ObjectCreated:Put", "b.jpg"));
  EXPECT_EQ(status(), 503);
  EXPECT_EQ(seen(), (std::set<std::string>{"created a.jpg"}));
}

struct CephPushFixture : MinioPushFixture {
  void SetUp() override {
    make(", mode: push, events: [created, removed]", "s3");
    ingress.attach(server);
    server.start();
  }
};

// Ceph RGW (PROTOCOLS.md §4.4): raw keys, re-sent records, `?token=` because it cannot set a
// header; each record is stored once and every copy is answered 2xx.
TEST_F(CephPushFixture, RawKeysAreKeptAndResentRecordsStoredOnce) {
  nlohmann::json rec = nlohmann::json::parse(line("ObjectCreated:Put", "a+b%25 c", "e1"));
  rec["Records"][0]["eventSource"] = "ceph:s3";
  for (int i = 0; i < 3; ++i) {
    answer.reset();
    HttpRequest req;
    req.url = "http://127.0.0.1:" + std::to_string(server.port()) + "/ingest/m?token=tok";
    req.body = rec.dump();
    http.send(req, [this](HttpResponse r) { answer = std::move(r); });
    EXPECT_EQ(status(), 200);
  }
  // Committed once (a copy after the commit matches the index); the queue dedups the rest.
  std::set<std::string> ids;
  for (auto& e : intake.events) ids.insert(e.id);
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(seen(), (std::set<std::string>{"created a+b%25 c"}));
}

// ---- SQS ----

// SQS's JSON protocol as far as the source uses it: one message, then empty polls; every call
// recorded by its X-Amz-Target.
struct SqsFixture : MinioFixture {
  std::atomic<int> receives{0};
  void SetUp() override {
    minio.server.setHandler([this](const RecordedRequest& r) -> std::optional<CannedResponse> {
      const std::string* target = r.header("x-amz-target");
      if (!target) return CannedResponse{400, {}, "{}"};
      CannedResponse ok{200, {{"Content-Type", "application/x-amz-json-1.0"}}, "{}"};
      if (*target == "AmazonSQS.ReceiveMessage" && receives++ == 0) {
        nlohmann::json rec = nlohmann::json::parse(line("ObjectCreated:Put", "a+b.jpg", "e1"));
        ok.body =
            nlohmann::json(
                {{"Messages",
                  {{{"MessageId", "m1"}, {"ReceiptHandle", "handle-1"}, {"Body", rec.dump()}}}}})
                .dump();
      }
      if (*target == "AmazonSQS.DeleteMessageBatch") ok.body = R"({"Successful":[{"Id":"m0"}]})";
      return ok;
    });
    make(", mode: sqs, bucket: '', queue_url: '" + minio.server.url("/123/q") +
             "', wait: 1s, visibility_timeout: 10s",
         "s3");
    // Shorter than the config allows, so that the test sees extensions without waiting long.
    static_cast<s3::BucketSpec&>(*spec).visibility = Duration(400);
    conn = spec->create(ctx);
  }
  std::vector<RecordedRequest> calls(const std::string& op) {
    std::vector<RecordedRequest> out;
    for (auto& r : minio.server.requests())
      if (auto t = r.header("x-amz-target"); t && *t == "AmazonSQS." + op) out.push_back(r);
    return out;
  }
};

TEST_F(SqsFixture, AMessageIsDeletedOnlyAfterItsCommitAndStaysHiddenMeanwhile) {
  intake.hold = true;
  conn->start();
  ASSERT_TRUE(runUntil([&] { return intake.held.size() == 1; }));
  // The commit waits: the message is kept hidden, and not deleted.
  ASSERT_TRUE(runUntil([&] { return calls("ChangeMessageVisibilityBatch").size() >= 2; }));
  EXPECT_TRUE(calls("DeleteMessageBatch").empty());
  auto change = nlohmann::json::parse(calls("ChangeMessageVisibilityBatch")[0].body);
  EXPECT_EQ(change["Entries"][0]["ReceiptHandle"], "handle-1");
  intake.hold = false;
  for (auto& h : std::exchange(intake.held, {})) h();
  ASSERT_TRUE(runUntil([&] { return calls("DeleteMessageBatch").size() == 1; }));
  auto del = nlohmann::json::parse(calls("DeleteMessageBatch")[0].body);
  EXPECT_EQ(del["Entries"][0]["ReceiptHandle"], "handle-1");
  EXPECT_EQ(seen(), (std::set<std::string>{"created a b.jpg"}));
  // Requests are signed for SQS, in the JSON protocol.
  auto recv = calls("ReceiveMessage").at(0);
  EXPECT_NE(recv.header("authorization")->find("/sqs/aws4_request"), std::string::npos);
  EXPECT_EQ(*recv.header("content-type"), "application/x-amz-json-1.0");
  EXPECT_EQ(nlohmann::json::parse(recv.body)["MaxNumberOfMessages"], 10);
  const std::size_t changes = calls("ChangeMessageVisibilityBatch").size();
  // Nothing hidden any more: the extensions stop.
  ASSERT_TRUE(runUntil([&] { return receives >= 3; }));
  EXPECT_EQ(calls("ChangeMessageVisibilityBatch").size(), changes);
  conn->stop();
}

// One long poll brings at most 10 messages a round trip: while running, several are in flight.
TEST_F(SqsFixture, SeveralReceivesAreInFlightWhileRunning) {
  minio.server.setHandler([](const RecordedRequest&) -> std::optional<CannedResponse> {
    return std::nullopt;  // every long poll stays open
  });
  conn->start();
  ASSERT_TRUE(runUntil([&] { return calls("ReceiveMessage").size() == 4; }));
  conn->stop();
  EXPECT_EQ(calls("ReceiveMessage").size(), 4u);
}

TEST_F(SqsFixture, OnceReadsUntilAnEmptyAnswerAndWaitsForTheDelete) {
  ASSERT_EQ(catchUp(), "");
  EXPECT_EQ(calls("DeleteMessageBatch").size(), 1u);
  EXPECT_EQ(seen(), (std::set<std::string>{"created a b.jpg"}));
}

TEST(MinioConfig, BadValuesAreNamed) {
  for (auto [extra, key] : std::vector<std::pair<std::string, std::string>>{
           {"endpoint: minio:9000", "endpoint"},
           {"endpoint: http://m, ping: 500ms", "ping"},
           {"endpoint: http://m, events: [moved]", "events"},
           {"endpoint: http://m, mode: poll", "mode"}}) {
    YAML::Node n = YAML::Load("{bucket: b, " + extra + "}");
    ConfigErrors errors;
    MapReader m(n, "sources[0]", errors);
    findConnector("minio")(m);
    ASSERT_FALSE(errors.empty()) << extra;
    EXPECT_NE(errors.list().at(0).str().find(key), std::string::npos) << errors.list().at(0).str();
  }
}

}  // namespace
}  // namespace sluice::connectors::s3
