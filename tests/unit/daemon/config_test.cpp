#include "daemon/config.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "connectors/local/local_config.hpp"
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
  EXPECT_EQ(c.sinks[0]->policy.max_attempts, 7);  // sink override
  EXPECT_EQ(c.sinks[1]->policy.max_attempts, 5);  // global default
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
)",
                       "bad.yaml");
  ASSERT_FALSE(r.config);
  std::string all = errorsOf(r);
  EXPECT_NE(all.find("colour (line 2): unknown key"), std::string::npos) << all;
  EXPECT_NE(all.find("delivery.timeout (line 4): must be a duration"), std::string::npos) << all;
  EXPECT_NE(all.find("sources[0].name (line 6): must match [a-z0-9_-]+"), std::string::npos) << all;
  EXPECT_NE(all.find("sources[0].path (line 6): is required"), std::string::npos) << all;
  EXPECT_NE(all.find("sources[1].type (line 9): unknown source type \"ftp\""), std::string::npos)
      << all;
  EXPECT_NE(all.find("sinks[0].max_attempts (line 14): must be a whole number"), std::string::npos)
      << all;
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
)",
                       "x");
  std::string all = errorsOf(r);
  EXPECT_NE(all.find("duplicate name \"a\""), std::string::npos) << all;
  // At the entry itself, like every other error, not at the line of `sources:`.
  EXPECT_NE(all.find("sources[1] (line 4): source \"b\" is not named by any route"),
            std::string::npos)
      << all;
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
    auth: {bearer_file: )" +
                           secret.string() + R"(}
routes: [{from: in, to: hook}]
)",
                       "x");
  ASSERT_TRUE(r.config) << errorsOf(r);
  ASSERT_EQ(r.config->secrets.size(), 1u);
  EXPECT_EQ(r.config->secrets[0], "s3cr3t-token");  // trailing newline stripped
  auto missing = parseConfig(R"(
sources: [{name: in, type: local, path: "${SLUICE_TEST_UNSET_VARIABLE}"}]
sinks: [{name: s, type: supervisor, command: [/bin/true]}]
routes: [{from: in, to: s}]
)",
                             "x");
  EXPECT_NE(errorsOf(missing).find("environment variable SLUICE_TEST_UNSET_VARIABLE is not set"),
            std::string::npos);
  auto unreadable = parseConfig(R"(
sources: [{name: in, type: local, path: /tmp}]
sinks: [{name: h, type: webhook, url: "http://x", auth: {bearer_file: /nonexistent/t}}]
routes: [{from: in, to: h}]
)",
                                "x");
  EXPECT_NE(errorsOf(unreadable).find("sinks[0].auth.bearer_file"), std::string::npos)
      << errorsOf(unreadable);
}

std::string writeFile(const std::filesystem::path& p, const std::string& text,
                      std::filesystem::perms perms = std::filesystem::perms::owner_read |
                                                     std::filesystem::perms::owner_write) {
  std::ofstream(p) << text;
  std::filesystem::permissions(p, perms);
  return p.string();
}

// Restores the working directory at scope exit: other tests resolve against it.
class InDirectory {
 public:
  explicit InDirectory(const std::filesystem::path& dir)
      : before_(std::filesystem::current_path()) {
    std::filesystem::current_path(dir);
  }
  ~InDirectory() { std::filesystem::current_path(before_); }
  InDirectory(const InDirectory&) = delete;
  InDirectory& operator=(const InDirectory&) = delete;

 private:
  std::filesystem::path before_;
};

TEST(Config, SecretFileThatIsADirectoryIsAnErrorNamingTheKey) {
  test::TempDir dir;
  auto r = parseConfig(R"(
http: {ingress_token_file: )" +
                           dir.path().string() + R"(}
sources: [{name: in, type: local, path: /tmp}]
sinks: [{name: h, type: webhook, url: "http://x", auth: {bearer_file: /}}]
routes: [{from: in, to: h}]
)",
                       "x");
  ASSERT_FALSE(r.config);
  std::string all = errorsOf(r);
  EXPECT_NE(all.find("http.ingress_token_file (line 2): cannot read secret file " +
                     dir.path().string() + ": is a directory"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("sinks[0].auth.bearer_file (line 4): cannot read secret file /: is a "
                     "directory"),
            std::string::npos)
      << all;
}

TEST(Config, ConfigFileThatIsADirectoryIsAnError) {
  test::TempDir dir;
  auto r = loadConfig(dir.path().string());
  ASSERT_FALSE(r.config);
  EXPECT_NE(errorsOf(r).find("cannot read config file " + dir.path().string() + ": is a directory"),
            std::string::npos)
      << errorsOf(r);
}

