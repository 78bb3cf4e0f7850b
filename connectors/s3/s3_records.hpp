#pragma once
// S3 event notification records → sluice events, in the forms they arrive in:
//  - MinIO (PROTOCOLS.md §3): the ListenBucketNotification stream (NDJSON, raw keys,
//    `{"Records":null}` pings and bare spaces between) and the webhook target's POST body
//    (`{"EventName","Key","Records"}`, keys QueryEscape'd); the sequencer is the ModTime in ns;
//  - AWS-shaped pushes (§4.1, §4.4): `{"Records":[...]}` with names without the `s3:` prefix,
//    keys form-encoded, except Ceph RGW (`eventSource: ceph:s3`), which sends them raw; an SNS
//    envelope around them is opened.
// Also the ids: one function for every path a change can be seen by (stream, push, listing),
// so a change seen twice is the same event.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/event.hpp"
#include "daemon/version_index.hpp"

namespace sluice::connectors::s3 {

struct Origin {
  std::string source;    // the config name
  std::string endpoint;  // e.g. "http://minio:9000" (part of every id: two servers, two ids)
  std::string storage = "minio";
  // MinIO: every path (stream, push, listing) knows the modification time, so it is part of
  // the id and the same bytes uploaded again are a new event. S3: notifications do not carry
  // it, so the id is the ETag's alone (a listing and a notification must agree).
  bool mtime_in_id = true;
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

struct RecordForm {
  bool key_escaped = false;         // form-encoded (`+` = space, %XX) rather than raw
  bool sequencer_is_mtime = false;  // MinIO: the sequencer is ModTime in ns
};
// One record; nullopt (with `why`) for a record that is not an object created/removed event
// (`why` empty: a kind sluice ignores, e.g. s3:ObjectAccessed:Get).
std::optional<ParsedRecord> parseRecord(const nlohmann::json& rec, RecordForm form,
                                        std::string* why);

// One line of the listen stream: records (maybe none, for pings and blank lines), or an error.
struct StreamLine {
  std::vector<ParsedRecord> records;
  std::string error;  // not JSON, or not {"Records": [...]}
};
StreamLine parseStreamLine(std::string_view line);

// A pushed body: its records, or why it cannot be used. `minio`: MinIO's webhook form; else
// AWS-shaped records (Ceph RGW, an SNS envelope, S3's test event, which holds none).
struct PushBody {
  std::vector<ParsedRecord> records;
  std::string error;
};
PushBody parsePushBody(std::string_view body, bool minio);
// An SQS message body with S3 notifications: S3's own form, an SNS envelope around it, or
// EventBridge's shape (`detail-type` "Object Created"/"Object Deleted", `detail.object`; the
// whole event kept as the record's `eventBridge`).
PushBody parseSqsBody(std::string_view body);

}  // namespace sluice::connectors::s3
