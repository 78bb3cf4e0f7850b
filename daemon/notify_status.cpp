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

std::string notifyStatus(const QueueStats& stats, const std::vector<Health::Component>& health) {
  std::int64_t pending = 0, dead = 0;
  for (auto& ss : stats.sinks) {
    pending += ss.pending;
    dead += ss.dead;
  }
  std::string out = "STATUS=" + std::to_string(pending) + " pending, " + std::to_string(dead) + " dead";
  const std::string prefix = "source:";
  std::string sources;
  for (auto& c : health) {
    // "source:NAME" only: "source:NAME:intake" and the like are details of the same source.
    if (c.name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string name = c.name.substr(prefix.size());
    if (name.find(':') != std::string::npos) continue;
    sources += sources.empty() ? "; sources: " : ", ";
    sources += oneLine(name, 40) + " ";
    sources += c.state == HealthState::Ok ? "ok" : c.state == HealthState::Degraded ? "degraded" : "down";
    if (c.state != HealthState::Ok && !c.message.empty()) sources += " (" + oneLine(c.message, 60) + ")";
  }
  return out + sources;
}

}  // namespace sluice