TEST(Config, SecretFileReadableByOthersIsAWarningNamingIt) {
  test::TempDir dir;
  using std::filesystem::perms;
  auto open = writeFile(dir.path() / "open.token", "t1\n",
                        perms::owner_read | perms::group_read | perms::others_read);
  auto closed =
      writeFile(dir.path() / "closed.token", "t2\n", perms::owner_read | perms::group_read);
  auto r = parseConfig(R"(
sources: [{name: in, type: local, path: /tmp}]
sinks:
  - {name: a, type: webhook, url: "http://x", auth: {bearer_file: )" +
                           open + R"(}}
  - {name: b, type: webhook, url: "http://x", auth: {bearer_file: )" +
                           closed + R"(}}
routes: [{from: in, to: [a, b]}]
)",
                       "x");
  ASSERT_TRUE(r.config) << errorsOf(r);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0].str(), "sinks[0].auth.bearer_file (line 4): secret file " + open +
                                     " is readable by other users (mode 0444); restrict it "
                                     "with chmod o-rwx");
  // Warnings come back with errors too, so `sluice check` can show both.
  auto bad = parseConfig("bogus: 1\nhttp: {ingress_token_file: " + open + "}\n", "x");
  EXPECT_FALSE(bad.config);
  EXPECT_EQ(bad.warnings.size(), 1u);
}

// A route may send a sink event types its payload format has no form for: valid, but each such
// delivery would be a dead letter, so the config says so (naming the sink and the types).
TEST(Config, RouteSendingTypesTheSinksFormatCannotCarryIsAWarning) {
  auto r = parseConfig(R"(
sources: [{name: in, type: local, path: /tmp}]
sinks:
  - {name: ot, type: webhook, url: "http://x", format: onetrigger}
  - {name: s3, type: webhook, url: "http://x", format: s3}
  - {name: ce, type: webhook, url: "http://x"}
routes:
  - {from: in, to: [ot, s3, ce]}
  - {from: in, to: [ot, s3, ce], filter: {types: [created, moved]}}
  - {from: in, to: [s3], filter: {types: [removed]}}
)",
                       "x");
  ASSERT_TRUE(r.config) << errorsOf(r);
  ASSERT_EQ(r.warnings.size(), 2u);
  EXPECT_EQ(r.warnings[0].str(),
            "routes[0].to (line 8): sink \"ot\" has no payload form for removed, attributes, gap "
            "events, which this route sends: they would be dead-lettered (narrow filter.types, or "
            "route them to another sink)");
  EXPECT_NE(r.warnings[1].str().find("sink \"s3\" has no payload form for attributes, gap events"),
            std::string::npos)
      << r.warnings[1].str();
}

// A supervisor sink's job results come from a built-in source of its name: routes may chain a
// second stage on them, but never loop a stage onto its own results.
TEST(Config, RoutesMayStartAtASupervisorsJobResultsButNeverLoop) {
  const std::string head = R"(
sources: [{name: in, type: local, path: /tmp}]
sinks:
  - {name: stage1, type: supervisor, command: [/bin/true]}
  - {name: stage2, type: supervisor, command: [/bin/true]}
  - {name: hook, type: webhook, url: "http://x"}
routes:
  - {from: in, to: [stage1]}
)";
  auto ok = parseConfig(head + R"(  - {from: stage1, to: [stage2], filter: {types: [job.succeeded]}}
  - {from: [stage1, stage2], to: [hook]}
)", "x");
  ASSERT_TRUE(ok.config) << errorsOf(ok);
  EXPECT_TRUE(ok.warnings.empty());
  EXPECT_EQ(ok.config->routes[1].filter.types, std::vector<EventType>{EventType::JobSucceeded});

  auto direct = parseConfig(head + "  - {from: stage1, to: [stage1]}\n", "x");
  EXPECT_FALSE(direct.config);
  EXPECT_NE(errorsOf(direct).find("routes loop sink \"stage1\" onto its own job results "
                                  "(stage1 → stage1)"),
            std::string::npos)
      << errorsOf(direct);
  auto indirect = parseConfig(
      head + "  - {from: stage1, to: [stage2]}\n  - {from: stage2, to: [hook, stage1]}\n", "x");
  EXPECT_FALSE(indirect.config);
  EXPECT_NE(errorsOf(indirect).find("(stage1 → stage2 → stage1)"), std::string::npos)
      << errorsOf(indirect);
  // A webhook emits nothing: its name is no source.
  auto hook = parseConfig(head + "  - {from: hook, to: [stage2]}\n", "x");
  EXPECT_NE(errorsOf(hook).find("unknown source \"hook\""), std::string::npos) << errorsOf(hook);
  auto clash = parseConfig(R"(
sources: [{name: jobs, type: local, path: /tmp}]
sinks: [{name: jobs, type: supervisor, command: [/bin/true]}]
routes: [{from: jobs, to: [jobs]}]
)", "x");
  EXPECT_NE(errorsOf(clash).find("is also a source"), std::string::npos) << errorsOf(clash);
}

