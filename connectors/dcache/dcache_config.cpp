#include "connectors/dcache/dcache_spec.hpp"
#include "daemon/registry.hpp"

namespace sluice::connectors::dcache {
namespace {

std::unique_ptr<ConnectorSpec> parseDcacheSpec(MapReader& m) {
  auto spec = std::make_unique<DcacheSpec>();
  spec->url = httpUrl(m, "url", true, true);
  spec->webdav_url = httpUrl(m, "webdav_url", false, true);
  for (auto p : m.stringList("paths")) {
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    if (p.empty() || p[0] != '/' || p.find("//") != std::string::npos ||
        p.find("/../") != std::string::npos || p.ends_with("/.."))
      m.error("paths", "\"" + p + "\" must be an absolute dCache path like /data/incoming");
    else
      spec->paths.push_back(p);
  }
  if (!m.has("paths")) m.error("paths", "is required (the dCache directories to watch)");
  spec->recursive = m.boolean("recursive", false);
  if (m.has("auth")) {
    MapReader a = m.map("auth");
    parseHttpAuth(a, spec->auth, "bearer");
    a.finish();
  }
  if (spec->auth.empty())
    m.error("auth",
            "is required: dCache refuses anonymous storage-event requests "
            "({bearer_file}, {username, password_file} or {cert, key})");
  parseTlsTrust(m, spec->auth);
  parseEventKinds(m, "dcache", spec->emit_created, spec->emit_removed, &spec->emit_moved);
  spec->client_id = m.string("client_id", "");
  if (spec->client_id.size() > 256) m.error("client_id", "dCache keeps at most 256 characters");
  spec->channel_timeout = m.duration("channel_timeout", spec->channel_timeout);
  if (spec->channel_timeout < Duration(1000) || spec->channel_timeout > Duration(86'400'000))
    m.error("channel_timeout", "must be between 1s and 1d (dCache's limits)");
  spec->idle_timeout = m.duration("idle_timeout", spec->idle_timeout);
  if (spec->idle_timeout < Duration(1000)) m.error("idle_timeout", "must be at least 1s");
  spec->move_pair = m.duration("move_pair", spec->move_pair);
  spec->once_quiet = m.duration("once_quiet", spec->once_quiet);
  m.finish();
  return spec;
}

const bool kRegistered = registerConnector("dcache", &parseDcacheSpec);

}  // namespace
}  // namespace sluice::connectors::dcache
