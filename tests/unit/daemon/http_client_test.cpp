#include "daemon/http_client.hpp"

#include <curl/curl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "tests/unit/support/loop.hpp"
#include "tests/unit/support/test_http_server.hpp"

namespace sluice {
namespace {

using namespace std::chrono_literals;
using test::CannedResponse;
using test::RecordedRequest;
using test::runUntil;
using test::TestHttpServer;

class HttpClientTest : public ::testing::Test {
 protected:
  // Sends one request and runs the loop until its answer arrives.
  HttpResponse roundTrip(HttpRequest req) {
    std::optional<HttpResponse> out;
    client.send(std::move(req), [&](HttpResponse r) { out = std::move(r); });
    EXPECT_TRUE(runUntil(io, [&] { return out.has_value(); }));
    return out.value_or(HttpResponse{});
  }

  boost::asio::io_context io;
  TestHttpServer server;
  HttpClient client{io};
};

TEST_F(HttpClientTest, PostRoundTripCarriesHeadersAndBody) {
  server.respondWith(
      CannedResponse{201, {{"X-Reply", "yes"}, {"Content-Type", "text/plain"}}, "created"});
  HttpRequest req;
  req.url = server.url("/hook?x=1");
  req.headers = {{"X-Test", "a b"}, {"Content-Type", "application/json"}};
  req.body = R"({"k":"v"})";
  auto r = roundTrip(std::move(req));

  EXPECT_EQ(r.curl_code, 0) << r.error;
  EXPECT_FALSE(r.cancelled);
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(r.body, "created");
  ASSERT_NE(r.header("x-reply"), nullptr);
  EXPECT_EQ(*r.header("x-reply"), "yes");
  EXPECT_EQ(r.header("X-Reply"), nullptr) << "names are stored lower-cased";
  EXPECT_GT(r.elapsed.count(), 0);

  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "POST");
  EXPECT_EQ(reqs[0].target, "/hook?x=1");
  EXPECT_EQ(reqs[0].body, R"({"k":"v"})");
  ASSERT_NE(reqs[0].header("x-test"), nullptr);
  EXPECT_EQ(*reqs[0].header("x-test"), "a b");
  EXPECT_EQ(*reqs[0].header("content-type"), "application/json");
  EXPECT_EQ(reqs[0].header("expect"), nullptr);
}

TEST_F(HttpClientTest, GetAndPutUseTheirMethods) {
  HttpRequest get;
  get.method = "GET";
  get.url = server.url("/status");
  auto r = roundTrip(std::move(get));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok");

  HttpRequest put;
  put.method = "PUT";
  put.url = server.url("/obj");
  put.body = "payload";
  EXPECT_EQ(roundTrip(std::move(put)).status, 200);

  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[0].method, "GET");
  EXPECT_EQ(reqs[0].body, "");
  EXPECT_EQ(reqs[1].method, "PUT");
  EXPECT_EQ(reqs[1].body, "payload");
  EXPECT_EQ(reqs[1].header("content-type"), nullptr) << "no invented form content type";
}

TEST_F(HttpClientTest, BasicAuthIsSent) {
  HttpRequest req;
  req.url = server.url();
  req.basic_auth = std::make_pair(std::string("user"), std::string("pa:ss"));
  roundTrip(std::move(req));
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  ASSERT_NE(reqs[0].header("authorization"), nullptr);
  EXPECT_EQ(*reqs[0].header("authorization"), "Basic dXNlcjpwYTpzcw==");
}

TEST_F(HttpClientTest, KeepAliveReusesOneConnectionForSequentialRequests) {
  for (int i = 0; i < 20; ++i) {
    HttpRequest req;
    req.url = server.url("/n/" + std::to_string(i));
    req.body = std::to_string(i);
    auto r = roundTrip(std::move(req));
    ASSERT_EQ(r.status, 200) << r.error;
  }
  EXPECT_EQ(server.requestCount(), 20u);
  EXPECT_EQ(server.connectionsAccepted(), 1u);
}

