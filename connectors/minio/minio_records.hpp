#pragma once
// MinIO's notification records (PROTOCOLS.md §3.2) → sluice events, for both ways they arrive:
// the ListenBucketNotification stream (NDJSON, raw keys, `{"Records":null}` pings and bare
// spaces between) and the webhook target's POST body (`{"EventName","Key","Records"}`, keys
// QueryEscape'd). Also the ids: one function for every path a change can be seen by (stream,
// webhook, listing), so a change seen twice is the same event.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/event.hpp"

namespace sluice::connectors::minio {

// What a source knows of an object, as kept in its index ("etag:mtime_ms:size").
struct ObjectVersion {
  std::string etag;
  std::int64_t mtime_ms = 0;
  std::int64_t size = 0;
  bool operator==(const ObjectVersion&) const = default;
};
std::string toFingerprint(const ObjectVersion& v);
std::optional<ObjectVersion> parseFingerprint(std::string_view fp);

struct Origin {
  std::string source;    // the config name
  std::string endpoint;  // e.g. "http://minio:9000" (part of every id: two servers, two ids)
  std::string storage = "minio";
};

// `created` for the object version `v`; `removed` of the version last known (`v` empty when
// the source never saw it: then `fallback` — e.g. the record's sequencer — keeps ids apart).
Event objectEvent(const Origin& o, EventType type, const std::string& bucket,
                  const std::string& key, const ObjectVersion& v, const std::string& fallback,
                  std::int64_t time_ms);

struct ParsedRecord {
  EventType type = EventType::Created;
  std::string bucket, key;  // key: bytes (decoded where the form escapes it)
  ObjectVersion version;    // etag, mtime from the sequencer (ns of ModTime), size
  std::string sequencer;
  std::string version_id;
  std::int64_t time_ms = 0;
  nlohmann::json native;
};

// One record; nullopt (with `why`) for a record that is not an object created/removed event
// (`why` empty: a kind sluice ignores, e.g. s3:ObjectAccessed:Get).
std::optional<ParsedRecord> parseRecord(const nlohmann::json& rec, bool key_escaped,
                                        std::string* why);

// One line of the listen stream: records (maybe none, for pings and blank lines), or an error.
struct StreamLine {
  std::vector<ParsedRecord> records;
  std::string error;  // not JSON, or not {"Records": [...]}
};
StreamLine parseStreamLine(std::string_view line);

// A webhook POST body: its records, or why it cannot be used.
struct PushBody {
  std::vector<ParsedRecord> records;
  std::string error;
};
PushBody parsePushBody(std::string_view body);

}  // namespace sluice::connectors::minio
