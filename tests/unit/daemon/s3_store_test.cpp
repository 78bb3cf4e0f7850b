// The ObjectStore of S3-like sources: GET into a file for a job, PUT of a job's output into the
// source's bucket, against canned answers (tests/integration's fake S3 checks signatures).
#include "daemon/s3_store.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <optional>
#include <sstream>

#include "tests/unit/support/loop.hpp"
#include "tests/unit/support/temp_dir.hpp"
#include "tests/unit/support/test_http_server.hpp"

namespace sluice {
namespace {

struct S3StoreTest : ::testing::Test {
  boost::asio::io_context io;
  HttpClient http{io};
  ManualClock clock;
  test::TestHttpServer server;
  test::TempDir dir;
  std::unique_ptr<ObjectStore> store(const std::string& bucket = "out") {
    AwsCredentialsConfig creds;
    creds.access_key = "AK";
    creds.secret_key = Secret("SK");
    S3Config c;
    c.endpoint = server.url("");
    return makeS3ObjectStore(io, http, clock, creds, c, bucket);
  }
  std::string wait(std::optional<std::string>& why) {
    EXPECT_FALSE(why.has_value()) << "answered inline";
    EXPECT_TRUE(test::runUntil(io, [&] { return why.has_value(); }));
    return why.value_or("no answer");
  }
};

TEST_F(S3StoreTest, FetchesTheEventsObjectIntoAFile) {
  server.respondWith(test::CannedResponse{200, {}, "object bytes"});
  auto s = store();
  Event ev;
  ev.bucket = "images";
  ev.key = "a b/../c";
  EXPECT_EQ(s->localPath(ev), std::nullopt);
  std::optional<std::string> why;
  auto dest = dir.path() / "in";
  s->fetch(ev, dest, [&](std::string e) { why = std::move(e); });
  ASSERT_EQ(wait(why), "");
  std::ifstream in(dest);
  std::stringstream got;
  got << in.rdbuf();
  EXPECT_EQ(got.str(), "object bytes");
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "GET");
  EXPECT_EQ(reqs[0].target, "/images/a%20b/../c");  // the key as it is, not normalised
}

TEST_F(S3StoreTest, PutsAnOutputIntoTheSourcesBucket) {
  auto out = dir.path() / "result.json";
  std::ofstream(out) << "{\"ok\":true}";
  auto s = store();
  std::optional<std::string> why;
  s->put(out, "results/result.json", [&](std::string e) { why = std::move(e); });
  ASSERT_EQ(wait(why), "");
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "PUT");
  EXPECT_EQ(reqs[0].target, "/out/results/result.json");
  EXPECT_EQ(reqs[0].body, "{\"ok\":true}");
  ASSERT_NE(reqs[0].header("authorization"), nullptr);
}

TEST_F(S3StoreTest, FailuresSayWhatAndWhy) {
  server.respondWith(test::CannedResponse{
      403, {}, "<Error><Code>AccessDenied</Code><Message>Access Denied.</Message></Error>"});
  auto out = dir.path() / "o";
  std::ofstream(out) << "x";
  std::optional<std::string> why;
  store()->put(out, "k", [&](std::string e) { why = std::move(e); });
  std::string e = wait(why);
  EXPECT_NE(e.find("s3://out/k"), std::string::npos) << e;
  EXPECT_NE(e.find("AccessDenied"), std::string::npos) << e;
  why.reset();
  store("")->put(out, "k", [&](std::string e) { why = std::move(e); });
  EXPECT_NE(wait(why).find("no bucket"), std::string::npos);
  why.reset();
  Event none;
  store()->fetch(none, dir.path() / "x", [&](std::string e) { why = std::move(e); });
  EXPECT_NE(wait(why).find("no bucket and key"), std::string::npos);
}

}  // namespace
}  // namespace sluice
