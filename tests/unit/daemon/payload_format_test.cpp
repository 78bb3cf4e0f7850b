#include "daemon/payload_format.hpp"

#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

extern char** environ;

namespace sluice {
namespace {

Event localEvent(const std::string& path) {
  Event ev;
  ev.id = "0123456789abcdef0123456789abcdef";
  ev.source = "file://host/data/in";
  ev.type = EventType::Created;
  ev.time_ms = 1'700'000'000'118;
  ev.storage = "local";
  ev.connector = "inbox";
  ev.path = path;
  ev.size = 5;
  ev.native = {{"mask", {"IN_CLOSE_WRITE"}}, {"cookie", 0}, {"name", "x"}};
  return ev;
}

Event minioEvent(const std::string& key) {
  Event ev = localEvent("/images/" + key);
  ev.storage = "minio";
  ev.connector = "images";
  ev.bucket = "images";
  ev.key = key;
  ev.etag = "dd20b7e4";
  // ListenBucketNotification sends the raw key (PROTOCOLS.md §0.1 item 6).
  ev.native = {{"eventVersion", "2.0"},
               {"eventSource", "minio:s3"},
               {"eventName", "s3:ObjectCreated:CompleteMultipartUpload"},
               {"eventTime", "2026-12-05T10:00:00.000Z"},
               {"requestParameters", {{"principalId", "alice"}}},
               {"s3",
                {{"bucket", {{"name", "images"}}},
                 {"object", {{"key", key}, {"size", 5}, {"eTag", "dd20b7e4"}}}}}};
  return ev;
}

// Runs `shell -c 'echo $EVENT'` with EVENT=value, as OSCAR starts a job (COMPAT.md §3.2).
std::string echoThroughShell(const std::string& shell, const std::string& value) {
  int fds[2];
  if (pipe(fds) != 0) return "<pipe failed>";
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
  posix_spawn_file_actions_addclose(&fa, fds[0]);
  std::string env_event = "EVENT=" + value;
  std::string env_path = "PATH=/usr/bin:/bin";
  // Pathname expansion would match these names in the working directory.
  char* envp[] = {env_event.data(), env_path.data(), nullptr};
  std::string script = "echo $EVENT";
  char* argv[] = {const_cast<char*>(shell.c_str()), const_cast<char*>("-c"), script.data(),
                  nullptr};
  pid_t pid = 0;
  int rc = posix_spawn(&pid, shell.c_str(), &fa, nullptr, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;)
    out.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  if (rc != 0) return "<spawn failed>";
  int status = 0;
  waitpid(pid, &status, 0);
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

TEST(PayloadFormat, S3EnvelopeOfMinioRecordReencodesTheKeyAsTheWebhookDoes) {
  auto ev = minioEvent("raw/a b+c%/é.jpg");
  auto j = s3Envelope(ev);
  EXPECT_EQ(j["EventName"], "s3:ObjectCreated:CompleteMultipartUpload");
  EXPECT_EQ(j["Key"], "images/raw/a b+c%/é.jpg");
  auto& rec = j["Records"][0];
  EXPECT_EQ(rec["eventSource"], "minio:s3");
  EXPECT_EQ(rec["s3"]["object"]["key"], "raw%2Fa+b%2Bc%25%2F%C3%A9.jpg");
  EXPECT_EQ(rec["requestParameters"]["principalId"], "alice");  // the record's own, kept
}

TEST(PayloadFormat, S3EnvelopeOfAwsEventsHasNoPrefixAndKeepsSlashes) {
  auto ev = minioEvent("in/red flower*.jpg");
  ev.storage = "s3";
  ev.native = nullptr;  // a listing scan: no record of S3's own
  auto j = s3Envelope(ev);
  EXPECT_EQ(j["EventName"], "ObjectCreated:Put");
  auto& rec = j["Records"][0];
  EXPECT_EQ(rec["eventSource"], "aws:s3");
  EXPECT_EQ(rec["eventName"], "ObjectCreated:Put");
  EXPECT_EQ(rec["s3"]["bucket"]["name"], "images");
  EXPECT_EQ(rec["s3"]["object"]["key"], "in/red+flower*.jpg");
  EXPECT_EQ(rec["s3"]["object"]["size"], 5);
  EXPECT_EQ(rec["eventTime"], "2023-11-14T22:13:20.118Z");
}

TEST(PayloadFormat, FileSystemEventsGetTheMinioEnvelopeWithTheSourceAsBucket) {
  auto ev = localEvent("/data/in/scan 1.tif");
  auto j = s3Envelope(ev);
  EXPECT_EQ(j["EventName"], "s3:ObjectCreated:Put");
  EXPECT_EQ(j["Key"], "inbox/data/in/scan 1.tif");
  auto& rec = j["Records"][0];
  EXPECT_EQ(rec["eventSource"], "minio:s3");
  EXPECT_EQ(rec["s3"]["bucket"]["name"], "inbox");
  EXPECT_EQ(rec["s3"]["object"]["key"], "data%2Fin%2Fscan+1.tif");
  EXPECT_TRUE(rec["requestParameters"].contains("principalId"));

  ev.type = EventType::Removed;
  EXPECT_EQ(s3Envelope(ev)["EventName"], "s3:ObjectRemoved:Delete");
  ev.type = EventType::Gap;
  EXPECT_THROW(s3Envelope(ev), PayloadError);
  ev.type = EventType::Attributes;
  EXPECT_THROW(s3Envelope(ev), PayloadError);
}

TEST(PayloadFormat, OneTriggerRecord) {
  auto ev = localEvent("/space/dir/file.txt");
  ev.etag = "0000034500046EE9";
  auto j = oneTriggerEvent(ev);
  EXPECT_EQ(j["Key"], "/space/dir/file.txt");
  auto& rec = j["Records"][0];
  EXPECT_EQ(rec["objectKey"], "file.txt");
  EXPECT_EQ(rec["objectId"], "0000034500046EE9");
  EXPECT_EQ(rec["eventTime"], "2023-11-14T22:13:20.118000");  // naive UTC, microseconds
  EXPECT_EQ(rec["eventSource"], "OneTrigger");
  ev.type = EventType::Removed;
  try {
    oneTriggerEvent(ev);
    ADD_FAILURE() << "a removed file has no OneTrigger form";
  } catch (const PayloadError& e) {
    EXPECT_NE(std::string(e.what()).find("format onetrigger has no form for a removed event"),
              std::string::npos)
        << e.what();
  }
}

TEST(PayloadFormat, NativeIsTheSourcesOwnEvent) {
  auto ev = minioEvent("k");
  auto j = nativeEvent(ev);
  ASSERT_TRUE(j.contains("Records"));
  EXPECT_EQ(j["Records"][0], ev.native);  // as S3 and MinIO send it, key as the source wrote it
  ev = localEvent("/a");
  ev.native = {{"event", {{"name", "a"}, {"mask", {"IN_CLOSE_WRITE"}}}}, {"subscription", "u"}};
  EXPECT_EQ(nativeEvent(ev), ev.native);  // dCache's SSE data object
  ev.native = nullptr;
  EXPECT_EQ(nativeEvent(ev), ev.data());
}

TEST(PayloadFormat, ShellSafeJsonParsesBackToTheSameValue) {
  nlohmann::json j = {{"k e*y?", "a  b\tc\nd [x] \\ \"q\" $HOME `id` ' é 😀 \x01"},
                      {"n", 1.5},
                      {"list", {1, nullptr, true, "  "}}};
  std::string s = shellSafeJson(j);
  EXPECT_EQ(nlohmann::json::parse(s), j);
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    EXPECT_TRUE(u > 0x20 && u < 0x7f) << "byte " << int(u) << " in " << s;
    EXPECT_TRUE(c != '*' && c != '?') << s;
  }
  EXPECT_EQ(s.find("\\\\"), std::string::npos);  // dash's echo would halve it
  EXPECT_EQ(s.find("\\n"), std::string::npos);   // and turn this into a newline
}

TEST(PayloadFormat, EveryFormatSurvivesAnUnquotedEchoInARealShell) {
  // Globs that match files in the working directory, blanks, backslashes, non-ASCII.
  auto ev = minioEvent("in/*  two  spaces?[a].jpg\\n\tx\xc3\xa9\xff");
  ev.native["s3"]["object"]["key"] = "in/*  two  spaces?[a].jpg\\n\tx\xc3\xa9";
  std::vector<std::string> shells;
  for (const char* sh : {"/bin/sh", "/bin/dash", "/bin/bash"})
    if (std::filesystem::exists(sh)) shells.push_back(sh);
  ASSERT_FALSE(shells.empty());
  for (auto f : {PayloadFormat::CloudEvents, PayloadFormat::S3, PayloadFormat::OneTrigger,
                 PayloadFormat::Native}) {
    const std::string body = encodePayload(f, ev).body;
    EXPECT_EQ(body.find('\n'), std::string::npos);
    for (auto& sh : shells)
      EXPECT_EQ(echoThroughShell(sh, body), body) << toString(f) << " through " << sh;
  }
}

TEST(PayloadFormat, NamesRoundTrip) {
  for (auto f : {PayloadFormat::CloudEvents, PayloadFormat::CloudEventsBinary, PayloadFormat::S3,
                 PayloadFormat::OneTrigger, PayloadFormat::Native})
    EXPECT_EQ(payloadFormatFromString(toString(f)), f);
  EXPECT_FALSE(payloadFormatFromString("xml"));
}

TEST(PayloadFormat, NotificationKeyEncodings) {
  EXPECT_EQ(s3NotificationKey("a b/c+d~e*", true), "a+b%2Fc%2Bd~e%2A");
  EXPECT_EQ(s3NotificationKey("a b/c+d~e*", false), "a+b/c%2Bd%7Ee*");
}

}  // namespace
}  // namespace sluice
