// The client's parts for long-lived streams and large objects: the response head before the
// body, an idle timeout, pause/resume as backpressure, bodies from and to files, client certs.
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/asio/io_context.hpp>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/http_client.hpp"
#include "tests/unit/support/loop.hpp"
#include "tests/unit/support/temp_dir.hpp"
#include "tests/unit/support/test_http_server.hpp"

namespace sluice {
namespace {

using namespace std::chrono_literals;
using test::CannedResponse;
using test::runUntil;
using test::TestHttpServer;

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class HttpStreamTest : public ::testing::Test {
 protected:
  HttpResponse roundTrip(HttpRequest req) {
    std::optional<HttpResponse> out;
    client.send(std::move(req), [&](HttpResponse r) { out = std::move(r); });
    EXPECT_TRUE(runUntil(io, [&] { return out.has_value(); }));
    return out.value_or(HttpResponse{});
  }
  boost::asio::io_context io;
  TestHttpServer server;
  HttpClient client{io};
  test::TempDir dir;
};

TEST_F(HttpStreamTest, TheResponseHeadComesBeforeTheFirstChunk) {
  server.respondWith(CannedResponse{401, {{"WWW-Authenticate", "Bearer"}}, "", {"a", "b"}});
  std::vector<std::string> seen;
  HttpRequest req;
  req.method = "GET";
  req.url = server.url("/events");
  req.on_response = [&](long status, const HttpHeaders& h) {
    std::string auth;
    for (auto& [k, v] : h)
      if (k == "www-authenticate") auth = v;
    seen.push_back("head " + std::to_string(status) + " " + auth);
    return true;
  };
  req.on_body = [&](std::string_view c) {
    seen.push_back("body " + std::string(c));
    return true;
  };
  auto r = roundTrip(std::move(req));
  EXPECT_EQ(r.status, 401);
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.front(), "head 401 Bearer");
  EXPECT_EQ(std::count(seen.begin(), seen.end(), "head 401 Bearer"), 1);
}

TEST_F(HttpStreamTest, OnResponseReturningFalseAbortsBeforeAnyBody) {
  server.respondWith(CannedResponse{500, {}, "", {"x"}});
  bool body = false;
  HttpRequest req;
  req.method = "GET";
  req.url = server.url("/");
  req.on_response = [](long, const HttpHeaders&) { return false; };
  req.on_body = [&](std::string_view) { return body = true; };
  auto r = roundTrip(std::move(req));
  EXPECT_NE(r.curl_code, 0);
  EXPECT_FALSE(body);
}

// A stream's head may start other requests (a subscription once the stream is open): libcurl
// refuses new handles inside its callbacks, so they start right after, and complete.
TEST_F(HttpStreamTest, CallbacksMayStartAndCancelOtherRequests) {
  server.respondWith(CannedResponse{200, {}, "", {"a", "b"}});
  std::optional<HttpResponse> side, cancelled;
  HttpRequest req;
  req.method = "GET";
  req.url = server.url("/events");
  req.on_response = [&](long, const HttpHeaders&) {
    HttpRequest r2;
    r2.method = "GET";
    r2.url = server.url("/side");
    client.send(std::move(r2), [&](HttpResponse r) { side = std::move(r); });
    HttpRequest r3 = {};
    r3.method = "GET";
    r3.url = server.url("/never");
    client.cancel(client.send(std::move(r3), [&](HttpResponse r) { cancelled = std::move(r); }));
    return true;
  };
  req.on_body = [](std::string_view) { return true; };
  auto r = roundTrip(std::move(req));
  EXPECT_EQ(r.status, 200);
  ASSERT_TRUE(runUntil(io, [&] { return side && cancelled; }));
  EXPECT_EQ(side->status, 200) << side->error;
  EXPECT_TRUE(cancelled->cancelled);
}

TEST_F(HttpStreamTest, AnIdleStreamTimesOut) {
  server.setHandler([](const test::RecordedRequest&) { return std::nullopt; });  // silence
  HttpRequest req;
  req.method = "GET";
  req.url = server.url("/events");
  req.timeout = 0ms;  // a stream: no overall limit
  req.idle_timeout = 1s;
  req.on_body = [](std::string_view) { return true; };
  auto r = roundTrip(std::move(req));
  EXPECT_EQ(r.curl_code, CURLE_OPERATION_TIMEDOUT) << r.error;
}

TEST_F(HttpStreamTest, PausedStreamsReadNothingUntilResumedAndLoseNothing) {
  server.respondWith(CannedResponse{200, {}, "", {"one,", "two,", "three"}});
  std::string got;
  std::optional<HttpResponse> out;
  HttpRequest req;
  req.method = "GET";
  req.url = server.url("/");
  req.on_body = [&](std::string_view c) {
    got += c;
    return true;
  };
  auto id = client.send(std::move(req), [&](HttpResponse r) { out = std::move(r); });
  client.pause(id);
  EXPECT_FALSE(runUntil(
      io, [&] { return out.has_value() || !got.empty(); }, 300ms));
  client.resume(id);
  ASSERT_TRUE(runUntil(io, [&] { return out.has_value(); }));
  EXPECT_EQ(out->curl_code, 0) << out->error;
  EXPECT_EQ(got, "one,two,three");
}

TEST_F(HttpStreamTest, UploadsFromAndDownloadsToFiles) {
  std::string big(3 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 % 251);
  std::ofstream(dir.path() / "up.bin", std::ios::binary) << big;
  HttpRequest put;
  put.method = "PUT";
  put.url = server.url("/bucket/key");
  put.upload_file = (dir.path() / "up.bin").string();
  auto r = roundTrip(std::move(put));
  ASSERT_EQ(r.curl_code, 0) << r.error;
  ASSERT_EQ(server.requests().size(), 1u);
  EXPECT_EQ(server.requests()[0].method, "PUT");
  EXPECT_TRUE(server.requests()[0].body == big);

  server.respondWith(CannedResponse{200, {}, big});
  HttpRequest get;
  get.method = "GET";
  get.url = server.url("/bucket/key");
  get.download_file = (dir.path() / "down.bin").string();
  r = roundTrip(std::move(get));
  ASSERT_EQ(r.curl_code, 0) << r.error;
  EXPECT_TRUE(r.body.empty());
  EXPECT_TRUE(slurp(dir.path() / "down.bin") == big);
  struct stat st {};
  ASSERT_EQ(::stat((dir.path() / "down.bin").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(HttpStreamTest, AnUnreadableUploadFailsWithItsName) {
  HttpRequest put;
  put.method = "PUT";
  put.url = server.url("/k");
  put.upload_file = (dir.path() / "missing").string();
  auto r = roundTrip(std::move(put));
  EXPECT_EQ(r.curl_code, CURLE_READ_ERROR);
  EXPECT_NE(r.error.find("missing"), std::string::npos) << r.error;
  EXPECT_EQ(server.requestCount(), 0u);
}

TEST_F(HttpStreamTest, ClientCertificateIsUsedForTls) {
  std::ofstream(dir.path() / "proxy.pem") << "not a certificate\n";
  HttpRequest req;
  req.method = "GET";
  req.url = "https://127.0.0.1:" + std::to_string(server.port()) + "/";
  req.client_cert = (dir.path() / "proxy.pem").string();
  req.client_key = req.client_cert;
  auto r = roundTrip(std::move(req));
  // curl loads the certificate while setting up TLS: a broken one is its own error.
  EXPECT_EQ(r.curl_code, CURLE_SSL_CERTPROBLEM) << r.curl_code << " " << r.error;
}

}  // namespace
}  // namespace sluice
