#include "daemon/health.hpp"

#include <algorithm>

namespace sluice {

const char* healthStateName(HealthState s) {
  return s == HealthState::Ok ? "ok" : s == HealthState::Degraded ? "degraded" : "failed";
}

SourceHealth sourceHealth(const std::vector<Health::Component>& components, const std::string& source) {
  SourceHealth out;
  const std::string key = "source:" + source;
  for (auto& c : components) {
    if (c.name != key && c.name.rfind(key + ":", 0) != 0) continue;
    out.state = std::max(out.state, c.state);
    if (c.state != HealthState::Ok && !c.message.empty()) out.why.push_back(c.message);
  }
  return out;
}

void Health::set(const std::string& component, HealthState state, const std::string& message) {
  std::lock_guard lock(mu_);
  components_[component] = {state, message};
}

bool Health::ready() const {
  std::lock_guard lock(mu_);
  for (auto& [_, e] : components_)
    if (e.state != HealthState::Ok) return false;
  return true;
}

HealthState Health::state(const std::string& component) const {
  std::lock_guard lock(mu_);
  auto it = components_.find(component);
  return it == components_.end() ? HealthState::Ok : it->second.state;
}

std::vector<Health::Component> Health::snapshot() const {
  std::lock_guard lock(mu_);
  std::vector<Component> out;
  for (auto& [name, e] : components_) out.push_back({name, e.state, e.message});
  return out;
}

std::string Health::report() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (auto& [name, e] : components_) {
    out += name + ": ";
    out += healthStateName(e.state);
    if (!e.message.empty()) out += ": " + e.message;
    out += "\n";
  }
  return out;
}

}  // namespace sluice
