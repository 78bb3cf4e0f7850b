// Stage-in, outputs, the effect guard, `user:` and `limits:` of the supervisor sink, with real
// processes and the local source's store.
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/sinks/supervisor/supervisor_fixture.hpp"

namespace sluice::sinks::supervisor {
namespace {

class SupervisorStageTest : public SupervisorSinkTest {
 protected:
  // A real file of the `inbox` source.
  Event fileEvent(const std::string& id, const std::string& name, const std::string& content) {
    fs::create_directories(inbox_);
    writeFile(inbox_ / name, content, fs::perms::owner_read | fs::perms::owner_write);
    Event ev = makeEvent(id);
    ev.path = (inbox_ / name).string();
    ev.size = content.size();
    return ev;
  }
  std::string counted() { return readFile(tmp_.path() / "runs"); }
  // A job that counts its runs and leaves what `body` makes in TMP_OUTPUT_DIR.
  std::string countingJob(const std::string& body = "") {
    return "[" +
           script("count.sh", "echo run >> '" + (tmp_.path() / "runs").string() + "'\n" + body)
               .string() +
           "]";
  }

  fs::path inbox_ = tmp_.path() / "inbox";
};

TEST_F(SupervisorStageTest, StageInHardLinksTheFileIntoTheInputFolder) {
  auto ev = fileEvent("st1", "scan 01.tif", "pixels");
  auto sink = makeSink(
      "[" +
          script("stat.sh",
                 "stat -c '%i %n' \"$INPUT_FILE_PATH\" > \"$HOME/../seen-$SLUICE_EVENT_ID\"\n"
                 "cat \"$INPUT_FILE_PATH\" >> \"$HOME/../seen-$SLUICE_EVENT_ID\"\n")
              .string() +
          "]",
      "stage_in: true\n");
  ASSERT_TRUE(std::holds_alternative<Done>(deliver(*sink, ev)));
  struct stat orig {};
  ASSERT_EQ(::stat(ev.path.c_str(), &orig), 0);
  const std::string seen = readFile(tmp_.path() / "state/jobs/jobs/seen-st1");
  EXPECT_EQ(seen, std::to_string(orig.st_ino) + " " + jobDir("st1-1").string() +
                      "/input/scan 01.tif\npixels");
  EXPECT_FALSE(fs::exists(jobDir("st1-1") / "input"));  // removed with the delivery
  EXPECT_TRUE(fs::exists(ev.path));                     // the original stays
}

TEST_F(SupervisorStageTest, AHostileKeyIsStagedInsideTheInputFolder) {
  auto ev = fileEvent("st2", "evil\nname", "x");
  ev.key = "../../../etc/passwd";
  auto sink = makeSink("[" +
                           script("where.sh",
                                  "printf %s \"$INPUT_FILE_PATH\" > \"$HOME/../where\"\n"
                                  "cat \"$INPUT_FILE_PATH\" >> \"$HOME/../where\"\n")
                               .string() +
                           "]",
                       "stage_in: true\n");
  ASSERT_TRUE(std::holds_alternative<Done>(deliver(*sink, ev)));
  EXPECT_EQ(readFile(tmp_.path() / "state/jobs/jobs/where"),
            jobDir("st2-1").string() + "/input/passwd" + "x");
  ev = fileEvent("st3", "evil\nname", "y");
  ASSERT_TRUE(std::holds_alternative<Done>(deliver(*sink, ev)));
  EXPECT_EQ(readFile(tmp_.path() / "state/jobs/jobs/where"),
            jobDir("st3-1").string() + "/input/evil_name" + "y");
}

TEST_F(SupervisorStageTest, AFileThatIsGoneFailsTheStageInAndRunsNothing) {
  auto ev = fileEvent("st4", "gone.txt", "x");
  fs::remove(ev.path);
  auto sink = makeSink(countingJob(), "stage_in: true\n");
  auto r = deliver(*sink, ev);
  ASSERT_TRUE(std::holds_alternative<Retry>(r)) << describe(r);
  EXPECT_NE(reasonOf(r).find("stage-in failed"), std::string::npos) << reasonOf(r);
  EXPECT_EQ(counted(), "");
}

TEST_F(SupervisorStageTest, AJobThatSucceededIsNeverRunAgainForItsEvent) {
  auto ev = makeEvent("once1");
  {
    auto sink = makeSink(countingJob());
    ASSERT_TRUE(std::holds_alternative<Done>(deliver(*sink, ev)));
    ASSERT_TRUE(std::holds_alternative<Done>(deliver(*sink, ev, 2)));  // a duplicate delivery
  }
  auto restarted = makeSink(countingJob());
  ASSERT_TRUE(std::holds_alternative<Done>(deliver(*restarted, ev, 3)));
  EXPECT_EQ(counted(), "run\n");
  EXPECT_NE(log_text_.str().find("already succeeded; not run again"), std::string::npos);
  // A failed job is no success: it runs again.
  auto failing =
      makeSink("[" +
               script("fail.sh", "echo run >> '" + (tmp_.path() / "runs").string() + "'\nexit 3\n")
                   .string() +
               "]");
  auto other = makeEvent("once2");
  EXPECT_TRUE(std::holds_alternative<Retry>(deliver(*failing, other)));
  EXPECT_TRUE(std::holds_alternative<Retry>(deliver(*failing, other, 2)));
  EXPECT_EQ(counted(), "run\nrun\nrun\n");
}

TEST_F(SupervisorStageTest, OutputsMatchingTheFiltersAreCopiedAndTheRestDropped) {
  const fs::path results = tmp_.path() / "results";
  auto sink =
      makeSink(countingJob("cd \"$TMP_OUTPUT_DIR\"\nmkdir sub\necho 1 > a.json\n"
                           "echo 2 > sub/b.json\necho 3 > c.txt\necho 4 > skip-d.json\n"
                           "ln -s /etc/hostname link.json\n"),
               "outputs: [{path: " + results.string() + ", suffix: [.json], prefix: [a, sub/]}]\n");
  ASSERT_TRUE(std::holds_alternative<Done>(deliver(*sink, makeEvent("out1"))));
  EXPECT_EQ(readFile(results / "a.json"), "1\n");
  EXPECT_EQ(readFile(results / "sub/b.json"), "2\n");
  EXPECT_FALSE(fs::exists(results / "c.txt"));
  EXPECT_FALSE(fs::exists(results / "skip-d.json"));
  EXPECT_FALSE(fs::exists(results / "link.json"));  // a symlink is never followed
  EXPECT_FALSE(fs::exists(jobDir("out1-1") / "output"));
}

TEST_F(SupervisorStageTest, AFailedUploadIsRetriedWithoutRunningTheJobAgain) {
  const fs::path blocker = tmp_.path() / "blocker";
  writeFile(blocker, "a file where the folder should be", fs::perms::owner_all);
  auto sink = makeSink(countingJob("echo r > \"$TMP_OUTPUT_DIR/r.json\"\n"),
                       "outputs: [{path: " + (blocker / "results").string() + "}]\n");
  auto ev = makeEvent("up1");
  auto r = deliver(*sink, ev);
  ASSERT_TRUE(std::holds_alternative<Retry>(r)) << describe(r);
  EXPECT_NE(
      reasonOf(r).find("upload of output " + (blocker / "results/r.json").string() + " failed"),
      std::string::npos)
      << reasonOf(r);
  EXPECT_TRUE(fs::exists(jobDir("up1-1") / "output/r.json"));  // kept for the next try
  fs::remove(blocker);
  ASSERT_TRUE(std::holds_alternative<Done>(deliver(*sink, ev, 2)));
  EXPECT_EQ(readFile(blocker / "results/r.json"), "r\n");
  EXPECT_EQ(counted(), "run\n");
  EXPECT_FALSE(fs::exists(jobDir("up1-1") / "output"));
}

TEST_F(SupervisorStageTest, OutputsGoToASourcesStoreUnderItsPath) {
  const fs::path bucket = tmp_.path() / "bucket";
  fs::create_directories(bucket);
  stores_.add("results", std::make_unique<connectors::local::LocalStore>(io_, bucket));
  auto sink = makeSink(countingJob("echo r > \"$TMP_OUTPUT_DIR/r.json\"\n"),
                       "outputs: [{source: results, path: /runs/1}]\n");
  ASSERT_TRUE(std::holds_alternative<Done>(deliver(*sink, makeEvent("src1"))));
  EXPECT_EQ(readFile(bucket / "runs/1/r.json"), "r\n");
}

TEST_F(SupervisorStageTest, LimitsApplyToTheJob) {
  auto sink = makeSink("[" +
                           script("limits.sh",
                                  "echo $(ulimit -n) $(ulimit -t) $(ulimit -d) > "
                                  "\"$HOME/../limits\"\n")
                               .string() +
                           "]",
                       "limits: {open_files: 64, cpu_seconds: 7, memory: 256MiB}\n");
  ASSERT_TRUE(std::holds_alternative<Done>(deliver(*sink, makeEvent("lim1"))));
  EXPECT_EQ(readFile(tmp_.path() / "state/jobs/jobs/limits"), "64 7 262144\n");
}

TEST_F(SupervisorStageTest, AJobRunsAsTheConfiguredUserInItsOwnFolder) {
  if (::geteuid() != 0) GTEST_SKIP() << "running jobs as another user needs root";
  auto sink = makeSink("[" +
                           script("who.sh",
                                  "id -u > \"$TMP_OUTPUT_DIR/uid\"\n"
                                  "touch \"$HOME/mine\"\n"
                                  "cat /proc/self/status | grep -i '^groups' > "
                                  "\"$TMP_OUTPUT_DIR/groups\"\n")
                               .string() +
                           "]",
                       "user: nobody\noutputs: [{path: " + (tmp_.path() / "o").string() + "}]\n");
  // The script lives in a folder only root may enter: a job as nobody could not exec it.
  fs::permissions(tmp_.path(), fs::perms::others_exec | fs::perms::group_exec,
                  fs::perm_options::add);
  fs::permissions(tmp_.path() / "who.sh", fs::perms::others_read | fs::perms::others_exec,
                  fs::perm_options::add);
  ASSERT_TRUE(std::holds_alternative<Done>(deliver(*sink, makeEvent("who1"))))
      << readFile(jobDir("who1-1") / "stderr.log");
  EXPECT_EQ(readFile(tmp_.path() / "o/uid"), "65534\n");
  EXPECT_TRUE(fs::exists(jobDir("who1-1") / "mine"));
  EXPECT_EQ(readFile(tmp_.path() / "o/groups").find(" 0"), std::string::npos);  // not root's
}

TEST_F(SupervisorStageTest, EveryFinishedJobEmitsItsResult) {
  const fs::path results = tmp_.path() / "results";
  auto sink = makeSink(countingJob("echo r > \"$TMP_OUTPUT_DIR/r.json\"\n"
                                   "[ -e \"$HOME/../fail-$SLUICE_EVENT_ID\" ] && exit 3\nexit 0\n"),
                       "outputs: [{path: " + results.string() + "}]\n");
  auto ev = makeEvent("res1");
  ev.key = "raw/scan.tif";
  auto r = deliver(*sink, ev);
  ASSERT_TRUE(std::holds_alternative<Done>(r)) << describe(r);
  const auto& emitted = std::get<Done>(r).emit;
  ASSERT_EQ(emitted.size(), 1u);
  const Event& job = emitted[0];
  EXPECT_EQ(job.type, EventType::JobSucceeded);
  EXPECT_EQ(job.typeUri(), "sluice.job.succeeded");
  EXPECT_EQ(job.connector, "jobs");
  EXPECT_EQ(job.subject(), ev.subject());
  EXPECT_EQ(job.key, ev.key);
  EXPECT_EQ(job.native["exit_code"], 0);
  EXPECT_EQ(job.native["outputs"], nlohmann::json::array({(results / "r.json").string()}));
  EXPECT_EQ(job.native["trigger"]["id"], "res1");
  EXPECT_EQ(job.native["log"], jobDir("res1-1").string());
  // A redelivery runs nothing but emits the same result (same id: the queue keeps one).
  auto again = deliver(*sink, ev, 2);
  ASSERT_TRUE(std::holds_alternative<Done>(again));
  ASSERT_EQ(std::get<Done>(again).emit.size(), 1u);
  EXPECT_EQ(std::get<Done>(again).emit[0].id, job.id);
  EXPECT_EQ(counted(), "run\n");

  fs::create_directories(tmp_.path() / "state/jobs/jobs");
  writeFile(tmp_.path() / "state/jobs/jobs/fail-res2", "", fs::perms::owner_all);
  auto failed = deliver(*sink, makeEvent("res2"), 4);
  ASSERT_TRUE(std::holds_alternative<Retry>(failed)) << describe(failed);
  const auto& bad = std::get<Retry>(failed).emit;
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].type, EventType::JobFailed);
  EXPECT_EQ(bad[0].native["exit_code"], 3);
  EXPECT_EQ(bad[0].native["attempt"], 4);
  EXPECT_EQ(bad[0].native["reason"], "exit status 3");
  EXPECT_FALSE(fs::exists(results / "r.json.1"));
}

