#include "connectors/local/local_config.hpp"

#include <fnmatch.h>

#include "daemon/registry.hpp"

namespace sluice::connectors::local {
namespace {

std::unique_ptr<ConnectorSpec> parseLocalSpec(MapReader& m) {
  auto spec = std::make_unique<LocalSpec>();
  spec->path = m.requiredPath("path").string();  // relative: to the config file's folder
  spec->recursive = m.boolean("recursive", true);
  parseEventKinds(m, "local", spec->emit_created, spec->emit_removed, &spec->emit_moved);
  spec->ignore = m.stringList("ignore");
  spec->rescan_interval = m.duration("rescan_interval", Duration(0));
  spec->max_watches = static_cast<std::uint64_t>(m.integer("max_watches", 0, 0, 1LL << 32));
  m.finish();
  return spec;
}

const bool kRegistered = registerConnector("local", &parseLocalSpec);

}  // namespace

bool ignored(const std::vector<std::string>& globs, const std::string& base_name) {
  for (auto& g : globs)
    if (fnmatch(g.c_str(), base_name.c_str(), FNM_PERIOD) == 0 ||
        fnmatch(g.c_str(), base_name.c_str(), 0) == 0)
      return true;
  return false;
}

}  // namespace sluice::connectors::local
