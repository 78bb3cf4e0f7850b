#pragma once
// dCache's storage events and namespace listings (PROTOCOLS.md §1) → sluice's terms, without
// I/O, so that every path a change can be seen by (the SSE stream, a stat after it, a listing
// during a reconciliation) makes the same event id from the same facts.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/event.hpp"
#include "daemon/version_index.hpp"

namespace sluice::connectors::dcache {

// The `data` of an `inotify` SSE event: {"event": {"name","cookie","mask":[...]},
// "subscription": URL}. The mask is an array: one event flag, plus IN_ISDIR.
struct Inotify {
  std::string subscription;  // opaque: compared as a string, never parsed
  std::string name;          // the child's name; empty for self and management events
  std::string cookie;        // IN_MOVED_FROM / IN_MOVED_TO pairs
  std::string flag;          // IN_CLOSE_WRITE, IN_DELETE, ..., IN_Q_OVERFLOW
  bool is_dir = false;
  nlohmann::json data;  // the whole `data` object (the event's `native`)
};
// nullopt with `why` when `data` is not such an object (bad JSON, no mask, a name with '/').
std::optional<Inotify> parseInotify(std::string_view data, std::string* why);

// A SYSTEM event's `type` (NEW_SUBSCRIPTION, SUBSCRIPTION_CLOSED, EVENT_LOSS, COMPETING_CLIENT,
// SHUTDOWN) and its subscription when it names one.
struct SystemEvent {
  std::string type, subscription;
};
std::optional<SystemEvent> parseSystem(std::string_view data);

// One entry of `GET {url}/namespace{path}[?children=true]`.
struct Entry {
  std::string name;  // fileName (children only)
  bool is_dir = false;
  bool regular = false;   // fileType REGULAR (links and specials are neither)
  ObjectVersion version;  // etag = pnfsId, mtime_ms = mtime, size
};
struct Listing {
  Entry self;
  std::vector<Entry> children;
  std::string error;  // the body is not what dCache sends
};
Listing parseListing(std::string_view body);

// The error message of a dCache error body ({"errors":[{"message",...}]}), or "".
std::string errorMessage(std::string_view body);

// Where a path's namespace entry and its content live: `base` + the path, each segment
// percent-encoded (names may hold spaces, '%', '#', '?', non-UTF-8 bytes).
std::string pathUrl(const std::string& base, const std::string& path);
// `dir` + "/" + `name` ("/" + name when dir is the root).
std::string childPath(const std::string& dir, const std::string& name);
// True when `path` is `dir` or below it.
bool isUnder(const std::string& path, const std::string& dir);

struct Origin {
  std::string source;  // the config name
  std::string url;     // the frontend API base (part of every id: two sites, two ids)
};
// `created` of a file version, `removed` of the version last known (empty when never seen:
// then `fallback`, e.g. "channel#id", keeps ids of distinct removals apart), `moved` from
// `from` to `path`. Every event of this source is made here.
Event fileEvent(const Origin& o, EventType type, const std::string& path, const ObjectVersion& v,
                const std::string& fallback, std::int64_t time_ms,
                const std::string& from = std::string());
// A `gap`: the stream may have lost changes; a reconciliation follows.
Event gapEvent(const Origin& o, const std::string& channel, const std::string& last_id,
               const std::string& why, std::int64_t time_ms);

}  // namespace sluice::connectors::dcache
