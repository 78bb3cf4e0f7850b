#include "daemon/registry.hpp"

#include <cstdio>
#include <cstdlib>
#include <map>

namespace sluice {
namespace {

template <typename P>
std::map<std::string, P>& table() {
  static std::map<std::string, P> t;  // function-local: safe during static initialisation
  return t;
}

template <typename P>
bool add(const char* kind, const std::string& type, P parser) {
  if (!table<P>().emplace(type, parser).second) {
    std::fprintf(stderr, "sluice: %s type '%s' registered twice\n", kind, type.c_str());
    std::abort();
  }
  return true;
}

template <typename P>
P find(const std::string& type) {
  auto it = table<P>().find(type);
  return it == table<P>().end() ? nullptr : it->second;
}

template <typename P>
std::vector<std::string> names() {
  std::vector<std::string> out;
  for (auto& [k, _] : table<P>()) out.push_back(k);
  return out;
}

}  // namespace

bool registerSink(const std::string& type, SinkParser p) { return add("sink", type, p); }
bool registerConnector(const std::string& type, ConnectorParser p) {
  return add("source", type, p);
}
SinkParser findSink(const std::string& type) { return find<SinkParser>(type); }
ConnectorParser findConnector(const std::string& type) { return find<ConnectorParser>(type); }
std::vector<std::string> sinkTypes() { return names<SinkParser>(); }
std::vector<std::string> connectorTypes() { return names<ConnectorParser>(); }

}  // namespace sluice
