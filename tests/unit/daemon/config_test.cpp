#include "daemon/config.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "daemon/registry.hpp"
#include "tests/unit/support/temp_dir.hpp"

namespace sluice {
namespace {

std::string errorsOf(const LoadResult& r) {
  std::string out;
  for (auto& e : r.errors) out += e.str() + "\n";
  return out;
}

const char* kValid = R"(
state_dir: /tmp/sluice-state
log: {level: debug, format: json}
http: {listen: "127.0.0.1:0"}
delivery:
  max_attempts: 5
  backoff: {initial: 500ms, max: 1m, multiplier: 3, jitter: none}
dedup_horizon: 2d
sources:
  - name: inbox
    type: local
    path: /tmp
    events: [created, removed]
    ignore: ["*.part"]
sinks:
  - name: hook
    type: webhook
    url: http://127.0.0.1:9/hook
    max_attempts: 7
  - name: job
    type: supervisor
    command: [/bin/true]
routes:
  - from: inbox
    to: [hook, job]
    filter: {types: [created], suffix: [.tif], min_size: 1KiB}
)";

TEST(Config, ParsesAValidConfigWithDefaultsAndOverrides) {
  auto r = parseConfig(kValid, "test.yaml");
  ASSERT_TRUE(r.config) << errorsOf(r);
  auto& c = *r.config;
  EXPECT_EQ(c.state_dir, "/tmp/sluice-state");
  EXPECT_EQ(c.log.format, "json");
  EXPECT_EQ(c.delivery.max_attempts, 5);
  EXPECT_EQ(c.delivery.backoff.initial, Duration(500));
  EXPECT_FALSE(c.delivery.backoff.full_jitter);
  EXPECT_EQ(c.dedup_horizon, Duration(2 * 86'400'000LL));
  ASSERT_EQ(c.sinks.size(), 2u);
  EXPECT_EQ(c.sinks[0]->policy.max_attempts, 7);          // sink override
  EXPECT_EQ(c.sinks[1]->policy.max_attempts, 5);          // global default
  EXPECT_EQ(c.sinks[1]->policy.backoff.max, Duration(60'000));
  ASSERT_EQ(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].filter.min_size, 1024);
}

TEST(Config, ListsEveryErrorWithKeyPathAndLine) {
  auto r = parseConfig(R"(state_dir: ./s
colour: blue
delivery:
  timeout: 10 seconds
sources:
  - name: Inbox
    type: local
  - name: other
    type: ftp
sinks:
  - name: hook
    type: webhook
    url: http://x
    max_attempts: many
routes:
  - from: [Inbox]
    to: [nowhere]
)", "bad.yaml");
  ASSERT_FALSE(r.config);
  std::string all = errorsOf(r);
  EXPECT_NE(all.find("colour (line 2): unknown key"), std::string::npos) << all;
  EXPECT_NE(all.find("delivery.timeout (line 4): must be a duration"), std::string::npos) << all;
  EXPECT_NE(all.find("sources[0].name (line 6): must match [a-z0-9_-]+"), std::string::npos) << all;
  EXPECT_NE(all.find("sources[0].path (line 6): is required"), std::string::npos) << all;
  EXPECT_NE(all.find("sources[1].type (line 9): unknown source type \"ftp\""), std::string::npos) << all;
  EXPECT_NE(all.find("sinks[0].max_attempts (line 14): must be a whole number"), std::string::npos) << all;
  EXPECT_NE(all.find("routes[0].to (line 17): unknown sink \"nowhere\""), std::string::npos) << all;
  EXPECT_GE(r.errors.size(), 7u);
}

TEST(Config, SourceWithoutRouteAndDuplicateNamesAreErrors) {
  auto r = parseConfig(R"(
sources:
  - {name: a, type: local, path: /tmp}
  - {name: b, type: local, path: /tmp}
  - {name: a, type: local, path: /tmp}
sinks:
  - {name: s, type: supervisor, command: [/bin/true]}
routes:
  - {from: [a], to: [s]}
)", "x");
  std::string all = errorsOf(r);
  EXPECT_NE(all.find("duplicate name \"a\""), std::string::npos) << all;
  EXPECT_NE(all.find("source \"b\" is not named by any route"), std::string::npos) << all;
}

TEST(Config, ExpandsEnvironmentAndReadsSecretFilesWithoutLeakingThem) {
  test::TempDir dir;
  auto secret = dir.path() / "token";
  std::ofstream(secret) << "s3cr3t-token\n";
  setenv("SLUICE_TEST_HOOK_URL", "http://127.0.0.1:1/h", 1);
  auto r = parseConfig(R"(
sources: [{name: in, type: local, path: /tmp}]
sinks:
  - name: hook
    type: webhook
    url: ${SLUICE_TEST_HOOK_URL}
    auth: {bearer_file: )" + secret.string() + R"(}
routes: [{from: in, to: hook}]
)", "x");
  ASSERT_TRUE(r.config) << errorsOf(r);
  ASSERT_EQ(r.config->secrets.size(), 1u);
  EXPECT_EQ(r.config->secrets[0], "s3cr3t-token");  // trailing newline stripped
  auto missing = parseConfig(R"(
sources: [{name: in, type: local, path: "${SLUICE_TEST_UNSET_VARIABLE}"}]
sinks: [{name: s, type: supervisor, command: [/bin/true]}]
routes: [{from: in, to: s}]
)", "x");
  EXPECT_NE(errorsOf(missing).find("environment variable SLUICE_TEST_UNSET_VARIABLE is not set"),
            std::string::npos);
  auto unreadable = parseConfig(R"(
sources: [{name: in, type: local, path: /tmp}]
sinks: [{name: h, type: webhook, url: "http://x", auth: {bearer_file: /nonexistent/t}}]
routes: [{from: in, to: h}]
)", "x");
  EXPECT_NE(errorsOf(unreadable).find("sinks[0].auth.bearer_file"), std::string::npos)
      << errorsOf(unreadable);
}

TEST(Config, YamlSyntaxErrorsHaveALine) {
  auto r = parseConfig("sources:\n  - name: [unclosed\n", "x");
  ASSERT_FALSE(r.config);
  EXPECT_GT(r.errors.at(0).line, 0);
  EXPECT_NE(r.errors.at(0).message.find("YAML syntax"), std::string::npos);
}

TEST(Config, DurationsAndSizes) {
  EXPECT_EQ(parseDuration("500ms"), Duration(500));
  EXPECT_EQ(parseDuration("1h30m"), Duration(5'400'000));
  EXPECT_EQ(parseDuration("7d"), Duration(604'800'000));
  EXPECT_FALSE(parseDuration("10"));
  EXPECT_FALSE(parseDuration("10 s"));
  EXPECT_FALSE(parseDuration("-1s"));
  EXPECT_EQ(parseSize("64KiB"), 65536u);
  EXPECT_EQ(parseSize("10MB"), 10'000'000u);
  EXPECT_EQ(parseSize("512"), 512u);
  EXPECT_FALSE(parseSize("lots"));
}

// Registration cannot silently vanish: every expected type is registered and the shipped
// configs parse.
TEST(Registry, ExpectedPluginTypesAreRegistered) {
  EXPECT_EQ(connectorTypes(), (std::vector<std::string>{"local"}));
  EXPECT_EQ(sinkTypes(), (std::vector<std::string>{"supervisor", "webhook"}));
}

TEST(Registry, ShippedConfigsAreValid) {
  setenv("PWD", "/tmp", 0);
  // The demo names its job relative to the repository root, where `make run` starts sluice.
  ASSERT_EQ(chdir(SLUICE_SOURCE_DIR), 0);
  for (auto file : {"config/demo.yaml", "config/example.yaml"}) {
    auto r = loadConfig(std::string(SLUICE_SOURCE_DIR) + "/" + file);
    EXPECT_TRUE(r.config) << file << "\n" << errorsOf(r);
  }
}

}  // namespace
}  // namespace sluice
