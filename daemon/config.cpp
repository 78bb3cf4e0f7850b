#include "daemon/config.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "daemon/registry.hpp"

namespace sluice {
namespace {

// Far above any real config; only stops `-c /dev/zero`-like mistakes from eating memory.
constexpr std::size_t kMaxConfigFile = 16 * 1024 * 1024;

// Where a list entry was: its key path and line, for errors that concern the entry as a whole.
struct EntryAt {
  std::string path;
  int line = 0;
};

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

void checkListen(MapReader& m, const std::string& listen) {
  if (listen.empty()) return;
  auto colon = listen.rfind(':');
  bool ok = colon != std::string::npos && colon + 1 < listen.size();
  if (ok) {
    auto port = listen.substr(colon + 1);
    ok = port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos &&
         std::stoi(port) <= 65535;
  }
  if (!ok) m.error("listen", "must be host:port like 127.0.0.1:8787 (or \"\" to disable)");
}

RouteFilter parseFilter(MapReader f) {
  RouteFilter out;
  for (auto& t : f.stringList("types")) {
    if (auto et = eventTypeFromString(t)) out.types.push_back(*et);
    else f.error("types", "unknown event type \"" + t +
                                    "\" (created, removed, moved, attributes, gap, job.succeeded, "
                                    "job.failed)");
  }
  out.prefix = f.stringList("prefix");
  out.suffix = f.stringList("suffix");
  if (f.has("min_size")) out.min_size = static_cast<std::int64_t>(f.size("min_size", 0));
  if (f.has("max_size")) out.max_size = static_cast<std::int64_t>(f.size("max_size", 0));
  f.finish();
  return out;
}

// Iterates a list of plugin mappings, reading and checking the common `name` and `type`.
// `parse` gets the reader, the name and the type, and returns whether the entry was accepted.
void forEachPlugin(YAML::Node list, const std::string& what, ConfigErrors& errors,
                   const std::function<void(MapReader&, const std::string&, const std::string&)>& parse) {
  if (!list.IsDefined() || list.IsNull()) return;
  if (!list.IsSequence()) {
    errors.add(what, lineOf(list), "must be a list");
    return;
  }
  std::set<std::string> seen;
  for (std::size_t i = 0; i < list.size(); ++i) {
    MapReader m(list[i], what + "[" + std::to_string(i) + "]", errors);
    std::string name = m.requiredString("name");
    std::string type = m.requiredString("type");
    if (!name.empty() && !validName(name)) m.error("name", "must match [a-z0-9_-]+");
    if (!name.empty() && !seen.insert(name).second)
      m.error("name", "duplicate name \"" + name + "\"");
    if (!type.empty()) parse(m, name, type);
  }
}

// A route that sends a sink event types its payload format has no form for (a gap event to an
// S3-envelope sink): valid, but those deliveries would all be dead letters, so say it.
// `job_sources`: the sinks whose job results routes may start from.
void warnUncarried(MapReader& m, const Config& cfg, const Route& r,
                   const std::set<std::string>& job_sources) {
  std::vector<EventType> types = r.filter.types;
  if (types.empty()) {
    bool storage = false, jobs = false;
    for (auto& f : r.from) (job_sources.count(f) ? jobs : storage) = true;
    if (storage)
      types = {EventType::Created, EventType::Removed, EventType::Moved, EventType::Attributes,
               EventType::Gap};
    if (jobs) types.insert(types.end(), {EventType::JobSucceeded, EventType::JobFailed});
  }
  for (auto& sink : cfg.sinks) {
    if (std::find(r.to.begin(), r.to.end(), sink->name) == r.to.end()) continue;
    std::string lost;
    for (auto t : types)
      if (!sink->carries(t)) lost += (lost.empty() ? "" : ", ") + std::string(toString(t));
    if (!lost.empty())
      m.warning("to", "sink \"" + sink->name + "\" has no payload form for " + lost +
                          " events, which this route sends: they would be dead-lettered (narrow "
                          "filter.types, or route them to another sink)");
  }
}

// A sink whose job results are routed back to itself, directly or through other stages, would
// run forever: each job's result triggers the next job.
void checkJobLoops(MapReader& top, const std::map<std::string, std::set<std::string>>& chains) {
  for (auto& entry : chains) {
    const std::string& start = entry.first;  // (a structured binding cannot be captured)
    std::vector<std::string> path{start};
    std::set<std::string> seen;
    std::function<bool(const std::string&)> reaches = [&](const std::string& at) {
      auto it = chains.find(at);
      if (it == chains.end()) return false;
      for (auto& next : it->second) {
        path.push_back(next);
        if (next == start) return true;
        if (seen.insert(next).second && reaches(next)) return true;
        path.pop_back();
      }
      return false;
    };
    if (!reaches(start)) continue;
    std::string cycle;
    for (auto& p : path) cycle += (cycle.empty() ? "" : " → ") + p;
    top.error("routes", "routes loop sink \"" + start + "\" onto its own job results (" + cycle +
                            "): each job would trigger the next");
    return;  // one cycle is enough to fix
  }
}

void parseRoutes(MapReader& top, Config& cfg, ConfigErrors& errors,
                 const std::map<std::string, EntryAt>& source_at) {
  auto list = top.node("routes");
  if (!list.IsDefined() || list.IsNull()) {
    if (!cfg.sources.empty()) top.error("routes", "is required: no route sends events anywhere");
    return;
  }
  if (!list.IsSequence()) {
    top.error("routes", "must be a list");
    return;
  }
  std::set<std::string> sources, sinks, job_sources, routed;
  for (auto& s : cfg.sources) sources.insert(s->name);
  for (auto& s : cfg.sinks) {
    sinks.insert(s->name);
    if (s->emitsEvents()) job_sources.insert(s->name);
  }
  // A supervisor sink's job results come from a built-in source of the same name.
  std::map<std::string, std::set<std::string>> chains;  // job source → sinks its routes feed
  for (std::size_t i = 0; i < list.size(); ++i) {
    MapReader m(list[i], "routes[" + std::to_string(i) + "]", errors);
    Route r;
    r.from = m.stringList("from");
    r.to = m.stringList("to");
    if (r.from.empty()) m.error("from", "is required: name at least one source");
    if (r.to.empty()) m.error("to", "is required: name at least one sink");
    for (auto& f : r.from) {
      if (job_sources.count(f))
        chains[f].insert(r.to.begin(), r.to.end());
      else if (!sources.count(f))
        m.error("from", "unknown source \"" + f + "\" (a source, or a supervisor sink for its "
                        "job results)");
      routed.insert(f);
    }
    for (auto& t : r.to)
      if (!sinks.count(t)) m.error("to", "unknown sink \"" + t + "\"");
    r.filter = parseFilter(m.map("filter"));
    warnUncarried(m, cfg, r, job_sources);
    m.finish();
    cfg.routes.push_back(std::move(r));
  }
  checkJobLoops(top, chains);
  for (auto& s : cfg.sources) {
    if (routed.count(s->name)) continue;
    auto at = source_at.find(s->name);
    if (at != source_at.end())
      errors.add(at->second.path, at->second.line,
                 "source \"" + s->name + "\" is not named by any route");
    else
      top.error("sources", "source \"" + s->name + "\" is not named by any route");
  }
}

LoadResult parseNode(const YAML::Node& root, const std::string& origin,
                     const std::filesystem::path& base_dir) {
  ConfigErrors errors(base_dir);
  auto cfg = std::make_unique<Config>();
  cfg->file = origin;
  MapReader top(root, "", errors);
  if (!root.IsMap()) {
    errors.add("", lineOf(root), "the config must be a YAML mapping");
    return {nullptr, errors.list(), errors.warnings()};
  }
  if (auto dir = top.pathValue("state_dir")) {
    cfg->state_dir = *dir;
    if (dir->empty()) top.error("state_dir", "must not be empty");
  } else {
    // Written nowhere in the file, the default keeps its meaning: `state` in the directory
    // sluice starts in (/var/lib/sluice for the shipped systemd unit).
    std::error_code ec;
    cfg->state_dir = std::filesystem::absolute("state", ec);
  }
  {
    auto log = top.map("log");
    cfg->log.level = log.choice("level", {"trace", "debug", "info", "warn", "error"}, "info");
    cfg->log.format = log.choice("format", {"text", "json"}, "text");
    log.finish();
  }
  {
    auto http = top.map("http");
    cfg->http.listen = http.string("listen", "127.0.0.1:8787");
    checkListen(http, cfg->http.listen);
    cfg->http.ingress_token = http.secret("ingress_token");
    cfg->http.admin_token = http.secret("admin_token");
    http.finish();
  }
  {
    auto d = top.map("delivery");
    cfg->delivery = parseDeliveryPolicy(d, DeliveryPolicy{});
    d.finish();
  }
  cfg->dedup_horizon = top.duration("dedup_horizon", cfg->dedup_horizon);
  {
    auto q = top.map("queue");
    cfg->queue_max_size = q.size("max_size", 0);
    q.finish();
  }
  std::map<std::string, EntryAt> source_at, sink_at;
  forEachPlugin(top.node("sources"), "sources", errors,
                [&](MapReader& m, const std::string& name, const std::string& type) {
                  auto parser = findConnector(type);
                  if (!parser) {
                    m.error("type", "unknown source type \"" + type +
                                        "\" (known: " + joined(connectorTypes()) + ")");
                    return;
                  }
                  auto spec = parser(m);
                  spec->name = name;
                  spec->type = type;
                  if (spec->takesPushes() && !cfg->http.ingress_token)
                    m.error("", "storage pushes events to this source: set "
                                "http.ingress_token_file (the token senders must present)");
                  if (spec->takesPushes() && cfg->http.listen.empty())
                    m.error("", "storage pushes events to this source: http.listen must not be "
                                "empty");
                  source_at.emplace(name, EntryAt{m.path(), m.line()});
                  cfg->sources.push_back(std::move(spec));
                });
  forEachPlugin(top.node("sinks"), "sinks", errors,
                [&](MapReader& m, const std::string& name, const std::string& type) {
                  auto parser = findSink(type);
                  if (!parser) {
                    m.error("type", "unknown sink type \"" + type +
                                        "\" (known: " + joined(sinkTypes()) + ")");
                    return;
                  }
                  // Policy keys first, so that the plugin's finish() counts them as used.
                  DeliveryPolicy policy = parseDeliveryPolicy(m, cfg->delivery);
                  auto spec = parser(m);
                  spec->name = name;
                  spec->type = type;
                  spec->policy = policy;
                  sink_at.emplace(name, EntryAt{m.path(), m.line()});
                  if (spec->emitsEvents() && source_at.count(name))
                    m.error("name", "\"" + name + "\" is also a source: this sink's job results "
                                    "come from a built-in source of its name, give it another");
                  cfg->sinks.push_back(std::move(spec));
                });
  for (auto& sink : cfg->sinks)
    for (auto& s : sink->sources())
      if (!source_at.count(s))
        errors.add(sink_at[sink->name].path, sink_at[sink->name].line,
                   "writes to source \"" + s + "\", which is not configured");
  parseRoutes(top, *cfg, errors, source_at);
  top.finish();
  cfg->secrets = errors.secrets();
  if (!errors.empty()) return {nullptr, errors.list(), errors.warnings()};
  return {std::move(cfg), {}, errors.warnings()};
}

}  // namespace

bool validName(const std::string& name) {
  if (name.empty()) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  return true;
}

LoadResult parseConfig(const std::string& yaml, const std::string& origin,
                       const std::filesystem::path& base_dir) {
  try {
    return parseNode(YAML::Load(yaml), origin, base_dir);
  } catch (const YAML::Exception& e) {
    return {nullptr, {{"", e.mark.line >= 0 ? e.mark.line + 1 : 0, "YAML syntax: " + e.msg}}, {}};
  }
}

LoadResult loadConfig(const std::string& file) {
  std::string why;
  auto text = readRegularFile(file, kMaxConfigFile, &why);
  if (!text) return {nullptr, {{"", 0, "cannot read config file " + file + ": " + why}}, {}};
  std::error_code ec;
  auto dir = std::filesystem::absolute(file, ec).parent_path();
  return parseConfig(*text, file, ec ? std::filesystem::path() : dir);
}

}  // namespace sluice