TEST(Config, RelativePathsResolveAgainstTheConfigFilesDirectory) {
  test::TempDir conf_dir, elsewhere;
  std::filesystem::create_directory(conf_dir.path() / "secrets");
  writeFile(conf_dir.path() / "secrets" / "token", "from-the-config-dir\n");
  writeFile(conf_dir.path() / "ca.pem", "-----BEGIN CERTIFICATE-----\n");
  auto file = writeFile(conf_dir.path() / "sluice.yaml", R"(
state_dir: ./state
sources: [{name: in, type: local, path: /tmp}]
sinks:
  - name: h
    type: webhook
    url: https://x/
    ca_file: ca.pem
    auth: {bearer_file: secrets/token}
routes: [{from: in, to: h}]
)");
  InDirectory cwd(elsewhere.path());
  auto r = loadConfig(file);
  ASSERT_TRUE(r.config) << errorsOf(r);
  EXPECT_EQ(r.config->state_dir, conf_dir.path() / "state");
  EXPECT_EQ(r.config->secrets, std::vector<std::string>{"from-the-config-dir"});
  // A relative config path names the same directory.
  InDirectory parent(conf_dir.path().parent_path());
  auto rel = loadConfig((conf_dir.path().filename() / "sluice.yaml").string());
  ASSERT_TRUE(rel.config) << errorsOf(rel);
  EXPECT_EQ(rel.config->state_dir, conf_dir.path() / "state");
}

// What plugins call for their own path keys (a local source's path, a supervisor's program).
TEST(Config, MapReaderPathsResolveAgainstTheBaseDirectory) {
  ConfigErrors errors("/etc/sluice");
  MapReader m(YAML::Load("rel: ./x/y\nup: ../z\nabs: /abs\nempty: ''\n"), "", errors);
  EXPECT_EQ(m.baseDir(), "/etc/sluice");
  EXPECT_EQ(m.pathValue("rel"), std::filesystem::path("/etc/sluice/x/y"));
  EXPECT_EQ(m.pathValue("up"), std::filesystem::path("/etc/sluice/../z"));
  EXPECT_EQ(m.pathValue("abs"), std::filesystem::path("/abs"));
  EXPECT_EQ(m.pathValue("empty"), std::filesystem::path());
  EXPECT_EQ(m.pathValue("absent"), std::nullopt);
  EXPECT_EQ(m.pathValue("absent", "d"), "/etc/sluice/d");
  EXPECT_EQ(m.requiredPath("rel"), "/etc/sluice/x/y");
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(m.requiredPath("missing"), std::filesystem::path());
  ASSERT_EQ(errors.list().size(), 1u);
  EXPECT_EQ(errors.list()[0].str(), "missing (line 1): is required");
}

// The default is in no file: it stays where sluice starts (systemd's WorkingDirectory).
TEST(Config, DefaultStateDirIsInTheStartDirectory) {
  test::TempDir conf_dir, start;
  auto file = writeFile(conf_dir.path() / "sluice.yaml", "log: {level: info}\n");
  InDirectory cwd(start.path());
  auto r = loadConfig(file);
  ASSERT_TRUE(r.config) << errorsOf(r);
  EXPECT_EQ(r.config->state_dir, start.path() / "state");
}

