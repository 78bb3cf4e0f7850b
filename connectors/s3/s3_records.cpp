#include "connectors/s3/s3_records.hpp"

#include <charconv>

#include "daemon/sigv4.hpp"

namespace sluice::connectors::s3 {
namespace {

std::string str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// MinIO's sequencer is the object's ModTime in ns, upper-case hex: the ms a listing shows.
std::optional<std::int64_t> sequencerMs(const std::string& seq) {
  std::uint64_t ns = 0;
  auto [p, ec] = std::from_chars(seq.data(), seq.data() + seq.size(), ns, 16);
  if (seq.empty() || ec != std::errc() || p != seq.data() + seq.size()) return std::nullopt;
  return static_cast<std::int64_t>(ns / 1'000'000);
}

// EventBridge's shape of an S3 event (detail-type "Object Created"/"Object Deleted").
std::optional<nlohmann::json> fromEventBridge(const nlohmann::json& j) {
  if (!j.is_object() || str(j, "source") != "aws.s3" || !j.contains("detail")) return {};
  const auto& d = j["detail"];
  if (!d.is_object() || !d.contains("object") || !d["object"].is_object()) return {};
  const std::string kind = str(j, "detail-type");
  const std::string name = kind == "Object Created"   ? "ObjectCreated:" + str(d, "reason")
                           : kind == "Object Deleted" ? "ObjectRemoved:" + str(d, "reason")
                                                      : kind;
  const auto& o = d["object"];
  nlohmann::json obj = {{"key", str(o, "key")}, {"sequencer", str(o, "sequencer")}};
  if (o.contains("size")) obj["size"] = o["size"];
  if (o.contains("etag")) obj["eTag"] = o["etag"];
  if (o.contains("version-id")) obj["versionId"] = o["version-id"];
  nlohmann::json bucket = {{"name", d.contains("bucket") ? str(d["bucket"], "name") : ""}};
  return nlohmann::json{{"Records",
                         {{{"eventSource", "aws:s3"},
                           {"eventName", name},
                           {"eventTime", str(j, "time")},
                           {"s3", {{"bucket", bucket}, {"object", obj}}},
                           {"eventBridge", j}}}}};
}

}  // namespace

Event objectEvent(const Origin& o, EventType type, const std::string& bucket,
                  const std::string& key, const ObjectVersion& v, const std::string& fallback,
                  std::int64_t time_ms) {
  Event ev;
  const bool known = !v.etag.empty();
  ev.id = eventId({"s3-object", o.endpoint, bucket, key, known ? v.etag : "?" + fallback,
                   known && o.mtime_in_id ? std::to_string(v.mtime_ms) : "", toString(type)});
  ev.source = o.endpoint + "/" + uriEncode(bucket, false);
  ev.type = type;
  ev.time_ms = time_ms;
  ev.storage = o.storage;
  ev.connector = o.source;
  ev.path = "/" + bucket + "/" + key;
  ev.bucket = bucket;
  ev.key = key;
  if (known) {
    ev.etag = v.etag;
    if (type == EventType::Created) {
      ev.size = v.size;
      ev.mtime_ms = v.mtime_ms;
    }
  }
  return ev;
}

std::optional<ParsedRecord> parseRecord(const nlohmann::json& rec, RecordForm form,
                                        std::string* why) {
  why->clear();
  if (!rec.is_object()) {
    *why = "a record is not a JSON object";
    return std::nullopt;
  }
  ParsedRecord r;
  std::string name = str(rec, "eventName");
  const std::string full = name;
  if (name.rfind("s3:", 0) == 0) name.erase(0, 3);  // AWS and Ceph: without the prefix
  if (name.rfind("ObjectCreated:", 0) == 0) {
    r.type = EventType::Created;
  } else if (name.rfind("ObjectRemoved:", 0) == 0 ||
             // Lifecycle rules removing the current object: AWS, and Ceph RGW's names.
             name == "LifecycleExpiration:Delete" ||
             name == "LifecycleExpiration:DeleteMarkerCreated" ||
             name == "ObjectLifecycle:Expiration:Current") {
    r.type = EventType::Removed;
  } else {
    if (full.empty()) *why = "a record without eventName";
    return std::nullopt;  // accessed, bucket, replication, ... events: not object changes
  }
  auto s3 = rec.find("s3");
  if (s3 == rec.end() || !s3->is_object() || !s3->contains("bucket") || !s3->contains("object") ||
      !(*s3)["bucket"].is_object() || !(*s3)["object"].is_object()) {
    *why = "a record without s3.bucket and s3.object";
    return std::nullopt;
  }
  const auto& obj = (*s3)["object"];
  r.bucket = str((*s3)["bucket"], "name");
  std::string key = str(obj, "key");
  if (r.bucket.empty() || key.empty()) {
    *why = "a record without bucket name or object key";
    return std::nullopt;
  }
  r.key = form.key_escaped ? formDecode(key) : key;
  r.version.etag = str(obj, "eTag");
  if (auto it = obj.find("size"); it != obj.end() && it->is_number_integer())
    r.version.size = it->get<std::int64_t>();
  r.sequencer = str(obj, "sequencer");
  r.version_id = str(obj, "versionId");
  r.time_ms = parseTime(str(rec, "eventTime")).value_or(0);
  r.version.mtime_ms = form.sequencer_is_mtime ? sequencerMs(r.sequencer).value_or(r.time_ms) : 0;
  if (r.type == EventType::Removed) r.version = {};  // the removed version is the index's
  r.native = rec;
  return r;
}

StreamLine parseStreamLine(std::string_view line) {
  StreamLine out;
  auto blank = line.find_first_not_of(" \t\r");
  if (blank == std::string_view::npos) return out;  // keep-alive spaces
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("Records")) {
    out.error = "not a {\"Records\": [...]} line";
    return out;
  }
  const auto& recs = j["Records"];
  if (recs.is_null()) return out;  // ping
  if (!recs.is_array()) {
    out.error = "Records is not a list";
    return out;
  }
  for (const auto& rec : recs) {
    std::string why;
    if (auto r = parseRecord(rec, {false, true}, &why))
      out.records.push_back(std::move(*r));
    else if (!why.empty())
      out.error = why;
  }
  return out;
}

