#pragma once
// Parses one `sinks:` entry the way the core does (name, type and the delivery policy first,
// then the registered parser for the rest), for the sinks' unit tests.
#include <yaml-cpp/yaml.h>

#include <memory>
#include <string>

#include "daemon/config_reader.hpp"
#include "daemon/delivery.hpp"
#include "daemon/registry.hpp"
#include "daemon/sink.hpp"

namespace sluice::test {

// nullptr when the type is not registered or its spec is not a `Spec`.
template <typename Spec>
std::unique_ptr<Spec> parseSinkSpec(const std::string& yaml, ConfigErrors& errors) {
  MapReader m(YAML::Load(yaml), "sinks[0]", errors);
  auto name = m.requiredString("name");
  auto type = m.requiredString("type");
  auto policy = parseDeliveryPolicy(m, DeliveryPolicy{});
  SinkParser parser = findSink(type);
  if (!parser) return nullptr;
  std::unique_ptr<SinkSpec> spec = parser(m);
  spec->name = name;
  spec->type = type;
  spec->policy = policy;
  return std::unique_ptr<Spec>(dynamic_cast<Spec*>(spec.release()));
}

inline std::string errorText(const ConfigErrors& errors) {
  std::string s;
  for (auto& e : errors.list()) s += e.str() + "\n";
  return s;
}

// Whether an error at `path` says something containing `part`.
inline bool hasError(const ConfigErrors& errors, const std::string& path, const std::string& part) {
  for (auto& e : errors.list())
    if (e.path == path && e.str().find(part) != std::string::npos) return true;
  return false;
}

}  // namespace sluice::test
