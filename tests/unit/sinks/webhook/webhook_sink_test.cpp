#include "sinks/webhook/webhook_sink.hpp"
#include "daemon/crypto.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "daemon/health.hpp"
#include "daemon/metrics.hpp"
#include "daemon/registry.hpp"
#include "tests/unit/support/temp_dir.hpp"
#include "tests/unit/support/loop.hpp"
#include "tests/unit/support/http_sink_test.hpp"
#include "tests/unit/support/sink_spec.hpp"
#include "tests/unit/support/test_http_server.hpp"

namespace sluice::sinks::webhook {
namespace {

using namespace std::chrono_literals;
using test::CannedResponse;
using test::RecordedRequest;
using test::runUntil;
using test::TestHttpServer;

std::unique_ptr<WebhookSpec> parse(const std::string& yaml, ConfigErrors& errors) {
  auto spec = test::parseSinkSpec<WebhookSpec>(yaml, errors);
  if (!spec) ADD_FAILURE() << "no webhook sink type";
  return spec;
}
using test::errorText;

bool hasErrorAt(const ConfigErrors& errors, const std::string& path) {
  for (auto& e : errors.list())
    if (e.path == path) return true;
  return false;
}

Event sampleEvent() {
  Event ev;
  ev.id = "7c1f00aa";
  ev.source = "file://host/data/inbox";
  ev.type = EventType::Created;
  ev.time_ms = 1'700'000'000'118;
  ev.storage = "local";
  ev.connector = "inbox";
  ev.path = "/data/inbox/a b%\xc3\xbc.txt";
  ev.size = 5;
  ev.native = {{"mask", "IN_CLOSE_WRITE"}, {"name", "a.txt"}};
  return ev;
}

class WebhookSinkTest : public test::HttpSinkTest {
 protected:
  WebhookSinkTest() : HttpSinkTest("hook") {}

  std::unique_ptr<Sink> makeSink(const std::string& extra_yaml) {
    ConfigErrors errors;
    auto spec =
        parse("name: hook\ntype: webhook\nurl: " + server.url("/hook") + "\n" + extra_yaml, errors);
    EXPECT_TRUE(errors.empty()) << errorText(errors);
    return spec ? spec->create(ctx) : nullptr;
  }

  RecordedRequest onlyRequest() {
    auto reqs = server.requests();
    EXPECT_EQ(reqs.size(), 1u);
    return reqs.empty() ? RecordedRequest{} : reqs.back();
  }

