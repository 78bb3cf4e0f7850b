#pragma once
// Component health behind /healthz and /readyz. Thread-safe.
//
// /healthz: the process is alive (always 200 while the server runs).
// /readyz: 200 only when every component is Ok; a Degraded or Failed component makes it 503 and
// its message (which names the remedy, e.g. the sysctl to raise) is in the body.
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace sluice {

enum class HealthState { Ok, Degraded, Failed };

const char* healthStateName(HealthState s);  // "ok" | "degraded" | "failed"

class Health {
 public:
  void set(const std::string& component, HealthState state, const std::string& message = "");
  bool ready() const;
  HealthState state(const std::string& component) const;
  // One line per component: "<component>: ok|degraded|failed[: message]".
  std::string report() const;
  struct Component {
    std::string name;
    HealthState state;
    std::string message;
  };
  std::vector<Component> snapshot() const;  // by name, for the status page

 private:
  struct Entry {
    HealthState state;
    std::string message;
  };
  mutable std::mutex mu_;
  std::map<std::string, Entry> components_;
};

// A source as operators see it (status page, systemd STATUS): the worst of its components
// "source:NAME" and "source:NAME:<part>", with the messages of those that are not ok.
struct SourceHealth {
  HealthState state = HealthState::Ok;
  std::vector<std::string> why;
};
SourceHealth sourceHealth(const std::vector<Health::Component>& components, const std::string& source);

}  // namespace sluice
