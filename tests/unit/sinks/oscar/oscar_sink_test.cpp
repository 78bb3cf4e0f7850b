#include "sinks/oscar/oscar_sink.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "daemon/health.hpp"
#include "daemon/metrics.hpp"
#include "sinks/oscar/oscar_job.hpp"
#include "tests/unit/support/http_sink_test.hpp"
#include "tests/unit/support/loop.hpp"
#include "tests/unit/support/sink_spec.hpp"
#include "tests/unit/support/temp_dir.hpp"
#include "tests/unit/support/test_http_server.hpp"

namespace sluice::sinks::oscar {
namespace {

using test::CannedResponse;
using test::RecordedRequest;
using test::runUntil;
using test::TestHttpServer;

const std::string kToken(64, 'a');
const std::string kToken2(64, 'b');

std::unique_ptr<OscarSpec> parse(const std::string& yaml, ConfigErrors& errors) {
  return test::parseSinkSpec<OscarSpec>(yaml, errors);
}
using test::errorText;

Event sampleEvent(const std::string& id = "0123456789abcdef0123456789abcdef") {
  Event ev;
  ev.id = id;
  ev.source = "file://host/data/in";
  ev.time_ms = 1'700'000'000'118;
  ev.storage = "local";
  ev.connector = "inbox";
  ev.path = "/data/in/a b.tif";
  ev.size = 5;
  return ev;
}

// A small OSCAR: service tokens on /job and /run, basic auth on /system, jobs by name.
struct MiniOscar {
  std::mutex mu;
  std::string token = kToken;
  std::map<std::string, std::string> jobs;  // name → status
  std::string fail_jobs;                    // status every new job ends in ("" = Succeeded)
  int polls = 0;

  std::optional<CannedResponse> handle(const RecordedRequest& r) {
    std::lock_guard lock(mu);
    const std::string* auth = r.header("authorization");
    if (r.target.rfind("/system/", 0) == 0) {
      if (!auth || *auth != "Basic b3NjYXI6cHc=") return CannedResponse{401, {}, "Unauthorized"};
      if (r.target == "/system/services/grayify")
        return CannedResponse{
            200, {}, nlohmann::json{{"name", "grayify"}, {"token", token}}.dump()};
      if (r.target.rfind("/system/logs/grayify", 0) == 0) {
        ++polls;
        nlohmann::json list = {{"jobs", nlohmann::json::object()}, {"next_page", ""}};
        for (auto& [name, status] : jobs) {
          list["jobs"][name] = {{"status", status}};
          if (status == "Pending")
            status = "Running";
          else if (status == "Running")
            status = fail_jobs.empty() ? "Succeeded" : fail_jobs;
        }
        return CannedResponse{200, {}, list.dump()};
      }
      return CannedResponse{404, {}, "Not Found"};
    }
    if (!auth || *auth != "Bearer " + token) return CannedResponse{401, {}, "Unauthorized"};
    if (r.target == "/run/grayify") return CannedResponse{200, {}, "ran:" + r.body.substr(0, 10)};
    if (r.target != "/job/grayify") return CannedResponse{404, {}, "service not found"};
    std::string name = "grayify-random";
    if (const std::string* id = r.header("x-delegated-job-id")) name = *id;
    if (jobs.count(name))
      return CannedResponse{500, {}, "jobs.batch \"" + name + "\" already exists"};
    jobs[name] = "Pending";
    return CannedResponse{201, {}, ""};
  }
};

class OscarSinkTest : public test::HttpSinkTest {
 protected:
  OscarSinkTest() : HttpSinkTest("gray") {}

  void SetUp() override {
    server.setHandler([this](const RecordedRequest& r) { return oscar.handle(r); });
    writeToken(kToken);
  }

  void writeToken(const std::string& t) { std::ofstream(dir.path() / "token") << t << "\n"; }

  std::unique_ptr<Sink> makeSink(const std::string& extra) {
    ConfigErrors errors;
    auto spec = parse(
        "name: gray\ntype: oscar\nendpoint: " + server.url("") + "\nservice: grayify\n" + extra,
        errors);
    EXPECT_TRUE(errors.empty()) << errorText(errors);
    return spec ? spec->create(ctx) : nullptr;
  }
  std::string tokenFile() { return "token_file: " + (dir.path() / "token").string() + "\n"; }

