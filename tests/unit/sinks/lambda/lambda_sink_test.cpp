#include "sinks/lambda/lambda_sink.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "daemon/health.hpp"
#include "daemon/metrics.hpp"
#include "tests/unit/support/http_sink_test.hpp"
#include "tests/unit/support/loop.hpp"
#include "tests/unit/support/sink_spec.hpp"
#include "tests/unit/support/temp_dir.hpp"
#include "tests/unit/support/test_http_server.hpp"

namespace sluice::sinks::lambda {
namespace {

using test::CannedResponse;
using test::RecordedRequest;
using test::runUntil;
using test::TestHttpServer;

std::unique_ptr<LambdaSpec> parse(const std::string& yaml, ConfigErrors& errors) {
  return test::parseSinkSpec<LambdaSpec>(yaml, errors);
}
using test::errorText;

Event sampleEvent(std::size_t path_size = 10) {
  Event ev;
  ev.id = "0123456789abcdef0123456789abcdef";
  ev.source = "s3://bucket";
  ev.time_ms = 1'700'000'000'118;
  ev.storage = "s3";
  ev.connector = "aws";
  ev.bucket = "bucket";
  ev.key = std::string(path_size, 'k');
  ev.path = "/bucket/" + *ev.key;
  return ev;
}

class LambdaSinkTest : public test::HttpSinkTest {
 protected:
  LambdaSinkTest() : HttpSinkTest("thumb") {}

  std::unique_ptr<Sink> makeSink(const std::string& extra) {
    ConfigErrors errors;
    auto spec = parse("name: thumb\ntype: lambda\nendpoint: " + server.url("") +
                          "\naccess_key: AKIDEXAMPLE\nsecret_key: secret\n" + extra,
                      errors);
    EXPECT_TRUE(errors.empty()) << errorText(errors);
    return spec ? spec->create(ctx) : nullptr;
  }
};

TEST_F(LambdaSinkTest, EventInvocationOfAnArnIsSignedAndEncodedAsBotocoreDoes) {
  server.respondWith({202, {}, ""});
  auto sink = makeSink("function: arn:aws:lambda:eu-west-1:123456789012:function:thumb:live\n");
  auto r = deliver(*sink, sampleEvent());
  ASSERT_TRUE(std::holds_alternative<Done>(r)) << describe(r);
  EXPECT_FALSE(std::get<Done>(r).output);
  auto req = server.requests().at(0);
  EXPECT_EQ(req.target,
            "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A123456789012%3Afunction%3A"
            "thumb%3Alive/invocations");
  EXPECT_EQ(*req.header("x-amz-invocation-type"), "Event");
  EXPECT_EQ(req.header("content-type"), nullptr);  // botocore sends none
  const std::string* auth = req.header("authorization");
  ASSERT_NE(auth, nullptr);
  EXPECT_NE(auth->find("/eu-west-1/lambda/aws4_request"), std::string::npos) << *auth;
  EXPECT_EQ(nlohmann::json::parse(req.body)["Records"][0]["eventSource"], "aws:s3");
}

TEST_F(LambdaSinkTest, RequestResponseKeepsTheResultAndRetriesFunctionErrors) {
  auto sink = makeSink(
      "function: thumb\nregion: us-east-1\nqualifier: '2'\n"
      "invocation: request-response\n");
  server.respondWith({200, {}, R"({"ok":true})"});
  auto r = deliver(*sink, sampleEvent());
  ASSERT_TRUE(std::holds_alternative<Done>(r)) << describe(r);
  EXPECT_EQ(std::get<Done>(r).output, std::optional<std::string>(R"({"ok":true})"));
  EXPECT_EQ(server.requests().at(0).target, "/2015-03-31/functions/thumb/invocations?Qualifier=2");
  EXPECT_EQ(*server.requests().at(0).header("x-amz-invocation-type"), "RequestResponse");

  server.respondWith({200,
                      {{"X-Amz-Function-Error", "Unhandled"}},
                      R"({"errorMessage":"boom","errorType":"ValueError"})"});
  r = deliver(*sink, sampleEvent());
  ASSERT_TRUE(std::holds_alternative<Retry>(r)) << describe(r);
  EXPECT_EQ(std::get<Retry>(r).reason,
            R"(function error (Unhandled): {"errorMessage":"boom","errorType":"ValueError"})");
}

TEST_F(LambdaSinkTest, ThrottlingHonoursRetryAfterAndErrorsAreClassified) {
  auto sink = makeSink("function: thumb\nregion: us-east-1\n");
  server.respondWith(
      {429,
       {{"Retry-After", "7"}, {"x-amzn-ErrorType", "TooManyRequestsException"}},
       R"({"Reason":"CallerRateLimitExceeded","Type":"User","message":"Rate exceeded"})"});
  auto r = deliver(*sink, sampleEvent());
  ASSERT_TRUE(std::holds_alternative<Retry>(r)) << describe(r);
  EXPECT_EQ(std::get<Retry>(r).after, std::optional<Duration>(Duration(7000)));
  EXPECT_EQ(std::get<Retry>(r).reason,
            "Lambda answered 429 TooManyRequestsException: Rate exceeded");

  server.respondWith({404,
                      {{"x-amzn-ErrorType", "ResourceNotFoundException:http://x/"}},
                      R"({"Type":"User","message":"Function not found: thumb"})"});
  r = deliver(*sink, sampleEvent());
  ASSERT_TRUE(std::holds_alternative<Dead>(r)) << describe(r);
  EXPECT_EQ(std::get<Dead>(r).reason,
            "Lambda answered 404 ResourceNotFoundException: Function not found: thumb");
  server.respondWith({413, {}, R"({"Type":"User","message":"Request must be smaller"})"});
  EXPECT_TRUE(std::holds_alternative<Dead>(deliver(*sink, sampleEvent())));
  server.respondWith({502, {}, "{}"});
  EXPECT_TRUE(std::holds_alternative<Retry>(deliver(*sink, sampleEvent())));
}

TEST_F(LambdaSinkTest, OversizedPayloadsAreDeadBeforeSending) {
  auto sink = makeSink("function: thumb\nregion: us-east-1\n");
  auto r = deliver(*sink, sampleEvent(kEventPayloadLimit));
  ASSERT_TRUE(std::holds_alternative<Dead>(r)) << describe(r);
  EXPECT_NE(std::get<Dead>(r).reason.find("over Lambda's limit of 1048576 bytes for Event"),
            std::string::npos);
  EXPECT_EQ(server.requestCount(), 0u);
}

TEST(LambdaFunction, ParsesEveryFormAWSAccepts) {
  std::string why;
  auto f = parseFunctionRef("thumb", &why);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->name, "thumb");
  f = parseFunctionRef("thumb:$LATEST", &why);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->qualifier, "$LATEST");
  f = parseFunctionRef("123456789012:function:thumb:live", &why);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->account, "123456789012");
  EXPECT_EQ(f->qualifier, "live");
  f = parseFunctionRef("arn:aws-cn:lambda:cn-north-1:123456789012:function:t_1", &why);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->region, "cn-north-1");
  for (const char* bad : {"", "a b", "arn:aws:s3:::bucket", "12:function:x", "x:y:z",
                          "arn:aws:lambda:eu-west-1:123456789012:function:", "t:bad alias",
                          "arn:aws:lambda:EU:123456789012:function:x"})
    EXPECT_FALSE(parseFunctionRef(bad, &why)) << bad;
}

