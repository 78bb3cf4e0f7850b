// `type: onedata` — parsing a source entry (no I/O but reading the token file once, so that
// `sluice check` reports a missing one) and registering the type.
#include "connectors/onedata/onedata_spec.hpp"
#include "daemon/registry.hpp"

namespace sluice::connectors::onedata {
namespace {

void parseAuth(MapReader& m, OnedataSpec& spec) {
  spec.auth.token_header = "X-Auth-Token";
  // At the top level (`token_file: ...`, as CONFIG.md shows) or in `auth: {...}`.
  if (m.has("auth")) {
    MapReader a = m.map("auth");
    parseHttpAuth(a, spec.auth, "token");
    a.finish();
  } else {
    parseHttpAuth(m, spec.auth, "token");
  }
  if (!spec.auth.username.empty() || !spec.auth.cert.empty())
    m.error("token_file", "Onedata takes an access token (token_file), not basic auth or a cert");
  else if (spec.auth.token_file.empty() && !spec.auth.token)
    m.error("token_file", "is required (a file holding a Oneprovider access token)");
  parseTlsTrust(m, spec.auth);
}

std::unique_ptr<ConnectorSpec> parseOnedataSpec(MapReader& m) {
  auto spec = std::make_unique<OnedataSpec>();
  spec->provider = httpUrl(m, "provider", true, true);
  spec->space_id = m.requiredString("space_id");
  if (spec->space_id.find_first_of("/?#% ") != std::string::npos)
    m.error("space_id", "must be the space's id (not its name or a path)");
  for (auto p : m.stringList("paths")) {
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    // Onedata's filePath starts with the space name, so a prefix needs at least that.
    if (p.size() < 2 || p[0] != '/')
      m.error("paths", "\"" + p + "\" must be an absolute path starting with the space name");
    else
      spec->paths.push_back(p);
  }
  parseAuth(m, *spec);
  spec->mode = m.choice("mode", {"changes", "poll"}, "changes");
  spec->settle = m.duration("settle", spec->settle);
  if (spec->settle.count() < 0) m.error("settle", "must not be negative");
  spec->interval = m.duration("interval", spec->interval);
  if (spec->interval.count() < 1000) m.error("interval", "must be at least 1s");
  spec->timeout = m.duration("timeout", spec->timeout);
  if (spec->timeout.count() < 1000 || spec->timeout.count() > 3'600'000)
    m.error("timeout", "must be between 1s and 1h");
  parseEventKinds(m, "onedata", spec->emit_created, spec->emit_removed, nullptr);
  m.finish();
  return spec;
}

const bool kRegistered = registerConnector("onedata", &parseOnedataSpec);

}  // namespace

bool OnedataSpec::wanted(const std::string& path) const {
  if (paths.empty()) return true;
  for (auto& p : paths)
    if (path.compare(0, p.size(), p) == 0 && (path.size() == p.size() || path[p.size()] == '/'))
      return true;
  return false;
}

bool OnedataSpec::descend(const std::string& dir) const {
  if (wanted(dir)) return true;
  for (auto& p : paths)
    if (p.size() > dir.size() && p.compare(0, dir.size(), dir) == 0 && p[dir.size()] == '/')
      return true;
  return false;
}

}  // namespace sluice::connectors::onedata
