#include "daemon/aws_credentials.hpp"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <map>

#include "daemon/event.hpp"
#include "daemon/http_client.hpp"
#include "tests/unit/support/loop.hpp"
#include "tests/unit/support/temp_dir.hpp"
#include "tests/unit/support/test_http_server.hpp"

namespace sluice {
namespace {

// An environment the test writes, instead of the process's.
struct FakeEnv {
  std::map<std::string, std::string> vars;
  EnvLookup lookup() const {
    return [this](const std::string& n) -> std::optional<std::string> {
      auto it = vars.find(n);
      if (it == vars.end()) return std::nullopt;
      return it->second;
    };
  }
};

AwsCredentialsConfig parse(const std::string& yaml, std::string* errors = nullptr) {
  ConfigErrors e;
  MapReader m(YAML::Load(yaml), "sources[0]", e);
  auto c = parseAwsCredentials(m);
  m.finish();
  if (errors)
    for (auto& x : e.list()) *errors += x.str() + "\n";
  else
    EXPECT_TRUE(e.empty());
  return c;
}

TEST(AwsCredentials, IniFilesAsTheCliWritesThem) {
  auto ini = parseAwsIni(
      "# comment\n[default]\naws_access_key_id = AK1\naws_secret_access_key=SK1 \n\n"
      "; other\n[profile ci]\r\naws_access_key_id = AK2\nregion = eu-west-1\nnot a line\n");
  EXPECT_EQ(ini["default"]["aws_access_key_id"], "AK1");
  EXPECT_EQ(ini["default"]["aws_secret_access_key"], "SK1");
  EXPECT_EQ(ini["profile ci"]["aws_access_key_id"], "AK2");
  EXPECT_EQ(ini["profile ci"]["region"], "eu-west-1");
}

TEST(AwsCredentials, ConfigKeysComeFirstAndAreChecked) {
  FakeEnv env;
  env.vars = {{"AWS_ACCESS_KEY_ID", "ENV"}, {"AWS_SECRET_ACCESS_KEY", "ENVS"}};
  auto s = resolveAwsCredentials(parse("{access_key: AK, secret_key: SK, session_token: T}"),
                                 env.lookup());
  ASSERT_TRUE(s.fixed);
  EXPECT_EQ(s.fixed->access_key, "AK");
  EXPECT_EQ(s.fixed->session_token, "T");
  std::string errors;
  parse("{access_key: AK}", &errors);
  EXPECT_NE(errors.find("needs secret_key or secret_key_file"), std::string::npos) << errors;
  errors.clear();
  parse("{secret_key: SK}", &errors);
  EXPECT_NE(errors.find("needs access_key"), std::string::npos) << errors;
  errors.clear();
  parse("{profile: p, access_key: AK, secret_key: SK}", &errors);
  EXPECT_NE(errors.find("not both"), std::string::npos) << errors;
}

TEST(AwsCredentials, EnvironmentThenSharedFilesThenContainer) {
  test::TempDir home;
  std::filesystem::create_directories(home.path() / ".aws");
  FakeEnv env;
  env.vars = {{"HOME", home.path().string()},
              {"AWS_ACCESS_KEY_ID", "ENV"},
              {"AWS_SECRET_ACCESS_KEY", "ENVS"},
              {"AWS_SESSION_TOKEN", "ENVT"}};
  auto s = resolveAwsCredentials({}, env.lookup());
  ASSERT_TRUE(s.fixed);
  EXPECT_EQ(s.fixed->access_key, "ENV");
  EXPECT_EQ(s.fixed->session_token, "ENVT");

  env.vars.erase("AWS_ACCESS_KEY_ID");
  std::ofstream(home.path() / ".aws/credentials")
      << "[default]\naws_access_key_id=FILE\naws_secret_access_key=FILES\n";
  std::ofstream(home.path() / ".aws/config")
      << "[profile ci]\naws_access_key_id=CFG\naws_secret_access_key=CFGS\n"
         "[profile role]\nrole_arn=arn:aws:iam::1:role/x\nsource_profile=default\n";
  s = resolveAwsCredentials({}, env.lookup());
  ASSERT_TRUE(s.fixed) << s.error;
  EXPECT_EQ(s.fixed->access_key, "FILE");
  EXPECT_NE(s.description.find("profile default in "), std::string::npos);

  env.vars["AWS_PROFILE"] = "ci";  // only in the config file, as [profile ci]
  s = resolveAwsCredentials({}, env.lookup());
  ASSERT_TRUE(s.fixed) << s.error;
  EXPECT_EQ(s.fixed->access_key, "CFG");

  AwsCredentialsConfig named;
  named.profile = "role";
  s = resolveAwsCredentials(named, env.lookup());
  EXPECT_FALSE(s.fixed);
  EXPECT_NE(s.error.find("uses role_arn"), std::string::npos) << s.error;
  named.profile = "nope";
  s = resolveAwsCredentials(named, env.lookup());
  EXPECT_NE(s.error.find("AWS profile \"nope\" is in neither"), std::string::npos) << s.error;

  env.vars = {{"HOME", home.path().string()},
              {"AWS_PROFILE", "absent"},
              {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/abc"},
              {"AWS_CONTAINER_AUTHORIZATION_TOKEN", "tok"}};
  s = resolveAwsCredentials({}, env.lookup());
  EXPECT_EQ(s.endpoint, "http://169.254.170.2/v2/credentials/abc");
  EXPECT_EQ(s.endpoint_token, "tok");
  EXPECT_EQ(s.error, "");
  env.vars.erase("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
  env.vars["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://creds.example.org/x";
  EXPECT_NE(resolveAwsCredentials({}, env.lookup()).error.find("use https"), std::string::npos);
  env.vars.erase("AWS_CONTAINER_CREDENTIALS_FULL_URI");
  s = resolveAwsCredentials({}, env.lookup());
  EXPECT_NE(s.error.find("no AWS credentials"), std::string::npos) << s.error;
}

// The container endpoint: fetched once, reused, refreshed ahead of expiry, and a failed
// refresh keeps the old keys until they really expire.
TEST(AwsCredentials, ContainerCredentialsAreCachedAndRefreshedBeforeExpiry) {
  boost::asio::io_context io;
  HttpClient http(io);
  ManualClock clock(1'700'000'000'000);  // 2023-11-14T22:13:20Z
  test::TestHttpServer server;
  int serial = 0;
  bool failing = false;
  server.setHandler([&](const test::RecordedRequest& r) -> std::optional<test::CannedResponse> {
    EXPECT_EQ(r.header("authorization") ? *r.header("authorization") : "", "tok-1");
    if (failing) return test::CannedResponse{500, {}, "down"};
    ++serial;
    return test::CannedResponse{
        200,
        {{"Content-Type", "application/json"}},
        "{\"AccessKeyId\":\"AK" + std::to_string(serial) +
            "\",\"SecretAccessKey\":\"SK\",\"Token\":\"T\",\"Expiration\":\"" +
            formatTime(clock.nowMs() + 3'600'000) + "\"}"};
  });
  test::TempDir dir;
  std::ofstream(dir.path() / "token") << "tok-1\n";
  AwsCredentialSource src;
  src.endpoint = server.url("/creds");
  src.endpoint_token_file = (dir.path() / "token").string();
  AwsCredentialsProvider p(io, &http, src, clock);
  auto get = [&] {
    std::optional<std::pair<std::string, std::string>> got;
    p.get([&](const AwsCredentials* c, const std::string& e) {
      got = std::make_pair(c ? c->access_key : "", e);
    });
    EXPECT_TRUE(test::runUntil(io, [&] { return got.has_value(); }));
    return got.value_or(std::make_pair(std::string(), std::string("no answer")));
  };
  EXPECT_EQ(get().first, "AK1");
  EXPECT_EQ(get().first, "AK1");
  EXPECT_EQ(server.requestCount(), 1u);
  clock.advance(49 * 60'000);  // 11 minutes left: not yet
  EXPECT_EQ(get().first, "AK1");
  clock.advance(2 * 60'000);  // 9 minutes left: refreshed
  EXPECT_EQ(get().first, "AK2");
  EXPECT_EQ(server.requestCount(), 2u);
  clock.advance(51 * 60'000);
  failing = true;
  EXPECT_EQ(get().first, "AK2");  // refresh failed; the old keys still hold for 9 minutes
  clock.advance(10 * 60'000);
  auto expired = get();
  EXPECT_EQ(expired.first, "");
  EXPECT_NE(expired.second.find("cannot fetch AWS credentials from http://127.0.0.1:"),
            std::string::npos)
      << expired.second;
  EXPECT_NE(expired.second.find("answered 500"), std::string::npos) << expired.second;
  failing = false;
  clock.advance(6'000);  // past the retry pause
  EXPECT_EQ(get().first, "AK3");
}

TEST(AwsCredentials, FixedKeysNeedNoFetch) {
  boost::asio::io_context io;
  ManualClock clock;
  AwsCredentialSource src;
  src.fixed = AwsCredentials{"AK", "SK", ""};
  AwsCredentialsProvider p(io, nullptr, src, clock);
  std::string got;
  p.get([&](const AwsCredentials* c, const std::string&) { got = c ? c->access_key : "none"; });
  EXPECT_EQ(got, "");  // never inline
  ASSERT_TRUE(test::runUntil(io, [&] { return !got.empty(); }));
  EXPECT_EQ(got, "AK");
  AwsCredentialSource broken;
  broken.error = "no AWS credentials: ...";
  AwsCredentialsProvider q(io, nullptr, broken, clock);
  std::string error;
  q.get([&](const AwsCredentials* c, const std::string& e) { error = c ? "creds?" : e; });
  ASSERT_TRUE(test::runUntil(io, [&] { return !error.empty(); }));
  EXPECT_EQ(error, "no AWS credentials: ...");
}

}  // namespace
}  // namespace sluice