TEST_F(SupervisorStageTest, NewKeysAreChecked) {
  EXPECT_TRUE(parse("name: j\ntype: supervisor\ncommand: [/bin/true]\nuser: no-such-user-here\n")
                  .hasError("sinks[0].user", "no user"));
  EXPECT_TRUE(parse("name: j\ntype: supervisor\ncommand: [/bin/true]\nuser: root\n")
                  .hasError("sinks[0].user", "must not be root"));
  EXPECT_TRUE(parse("name: j\ntype: supervisor\ncommand: [/bin/true]\noutputs: [{suffix: [.x]}]\n")
                  .hasError("sinks[0].outputs[0].path", "is required"));
  EXPECT_TRUE(parse("name: j\ntype: supervisor\ncommand: [/bin/true]\n"
                    "outputs: [{source: s, path: a/../b}]\n")
                  .hasError("sinks[0].outputs[0].path", ".."));
  EXPECT_TRUE(parse("name: j\ntype: supervisor\ncommand: [/bin/true]\nlimits: {memory: 1KiB}\n")
                  .hasError("sinks[0].limits.memory", "at least"));
  EXPECT_TRUE(parse("name: j\ntype: supervisor\ncommand: [/bin/true]\nlimits: {bogus: 1}\n")
                  .hasError("sinks[0].limits.bogus"));
}

}  // namespace
}  // namespace sluice::sinks::supervisor
