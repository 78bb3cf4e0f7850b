#include "daemon/notify_status.hpp"

#include <cstdint>

namespace sluice {
namespace {

// A source's message can hold anything a server answered: one line, bounded, no control bytes
// (a newline would start another sd_notify variable).
std::string oneLine(const std::string& text, std::size_t max) {
  std::string out;
  for (char c : text) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    out += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? ' ' : c;
  }
  return out;
}

}  // namespace

std::string notifyStatus(const QueueStats& stats, const std::vector<Health::Component>& health,
                         const std::vector<std::string>& sources) {
  std::int64_t pending = 0, dead = 0;
  for (auto& ss : stats.sinks) {
    pending += ss.pending;
    dead += ss.dead;
  }
  std::string out = "STATUS=" + std::to_string(pending) + " pending, " + std::to_string(dead) + " dead";
  std::string shown;
  for (auto& name : sources) {
    const SourceHealth h = sourceHealth(health, name);
    shown += shown.empty() ? "; sources: " : ", ";
    shown += oneLine(name, 40) + " ";
    shown += h.state == HealthState::Failed ? "down" : healthStateName(h.state);
    if (!h.why.empty()) {
      std::string why;
      for (auto& w : h.why) why += (why.empty() ? "" : "; ") + w;
      shown += " (" + oneLine(why, 60) + ")";
    }
  }
  return out + shown;
}

}  // namespace sluice