TEST(LambdaConfig, ErrorsNameTheKey) {
  struct Case {
    const char* yaml;
    const char* path;
    const char* part;
  } cases[] = {
      {"region: r\n", "sinks[0].function", "is required"},
      {"function: thumb\n", "sinks[0].region", "is required"},
      {"function: thumb:live\nqualifier: prod\nregion: us-east-1\n", "sinks[0].qualifier",
       "differs"},
      {"function: arn:aws:lambda:eu-west-1:123456789012:function:t\nregion: us-east-1\n",
       "sinks[0].region", "differs"},
      {"function: t\nregion: us-east-1\ninvocation: dry-run\n", "sinks[0].invocation",
       "must be one of"},
      {"function: t\nregion: us-east-1\nendpoint: lambda.local\n", "sinks[0].endpoint", "http://"},
  };
  for (auto& c : cases) {
    ConfigErrors errors;
    parse(std::string("name: l\ntype: lambda\n") + c.yaml, errors);
    EXPECT_TRUE(test::hasError(errors, c.path, c.part)) << c.yaml << " gave:\n"
                                                        << errorText(errors);
  }
  ConfigErrors errors;
  auto spec = parse(
      "name: l\ntype: lambda\nfunction: arn:aws:lambda:eu-west-1:123456789012:"
      "function:t\n",
      errors);
  ASSERT_TRUE(errors.empty()) << errorText(errors);
  EXPECT_EQ(spec->config.region, "eu-west-1");
  EXPECT_EQ(spec->config.endpoint, "https://lambda.eu-west-1.amazonaws.com");
}

}  // namespace
}  // namespace sluice::sinks::lambda
