#include "daemon/health.hpp"

namespace sluice {

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
    out += e.state == HealthState::Ok ? "ok" : e.state == HealthState::Degraded ? "degraded" : "failed";
    if (!e.message.empty()) out += ": " + e.message;
    out += "\n";
  }
  return out;
}

}  // namespace sluice