TEST_F(HttpClientTest, HundredConcurrentRequestsAllComplete) {
  server.setHandler([](const RecordedRequest& r) { return CannedResponse{200, {}, r.target}; });
  std::vector<std::optional<HttpResponse>> out(100);
  for (int i = 0; i < 100; ++i) {
    HttpRequest req;
    req.url = server.url("/c/" + std::to_string(i));
    client.send(std::move(req), [&out, i](HttpResponse r) { out[i] = std::move(r); });
  }
  EXPECT_EQ(client.inFlight(), 100u);
  ASSERT_TRUE(runUntil(io, [&] {
    return std::all_of(out.begin(), out.end(), [](auto& r) { return r.has_value(); });
  }));
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(out[i]->status, 200) << out[i]->error;
    EXPECT_EQ(out[i]->body, "/c/" + std::to_string(i));
  }
  EXPECT_EQ(client.inFlight(), 0u);
  EXPECT_EQ(server.requestCount(), 100u);
}

TEST_F(HttpClientTest, TimeoutIsACurlError) {
  server.setHandler([](const RecordedRequest&) { return std::optional<CannedResponse>(); });
  HttpRequest req;
  req.url = server.url();
  req.timeout = 200ms;
  auto r = roundTrip(std::move(req));
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.curl_code, CURLE_OPERATION_TIMEDOUT);
  EXPECT_FALSE(r.error.empty());
  EXPECT_FALSE(r.cancelled);
  EXPECT_TRUE(isTransientCurlError(r.curl_code));
}

TEST_F(HttpClientTest, ConnectionRefusedIsTransient) {
  HttpRequest req;
  req.url = "http://127.0.0.1:" + std::to_string(test::unusedPort()) + "/";
  auto r = roundTrip(std::move(req));
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.curl_code, CURLE_COULDNT_CONNECT) << r.error;
  EXPECT_TRUE(isTransientCurlError(r.curl_code));
}

TEST_F(HttpClientTest, MalformedUrlAndOtherProtocolsArePermanent) {
  HttpRequest bad;
  bad.url = "http://[::1";
  auto r = roundTrip(std::move(bad));
  EXPECT_NE(r.curl_code, 0);
  EXPECT_FALSE(isTransientCurlError(r.curl_code)) << r.curl_code << " " << r.error;

  HttpRequest ftp;
  ftp.url = "ftp://127.0.0.1/";
  r = roundTrip(std::move(ftp));
  EXPECT_EQ(r.curl_code, CURLE_UNSUPPORTED_PROTOCOL);
  EXPECT_FALSE(isTransientCurlError(r.curl_code));
  EXPECT_TRUE(isTransientCurlError(CURLE_COULDNT_RESOLVE_HOST));
  EXPECT_TRUE(isTransientCurlError(CURLE_SSL_CONNECT_ERROR));
}

TEST_F(HttpClientTest, CancelReportsCancelledOnceAndNeverInline) {
  server.setHandler([](const RecordedRequest&) { return std::optional<CannedResponse>(); });
  int calls = 0;
  HttpResponse got;
  HttpRequest req;
  req.url = server.url();
  auto id = client.send(std::move(req), [&](HttpResponse r) {
    ++calls;
    got = std::move(r);
  });
  EXPECT_EQ(calls, 0) << "done must be posted, not called from send()";
  ASSERT_TRUE(runUntil(io, [&] { return server.requestCount() == 1; }));
  client.cancel(id);
  EXPECT_EQ(calls, 0) << "done must be posted, not called from cancel()";
  EXPECT_EQ(client.inFlight(), 0u);
  ASSERT_TRUE(runUntil(io, [&] { return calls == 1; }));
  EXPECT_TRUE(got.cancelled);
  client.cancel(id);  // unknown by now: a no-op
  io.restart();
  io.poll();
  EXPECT_EQ(calls, 1);
}

