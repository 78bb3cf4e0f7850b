// GPU scheduling of the supervisor sink, against a fake nvidia-smi first on PATH that prints
// the query's CSV from a file the test rewrites.
#include <cstdlib>
#include <map>

#include "tests/unit/sinks/supervisor/supervisor_fixture.hpp"

namespace sluice::sinks::supervisor {
namespace {

constexpr const char* kTwoIdle =
    "0, GPU-00000000-aaaa, 81559, 1\n"
    "1, GPU-11111111-bbbb, 81559, 1\n";

class SupervisorGpuTest : public SupervisorSinkTest {
 protected:
  void SetUp() override {
    fs::create_directories(bin_);
    const char* path = std::getenv("PATH");
    old_path_ = path ? path : "";
    ::setenv("PATH", (bin_.string() + ":" + old_path_).c_str(), 1);
  }
  void TearDown() override { ::setenv("PATH", old_path_.c_str(), 1); }

  void fakeNvidiaSmi(const std::string& csv) {
    writeFile(tmp_.path() / "gpus.csv", csv, fs::perms::owner_all);
    writeFile(bin_ / "nvidia-smi",
              "#!/bin/sh\nexec cat '" + (tmp_.path() / "gpus.csv").string() + "'\n",
              fs::perms::owner_all);
  }

  // A job that writes its GPU variables next to the test and waits for `go`.
  std::string gpuJob() {
    auto p = script("gpu-job.sh",
                    "echo \"$CUDA_VISIBLE_DEVICES|$NVIDIA_VISIBLE_DEVICES|$CUDA_DEVICE_ORDER\" > "
                    "\"" +
                        tmp_.path().string() +
                        "/seen-$SLUICE_EVENT_ID\"\n"
                        "while [ ! -e '" +
                        (tmp_.path() / "go").string() + "' ]; do sleep 0.01; done\n");
    return "[" + p.string() + "]";
  }

  std::string seen(const std::string& id) {
    auto s = readFile(tmp_.path() / ("seen-" + id));
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }

