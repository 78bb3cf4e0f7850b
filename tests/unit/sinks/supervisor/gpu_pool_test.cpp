#include "sinks/supervisor/gpu_pool.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace sluice::sinks::supervisor {
namespace {

std::vector<GpuInfo> twoGpus(std::int64_t used0 = 0, std::int64_t used1 = 0) {
  return {{0, "GPU-aaaa", 81559, used0}, {1, "GPU-bbbb", 81559, used1}};
}

std::vector<int> indices(const std::vector<GpuInfo>& gs) {
  std::vector<int> out;
  for (auto& g : gs) out.push_back(g.index);
  return out;
}

TEST(GpuQuery, ParsesNvidiaSmiCsvWithAndWithoutUnits) {
  std::string why;
  auto gs = parseGpuQuery(
      "0, GPU-8a1e5c2d-0000-1111-2222-333344445555, 81559, 1\n"
      "1, GPU-9b2f, 81559 MiB, 40000 MiB\n\n"
      "2, [N/A], [N/A], [N/A]\n",
      &why);
  ASSERT_TRUE(gs) << why;
  ASSERT_EQ(gs->size(), 3u);
  EXPECT_EQ((*gs)[0].uuid, "GPU-8a1e5c2d-0000-1111-2222-333344445555");
  EXPECT_EQ((*gs)[1].memory_used_mib, 40000);
  EXPECT_EQ((*gs)[2].index, 2);
  EXPECT_EQ((*gs)[2].uuid, "");
  EXPECT_TRUE(parseGpuQuery("", &why)->empty());  // a machine without GPUs
}

TEST(GpuQuery, RejectsWhatIsNotTheQuerysOutput) {
  for (auto bad :
       {"NVIDIA-SMI has failed because it couldn't communicate with the driver", "0, GPU-a, 10",
        "x, GPU-a, 10, 1", "0, GPU-a, ten, 1", "-1, GPU-a, 10, 1", "0, GPU-a, 10, 1, extra"}) {
    std::string why;
    EXPECT_FALSE(parseGpuQuery(bad, &why)) << bad;
    EXPECT_NE(why.find("line 1"), std::string::npos) << why;
  }
}

TEST(GpuPool, OneJobPerGpuUntilItIsGivenBack) {
  GpuPool pool(twoGpus(), 1, false, 512);
  EXPECT_EQ(pool.room(), 2);
  auto a = pool.take();
  auto b = pool.take();
  ASSERT_TRUE(a && b);
  EXPECT_EQ(indices(*a), std::vector<int>{0});
  EXPECT_EQ(indices(*b), std::vector<int>{1});
  EXPECT_EQ(pool.room(), 0);
  EXPECT_FALSE(pool.take());
  pool.give(*a);
  EXPECT_EQ(pool.room(), 1);
  auto c = pool.take();
  ASSERT_TRUE(c);
  EXPECT_EQ(indices(*c), std::vector<int>{0});
}

TEST(GpuPool, AJobNeedingTwoWaitsForTwoFreeOnes) {
  GpuPool pool(twoGpus(), 2, false, 512);
  EXPECT_EQ(pool.room(), 1);
  auto a = pool.take();
  ASSERT_TRUE(a);
  EXPECT_EQ(indices(*a), (std::vector<int>{0, 1}));
  EXPECT_EQ(pool.room(), 0);
  pool.give(*a);
  EXPECT_EQ(pool.room(), 1);
  GpuPool three({{0, "a", 1, 0}, {1, "b", 1, 0}, {2, "c", 1, 0}}, 2, false, 512);
  ASSERT_TRUE(three.take());
  EXPECT_EQ(three.room(), 0);  // one left, two needed: nothing starts
  EXPECT_FALSE(three.take());
}

TEST(GpuPool, GpusBusyWithOtherWorkAreNotHandedOut) {
  GpuPool pool(twoGpus(0, 30000), 1, false, 512);  // GPU 1: someone else's 30 GB
  EXPECT_EQ(pool.room(), 1);
  EXPECT_EQ(pool.foreignBusy(), 1);
  auto a = pool.take();
  ASSERT_TRUE(a);
  EXPECT_EQ(indices(*a), std::vector<int>{0});
  EXPECT_FALSE(pool.take());
  // While our job holds GPU 0 its memory is ours: a reading says nothing about others.
  pool.observe(twoGpus(60000, 30000));
  pool.give(*a);
  EXPECT_EQ(pool.room(), 1);
  // The other work ended: GPU 1 is free again.
  pool.observe(twoGpus(0, 3));
  EXPECT_EQ(pool.room(), 2);
  EXPECT_EQ(pool.foreignBusy(), 0);
}

TEST(GpuPool, SharedGpusGoToTheLeastUsedFirst) {
  GpuPool pool(twoGpus(), 1, true, 512);
  std::vector<int> got;
  std::vector<std::vector<GpuInfo>> held;
  for (int i = 0; i < 5; ++i) {
    auto t = pool.take();
    ASSERT_TRUE(t);
    got.push_back(t->front().index);
    held.push_back(*t);
  }
  EXPECT_EQ(got, (std::vector<int>{0, 1, 0, 1, 0}));
  EXPECT_GT(pool.room(), 0);
  for (auto& h : held) pool.give(h);
  EXPECT_EQ(pool.idle(), 2);
}

TEST(GpuPool, EnvironmentNamesExactlyTheGpusGiven) {
  auto env = gpuEnvironment({{1, "GPU-bbbb", 1, 0}, {3, "", 1, 0}});
  std::map<std::string, std::string> m(env.begin(), env.end());
  EXPECT_EQ(m["CUDA_VISIBLE_DEVICES"], "1,3");
  EXPECT_EQ(m["NVIDIA_VISIBLE_DEVICES"], "GPU-bbbb,3");
  EXPECT_EQ(m["CUDA_DEVICE_ORDER"], "PCI_BUS_ID");
  EXPECT_EQ(m["SLUICE_GPUS"], "1,3");
}

}  // namespace
}  // namespace sluice::sinks::supervisor
