// The supervisor sink runs real processes: small /bin/sh scripts and coreutils written into a
// temp dir. Waits run the io_context until a condition holds or a deadline passes.
#include "tests/unit/sinks/supervisor/supervisor_fixture.hpp"

namespace sluice::sinks::supervisor {
namespace {

TEST_F(SupervisorSinkTest, JobSeesExactlyTheDocumentedEnvironment) {
  ::setenv("SLUICE_SUP_TEST_MARKER", "must-not-leak", 1);
  ::setenv("SLUICE_SUP_TEST_GREETING", "hello", 1);
  auto sink = makeSink("[/usr/bin/env, -0]",
                       "env: {GREETING: \"${SLUICE_SUP_TEST_GREETING} job\", LANG: de_DE.UTF-8}\n");
  auto ev = makeEvent("env1");
  ASSERT_TRUE(std::holds_alternative<Done>(deliver(*sink, ev, 2)));

  const auto dir = jobDir("env1-2");
  std::map<std::string, std::string> env;
  std::stringstream out(readFile(dir / "stdout.log"));
  for (std::string kv; std::getline(out, kv, '\0');) {
    auto eq = kv.find('=');
    env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  std::set<std::string> names;
  for (auto& [k, v] : env) names.insert(k);
  EXPECT_EQ(names, (std::set<std::string>{
                       "PATH", "HOME", "LANG", "INPUT_FILE_PATH", "TMP_INPUT_DIR", "TMP_OUTPUT_DIR",
                       "STORAGE_OBJECT_KEY", "EVENT_TIME", "EVENT", "SLUICE_EVENT_ID",
                       "SLUICE_EVENT_TYPE", "SLUICE_SINK", "SLUICE_ATTEMPT", "SLUICE_COMMITTED_MS",
                       "GREETING"}));
  EXPECT_EQ(env["PATH"], "/usr/local/bin:/usr/bin:/bin");
  EXPECT_EQ(env["HOME"], dir.string());
  EXPECT_EQ(env["LANG"], "de_DE.UTF-8");  // the user's env overrides the defaults
  EXPECT_EQ(env["GREETING"], "hello job");
  EXPECT_EQ(env["INPUT_FILE_PATH"], "/inbox/a.txt");
  EXPECT_EQ(env["STORAGE_OBJECT_KEY"], "/inbox/a.txt");
  EXPECT_EQ(env["TMP_INPUT_DIR"], (dir / "input").string());
  EXPECT_EQ(env["TMP_OUTPUT_DIR"], (dir / "output").string());
  EXPECT_EQ(env["EVENT_TIME"], "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(nlohmann::json::parse(env["EVENT"]), toJson(ev));
  EXPECT_EQ(env["SLUICE_EVENT_ID"], "env1");
  EXPECT_EQ(env["SLUICE_EVENT_TYPE"], "created");
  EXPECT_EQ(env["SLUICE_SINK"], "jobs");
  EXPECT_EQ(env["SLUICE_ATTEMPT"], "2");
  EXPECT_EQ(env["SLUICE_COMMITTED_MS"], "0");  // DeliveryInfo's first_seen_ms of this test
  EXPECT_EQ(nlohmann::json::parse(readFile(dir / "event.json")), toJson(ev));
  // The folder keeps logs and event.json; input/ and output/ are gone after the job.
  EXPECT_FALSE(fs::exists(dir / "input"));
  EXPECT_FALSE(fs::exists(dir / "output"));
  // Logs name the event but never carry its content.
  EXPECT_NE(log_text_.str().find("env1"), std::string::npos);
  EXPECT_EQ(log_text_.str().find("a.txt"), std::string::npos);
  ::unsetenv("SLUICE_SUP_TEST_MARKER");
  ::unsetenv("SLUICE_SUP_TEST_GREETING");
}

TEST_F(SupervisorSinkTest, ObjectKeyWinsAndNonLocalEventsHaveNoInputFilePath) {
  auto sink = makeSink("[/usr/bin/env, -0]");
  auto ev = makeEvent("s3");
  ev.storage = "minio";
  ev.connector = "images";  // a source whose objects are not files here (no local store)
  ev.path = "/images/raw/x.png";
  ev.bucket = "images";
  ev.key = "raw/x.png";
  ASSERT_TRUE(std::holds_alternative<Done>(deliver(*sink, ev)));
  auto out = readFile(jobDir("s3-1") / "stdout.log");
  EXPECT_NE(out.find(std::string("STORAGE_OBJECT_KEY=raw/x.png\0", 29)), std::string::npos);
  EXPECT_EQ(out.find("INPUT_FILE_PATH="), std::string::npos);
}

TEST_F(SupervisorSinkTest, InputFilePathArrivesByteExact) {
  auto sink = makeSink("[/usr/bin/printenv, INPUT_FILE_PATH]");
  auto ev = makeEvent("bytes");
  ev.path = "/inbox/line\nbreak-\xff\xfe-\xc3(.bin";
  ASSERT_TRUE(std::holds_alternative<Done>(deliver(*sink, ev)));
  EXPECT_EQ(readFile(jobDir("bytes-1") / "stdout.log"), ev.path + "\n");
}

TEST_F(SupervisorSinkTest, ExitZeroIsDoneAndOutputIsCaptured) {
  auto cmd = script("ok.sh", "echo to-stdout\necho to-stderr >&2\ntouch \"$TMP_OUTPUT_DIR/r\"\n");
  auto sink = makeSink("[\"" + cmd.string() + "\"]");
  ASSERT_TRUE(std::holds_alternative<Done>(deliver(*sink, makeEvent("ok"))));
  EXPECT_EQ(readFile(jobDir("ok-1") / "stdout.log"), "to-stdout\n");
  EXPECT_EQ(readFile(jobDir("ok-1") / "stderr.log"), "to-stderr\n");
  EXPECT_FALSE(fs::exists(jobDir("ok-1") / "output"));
}

TEST_F(SupervisorSinkTest, NonZeroExitIsRetryWithTheLastStderrLine) {
  auto cmd = script("fail.sh", "echo first >&2\necho 'model file missing' >&2\nexit 3\n");
  auto sink = makeSink("[\"" + cmd.string() + "\"]");
  auto r = deliver(*sink, makeEvent("fail"));
  ASSERT_TRUE(std::holds_alternative<Retry>(r)) << describe(r);
  EXPECT_FALSE(std::get<Retry>(r).after.has_value());
  EXPECT_EQ(reasonOf(r), "exit status 3; stderr: model file missing");
}

TEST_F(SupervisorSinkTest, OnFailureDeadDeadLetters) {
  auto cmd = script("fail.sh", "exit 3\n");
  auto sink = makeSink("[\"" + cmd.string() + "\"]", "on_failure: dead\n");
  auto r = deliver(*sink, makeEvent("dead"));
  ASSERT_TRUE(std::holds_alternative<Dead>(r)) << describe(r);
  EXPECT_EQ(reasonOf(r), "exit status 3");
}

TEST_F(SupervisorSinkTest, PermanentExitCodesDeadLetterOthersRetry) {
  auto cmd = script("attempt.sh", "exit \"$SLUICE_ATTEMPT\"\n");  // exit status = attempt
  auto sink = makeSink("[\"" + cmd.string() + "\"]", "permanent_exit_codes: [4, 5]\n");
  EXPECT_TRUE(std::holds_alternative<Retry>(deliver(*sink, makeEvent("p"), 3)));
  EXPECT_TRUE(std::holds_alternative<Dead>(deliver(*sink, makeEvent("p"), 4)));
}

TEST_F(SupervisorSinkTest, TimeoutKillsTheScriptAndItsChildren) {
  auto cmd = script("hang.sh", "sleep 1000 &\necho $! > child.pid\necho $$ > script.pid\nwait\n");
  // The timeout leaves the script ample time to write its pid files, also under ASan.
  auto sink = makeSink("[\"" + cmd.string() + "\"]", "timeout: 1s\nkill_grace: 5s\n");
  auto r = deliver(*sink, makeEvent("slow"));
  ASSERT_TRUE(std::holds_alternative<Retry>(r)) << describe(r);
  EXPECT_EQ(reasonOf(r), "timed out after 1s");
  for (auto* f : {"child.pid", "script.pid"}) {
    pid_t pid = std::stoi(readFile(jobDir("slow-1") / f));
    EXPECT_TRUE(waitUntil([&] { return processGone(pid); }, 5s)) << f << " " << pid;
  }
}

TEST_F(SupervisorSinkTest, ChildrenLeftBehindAreKilledWhenTheScriptExits) {
  auto cmd = script("leave.sh", "sleep 1000 &\necho $! > child.pid\nexit 0\n");
  auto sink = makeSink("[\"" + cmd.string() + "\"]");
  ASSERT_TRUE(std::holds_alternative<Done>(deliver(*sink, makeEvent("leave"))));
  pid_t child = std::stoi(readFile(jobDir("leave-1") / "child.pid"));
  EXPECT_TRUE(waitUntil([&] { return processGone(child); }, 5s));
}

TEST_F(SupervisorSinkTest, TimeoutEscalatesToSigkillForJobsIgnoringSigterm) {
  auto cmd = script("stubborn.sh",
                    "trap '' TERM\nsleep 1000 &\necho $! > child.pid\nwhile :; do wait; done\n");
  auto sink = makeSink("[\"" + cmd.string() + "\"]", "timeout: 1s\nkill_grace: 200ms\n");
  auto r = deliver(*sink, makeEvent("stubborn"));
  EXPECT_EQ(reasonOf(r), "timed out after 1s");
  pid_t child = std::stoi(readFile(jobDir("stubborn-1") / "child.pid"));
  EXPECT_TRUE(waitUntil([&] { return processGone(child); }, 5s));
}

TEST_F(SupervisorSinkTest, KilledBySignalIsRetry) {
  auto cmd = script("self.sh", "kill -KILL $$\n");
  auto sink = makeSink("[\"" + cmd.string() + "\"]");
  auto r = deliver(*sink, makeEvent("sig"));
  ASSERT_TRUE(std::holds_alternative<Retry>(r)) << describe(r);
  EXPECT_EQ(reasonOf(r), "killed by signal 9");
}

TEST_F(SupervisorSinkTest, CommandThatVanishedIsRetryCannotStart) {
  auto cmd = script("gone.sh", "exit 0\n");
  auto sink = makeSink("[\"" + cmd.string() + "\"]");
  fs::remove(cmd);
  auto r = deliver(*sink, makeEvent("gone"));
  ASSERT_TRUE(std::holds_alternative<Retry>(r)) << describe(r);
  EXPECT_EQ(reasonOf(r), "cannot start: No such file or directory");
}

TEST_F(SupervisorSinkTest, EventTooLargeForTheEnvironmentIsDead) {
  auto sink = makeSink("[/bin/true]");
  auto ev = makeEvent("big");
  ev.native = std::string(256 * 1024, 'x');  // EVENT above Linux's 128 KiB per string
  auto r = deliver(*sink, ev);
  ASSERT_TRUE(std::holds_alternative<Dead>(r)) << describe(r);
  EXPECT_EQ(reasonOf(r), "cannot start: Argument list too long");
}

TEST_F(SupervisorSinkTest, EventBytesWithNulAreDead) {
  auto sink = makeSink("[/bin/true]");
  auto ev = makeEvent("nul");
  ev.key = std::string("a\0b", 3);
  auto r = deliver(*sink, ev);
  ASSERT_TRUE(std::holds_alternative<Dead>(r)) << describe(r);
  EXPECT_NE(reasonOf(r).find("STORAGE_OBJECT_KEY"), std::string::npos);
}

TEST_F(SupervisorSinkTest, AbortKillsRunningJobsAndReportsRetry) {
  auto cmd = script("hang.sh", "sleep 1000 &\necho $! > child.pid\nwait\n");
  auto sink = makeSink("[\"" + cmd.string() + "\"]", "timeout: 1h\n");
  std::vector<DeliveryResult> results;
  for (auto* id : {"a1", "a2"})
    sink->deliver(makeEvent(id), DeliveryInfo{"jobs", 1, 1, 0},
                  [&](DeliveryResult r) { results.push_back(r); });
  ASSERT_TRUE(waitUntil([&] {
    return pidWritten(jobDir("a1-1") / "child.pid") && pidWritten(jobDir("a2-1") / "child.pid");
  }));
  sink->abort();
  ASSERT_TRUE(waitUntil([&] { return results.size() == 2; }));
  for (auto& r : results) EXPECT_EQ(reasonOf(r), "aborted at shutdown");
  for (auto* id : {"a1-1", "a2-1"}) {
    pid_t child = std::stoi(readFile(jobDir(id) / "child.pid"));
    EXPECT_TRUE(waitUntil([&] { return processGone(child); }, 5s)) << id;
  }
  // After abort nothing new starts.
  EXPECT_EQ(reasonOf(deliver(*sink, makeEvent("late"))), "aborted at shutdown");
  EXPECT_FALSE(fs::exists(jobDir("late-1")));
}

TEST_F(SupervisorSinkTest, KeepsOnlyTheNewestJobFolders) {
  auto sink = makeSink("[/bin/true]", "keep_jobs: 2\n");
  for (auto* id : {"k1", "k2", "k3", "k4"})
    ASSERT_TRUE(std::holds_alternative<Done>(deliver(*sink, makeEvent(id))));
  std::set<std::string> left;
  for (auto& e : fs::directory_iterator(tmp_.path() / "state/jobs/jobs"))
    if (e.path().filename().string()[0] != '.')  // .succeeded: the effect log, not a job
      left.insert(e.path().filename().string());
  EXPECT_EQ(left, (std::set<std::string>{"k3-1", "k4-1"}));
}

TEST_F(SupervisorSinkTest, NeverRunsMoreJobsThanItsSlots) {
  auto cmd = script("hang.sh", "echo started > started\nexec sleep 1000\n");
  auto sink = makeSink("[\"" + cmd.string() + "\"]", "concurrency: 1\ntimeout: 1h\n");
  std::optional<DeliveryResult> first;
  sink->deliver(makeEvent("c1"), DeliveryInfo{"jobs", 1, 1, 0},
                [&](DeliveryResult r) { first = r; });
  ASSERT_TRUE(waitUntil([&] { return fs::exists(jobDir("c1-1") / "started"); }));
  EXPECT_EQ(reasonOf(deliver(*sink, makeEvent("c2"))), "no free job slot");
  EXPECT_FALSE(fs::exists(jobDir("c2-1")));
  sink->abort();
  ASSERT_TRUE(waitUntil([&] { return first.has_value(); }));
}

TEST_F(SupervisorSinkTest, SameDeliveryTwiceDoesNotDisturbTheRunningJob) {
  auto cmd = script("hang.sh", "echo started > started\nexec sleep 1000\n");
  auto sink = makeSink("[\"" + cmd.string() + "\"]", "timeout: 1h\n");
  std::optional<DeliveryResult> first;
  sink->deliver(makeEvent("twice"), DeliveryInfo{"jobs", 1, 1, 0},
                [&](DeliveryResult r) { first = r; });
  ASSERT_TRUE(waitUntil([&] { return fs::exists(jobDir("twice-1") / "started"); }));
  EXPECT_EQ(reasonOf(deliver(*sink, makeEvent("twice"))), "the job for this event is still running");
  // A re-lease counts the next attempt: the guard keys on the event, not on id + attempt.
  EXPECT_EQ(reasonOf(deliver(*sink, makeEvent("twice"), 2)), "the job for this event is still running");
  EXPECT_FALSE(fs::exists(jobDir("twice-2")));
  EXPECT_TRUE(fs::exists(jobDir("twice-1") / "started"));
  sink->abort();
  ASSERT_TRUE(waitUntil([&] { return first.has_value(); }));
}

TEST_F(SupervisorSinkTest, JobLogsAndMarkerAreNotReadableByOthers) {
  auto cmd = script("hang.sh", "echo started\nexec sleep 1000\n");
  auto sink = makeSink("[\"" + cmd.string() + "\"]", "timeout: 1h\n");
  std::optional<DeliveryResult> r;
  sink->deliver(makeEvent("perm"), DeliveryInfo{"jobs", 1, 1, 0}, [&](DeliveryResult x) { r = x; });
  ASSERT_TRUE(waitUntil([&] { return fs::exists(jobDir("perm-1") / "job.json"); }));
  for (auto* f : {"stdout.log", "stderr.log", "job.json"}) {
    auto perms = fs::status(jobDir("perm-1") / f).permissions();
    EXPECT_EQ(perms & (fs::perms::group_all | fs::perms::others_all), fs::perms::none) << f;
  }
  sink->abort();
  ASSERT_TRUE(waitUntil([&] { return r.has_value(); }));
}

TEST_F(SupervisorSinkTest, ReloadHandsRunningJobsOverAndTheNextImageAdoptsThem) {
  auto cmd = script("wait.sh", "echo started > started\nwhile [ ! -e go ]; do sleep 0.05; done\n");
  auto sink = makeSink("[\"" + cmd.string() + "\"]", "timeout: 1h\n");
  std::optional<DeliveryResult> first;
  sink->deliver(makeEvent("long"), DeliveryInfo{"jobs", 1, 1, 0}, [&](DeliveryResult x) { first = x; });
  ASSERT_TRUE(waitUntil([&] { return fs::exists(jobDir("long-1") / "started"); }));
  pid_t pid = nlohmann::json::parse(readFile(jobDir("long-1") / "job.json")).at("pid").get<pid_t>();
  EXPECT_TRUE(sink->handOver());
  ASSERT_TRUE(waitUntil([&] { return first.has_value(); }));
  EXPECT_EQ(reasonOf(*first), "handed over to the reloaded process");
  sink.reset();  // the old image's sink goes; the job must not
  EXPECT_FALSE(processGone(pid));
  // The next image (same pid, as after execve) adopts it; the redelivery attaches to it.
  auto next = makeSink("[\"" + cmd.string() + "\"]", "timeout: 1h\n");
  EXPECT_NE(log_text_.str().find("goes on after the reload"), std::string::npos) << log_text_.str();
  std::optional<DeliveryResult> second;
  next->deliver(makeEvent("long"), DeliveryInfo{"jobs", 1, 1, 0}, [&](DeliveryResult x) { second = x; });
  EXPECT_FALSE(fs::exists(jobDir("long-1") / "go"));
  std::ofstream(jobDir("long-1") / "go") << "";
  ASSERT_TRUE(waitUntil([&] { return second.has_value(); }));
  EXPECT_TRUE(std::holds_alternative<Done>(*second)) << describe(*second);
  EXPECT_TRUE(processGone(pid));
  EXPECT_FALSE(fs::exists(jobDir("long-1") / "job.json"));
}

TEST_F(SupervisorSinkTest, StartAfterACrashEndsWhatTheDeadDaemonsJobsLeft) {
  // A job group of a daemon that died: its leader's marker names another daemon pid.
  auto dir = tmp_.path() / "state/jobs/jobs/crashed-1";
  fs::create_directories(dir);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    char* argv[] = {const_cast<char*>("/bin/sleep"), const_cast<char*>("1000"), nullptr};
    char* envp[] = {const_cast<char*>("SLUICE_EVENT_ID=crashed"), const_cast<char*>("SLUICE_SINK=jobs"), nullptr};
    ::execve("/bin/sleep", argv, envp);
    ::_exit(127);
  }
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(waitUntil([&] {
    auto env = readFile("/proc/" + std::to_string(pid) + "/environ");
    return env.find("SLUICE_SINK=jobs") != std::string::npos;
  }));
  std::ofstream(dir / "job.json") << nlohmann::json{{"pid", pid}, {"daemon_pid", 1},
                                                     {"event_id", "crashed"}, {"started_ms", 0}}.dump();
  auto sink = makeSink("[/bin/true]");
  EXPECT_TRUE(waitUntil([&] { return processGone(pid); }, 5s));
  ::waitpid(pid, nullptr, 0);
  EXPECT_FALSE(fs::exists(dir / "job.json"));
  EXPECT_NE(log_text_.str().find("ended 1 processes"), std::string::npos) << log_text_.str();
}

TEST_F(SupervisorSinkTest, DestroyingTheSinkKillsItsJobsWithoutCallingBack) {
  auto cmd = script("hang.sh", "sleep 1000 &\necho $! > child.pid\nwait\n");
  auto sink = makeSink("[\"" + cmd.string() + "\"]", "timeout: 1h\n");
  bool called = false;
  sink->deliver(makeEvent("d"), DeliveryInfo{"jobs", 1, 1, 0},
                [&](DeliveryResult) { called = true; });
  ASSERT_TRUE(waitUntil([&] { return pidWritten(jobDir("d-1") / "child.pid"); }));
  sink.reset();
  pid_t child = std::stoi(readFile(jobDir("d-1") / "child.pid"));
  EXPECT_TRUE(waitUntil([&] { return processGone(child); }, 5s));
  io_.restart();
  io_.poll();  // the cancelled waits complete and must do nothing
  EXPECT_FALSE(called);
}

TEST(SupervisorSinkSlotPoolTest, NeverHandsOutMoreSlotsThanConfigured) {
  SlotPool pool(2);
  auto a = pool.acquire();
  auto b = pool.acquire();
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->slot().index, b->slot().index);
  EXPECT_FALSE(pool.acquire().has_value());
  EXPECT_EQ(pool.inUse(), 2);
  {
    auto moved = std::move(*a);  // moving a lease must not free or double-count its slot
    EXPECT_EQ(pool.inUse(), 2);
    EXPECT_FALSE(pool.acquire().has_value());
  }
  EXPECT_EQ(pool.inUse(), 1);
  auto c = pool.acquire();
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->slot().index, 0);
  EXPECT_FALSE(pool.acquire().has_value());
}

class SupervisorSinkConfigTest : public ::testing::Test {
 protected:
  Parsed parseCommand(const std::string& command, const std::string& extra = "") {
    return parse("name: jobs\ntype: supervisor\ncommand: " + command + "\n" + extra);
  }
  test::TempDir tmp_;
};

TEST_F(SupervisorSinkConfigTest, DefaultsAndBareNamesFromPath) {
  auto p = parseCommand("[sh, -c, \"exit 0\"]", "gpus: none\nstage_in: false\n");
  ASSERT_TRUE(p.errors.empty()) << p.errors.front().str();
  auto& c = dynamic_cast<SupervisorSpec&>(*p.spec).config;
  EXPECT_EQ(c.command, (std::vector<std::string>{"sh", "-c", "exit 0"}));
  EXPECT_TRUE(c.program.starts_with("/") && c.program.ends_with("/sh")) << c.program;
  EXPECT_EQ(c.kill_grace, 10s);
  EXPECT_EQ(c.on_failure, OnFailure::Retry);
  EXPECT_EQ(c.keep_jobs, 1000u);
  EXPECT_TRUE(c.env.empty() && c.permanent_exit_codes.empty());
}

TEST_F(SupervisorSinkConfigTest, RelativeCommandsResolveAgainstTheCurrentDirectory) {
  writeFile(tmp_.path() / "run.sh", "#!/bin/sh\n", fs::perms::owner_all);
  std::string why;
  EXPECT_EQ(resolveProgram("./run.sh", tmp_.path().string(), "/nowhere", &why),
            (tmp_.path() / "run.sh").string());
  EXPECT_EQ(resolveProgram("run.sh", "/", tmp_.path().string(), &why),
            (tmp_.path() / "run.sh").string());
  EXPECT_FALSE(resolveProgram("run.sh", tmp_.path().string(), "/nowhere:", &why));
}

TEST_F(SupervisorSinkConfigTest, MissingCommandIsAnError) {
  EXPECT_TRUE(parse("name: jobs\ntype: supervisor\n").hasError("sinks[0].command", "required"));
  EXPECT_TRUE(parseCommand("[]").hasError("sinks[0].command", "must not be empty"));
  EXPECT_TRUE(parseCommand("/bin/true").hasError("sinks[0].command", "list of strings"));
}

TEST_F(SupervisorSinkConfigTest, CommandMustExistAndBeExecutable) {
  writeFile(tmp_.path() / "plain.sh", "#!/bin/sh\n",
            fs::perms::owner_read | fs::perms::owner_write);
  auto p = parseCommand("[\"" + (tmp_.path() / "plain.sh").string() + "\"]");
  EXPECT_TRUE(p.hasError("sinks[0].command", "is not executable")) << p.errors.size();
  EXPECT_TRUE(parseCommand("[\"" + (tmp_.path() / "none.sh").string() + "\"]")
                  .hasError("sinks[0].command", "No such file or directory"));
  EXPECT_TRUE(
      parseCommand("[sluice-no-such-program-xyz]").hasError("sinks[0].command", "not found"));
  EXPECT_TRUE(parseCommand("[\"" + tmp_.path().string() + "\"]")
                  .hasError("sinks[0].command", "not a regular file"));
}

TEST_F(SupervisorSinkConfigTest, UnknownKeysAndBadValuesNameTheirPath) {
  auto p = parseCommand("[/bin/true]",
                        "colour: blue\non_failure: maybe\npermanent_exit_codes: [0, 300]\n"
                        "kill_grace: 10\nkeep_jobs: -1\nenv: {\"A=B\": x}\n");
  EXPECT_TRUE(p.hasError("sinks[0].colour", "unknown key"));
  EXPECT_TRUE(p.hasError("sinks[0].on_failure", "retry, dead"));
  EXPECT_TRUE(p.hasError("sinks[0].permanent_exit_codes", "\"0\""));
  EXPECT_TRUE(p.hasError("sinks[0].permanent_exit_codes", "\"300\""));
  EXPECT_TRUE(p.hasError("sinks[0].kill_grace", "duration"));
  EXPECT_TRUE(p.hasError("sinks[0].keep_jobs"));
  EXPECT_TRUE(p.hasError("sinks[0].env.A=B", "not a valid variable name"));
  // Policy keys belong to the core and are not unknown to the plugin.
  EXPECT_TRUE(parseCommand("[/bin/true]", "timeout: 1h\nconcurrency: 2\n").errors.empty());
}

TEST_F(SupervisorSinkConfigTest, GpuStageOutputUserAndLimitKeysAreRead) {
  auto p = parseCommand("[/bin/true]",
                        "gpus: [0, 1]\ngpus_per_job: 2\nshare: true\nstage_in: true\n"
                        "outputs: [{source: s, path: /out, prefix: [a]}, {path: /tmp/r}]\n"
                        "user: nobody\nlimits: {memory: 1GiB, open_files: 64}\n");
  ASSERT_TRUE(p.errors.empty()) << p.errors[0].str();
  auto* spec = dynamic_cast<SupervisorSpec*>(p.spec.get());
  ASSERT_NE(spec, nullptr);
  const SupervisorConfig& c = spec->config;
  EXPECT_EQ(c.gpus, GpuMode::List);
  EXPECT_EQ(c.gpu_list, (std::vector<int>{0, 1}));
  EXPECT_EQ(c.gpus_per_job, 2);
  EXPECT_TRUE(c.share);
  EXPECT_TRUE(c.stage_in);
  ASSERT_EQ(c.outputs.size(), 2u);
  EXPECT_EQ(c.outputs[0].source, "s");
  EXPECT_EQ(c.outputs[0].path, "out/");  // a key prefix: no leading '/', one trailing
  EXPECT_TRUE(c.outputs[0].matches("a.json"));
  EXPECT_FALSE(c.outputs[0].matches("b.json"));
  EXPECT_EQ(c.outputs[1].path, "/tmp/r");
  ASSERT_TRUE(c.run_as);
  EXPECT_EQ(c.run_as->uid, 65534u);
  EXPECT_EQ(c.limits.size(), 2u);
  EXPECT_EQ(spec->sources(), std::vector<std::string>{"s"});
  EXPECT_TRUE(spec->emitsEvents());
}

}  // namespace
}  // namespace sluice::sinks::supervisor