  fs::path bin_ = tmp_.path() / "bin";
  std::string old_path_;
};

TEST_F(SupervisorGpuTest, EachJobGetsItsOwnGpuAndAThirdWaits) {
  fakeNvidiaSmi(kTwoIdle);
  auto sink = makeSink(gpuJob(), "gpus: auto\ngpus_per_job: 1\nconcurrency: 4\n");
  EXPECT_EQ(sink->room(), 2);
  std::map<std::string, DeliveryResult> results;
  for (std::string id : {"e1", "e2"})
    sink->deliver(makeEvent(id), DeliveryInfo{"jobs", 1, 1, 0},
                  [&, id](DeliveryResult r) { results.emplace(id, r); });
  EXPECT_EQ(sink->room(), 0);  // the dispatcher leases nothing more now
  ASSERT_TRUE(waitUntil([&] { return !seen("e1").empty() && !seen("e2").empty(); }));
  std::set<std::string> gpus{seen("e1"), seen("e2")};
  EXPECT_EQ(gpus, (std::set<std::string>{"0|GPU-00000000-aaaa|PCI_BUS_ID",
                                         "1|GPU-11111111-bbbb|PCI_BUS_ID"}));
  // Delivered anyway (a race with room()): retried, never a third job on a held GPU.
  auto third = deliver(*sink, makeEvent("e3"));
  EXPECT_EQ(reasonOf(third), "no free GPU");
  writeFile(tmp_.path() / "go", "", fs::perms::owner_all);
  ASSERT_TRUE(waitUntil([&] { return results.size() == 2; }));
  for (auto& [id, r] : results) EXPECT_TRUE(std::holds_alternative<Done>(r)) << id;
  EXPECT_EQ(sink->room(), 2);
  EXPECT_NE(log_text_.str().find("2 GPUs (0, 1), 1 per job"), std::string::npos) << log_text_.str();
}

// A reload hands a running job over; the next image adopts it with the GPU it holds.
TEST_F(SupervisorGpuTest, AJobAdoptedAfterAReloadKeepsItsGpu) {
  fakeNvidiaSmi(kTwoIdle);
  auto sink = makeSink(gpuJob(), "gpus: auto\ntimeout: 1h\n");
  std::optional<DeliveryResult> first, second;
  sink->deliver(makeEvent("long"), DeliveryInfo{"jobs", 1, 1, 0},
                [&](DeliveryResult x) { first = x; });
  ASSERT_TRUE(waitUntil([&] { return !seen("long").empty(); }));
  EXPECT_TRUE(sink->handOver());
  ASSERT_TRUE(waitUntil([&] { return first.has_value(); }));
  sink.reset();
  auto next = makeSink(gpuJob(), "gpus: auto\ntimeout: 1h\n");
  EXPECT_EQ(next->room(), 1);  // the adopted job still holds GPU 0
  next->deliver(makeEvent("long"), DeliveryInfo{"jobs", 1, 1, 0},
                [&](DeliveryResult x) { second = x; });
  writeFile(tmp_.path() / "go", "", fs::perms::owner_all);
  ASSERT_TRUE(waitUntil([&] { return second.has_value(); }));
  EXPECT_TRUE(std::holds_alternative<Done>(*second)) << describe(*second);
  EXPECT_EQ(next->room(), 2);
}

TEST_F(SupervisorGpuTest, AGpuBusyWithOtherWorkIsNotHandedOut) {
  fakeNvidiaSmi("0, GPU-00000000-aaaa, 81559, 30000\n1, GPU-11111111-bbbb, 81559, 3\n");
  writeFile(tmp_.path() / "go", "", fs::perms::owner_all);
  auto sink = makeSink(gpuJob(), "gpus: auto\n");
  EXPECT_EQ(sink->room(), 1);
  ASSERT_TRUE(std::holds_alternative<Done>(deliver(*sink, makeEvent("e1"))));
  EXPECT_EQ(seen("e1"), "1|GPU-11111111-bbbb|PCI_BUS_ID");
  EXPECT_EQ(metrics_.gauge("sluice_supervisor_gpus_idle", "", {{"sink", "jobs"}}).value(), 1);
}

TEST_F(SupervisorGpuTest, AJobNeedingTwoGpusGetsBoth) {
  fakeNvidiaSmi(kTwoIdle);
  writeFile(tmp_.path() / "go", "", fs::perms::owner_all);
  auto sink = makeSink(gpuJob(), "gpus: [1, 0]\ngpus_per_job: 2\n");
  EXPECT_EQ(sink->room(), 1);
  ASSERT_TRUE(std::holds_alternative<Done>(deliver(*sink, makeEvent("e1"))));
  EXPECT_EQ(seen("e1"), "0,1|GPU-00000000-aaaa,GPU-11111111-bbbb|PCI_BUS_ID");
}

TEST_F(SupervisorGpuTest, AutoWithoutNvidiaSmiRunsCpuJobsAndSaysSo) {
  ::setenv("PATH", bin_.string().c_str(), 1);  // no nvidia-smi anywhere
  writeFile(tmp_.path() / "go", "", fs::perms::owner_all);
  auto sink = makeSink(gpuJob(), "gpus: auto\n");
  EXPECT_EQ(sink->room(), std::numeric_limits<int>::max());
  ASSERT_TRUE(std::holds_alternative<Done>(deliver(*sink, makeEvent("e1"))));
  EXPECT_EQ(seen("e1"), "||");
  EXPECT_NE(log_text_.str().find("no GPU found (nvidia-smi is not on PATH): jobs run without GPUs"),
            std::string::npos)
      << log_text_.str();
}

TEST_F(SupervisorGpuTest, AFailingNvidiaSmiIsReportedWithItsMessage) {
  writeFile(bin_ / "nvidia-smi",
            "#!/bin/sh\necho \"NVIDIA-SMI has failed because it couldn't communicate with the "
            "NVIDIA driver.\"\nexit 9\n",
            fs::perms::owner_all);
  writeFile(tmp_.path() / "go", "", fs::perms::owner_all);
  auto sink = makeSink(gpuJob(), "gpus: auto\n");
  EXPECT_NE(log_text_.str().find("no GPU found (nvidia-smi failed (exit status 9): NVIDIA-SMI has "
                                 "failed because it couldn't communicate"),
            std::string::npos)
      << log_text_.str();
}

TEST_F(SupervisorGpuTest, AListedGpuThatIsNotThereStopsTheStart) {
  fakeNvidiaSmi(kTwoIdle);
  auto parsed = parse("name: jobs\ntype: supervisor\ncommand: [/bin/true]\ngpus: [0, 5]\n");
  ASSERT_TRUE(parsed.errors.empty());
  SinkContext ctx{io_, http_, metrics_, health_, clock_, tmp_.path() / "state", log_, &stores_};
  try {
    parsed.spec->create(ctx);
    ADD_FAILURE() << "started without GPU 5";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "sink jobs: GPU 5 is not on this machine (nvidia-smi lists 0, 1)");
  }
}

TEST_F(SupervisorGpuTest, GpuKeysAreChecked) {
  EXPECT_TRUE(parse("name: j\ntype: supervisor\ncommand: [/bin/true]\ngpus: all\n")
                  .hasError("sinks[0].gpus", "auto, none or a list"));
  EXPECT_TRUE(parse("name: j\ntype: supervisor\ncommand: [/bin/true]\ngpus: [0, x]\n")
                  .hasError("sinks[0].gpus", "got \"x\""));
  EXPECT_TRUE(parse("name: j\ntype: supervisor\ncommand: [/bin/true]\ngpus: [0]\n"
                    "gpus_per_job: 2\n")
                  .hasError("sinks[0].gpus_per_job", "no job could ever start"));
  EXPECT_TRUE(parse("name: j\ntype: supervisor\ncommand: [/bin/true]\ngpus: []\n")
                  .hasError("sinks[0].gpus", "must not be empty"));
  auto ok = parse(
      "name: j\ntype: supervisor\ncommand: [/bin/true]\ngpus: [0, 1]\n"
      "gpus_per_job: 2\nshare: true\ngpu_busy_memory: 1GiB\n");
  EXPECT_TRUE(ok.errors.empty());
}

}  // namespace
}  // namespace sluice::sinks::supervisor
