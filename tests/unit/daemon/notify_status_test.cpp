// systemd's STATUS= line: queue depth, and each configured source as the status page sees it.
#include <gtest/gtest.h>

#include "daemon/notify_status.hpp"

namespace sluice {
namespace {

TEST(NotifyStatus, SumsTheSinksAndShowsEachSourceWithItsWorstPart) {
  QueueStats stats;
  stats.sinks = {SinkStats{"a", 3, 1, 0}, SinkStats{"b", 2, 0, 4}};
  std::vector<Health::Component> health = {
      {"source:inbox", HealthState::Ok, ""},
      {"source:inbox:intake", HealthState::Degraded, "queue full"},
      {"source:dc", HealthState::Failed, "stream closed:\n503"},
      {"source:dcx", HealthState::Failed, "another source's part"},
      {"sink:hook", HealthState::Degraded, "not a source"}};
  EXPECT_EQ(notifyStatus(stats, health, {"inbox", "dc", "quiet"}),
            "STATUS=5 pending, 4 dead; sources: inbox degraded (queue full), dc down (stream "
            "closed: 503), quiet ok");
}

TEST(NotifyStatus, OneLineWhateverTheMessagesHold) {
  std::string message(500, 'x');
  message += "\r\nREADY=1";  // a server's answer that would start another sd_notify variable
  std::vector<Health::Component> health;
  health.push_back({"source:s", HealthState::Degraded, message});
  auto line = notifyStatus(QueueStats{}, health, {"s"});
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.find('\r'), std::string::npos);
  EXPECT_LT(line.size(), 200u);
}

TEST(SourceHealth, WorstOfTheSourceAndItsPartsOnly) {
  std::vector<Health::Component> health = {{"source:a", HealthState::Degraded, "slow"},
                                           {"source:a:intake", HealthState::Failed, "full"},
                                           {"source:ab", HealthState::Failed, "other"}};
  auto h = sourceHealth(health, "a");
  EXPECT_EQ(h.state, HealthState::Failed);
  EXPECT_EQ(h.why, (std::vector<std::string>{"slow", "full"}));
  EXPECT_EQ(sourceHealth(health, "none").state, HealthState::Ok);
}

}  // namespace
}  // namespace sluice