TEST_F(HttpClientTest, DestroyingTheClientCancelsTransfersInFlight) {
  server.setHandler([](const RecordedRequest&) { return std::optional<CannedResponse>(); });
  auto own = std::make_unique<HttpClient>(io);
  std::optional<HttpResponse> got;
  HttpRequest req;
  req.url = server.url();
  own->send(std::move(req), [&](HttpResponse r) { got = std::move(r); });
  ASSERT_TRUE(runUntil(io, [&] { return server.requestCount() == 1; }));
  own.reset();
  ASSERT_TRUE(runUntil(io, [&] { return got.has_value(); }));
  EXPECT_TRUE(got->cancelled);
}

TEST_F(HttpClientTest, LargeBodyIsTruncatedAtTheLimit) {
  std::string big(3 << 20, 'x');
  for (std::size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + i % 26);
  server.respondWith(CannedResponse{200, {}, big});
  HttpRequest req;
  req.method = "GET";
  req.url = server.url("/big");
  req.max_response_body = 1 << 20;
  auto r = roundTrip(std::move(req));
  EXPECT_EQ(r.curl_code, 0) << r.error;
  EXPECT_EQ(r.status, 200);
  ASSERT_EQ(r.body.size(), 1u << 20);
  EXPECT_EQ(r.body, big.substr(0, 1 << 20));
}

TEST_F(HttpClientTest, StreamingPassesEveryChunkToOnBody) {
  CannedResponse resp;
  for (int i = 0; i < 50; ++i)
    resp.chunks.push_back("data: " + std::string(2000, 'a' + i % 26) + "\n");
  std::string expected;
  for (auto& c : resp.chunks) expected += c;
  server.respondWith(resp);

  std::string streamed;
  int calls = 0;
  HttpRequest req;
  req.method = "GET";
  req.url = server.url("/stream");
  req.timeout = 0ms;  // streams have no overall deadline
  req.on_body = [&](std::string_view chunk) {
    ++calls;
    streamed.append(chunk);
    return true;
  };
  auto r = roundTrip(std::move(req));
  EXPECT_EQ(r.curl_code, 0) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(r.body.empty()) << "streamed bodies are not collected";
  EXPECT_EQ(streamed, expected);
  EXPECT_GE(calls, 1);
}

TEST_F(HttpClientTest, OnBodyReturningFalseAbortsWithACurlError) {
  server.respondWith(CannedResponse{200, {}, std::string(100'000, 'z')});
  HttpRequest req;
  req.method = "GET";
  req.url = server.url();
  req.on_body = [](std::string_view) { return false; };
  auto r = roundTrip(std::move(req));
  EXPECT_EQ(r.curl_code, CURLE_WRITE_ERROR);
  EXPECT_FALSE(r.cancelled);
}

TEST_F(HttpClientTest, DoneMaySendTheNextRequest) {
  int finished = 0;
  std::function<void(HttpResponse)> next = [&](HttpResponse r) {
    EXPECT_EQ(r.status, 200);
    if (++finished < 5) {
      HttpRequest req;
      req.url = server.url();
      client.send(std::move(req), next);
    }
  };
  HttpRequest req;
  req.url = server.url();
  client.send(std::move(req), next);
  ASSERT_TRUE(runUntil(io, [&] { return finished == 5; }));
  EXPECT_EQ(server.connectionsAccepted(), 1u);
}

TEST_F(HttpClientTest, ServerClosingAfterEachAnswerIsHandled) {
  server.respondWith(CannedResponse{200, {}, "bye", {}, /*close=*/true});
  for (int i = 0; i < 5; ++i) {
    HttpRequest req;
    req.url = server.url();
    auto r = roundTrip(std::move(req));
    ASSERT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.body, "bye");
  }
  EXPECT_EQ(server.connectionsAccepted(), 5u);
}

}  // namespace
}  // namespace sluice
