#pragma once
// Parses one `sources:` entry as the config loader does (name and type, then the type's own
// parser), for tests that build a connector from the YAML a user would write.
#include <yaml-cpp/yaml.h>

#include <memory>
#include <string>

#include "daemon/connector.hpp"
#include "daemon/registry.hpp"

namespace sluice::test {

// Null, with the first error in `error`, when the entry is not valid.
inline std::unique_ptr<ConnectorSpec> parseSourceEntry(const std::string& yaml,
                                                       std::string* error) {
  YAML::Node n = YAML::Load(yaml);
  ConfigErrors errors;
  MapReader m(n, "sources[0]", errors);
  const std::string name = m.string("name").value_or("");
  const std::string type = m.string("type").value_or("");
  auto parser = findConnector(type);
  std::unique_ptr<ConnectorSpec> spec = parser ? parser(m) : nullptr;
  if (!parser) *error = "unknown type " + type;
  if (!errors.empty()) *error = errors.list().at(0).str();
  if (!error->empty()) return nullptr;
  spec->name = name;
  spec->type = type;
  return spec;
}

}  // namespace sluice::test