TEST(Config, TextThatIsNoFileResolvesAgainstTheCurrentDirectory) {
  test::TempDir dir;
  InDirectory cwd(dir.path());
  auto r = parseConfig("state_dir: st\n", "inline");
  ASSERT_TRUE(r.config) << errorsOf(r);
  EXPECT_EQ(r.config->state_dir, std::filesystem::current_path() / "st");
  auto defaults = parseConfig("{}", "inline");
  ASSERT_TRUE(defaults.config) << errorsOf(defaults);
  EXPECT_EQ(defaults.config->state_dir, std::filesystem::current_path() / "state");
  auto base = parseConfig("state_dir: ../st\n", "inline", "/etc/sluice");
  ASSERT_TRUE(base.config) << errorsOf(base);
  EXPECT_EQ(base.config->state_dir, "/etc/sluice/../st");
  EXPECT_FALSE(parseConfig("state_dir: ''\n", "inline").config);
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
  // Found by fuzz_duration_size: a wrapped size read as 0, an overflowing sum of parts.
  EXPECT_FALSE(parseSize("1125899906842624GiB"));
  std::string many;
  for (int i = 0; i < 107; ++i) many += "1000000000d";
  EXPECT_FALSE(parseDuration(many));
}

// Registration cannot silently vanish: every expected type is registered and the shipped
// configs parse.
TEST(Registry, ExpectedPluginTypesAreRegistered) {
  EXPECT_EQ(connectorTypes(),
            (std::vector<std::string>{"dcache", "local", "minio", "onedata", "s3"}));
  EXPECT_EQ(sinkTypes(),
            (std::vector<std::string>{"lambda", "oscar", "supervisor", "webhook"}));
}

// Loaded from another directory: the shipped configs name their files relative to themselves.
TEST(Registry, ShippedConfigsAreValid) {
  test::TempDir elsewhere;
  InDirectory cwd(elsewhere.path());
  for (auto file : {"config/demo.yaml", "config/example.yaml"}) {
    auto r = loadConfig(std::string(SLUICE_SOURCE_DIR) + "/" + file);
    EXPECT_TRUE(r.config) << file << "\n" << errorsOf(r);
    EXPECT_TRUE(r.warnings.empty()) << file;
  }
}

// A local source that watches its own state dir sees every queue write as an event.
TEST(Registry, ShippedConfigsDoNotWatchTheirOwnStateDir) {
  for (auto file : {"config/demo.yaml", "config/example.yaml"}) {
    std::filesystem::path path = std::string(SLUICE_SOURCE_DIR) + "/" + file;
    auto r = loadConfig(path.string());
    ASSERT_TRUE(r.config) << file << "\n" << errorsOf(r);
    auto state = r.config->state_dir.lexically_normal();
    for (auto& spec : r.config->sources) {
      auto* local = dynamic_cast<const connectors::local::LocalSpec*>(spec.get());
      if (!local) continue;  // buckets are not on this machine's disk
      auto watched = (path.parent_path() / local->path).lexically_normal();  // absolute stays
      auto rel = state.lexically_relative(watched);
      EXPECT_TRUE(rel.empty() || *rel.begin() == "..")
          << file << ": state_dir " << state << " is inside the watched " << watched;
    }
  }
}

// The job `make run` starts (demo/checksum-report.sh), run as the supervisor would.
int runDemoJob(const std::filesystem::path& script, const std::filesystem::path& input,
               const std::string& outbox_env) {
  std::string cmd = "env -i PATH=/usr/bin:/bin INPUT_FILE_PATH='" + input.string() +
                    "' SLUICE_EVENT_ID=e1 EVENT_TIME=2024-01-01T00:00:00Z " + outbox_env + " '" +
                    script.string() + "' >/dev/null 2>&1";
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST(Demo, JobReportsSizeAndChecksumNextToItself) {
  test::TempDir dir;
  auto script = dir.path() / "checksum-report.sh";
  std::filesystem::copy_file(std::string(SLUICE_SOURCE_DIR) + "/demo/checksum-report.sh", script);
  writeFile(dir.path() / "hello.txt", "hello\n");
  ASSERT_EQ(runDemoJob(script, dir.path() / "hello.txt", ""), 0);
  std::ifstream in(dir.path() / "outbox" / "hello.txt.report");
  std::string report((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(report.find("size: 6\n"), std::string::npos) << report;
  const std::string sha256 = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
  EXPECT_NE(report.find("sha256: " + sha256 + "\n"), std::string::npos) << report;
}

TEST(Demo, JobFailsPermanentlyAndWritesNoReportWhenItsFileIsGone) {
  test::TempDir dir;
  auto outbox = dir.path() / "out";
  EXPECT_EQ(runDemoJob(std::string(SLUICE_SOURCE_DIR) + "/demo/checksum-report.sh",
                       dir.path() / "gone.txt", "OUTBOX='" + outbox.string() + "'"),
            3);  // config/demo.yaml lists 3 in permanent_exit_codes
  EXPECT_FALSE(std::filesystem::exists(outbox / "gone.txt.report"));
}

}  // namespace
}  // namespace sluice
