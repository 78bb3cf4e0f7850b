#include "daemon/ingress.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "daemon/event.hpp"
#include "daemon/http_client.hpp"
#include "daemon/metrics.hpp"
#include "tests/unit/support/loop.hpp"

namespace sluice {
namespace {

// A real server and client on one loop: the server thread posts each request to the loop,
// where the route's handler runs, as connector handlers do in the daemon.
struct IngressFixture : ::testing::Test {
  boost::asio::io_context io;
  Metrics metrics;
  Ingress ingress{io, std::string("s3cret"), metrics};
  HttpServer server{HttpServerOptions{"127.0.0.1:0"}};
  HttpClient client{io};
  std::vector<ServerRequest> seen;
  std::optional<Responder> parked;

  void start() {
    ingress.attach(server);
    server.start();
  }
  std::string url(const std::string& path) {
    return "http://127.0.0.1:" + std::to_string(server.port()) + path;
  }
  HttpResponse post(const std::string& path, HttpHeaders headers = {},
                    std::string body = "{\"Records\":[]}") {
    HttpRequest req;
    req.url = url(path);
    req.headers = std::move(headers);
    req.body = std::move(body);
    std::optional<HttpResponse> got;
    client.send(req, [&](HttpResponse r) { got = std::move(r); });
    EXPECT_TRUE(test::runUntil(io, [&] { return got.has_value(); }));
    return got.value_or(HttpResponse{});
  }
  // Answers at once, echoing what it saw.
  IngressRoute echoRoute() {
    IngressRoute r;
    r.max_body = 4096;
    r.headers = {"x-amz-sns-message-type"};
    r.handler = [this](ServerRequest req, Responder respond) {
      seen.push_back(req);
      respond(ServerResponse{200, "text/plain", "stored " + req.path, {}});
    };
    return r;
  }
};

TEST_F(IngressFixture, EveryTokenFormIsAcceptedAndNothingElse) {
  ingress.add("minio", echoRoute());
  start();
  const std::string basic = "Basic " + base64Encode("minio:s3cret");
  EXPECT_EQ(post("/ingest/minio", {{"Authorization", "Bearer s3cret"}}).status, 200);
  EXPECT_EQ(post("/ingest/minio", {{"Authorization", basic}}).status, 200);
  EXPECT_EQ(post("/ingest/minio?token=s3cret").status, 200);
  EXPECT_EQ(seen.size(), 3u);

  for (const HttpHeaders& h :
       {HttpHeaders{}, HttpHeaders{{"Authorization", "Bearer s3cre"}},
        HttpHeaders{{"Authorization", "Bearer s3cret2"}},
        HttpHeaders{{"Authorization", "Basic " + base64Encode("s3cret")}},  // no user:password
        HttpHeaders{{"Authorization", "s3cret"}}}) {
    HttpResponse r = post("/ingest/minio", h);
    EXPECT_EQ(r.status, 401);
    ASSERT_NE(r.header("www-authenticate"), nullptr);
  }
  EXPECT_EQ(post("/ingest/minio?token=wrong").status, 401);
  EXPECT_EQ(seen.size(), 3u);  // none of them reached the source
  EXPECT_NE(metrics.render().find("sluice_ingress_requests_total{source=\"minio\",code=\"401\"} 6"),
            std::string::npos)
      << metrics.render();
}

TEST(IngressAuth, TokenParsing) {
  ServerRequest r;
  r.headers["authorization"] = "  bearer   tok  ";
  EXPECT_TRUE(Ingress::authorized(r, "tok"));
  r.headers["authorization"] = "BASIC " + base64Encode("any:t:o:k");  // password keeps colons
  EXPECT_TRUE(Ingress::authorized(r, "t:o:k"));
  r.headers["authorization"] = "Basic !!!";
  EXPECT_FALSE(Ingress::authorized(r, "tok"));
  r.headers.clear();
  r.query = "a=1&token=t%2Bk%20x&b=2";  // the server hands the query %-encoded
  EXPECT_TRUE(Ingress::authorized(r, "t+k x"));
  r.query = "xtoken=tok";
  EXPECT_FALSE(Ingress::authorized(r, "tok"));
  r.query = "token=";
  EXPECT_FALSE(Ingress::authorized(r, "tok"));
}

TEST_F(IngressFixture, PathsBelowTheSourceHeadersAndTheBodyLimitAreTheRoute) {
  ingress.add("rgw", echoRoute());
  start();
  HttpHeaders auth = {{"Authorization", "Bearer s3cret"},
                      {"x-amz-sns-message-type", "Notification"}};
  HttpResponse r = post("/ingest/rgw/topic-1", auth);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "stored /ingest/rgw/topic-1");
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].headers["x-amz-sns-message-type"], "Notification");
  EXPECT_EQ(seen[0].body, "{\"Records\":[]}");
  EXPECT_EQ(post("/ingest/rgw", auth, std::string(4097, 'x')).status, 413);
  EXPECT_EQ(post("/ingest/other", auth).status, 404);
  EXPECT_EQ(seen.size(), 1u);
}

TEST_F(IngressFixture, TheAnswerWaitsForTheHandler) {
  IngressRoute route;
  route.handler = [this](ServerRequest req, Responder respond) {
    seen.push_back(std::move(req));
    parked = std::move(respond);  // answered once "committed", below
  };
  ingress.add("minio", std::move(route));
  start();
  HttpRequest req;
  req.url = url("/ingest/minio");
  req.headers = {{"Authorization", "Bearer s3cret"}};
  req.body = "x";
  std::optional<HttpResponse> got;
  client.send(req, [&](HttpResponse r) { got = std::move(r); });
  ASSERT_TRUE(test::runUntil(io, [&] { return parked.has_value(); }));
  EXPECT_FALSE(got.has_value());
  (*parked)(ServerResponse{204, "", "", {}});
  (*parked)(ServerResponse{500, "", "", {}});  // a second answer changes nothing
  ASSERT_TRUE(test::runUntil(io, [&] { return got.has_value(); }));
  EXPECT_EQ(got->status, 204);
}

TEST_F(IngressFixture, ADroppedResponderOrAStoppedIntakeAnswers503) {
  IngressRoute route;
  route.handler = [this](ServerRequest req, Responder) { seen.push_back(std::move(req)); };
  ingress.add("minio", std::move(route));
  start();
  HttpHeaders auth = {{"Authorization", "Bearer s3cret"}};
  HttpResponse r = post("/ingest/minio", auth);
  EXPECT_EQ(r.status, 503);
  ASSERT_NE(r.header("retry-after"), nullptr);
  EXPECT_EQ(seen.size(), 1u);
  ingress.stop();
  EXPECT_EQ(post("/ingest/minio", auth).status, 503);
  EXPECT_EQ(seen.size(), 1u);                    // stopped: the source is not asked
  EXPECT_EQ(post("/ingest/minio").status, 401);  // still no answer without the token
}

TEST(IngressSetup, RoutesNeedATokenAndAreOnePerSource) {
  boost::asio::io_context io;
  Metrics metrics;
  IngressRoute route;
  route.handler = [](ServerRequest, Responder) {};
  Ingress none(io, std::nullopt, metrics);
  EXPECT_THROW(none.add("a", route), std::runtime_error);
  Ingress empty(io, std::string(), metrics);
  EXPECT_THROW(empty.add("a", route), std::runtime_error);
  Ingress ok(io, std::string("t"), metrics);
  ok.add("a", route);
  EXPECT_THROW(ok.add("a", route), std::logic_error);
  EXPECT_FALSE(ok.empty());
}

}  // namespace
}  // namespace sluice