  static std::string header(const RecordedRequest& r, const std::string& name) {
    auto* v = r.header(name);
    return v ? *v : "<absent>";
  }

};

TEST_F(WebhookSinkTest, CloudEventsStructuredBodyAndHeaders) {
  auto sink = makeSink("headers: {X-Team: imaging}\n");
  auto ev = sampleEvent();
  EXPECT_TRUE(std::holds_alternative<Done>(deliver(*sink, ev, 3)));
  auto r = onlyRequest();
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/hook");
  EXPECT_EQ(header(r, "content-type"), "application/cloudevents+json; charset=utf-8");
  EXPECT_EQ(header(r, "user-agent"), std::string("sluice/") + SLUICE_VERSION);
  EXPECT_EQ(header(r, "x-sluice-event-id"), "7c1f00aa");
  EXPECT_EQ(header(r, "x-sluice-attempt"), "3");
  EXPECT_EQ(header(r, "x-team"), "imaging");
  EXPECT_EQ(header(r, "authorization"), "<absent>");
  auto body = nlohmann::json::parse(r.body);
  EXPECT_EQ(body, toJson(ev));
  EXPECT_EQ(body["specversion"], "1.0");
  EXPECT_EQ(body["type"], "sluice.object.created");
  EXPECT_EQ(body["data"]["path"], ev.path);
  EXPECT_EQ(body["data"]["native"]["mask"], "IN_CLOSE_WRITE");
  EXPECT_EQ(fromJson(body).path, ev.path);
}

TEST_F(WebhookSinkTest, CloudEventsBinaryPutsAttributesInHeaders) {
  auto sink = makeSink("format: cloudevents-binary\nmethod: PUT\n");
  auto ev = sampleEvent();
  EXPECT_TRUE(std::holds_alternative<Done>(deliver(*sink, ev)));
  auto r = onlyRequest();
  EXPECT_EQ(r.method, "PUT");
  EXPECT_EQ(header(r, "content-type"), "application/json");
  EXPECT_EQ(header(r, "ce-specversion"), "1.0");
  EXPECT_EQ(header(r, "ce-id"), "7c1f00aa");
  EXPECT_EQ(header(r, "ce-source"), "file://host/data/inbox");
  EXPECT_EQ(header(r, "ce-type"), "sluice.object.created");
  EXPECT_EQ(header(r, "ce-subject"), "/data/inbox/a%20b%25%C3%BC.txt");
  EXPECT_EQ(header(r, "ce-time"), "2023-11-14T22:13:20.118Z");
  EXPECT_EQ(nlohmann::json::parse(r.body), ev.data());
}

TEST_F(WebhookSinkTest, NativeSendsTheSourceEventOrElseData) {
  auto sink = makeSink("format: native\n");
  auto ev = sampleEvent();
  EXPECT_TRUE(std::holds_alternative<Done>(deliver(*sink, ev)));
  ev.native = nullptr;
  EXPECT_TRUE(std::holds_alternative<Done>(deliver(*sink, ev)));
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(header(reqs[0], "content-type"), "application/json");
  EXPECT_EQ(nlohmann::json::parse(reqs[0].body), sampleEvent().native);
  EXPECT_EQ(nlohmann::json::parse(reqs[1].body), ev.data());
  EXPECT_EQ(header(reqs[1], "ce-id"), "<absent>");
}

TEST_F(WebhookSinkTest, ConfiguredHeadersReplaceDefaultsOfTheSameName) {
  auto sink = makeSink("format: native\nheaders: {content-type: application/vnd.x+json}\n");
  deliver(*sink, sampleEvent());
  auto r = onlyRequest();
  EXPECT_EQ(header(r, "content-type"), "application/vnd.x+json");
}

TEST_F(WebhookSinkTest, BearerTokenFromFile) {
  auto file = dir.path() / "token";
  std::ofstream(file) << "s3cr3t\n";
  auto sink = makeSink("auth: {bearer_file: " + file.string() + "}\n");
  deliver(*sink, sampleEvent());
  EXPECT_EQ(header(onlyRequest(), "authorization"), "Bearer s3cr3t");
}

TEST_F(WebhookSinkTest, BasicAuth) {
  auto sink = makeSink("auth: {username: alice, password: 'pa ss'}\n");
  deliver(*sink, sampleEvent());
  EXPECT_EQ(header(onlyRequest(), "authorization"), "Basic YWxpY2U6cGEgc3M=");
}

// 32 bytes 0x00..0x1f, in the Standard Webhooks secret form.
constexpr const char* kWhsec = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

TEST_F(WebhookSinkTest, HmacSignsIdTimestampAndBodyAsStandardWebhooks) {
  auto sink = makeSink(std::string("auth: {hmac_secret: ") + kWhsec + "}\n");
  clock.set(1'700'000'123'999);
  deliver(*sink, sampleEvent());
  auto r = onlyRequest();
  const auto key = decodeWebhookSecret(kWhsec).value();
  EXPECT_EQ(header(r, "webhook-id"), "7c1f00aa");
  EXPECT_EQ(header(r, "webhook-timestamp"), "1700000123");  // the sink's clock, in seconds
  EXPECT_EQ(header(r, "webhook-signature"),
            standardWebhookSignature(key, "7c1f00aa", 1'700'000'123, r.body));
  EXPECT_EQ(header(r, "x-sluice-signature-256"), "<absent>");
  EXPECT_EQ(header(r, "authorization"), "<absent>");

  // A retry is signed again at its own time, under the same id.
  clock.advance(90'000);
  deliver(*sink, sampleEvent(), 2);
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  auto& retry = reqs[1];
  EXPECT_EQ(header(retry, "webhook-id"), "7c1f00aa");
  EXPECT_EQ(header(retry, "webhook-timestamp"), "1700000213");
  EXPECT_EQ(header(retry, "webhook-signature"),
            standardWebhookSignature(key, "7c1f00aa", 1'700'000'213, retry.body));
}

// Known answers from the Standard Webhooks reference library (npm standardwebhooks 1.3.0):
// the specification's own example, and a body that is not UTF-8.
TEST(WebhookSignatureTest, MatchesTheReferenceLibrary) {
  auto key = decodeWebhookSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(key->size(), 24u);
  EXPECT_EQ(standardWebhookSignature(*key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                                     R"({"test": 2432232314})"),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  EXPECT_EQ(standardWebhookSignature(*key, "7c1f00aa", 1700000000, "{\"\xff\n}"),
            "v1,3G5mcgM2gEAQ3oZfUQOFO2lV18i2U+vZd+AYhr5e6ys=");
  // RFC 4231 test case 2, so the HMAC itself is checked against a known answer.
  EXPECT_EQ(base64Encode(hmacSha256("Jefe", "what do ya want for nothing?")),
            "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
}

TEST(WebhookSignatureTest, SecretsMustBeWhsecAndCanonicalBase64) {
  EXPECT_EQ(decodeWebhookSecret("whsec_AAEC"), std::string("\x00\x01\x02", 3));
  EXPECT_EQ(decodeWebhookSecret("whsec_AAE="), std::string("\x00\x01", 2));
  EXPECT_FALSE(decodeWebhookSecret("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="));  // no prefix
  EXPECT_FALSE(decodeWebhookSecret("hmac-key"));
  EXPECT_FALSE(decodeWebhookSecret("whsec_"));
  EXPECT_FALSE(decodeWebhookSecret("whsec_AAE"));       // unpadded
  EXPECT_FALSE(decodeWebhookSecret("whsec_AA=C"));      // '=' inside
  EXPECT_FALSE(decodeWebhookSecret("whsec_AAEC "));     // blank
  EXPECT_FALSE(decodeWebhookSecret("whsec_AA-_"));      // base64url alphabet
  EXPECT_FALSE(decodeWebhookSecret("whsec_AAF="));      // non-zero padding bits
  EXPECT_FALSE(decodeWebhookSecret("whsec_===="));
}

TEST_F(WebhookSinkTest, StatusClassificationEndToEnd) {
  auto sink = makeSink("");
  auto with = [&](CannedResponse resp) {
    server.respondWith(std::move(resp));
    return deliver(*sink, sampleEvent());
  };
  EXPECT_TRUE(std::holds_alternative<Done>(with({200, {}, "ok"})));
  EXPECT_TRUE(std::holds_alternative<Done>(with({204, {}, ""})));
  auto r503 = with({503, {{"Retry-After", "7"}}, "busy"});
  ASSERT_TRUE(std::holds_alternative<Retry>(r503)) << describe(r503);
  EXPECT_EQ(std::get<Retry>(r503).after, Duration(7000));
  EXPECT_EQ(std::get<Retry>(r503).reason, "HTTP 503: busy");
  auto r429 = with({429, {}, ""});
  ASSERT_TRUE(std::holds_alternative<Retry>(r429)) << describe(r429);
  EXPECT_FALSE(std::get<Retry>(r429).after.has_value());
  auto r400 = with({400, {}, "bad\r\nthing"});
  ASSERT_TRUE(std::holds_alternative<Dead>(r400)) << describe(r400);
  EXPECT_EQ(std::get<Dead>(r400).reason, "HTTP 400: bad  thing");
  EXPECT_TRUE(std::holds_alternative<Dead>(with({413, {}, ""})));
  EXPECT_EQ(server.connectionsAccepted(), 1u) << "deliveries share the keep-alive connection";
}

TEST_F(WebhookSinkTest, ConnectionRefusedIsRetry) {
  ConfigErrors errors;
  auto spec = parse("name: hook\ntype: webhook\nurl: http://127.0.0.1:" +
                        std::to_string(test::unusedPort()) + "/\n",
                    errors);
  ASSERT_TRUE(errors.empty()) << errorText(errors);
  auto sink = spec->create(ctx);
  auto r = deliver(*sink, sampleEvent());
  ASSERT_TRUE(std::holds_alternative<Retry>(r)) << describe(r);
  EXPECT_TRUE(std::get<Retry>(r).reason.starts_with("curl: ")) << describe(r);
}

TEST_F(WebhookSinkTest, TimeoutFromThePolicyIsRetry) {
  server.setHandler([](const RecordedRequest&) { return std::optional<CannedResponse>(); });
  auto sink = makeSink("timeout: 200ms\n");
  auto r = deliver(*sink, sampleEvent());
  ASSERT_TRUE(std::holds_alternative<Retry>(r)) << describe(r);
  EXPECT_TRUE(std::get<Retry>(r).reason.starts_with("curl: ")) << describe(r);
}

TEST_F(WebhookSinkTest, AbortCancelsOnlyThisSinksTransfers) {
  server.setHandler([](const RecordedRequest&) { return std::optional<CannedResponse>(); });
  auto a = makeSink("");
  auto b = makeSink("");
  std::optional<DeliveryResult> ra, rb;
  a->deliver(sampleEvent(), {"hook", 1, 1, 0}, [&](DeliveryResult r) { ra = std::move(r); });
  b->deliver(sampleEvent(), {"hook", 2, 1, 0}, [&](DeliveryResult r) { rb = std::move(r); });
  ASSERT_TRUE(runUntil(io, [&] { return server.requestCount() == 2; }));
  a->abort();
  ASSERT_TRUE(runUntil(io, [&] { return ra.has_value(); }));
  ASSERT_TRUE(std::holds_alternative<Retry>(*ra)) << describe(*ra);
  EXPECT_EQ(std::get<Retry>(*ra).reason, "aborted at shutdown");
  EXPECT_FALSE(rb.has_value());
  EXPECT_EQ(http.inFlight(), 1u);
  b.reset();  // destroying a sink releases its deliveries too
  ASSERT_TRUE(runUntil(io, [&] { return rb.has_value(); }));
  EXPECT_EQ(describe(*rb), "retry: aborted at shutdown");
}

TEST_F(WebhookSinkTest, NativeTextThatIsNotUtf8IsSentWithReplacementCharacters) {
  auto sink = makeSink("format: native\n");
  auto ev = sampleEvent();
  ev.native = std::string("not \xff utf-8");
  auto r = deliver(*sink, ev);
  ASSERT_TRUE(std::holds_alternative<Done>(r)) << describe(r);
  EXPECT_EQ(nlohmann::json::parse(onlyRequest().body), "not \xef\xbf\xbd utf-8");
}

TEST_F(WebhookSinkTest, AnEventTheFormatCannotCarryIsDeadNotThrown) {
  auto sink = makeSink("format: s3\n");
  auto ev = sampleEvent();
  ev.type = EventType::Gap;
  auto r = deliver(*sink, ev);
  ASSERT_TRUE(std::holds_alternative<Dead>(r)) << describe(r);
  EXPECT_TRUE(std::get<Dead>(r).reason.starts_with(
      "cannot encode event: format s3 has no form for a gap event"))
      << describe(r);
  EXPECT_EQ(server.requestCount(), 0u);
}

TEST_F(WebhookSinkTest, NonUtf8FileNameTravelsAsBase64) {
  auto ev = sampleEvent();
  ev.path = "/data/inbox/bad\xff name\n.txt";
  auto structured = makeSink("");
  EXPECT_TRUE(std::holds_alternative<Done>(deliver(*structured, ev)));
  auto binary = makeSink("format: cloudevents-binary\n");
  EXPECT_TRUE(std::holds_alternative<Done>(deliver(*binary, ev)));
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  auto body = nlohmann::json::parse(reqs[0].body);
  EXPECT_EQ(body["data"]["path_b64"], base64Encode(ev.path));
  EXPECT_EQ(base64Decode(body["data"]["path_b64"].get<std::string>()), ev.path);
  EXPECT_EQ(fromJson(body).path, ev.path);
  EXPECT_EQ(nlohmann::json::parse(reqs[1].body)["data"], nullptr);  // binary body is data itself
  EXPECT_EQ(nlohmann::json::parse(reqs[1].body)["path_b64"], base64Encode(ev.path));
  EXPECT_EQ(header(reqs[1], "ce-subject"), "/data/inbox/bad%EF%BF%BD%20name%0A.txt");
}

TEST_F(WebhookSinkTest, TlsVerifyOffLogsAWarning) {
  std::ostringstream out;
  ctx.log = std::make_shared<spdlog::logger>("test",
                                             std::make_shared<spdlog::sinks::ostream_sink_st>(out));
  auto sink = makeSink("tls_verify: false\n");
  EXPECT_NE(out.str().find("tls_verify is off"), std::string::npos) << out.str();
}

TEST(WebhookSinkConfigTest, RegisteredAndFullConfigParses) {
  test::TempDir dir;
  auto ca = dir.path() / "ca.pem";
  std::ofstream(ca) << "-----BEGIN CERTIFICATE-----\n";
  ConfigErrors errors;
  auto spec = parse(
      "name: hook\ntype: webhook\nurl: https://example.org/hook\nformat: cloudevents-binary\n"
      "headers: {X-Team: imaging}\nauth: {username: u, password: p}\nca_file: " +
          ca.string() + "\ntls_verify: true\nhttp_version: '2'\nmethod: PUT\nconcurrency: 3\n",
      errors);
  ASSERT_TRUE(errors.empty()) << errorText(errors);
  ASSERT_NE(spec, nullptr);
  EXPECT_EQ(spec->config.url, "https://example.org/hook");
  EXPECT_EQ(spec->config.format, PayloadFormat::CloudEventsBinary);
  EXPECT_EQ(spec->config.headers, (HttpHeaders{{"X-Team", "imaging"}}));
  EXPECT_EQ(spec->config.auth.kind, AuthKind::Basic);
  EXPECT_EQ(spec->config.ca_file, ca.string());
  EXPECT_EQ(spec->config.http_version, HttpVersion::Http2);
  EXPECT_EQ(spec->config.method, "PUT");
  EXPECT_EQ(spec->policy.concurrency, 3);
}

struct BadConfig {
  const char* yaml;
  const char* path;
  const char* message;  // a part of the message
};

TEST(WebhookSinkConfigTest, ErrorsNameTheKeyPath) {
  const BadConfig cases[] = {
      {"", "sinks[0].url", "is required"},
      {"url: ftp://example.org/x\n", "sinks[0].url", "http:// or https://"},
      {"url: http://h/\nauth: {bearer: t, hmac_secret: s}\n", "sinks[0].auth", "exactly one"},
      {"url: http://h/\nauth: {username: u}\n", "sinks[0].auth.password", "required"},
      {"url: http://h/\nbogus: 1\n", "sinks[0].bogus", "unknown key"},
      {"url: http://h/\nauth: {bearer: t, realm: x}\n", "sinks[0].auth.realm", "unknown key"},
      {"url: http://h/\nformat: xml\n", "sinks[0].format",
       "must be one of: cloudevents, cloudevents-binary, s3, onetrigger, native (got \"xml\")"},
      {"url: http://h/\nheaders: {'X:Y': v}\n", "sinks[0].headers.X:Y", "header name"},
      {"url: http://h/\nheaders: {X-Sluice-Attempt: '9'}\n", "sinks[0].headers.X-Sluice-Attempt",
       "set by sluice"},
      {"url: http://h/\nauth: {bearer: t}\nheaders: {Authorization: x}\n",
       "sinks[0].headers.Authorization", "set by auth"},
      {"url: http://h/\nca_file: /nonexistent/ca.pem\n", "sinks[0].ca_file", "cannot read"},
      {"url: http://h/\nhttp_version: '3'\n", "sinks[0].http_version", "must be one of"},
      {"url: http://h/\nmethod: GET\n", "sinks[0].method", "must be one of"},
      {"url: http://h/\nauth: {bearer_file: /nonexistent/token}\n", "sinks[0].auth.bearer_file",
       "cannot read"},
      {"url: http://h/\nauth: {bearer_file: /}\n", "sinks[0].auth.bearer_file",
       "cannot read secret file /: is a directory"},
      {"url: http://h/\nauth: {hmac_secret: hmac-key}\n", "sinks[0].auth.hmac_secret",
       "must be a Standard Webhooks secret: whsec_ followed by base64"},
      {"url: http://h/\nauth: {hmac_secret: whsec_not*base64}\n", "sinks[0].auth.hmac_secret",
       "must be a Standard Webhooks secret"},
      {"url: http://h/\nauth: {hmac_secret: ''}\n", "sinks[0].auth.hmac_secret",
       "must not be empty"},
      {"url: http://h/\nauth: {hmac_secret: whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=}\n"
       "headers: {Webhook-Id: x}\n",
       "sinks[0].headers.Webhook-Id", "is set by auth"},
  };
  for (const auto& c : cases) {
    ConfigErrors errors;
    parse(std::string("name: hook\ntype: webhook\n") + c.yaml, errors);
    EXPECT_TRUE(hasErrorAt(errors, c.path)) << c.yaml << "\n" << errorText(errors);
    EXPECT_NE(errorText(errors).find(c.message), std::string::npos) << c.yaml << "\n"
                                                                    << errorText(errors);
  }
}

TEST(WebhookSinkConfigTest, HmacSecretFileIsCheckedAndNeverQuoted) {
  test::TempDir dir;
  auto raw = dir.path() / "raw.key";
  std::ofstream(raw) << "old-raw-secret\n";
  ConfigErrors errors;
  parse("name: hook\ntype: webhook\nurl: http://h/\nauth: {hmac_secret_file: " + raw.string() +
            "}\n",
        errors);
  EXPECT_TRUE(hasErrorAt(errors, "sinks[0].auth.hmac_secret_file")) << errorText(errors);
  EXPECT_EQ(errorText(errors).find("old-raw-secret"), std::string::npos) << errorText(errors);

  auto good = dir.path() / "good.key";
  std::ofstream(good) << "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n";
  std::filesystem::permissions(good, std::filesystem::perms::owner_read);
  ConfigErrors ok;
  auto spec = parse("name: hook\ntype: webhook\nurl: http://h/\nauth: {hmac_secret_file: " +
                        good.string() + "}\n",
                    ok);
  ASSERT_TRUE(ok.empty()) << errorText(ok);
  EXPECT_EQ(spec->config.auth.kind, AuthKind::Hmac);
  EXPECT_EQ(spec->config.auth.hmac_key.reveal(),
            decodeWebhookSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
  EXPECT_TRUE(ok.warnings().empty());
}

TEST(WebhookSinkConfigTest, ShortHmacKeyIsAWarning) {
  ConfigErrors errors;
  parse("name: hook\ntype: webhook\nurl: http://h/\nauth: {hmac_secret: whsec_AAECAw==}\n", errors);
  EXPECT_TRUE(errors.empty()) << errorText(errors);
  ASSERT_EQ(errors.warnings().size(), 1u);
  EXPECT_EQ(errors.warnings()[0].path, "sinks[0].auth.hmac_secret");
  EXPECT_NE(errors.warnings()[0].message.find("only 4 bytes"), std::string::npos);
}

TEST(WebhookSinkConfigTest, RelativeCaFileResolvesAgainstTheConfigDirectory) {
  test::TempDir dir;
  std::ofstream(dir.path() / "ca.pem") << "-----BEGIN CERTIFICATE-----\n";
  ConfigErrors errors(dir.path());  // as for a config file in dir
  auto spec = parse("name: hook\ntype: webhook\nurl: https://h/\nca_file: ./ca.pem\n", errors);
  ASSERT_TRUE(errors.empty()) << errorText(errors);
  EXPECT_EQ(spec->config.ca_file, (dir.path() / "ca.pem").string());
}

TEST(WebhookSinkConfigTest, HeaderValuesArePercentEncodedPerTheBinding) {
  EXPECT_EQ(percentEncodeHeaderValue("plain-ASCII_~!"), "plain-ASCII_~!");
  EXPECT_EQ(percentEncodeHeaderValue("a b\"c%d\r\n\x7f\xc3\xa9"), "a%20b%22c%25d%0D%0A%7F%C3%A9");
}

}  // namespace
}  // namespace sluice::sinks::webhook