PushBody parsePushBody(std::string_view body, bool minio) {
  PushBody out;
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!minio && j.is_object() && j.contains("Type") && j["Type"].is_string()) {
    // SNS over HTTP: the S3 notification is the escaped JSON in Message.
    const std::string type = j["Type"];
    if (type != "Notification") {
      out.error = "an SNS " + type + " message (confirm a subscription by opening its " +
                  "SubscribeURL yourself; sluice never follows URLs it is sent)";
      return out;
    }
    j = nlohmann::json::parse(str(j, "Message"), nullptr, false);
  }
  if (j.is_discarded() || !j.is_object()) {
    out.error = "the body is not a JSON object";
    return out;
  }
  auto recs = j.find("Records");
  if (recs == j.end() && !minio && str(j, "Event") == "s3:TestEvent") return out;
  if (recs == j.end() || !recs->is_array()) {
    out.error = "the body has no Records list";
    return out;
  }
  for (const auto& rec : *recs) {
    std::string why;
    // MinIO's webhook QueryEscapes keys; AWS form-encodes them; Ceph RGW sends them raw.
    RecordForm form{minio || !rec.is_object() || str(rec, "eventSource") != "ceph:s3", minio};
    if (auto r = parseRecord(rec, form, &why)) {
      out.records.push_back(std::move(*r));
    } else if (!why.empty()) {
      out.error = why;
      out.records.clear();
      return out;
    }
  }
  return out;
}

PushBody parseSqsBody(std::string_view body) {
  auto bridged = fromEventBridge(nlohmann::json::parse(body, nullptr, false));
  return parsePushBody(bridged ? bridged->dump() : body, false);
}

}  // namespace sluice::connectors::s3