  std::vector<RecordedRequest> posts() {
    std::vector<RecordedRequest> out;
    for (auto& r : server.requests())
      if (r.method == "POST") out.push_back(r);
    return out;
  }

  MiniOscar oscar;
};

TEST_F(OscarSinkTest, AsyncPostsTheS3EnvelopeWithBearerAndJobId) {
  auto sink = makeSink(tokenFile());
  auto ev = sampleEvent();
  EXPECT_TRUE(std::holds_alternative<Done>(deliver(*sink, ev)));
  auto reqs = posts();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target, "/job/grayify");
  EXPECT_EQ(*reqs[0].header("authorization"), "Bearer " + kToken);
  EXPECT_EQ(*reqs[0].header("x-delegated-job-id"), jobName("grayify", "gray", ev.id, 1));
  auto body = nlohmann::json::parse(reqs[0].body);
  EXPECT_EQ(body["Records"][0]["eventSource"], "minio:s3");
  EXPECT_EQ(body["Key"], "inbox/data/in/a b.tif");
  EXPECT_EQ(reqs[0].body.find(' '), std::string::npos);  // safe for `echo $EVENT`
}

TEST_F(OscarSinkTest, ARedeliveryMeetsItsOwnJobAndCountsAsSubmitted) {
  auto sink = makeSink(tokenFile());
  auto ev = sampleEvent();
  EXPECT_TRUE(std::holds_alternative<Done>(deliver(*sink, ev)));
  EXPECT_TRUE(std::holds_alternative<Done>(deliver(*sink, ev)));
  EXPECT_EQ(posts().size(), 2u);
  EXPECT_EQ(oscar.jobs.size(), 1u);  // one job, not two
}

TEST_F(OscarSinkTest, SyncKeepsTheAnswerAsOutput) {
  auto sink = makeSink(tokenFile() + "mode: sync\nformat: onetrigger\n");
  auto r = deliver(*sink, sampleEvent());
  ASSERT_TRUE(std::holds_alternative<Done>(r)) << describe(r);
  EXPECT_EQ(std::get<Done>(r).output, std::optional<std::string>("ran:{\"Key\":\"/d"));
  EXPECT_EQ(posts()[0].target, "/run/grayify");
  EXPECT_EQ(posts()[0].header("x-delegated-job-id"), nullptr);
}

TEST_F(OscarSinkTest, ARotatedTokenFileIsUsedFromTheNextCall) {
  auto sink = makeSink(tokenFile());
  EXPECT_TRUE(std::holds_alternative<Done>(deliver(*sink, sampleEvent("e1"))));
  oscar.token = kToken2;  // the service token changed ...
  writeToken(kToken2);    // ... and so did the file, a little later
  EXPECT_TRUE(std::holds_alternative<Done>(deliver(*sink, sampleEvent("e2"))));
  auto reqs = posts();
  ASSERT_EQ(reqs.size(), 2u);  // the file is checked before each call: no 401 at all
  EXPECT_EQ(*reqs[1].header("authorization"), "Bearer " + kToken2);
}

TEST_F(OscarSinkTest, ATokenRejectedTwiceIsDead) {
  oscar.token = kToken2;  // the file's token is wrong
  auto sink = makeSink(tokenFile());
  auto r = deliver(*sink, sampleEvent());
  ASSERT_TRUE(std::holds_alternative<Dead>(r)) << describe(r);
  EXPECT_NE(std::get<Dead>(r).reason.find("token rejected (401)"), std::string::npos);
  EXPECT_EQ(std::get<Dead>(r).reason.find(kToken), std::string::npos);  // never the secret
  EXPECT_EQ(posts().size(), 1u);  // the same token is not sent twice
}

TEST_F(OscarSinkTest, UsernameLooksUpTheServiceTokenAndAgainAfterA401) {
  std::ofstream(dir.path() / "pw") << "pw\n";
  auto sink = makeSink("username: oscar\npassword_file: " + (dir.path() / "pw").string() + "\n");
  EXPECT_TRUE(std::holds_alternative<Done>(deliver(*sink, sampleEvent("e1"))));
  oscar.token = kToken2;  // the service was updated with a new token
  EXPECT_TRUE(std::holds_alternative<Done>(deliver(*sink, sampleEvent("e2"))));
  int lookups = 0;
  for (auto& r : server.requests()) lookups += r.target == "/system/services/grayify";
  EXPECT_EQ(lookups, 2);
  EXPECT_EQ(*posts().back().header("authorization"), "Bearer " + kToken2);
}

TEST_F(OscarSinkTest, ClassifiesOscarsAnswers) {
  auto sink = makeSink(tokenFile());
  server.respondWith({404, {}, "service not found"});
  auto r = deliver(*sink, sampleEvent());
  ASSERT_TRUE(std::holds_alternative<Dead>(r));
  EXPECT_EQ(std::get<Dead>(r).reason, "OSCAR /job answered 404: service not found");
  server.respondWith({403, {}, "MinIO user not provisioned"});
  EXPECT_TRUE(std::holds_alternative<Dead>(deliver(*sink, sampleEvent())));
  server.respondWith({400, {}, "ambiguous"});
  EXPECT_TRUE(std::holds_alternative<Dead>(deliver(*sink, sampleEvent())));
  server.respondWith({503, {}, "busy"});
  EXPECT_TRUE(std::holds_alternative<Retry>(deliver(*sink, sampleEvent())));
  server.respondWith({500, {}, "secret error"});
  EXPECT_TRUE(std::holds_alternative<Retry>(deliver(*sink, sampleEvent())));
}

TEST_F(OscarSinkTest, CompletionWaitsForSucceeded) {
  std::ofstream(dir.path() / "pw") << "pw\n";
  auto sink = makeSink("username: oscar\npassword_file: " + (dir.path() / "pw").string() +
                       "\nconfirm: completion\npoll_interval: 100ms\n");
  auto r = deliver(*sink, sampleEvent());
  ASSERT_TRUE(std::holds_alternative<Done>(r)) << describe(r);
  EXPECT_EQ(oscar.jobs.begin()->second, "Succeeded");
  EXPECT_GE(oscar.polls, 2);
}

TEST_F(OscarSinkTest, CompletionRetriesAFailedJobUnderTheNextName) {
  std::ofstream(dir.path() / "pw") << "pw\n";
  auto sink = makeSink("username: oscar\npassword_file: " + (dir.path() / "pw").string() +
                       "\nconfirm: completion\npoll_interval: 100ms\n");
  oscar.fail_jobs = "Failed";
  auto ev = sampleEvent();
  auto r = deliver(*sink, ev);
  ASSERT_TRUE(std::holds_alternative<Retry>(r)) << describe(r);
  EXPECT_EQ(std::get<Retry>(r).reason, "job " + jobName("grayify", "gray", ev.id, 1) + " Failed");
  oscar.fail_jobs.clear();
  r = deliver(*sink, ev);  // the next attempt: -1 exists and failed, so -2 runs
  ASSERT_TRUE(std::holds_alternative<Done>(r)) << describe(r);
  EXPECT_EQ(oscar.jobs.size(), 2u);
  EXPECT_EQ(oscar.jobs[jobName("grayify", "gray", ev.id, 2)], "Succeeded");
  EXPECT_EQ(*posts().back().header("x-delegated-job-id"), jobName("grayify", "gray", ev.id, 2));
}

TEST_F(OscarSinkTest, CompletionWithAServiceTokenCannotReadTheJobList) {
  auto sink = makeSink(tokenFile() + "confirm: completion\npoll_interval: 100ms\n");
  auto r = deliver(*sink, sampleEvent());
  ASSERT_TRUE(std::holds_alternative<Dead>(r)) << describe(r);
  EXPECT_NE(std::get<Dead>(r).reason.find("not a service token"), std::string::npos);
}

TEST_F(OscarSinkTest, AbortReleasesAPollingDelivery) {
  std::ofstream(dir.path() / "pw") << "pw\n";
  auto sink = makeSink("username: oscar\npassword_file: " + (dir.path() / "pw").string() +
                       "\nconfirm: completion\npoll_interval: 10s\n");
  std::optional<DeliveryResult> out;
  sink->deliver(sampleEvent(), DeliveryInfo{"gray", 1, 1, 0},
                [&](DeliveryResult r) { out = std::move(r); });
  ASSERT_TRUE(runUntil(io, [&] { return posts().size() == 1; }));
  runUntil(
      io, [] { return false; }, std::chrono::milliseconds(100));  // the 201 arrives
  sink->abort();
  ASSERT_TRUE(runUntil(io, [&] { return out.has_value(); }));
  ASSERT_TRUE(std::holds_alternative<Retry>(*out));
  EXPECT_EQ(std::get<Retry>(*out).reason, "aborted at shutdown");
}

TEST(OscarJob, NamesAreDns1123AndStable) {
  auto a = jobName("Gray_Ify-Service-With-A-Very-Long-Name", "sink", "id", 1);
  EXPECT_TRUE(isDns1123Label(a)) << a;
  EXPECT_EQ(a, jobName("Gray_Ify-Service-With-A-Very-Long-Name", "sink", "id", 1));
  EXPECT_NE(a, jobName("Gray_Ify-Service-With-A-Very-Long-Name", "sink2", "id", 1));
  EXPECT_TRUE(a.ends_with("-1"));
  EXPECT_TRUE(isDns1123Label(jobName("---", "s", "e", 1000)));
  EXPECT_FALSE(isDns1123Label("-a"));
  EXPECT_FALSE(isDns1123Label(std::string(64, 'a')));
  EXPECT_TRUE(isNameCollision(500, "jobs.batch \"x\" already exists"));
  EXPECT_FALSE(isNameCollision(500, "secret error"));
}

TEST(OscarJob, FindsAJobInAListPage) {
  auto p = findJobStatus(R"({"jobs":{"a":{"status":"Running"}},"next_page":"t2"})", "a");
  EXPECT_EQ(p.status, std::optional<std::string>("Running"));
  EXPECT_EQ(p.next_page, "t2");
  EXPECT_FALSE(findJobStatus(R"({"jobs":{}})", "a").status);
  EXPECT_FALSE(findJobStatus("[]", "a").error.empty());
  EXPECT_FALSE(findJobStatus("not json", "a").error.empty());
}

TEST(OscarConfig, ErrorsNameTheKey) {
  struct Case {
    const char* yaml;
    const char* path;
    const char* part;
  } cases[] = {
      {"service: s\ntoken: t\n", "sinks[0].endpoint", "is required"},
      {"endpoint: ftp://o\nservice: s\ntoken: t\n", "sinks[0].endpoint", "http://"},
      {"endpoint: http://o\nservice: S/x\ntoken: t\n", "sinks[0].service", "service name"},
      {"endpoint: http://o\nservice: s\n", "sinks[0].token_file", "is required"},
      {"endpoint: http://o\nservice: s\ntoken: t\nmode: sync\nconfirm: completion\n",
       "sinks[0].confirm", "mode: async"},
      {"endpoint: http://o\nservice: s\ntoken: t\nformat: cloudevents-binary\n", "sinks[0].format",
       "must be one of: s3, native, onetrigger, cloudevents"},
      {"endpoint: http://o\nservice: s\ntoken: t\nusername: u\npassword: p\n",
       "sinks[0].token_file", "not both"},
      {"endpoint: http://o\nservice: s\ntoken: t\nbogus: 1\n", "sinks[0].bogus", "unknown key"},
  };
  for (auto& c : cases) {
    ConfigErrors errors;
    parse(std::string("name: o\ntype: oscar\n") + c.yaml, errors);
    EXPECT_TRUE(test::hasError(errors, c.path, c.part)) << c.yaml << " gave:\n"
                                                        << errorText(errors);
  }
}

}  // namespace
}  // namespace sluice::sinks::oscar
