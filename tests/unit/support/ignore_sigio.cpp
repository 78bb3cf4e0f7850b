// The unit tests' stand-in for what the daemon's main does for the whole process: ignore
// SIGIO. The local source probes files with read leases (openForWriting); a writer opening a
// file in that instant breaks the lease, which raises SIGIO, whose default action ends the
// process. Production code must not change process-wide state, so the test binary does it.
#include <gtest/gtest.h>

#include <csignal>

namespace sluice::test {
namespace {

class IgnoreSigio final : public ::testing::Environment {
 public:
  void SetUp() override { std::signal(SIGIO, SIG_IGN); }
};

// gtest owns the environment; registering it before main() runs is its documented way.
[[maybe_unused]] ::testing::Environment* const kIgnoreSigio =
    ::testing::AddGlobalTestEnvironment(new IgnoreSigio);

}  // namespace
}  // namespace sluice::test
