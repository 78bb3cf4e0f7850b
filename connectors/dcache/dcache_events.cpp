#include "connectors/dcache/dcache_events.hpp"

#include "daemon/sigv4.hpp"

namespace sluice::connectors::dcache {
namespace {

std::string str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::int64_t num(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

Entry entryOf(const nlohmann::json& j) {
  Entry e;
  e.name = str(j, "fileName");
  const std::string type = str(j, "fileType");
  e.is_dir = type == "DIR";
  e.regular = type == "REGULAR";
  e.version = {str(j, "pnfsId"), num(j, "mtime"), num(j, "size")};
  return e;
}

}  // namespace

std::optional<Inotify> parseInotify(std::string_view data, std::string* why) {
  auto j = nlohmann::json::parse(data, nullptr, false);
  auto fail = [&](const char* w) {
    if (why) *why = w;
    return std::nullopt;
  };
  if (!j.is_object()) return fail("not a JSON object");
  auto ev = j.find("event");
  if (ev == j.end() || !ev->is_object()) return fail("no \"event\" object");
  auto mask = ev->find("mask");
  if (mask == ev->end() || !mask->is_array() || mask->empty())
    return fail("no \"mask\" array in the event");
  Inotify n;
  for (auto& f : *mask) {
    if (!f.is_string()) return fail("a mask entry is not a string");
    if (f == "IN_ISDIR")
      n.is_dir = true;
    else if (n.flag.empty())
      n.flag = f.get<std::string>();
  }
  if (n.flag.empty()) return fail("the mask names no event");
  n.subscription = str(j, "subscription");
  if (n.subscription.empty()) return fail("no \"subscription\"");
  n.name = str(*ev, "name");
  if (n.name.find('/') != std::string::npos || n.name == "." || n.name == "..")
    return fail("a name that is not one path segment");
  n.cookie = str(*ev, "cookie");
  n.data = std::move(j);
  return n;
}

std::optional<SystemEvent> parseSystem(std::string_view data) {
  auto j = nlohmann::json::parse(data, nullptr, false);
  if (!j.is_object() || str(j, "type").empty()) return std::nullopt;
  return SystemEvent{str(j, "type"), str(j, "subscription")};
}

Listing parseListing(std::string_view body) {
  Listing l;
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("fileType")) {
    l.error = "not a dCache namespace entry";
    return l;
  }
  l.self = entryOf(j);
  if (auto c = j.find("children"); c != j.end()) {
    if (!c->is_array()) {
      l.error = "\"children\" is not a list";
      return l;
    }
    for (auto& child : *c) {
      if (!child.is_object()) continue;
      Entry e = entryOf(child);
      if (e.name.empty() || e.name.find('/') != std::string::npos || e.name == "." ||
          e.name == "..")
        continue;  // not a name sluice could address
      l.children.push_back(std::move(e));
    }
  }
  return l;
}

std::string errorMessage(std::string_view body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("errors") || !j["errors"].is_array() || j["errors"].empty() ||
      !j["errors"][0].is_object())
    return "";
  return str(j["errors"][0], "message");
}

std::string pathUrl(const std::string& base, const std::string& path) {
  return base + uriEncode(path, true);
}

std::string childPath(const std::string& dir, const std::string& name) {
  return (dir == "/" ? "" : dir) + "/" + name;
}

bool isUnder(const std::string& path, const std::string& dir) {
  if (dir == "/") return !path.empty() && path[0] == '/';
  return path.size() >= dir.size() && path.compare(0, dir.size(), dir) == 0 &&
         (path.size() == dir.size() || path[dir.size()] == '/');
}

Event fileEvent(const Origin& o, EventType type, const std::string& path, const ObjectVersion& v,
                const std::string& fallback, std::int64_t time_ms, const std::string& from) {
  Event ev;
  const bool known = !v.etag.empty();
  ev.id = eventId(
      {"dcache", o.url, path, toString(type), from, known ? toFingerprint(v) : "?" + fallback});
  ev.source = o.url;
  ev.type = type;
  ev.time_ms = time_ms;
  ev.storage = "dcache";
  ev.connector = o.source;
  ev.path = path;
  if (!from.empty()) ev.previous_path = from;
  if (known) {
    ev.size = v.size;
    ev.mtime_ms = v.mtime_ms;
    ev.version = v.etag;  // the PNFS-ID: dCache files are immutable, a rewrite is a new one
  }
  return ev;
}

Event gapEvent(const Origin& o, const std::string& channel, const std::string& last_id,
               const std::string& why, std::int64_t time_ms) {
  Event ev;
  ev.id = eventId({"dcache-gap", o.url, channel, last_id, why, std::to_string(time_ms)});
  ev.source = o.url;
  ev.type = EventType::Gap;
  ev.time_ms = time_ms;
  ev.storage = "dcache";
  ev.connector = o.source;
  ev.path = "/";
  ev.note = why + "; the watched paths are listed again, so changes in the gap are delivered";
  return ev;
}

}  // namespace sluice::connectors::dcache
