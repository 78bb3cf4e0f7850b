#pragma once
// The normalized event: a CloudEvents 1.0 event (structured JSON form).
//
// Invariants:
//  - `id` is deterministic: derived from the source's identity of the change (eventId()),
//    never random, so a replayed change gets the same id and the queue can deduplicate it.
//  - `path`, `previous_path` and `key` hold raw bytes exactly as the storage reported them
//    (file names need not be UTF-8). JSON carries a lossy UTF-8 text form plus, only where the
//    bytes are not valid UTF-8, the exact bytes in base64 (`path_b64`); fromJson() restores them.
//  - toJson() and data() hold valid UTF-8 only, whatever bytes an Event holds, so that no byte
//    string from storage can make a strict JSON encoder throw: other strings are kept as lossy
//    text, `source` has its invalid bytes percent-encoded, and a `native` value with invalid
//    text is re-encoded with U+FFFD replacements.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace sluice {

// The last two are not storage changes: a supervisor sink's finished jobs (sluice.job.*), the
// events of the built-in source named after the sink.
enum class EventType { Created, Removed, Moved, Attributes, Gap, JobSucceeded, JobFailed };

std::string_view toString(EventType t);  // "created", ..., "job.succeeded", "job.failed"
// Accepts "created" or "sluice.object.created", "job.failed" or "sluice.job.failed".
std::optional<EventType> eventTypeFromString(std::string_view s);
bool isJobEvent(EventType t);

struct Event {
  std::string id;
  std::string source;        // URI, e.g. "file://host/abs/inbox"
  EventType type = EventType::Created;
  std::int64_t time_ms = 0;  // when sluice saw the change (or the source's own time)

  // data
  std::string storage;    // "local", "dcache", ...
  std::string connector;  // the source's config name
  std::string path;       // raw bytes; for S3-like sources "/bucket/key"
  std::optional<std::string> previous_path;  // moved: where it was
  std::optional<std::int64_t> size;
  std::optional<std::int64_t> mtime_ms;
  std::optional<std::string> etag;
  std::optional<std::string> version;
  std::optional<std::string> bucket;
  std::optional<std::string> key;
  nlohmann::json native = nullptr;  // the source's original event, verbatim
  std::optional<std::string> note;  // why something is missing (e.g. "stat failed: ENOENT")

  std::string typeUri() const;   // "sluice.object.created"
  std::string subject() const;   // path as UTF-8 text
  nlohmann::json data() const;   // the `data` member alone (binary mode, native formats)
};

nlohmann::json toJson(const Event& ev);
// Throws std::invalid_argument naming the missing or malformed member.
Event fromJson(const nlohmann::json& j);

// Deterministic event id: hex SHA-256 (first 128 bits) over the parts, each length-prefixed so
// that ("ab","c") and ("a","bc") differ.
std::string eventId(std::initializer_list<std::string_view> parts);

// RFC 3339 UTC with milliseconds: 2026-11-22T10:31:02.118Z
std::string formatTime(std::int64_t ms);
std::optional<std::int64_t> parseTime(std::string_view s);

// nlohmann's dump that never throws: invalid UTF-8 in strings is written as U+FFFD.
std::string safeDump(const nlohmann::json& j, int indent = -1);

// Bytes → valid UTF-8 (invalid sequences become U+FFFD). `exact` tells whether nothing changed.
std::string toUtf8Lossy(std::string_view bytes, bool* exact = nullptr);
bool isUtf8(std::string_view bytes);
// The length of the valid UTF-8 sequence at bytes[i] (1..4), or 0 when it is not one (overlong
// forms, surrogates and code points past U+10FFFF are not); its code point in `code_point`.
std::size_t utf8Sequence(std::string_view bytes, std::size_t i, char32_t* code_point = nullptr);
// Bytes → text for a URI: valid UTF-8 stays (an IRI), but '%', control characters and every
// byte of an invalid sequence become %XX, so distinct byte strings stay distinct.
std::string uriEscape(std::string_view bytes);
std::string base64Encode(std::string_view bytes);
std::optional<std::string> base64Decode(std::string_view text);

}  // namespace sluice
