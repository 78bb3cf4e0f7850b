#pragma once
// What a sink sends for one event (`format:` of webhook, oscar and lambda sinks): the
// normalized CloudEvent, or one of the shapes existing FaaS tools parse (COMPAT.md §2.2, §5).
//
//  - cloudevents: the structured CloudEvent (application/cloudevents+json).
//  - s3: the MinIO/S3 envelope {"EventName","Key","Records":[record]} that OSCAR's /job and FaaS
//    Supervisor read. eventSource is "aws:s3" for events of `s3` sources and "minio:s3" for all
//    others (MinIO, and dCache, Onedata and local files, so FaaS Supervisor's MinIO path
//    classifies them); object keys are encoded as that source encodes them (MinIO: Go's
//    url.QueryEscape, '/' included; AWS: form encoding that keeps '/'), Key unencoded.
//  - onetrigger: OneTrigger's record {"Key":"/<space>/<path>","Records":[{objectKey,objectId,
//    eventTime,eventSource:"OneTrigger"}]} (COMPAT.md §1.5).
//  - native: the source's own event: dCache's SSE data object, the OneTrigger record of an
//    Onedata change, {"Records":[record]} for S3 and MinIO, inotify's record for local files;
//    the CloudEvent's data where the source had none (listings, scans).
//  - cloudevents-binary: the data alone; the attributes go in ce-* headers (webhook only).
//
// Every body is compact single-line JSON that survives OSCAR's unquoted `echo $EVENT`
// (COMPAT.md §3.2): inside strings, blanks, glob characters (* ? [ ]), backslashes and every
// byte outside printable ASCII are written as \uXXXX escapes, so neither field splitting,
// pathname expansion nor dash's echo escapes can change a byte. Any JSON parser reads the same
// values.
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/config_reader.hpp"
#include "daemon/event.hpp"

namespace sluice {

enum class PayloadFormat { CloudEvents, CloudEventsBinary, S3, OneTrigger, Native };

std::string_view toString(PayloadFormat f);
std::optional<PayloadFormat> payloadFormatFromString(std::string_view s);

// Reads `format` (default `fallback`); `allowed` lists what this sink can send.
PayloadFormat parsePayloadFormat(MapReader& m, PayloadFormat fallback,
                                 const std::vector<PayloadFormat>& allowed);

// An event the format has no form for (a gap event as an S3 record): retrying cannot help.
class PayloadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Payload {
  std::string body;
  std::string content_type;
};

// Whether the format has a form for events of this type (s3: objects created, moved, removed;
// onetrigger: new files; the others: every type). `sluice check` warns of routes that send a
// sink types its format cannot carry: those deliveries would be dead-lettered.
bool formatCarries(PayloadFormat f, EventType t);

// Throws PayloadError (no form for this event) or nlohmann::json::exception.
Payload encodePayload(PayloadFormat f, const Event& ev);

nlohmann::json s3Envelope(const Event& ev);       // throws PayloadError
nlohmann::json oneTriggerEvent(const Event& ev);  // throws PayloadError
nlohmann::json nativeEvent(const Event& ev);

// Compact JSON, safe for an unquoted shell expansion and `echo` (see above).
std::string shellSafeJson(const nlohmann::json& j);

// An object key as a notification of that origin carries it: MinIO (`minio`) escapes like Go's
// url.QueryEscape (space '+', '/' "%2F"); AWS form-encodes but keeps '/'.
std::string s3NotificationKey(std::string_view key, bool minio);

}  // namespace sluice
