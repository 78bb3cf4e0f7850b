#include "daemon/router.hpp"

#include <algorithm>

namespace sluice {

bool Router::matches(const RouteFilter& f, const Event& ev) {
  if (!f.types.empty() && std::find(f.types.begin(), f.types.end(), ev.type) == f.types.end())
    return false;
  const std::string& name = ev.key ? *ev.key : ev.path;
  if (!f.prefix.empty() && std::none_of(f.prefix.begin(), f.prefix.end(), [&](auto& p) {
        return name.compare(0, p.size(), p) == 0;
      }))
    return false;
  if (!f.suffix.empty() && std::none_of(f.suffix.begin(), f.suffix.end(), [&](auto& s) {
        return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
      }))
    return false;
  if (ev.size && f.min_size && *ev.size < *f.min_size) return false;
  if (ev.size && f.max_size && *ev.size > *f.max_size) return false;
  return true;
}

std::vector<std::string> Router::sinksOf(const std::string& source) const {
  std::vector<std::string> out;
  for (auto& r : routes_) {
    if (std::find(r.from.begin(), r.from.end(), source) == r.from.end()) continue;
    for (auto& s : r.to)
      if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  }
  return out;
}

std::vector<std::string> Router::sinksFor(const std::string& source, const Event& ev) const {
  std::vector<std::string> out;
  for (auto& r : routes_) {
    if (std::find(r.from.begin(), r.from.end(), source) == r.from.end()) continue;
    if (!matches(r.filter, ev)) continue;
    for (auto& s : r.to)
      if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  }
  return out;
}

}  // namespace sluice
