#pragma once
// Decides which sinks get a delivery of an event (the config's routes and their filters).
// Immutable after construction; safe to use from any thread.
#include <string>
#include <vector>

#include "daemon/config.hpp"

namespace sluice {

class Router {
 public:
  explicit Router(std::vector<Route> routes) : routes_(std::move(routes)) {}
  // Sink names, each at most once, in route order.
  std::vector<std::string> sinksFor(const std::string& source, const Event& ev) const;
  // Every sink a route from `source` names, whatever its filter.
  std::vector<std::string> sinksOf(const std::string& source) const;
  static bool matches(const RouteFilter& f, const Event& ev);

 private:
  std::vector<Route> routes_;
};

}  // namespace sluice
