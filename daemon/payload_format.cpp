#include "daemon/payload_format.hpp"

#include <algorithm>
#include <array>

namespace sluice {
namespace {

constexpr std::array<std::pair<PayloadFormat, std::string_view>, 5> kNames{{
    {PayloadFormat::CloudEvents, "cloudevents"},
    {PayloadFormat::CloudEventsBinary, "cloudevents-binary"},
    {PayloadFormat::S3, "s3"},
    {PayloadFormat::OneTrigger, "onetrigger"},
    {PayloadFormat::Native, "native"},
}};

constexpr char kHex[] = "0123456789ABCDEF";

void percent(std::string& out, unsigned char c) {
  out += '%';
  out += kHex[c >> 4];
  out += kHex[c & 15];
}

bool alnum(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

std::string baseName(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// What FaaS tools call a bucket and a key: S3-like sources have both; for file systems the
// source's name stands for the bucket and the path (without its leading '/') is the key.
std::pair<std::string, std::string> bucketAndKey(const Event& ev) {
  if (ev.bucket && ev.key) return {*ev.bucket, *ev.key};
  std::string key = ev.path;
  while (!key.empty() && key.front() == '/') key.erase(0, 1);
  return {ev.connector, key};
}

[[noreturn]] void noForm(PayloadFormat f, const Event& ev, std::string_view kinds) {
  throw PayloadError("format " + std::string(toString(f)) + " has no form for a " +
                     std::string(toString(ev.type)) + " event (it carries " + std::string(kinds) +
                     "); route other types elsewhere with filter.types");
}

// The record MinIO would send: the source's own when it has one (its key re-encoded from the
// exact bytes, since sources differ in how they encoded it), else one built from the event.
nlohmann::json s3Record(const Event& ev, bool minio, const std::string& name,
                        const std::string& bucket, const std::string& key) {
  const std::string source = minio ? "minio:s3" : "aws:s3";
  const std::string encoded = s3NotificationKey(key, minio);
  if (ev.native.is_object() && ev.native.contains("s3") && ev.native["s3"].is_object() &&
      ev.native["s3"].contains("object") && ev.native["s3"]["object"].is_object()) {
    nlohmann::json rec = ev.native;
    rec["eventSource"] = source;
    rec["s3"]["object"]["key"] = toUtf8Lossy(encoded);
    return rec;
  }
  nlohmann::json object = {{"key", toUtf8Lossy(encoded)}};
  if (ev.size) object["size"] = *ev.size;
  if (ev.etag) object["eTag"] = toUtf8Lossy(*ev.etag);
  if (ev.version) object["versionId"] = toUtf8Lossy(*ev.version);
  object["sequencer"] = ev.id.substr(0, 16);
  return {{"eventVersion", minio ? "2.0" : "2.1"},
          {"eventSource", source},
          {"awsRegion", ""},
          {"eventTime", formatTime(ev.time_ms)},
          {"eventName", name},
          {"userIdentity", {{"principalId", ""}}},
          // OSCAR reads principalId here to pick the uploader's MinIO credentials; empty: the
          // service's own (COMPAT.md §3.2).
          {"requestParameters", {{"principalId", ""}, {"region", ""}, {"sourceIPAddress", ""}}},
          {"responseElements", {{"x-amz-request-id", ev.id}}},
          {"s3",
           {{"s3SchemaVersion", "1.0"},
            {"configurationId", "sluice"},
            {"bucket",
             {{"name", toUtf8Lossy(bucket)},
              {"ownerIdentity", {{"principalId", ""}}},
              {"arn", "arn:aws:s3:::" + toUtf8Lossy(bucket)}}},
            {"object", std::move(object)}}},
          {"source", {{"host", ""}, {"port", ""}, {"userAgent", "sluice/" SLUICE_VERSION}}}};
}

void appendEscaped(std::string& out, char32_t cp) {
  auto unit = [&](unsigned v) {
    out += "\\u";
    for (int shift = 12; shift >= 0; shift -= 4) out += "0123456789abcdef"[(v >> shift) & 15];
  };
  if (cp >= 0x10000) {
    cp -= 0x10000;
    unit(0xD800 + static_cast<unsigned>(cp >> 10));
    unit(0xDC00 + static_cast<unsigned>(cp & 0x3FF));
  } else {
    unit(static_cast<unsigned>(cp));
  }
}

void writeString(std::string& out, const std::string& s) {
  out += '"';
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      char32_t cp = 0xFFFD;
      std::size_t n = utf8Sequence(s, i, &cp);
      if (n == 0) cp = 0xFFFD, n = 1;
      appendEscaped(out, cp);
      i += n;
      continue;
    }
    if (c == '"') {
      out += "\\\"";
    } else if (c < 0x21 || c == 0x7f || c == '\\' || c == '*' || c == '?' || c == '[' || c == ']') {
      appendEscaped(out, c);
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
  out += '"';
}

void writeJson(std::string& out, const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::object: {
      out += '{';
      bool first = true;
      for (auto it = j.begin(); it != j.end(); ++it) {
        if (!first) out += ',';
        first = false;
        writeString(out, it.key());
        out += ':';
        writeJson(out, it.value());
      }
      out += '}';
      break;
    }
    case nlohmann::json::value_t::array: {
      out += '[';
      for (std::size_t i = 0; i < j.size(); ++i) {
        if (i) out += ',';
        writeJson(out, j[i]);
      }
      out += ']';
      break;
    }
    case nlohmann::json::value_t::string:
      writeString(out, j.get_ref<const std::string&>());
      break;
    default:
      out += j.dump();  // numbers, booleans, null: no blanks, globs or backslashes
  }
}

}  // namespace

std::string_view toString(PayloadFormat f) {
  for (auto& [k, v] : kNames)
    if (k == f) return v;
  return "?";
}

std::optional<PayloadFormat> payloadFormatFromString(std::string_view s) {
  for (auto& [k, v] : kNames)
    if (v == s) return k;
  return std::nullopt;
}

PayloadFormat parsePayloadFormat(MapReader& m, PayloadFormat fallback,
                                 const std::vector<PayloadFormat>& allowed) {
  auto s = m.string("format");
  if (!s) return fallback;
  std::string names;
  for (auto f : allowed) names += (names.empty() ? "" : ", ") + std::string(toString(f));
  auto f = payloadFormatFromString(*s);
  if (!f || std::find(allowed.begin(), allowed.end(), *f) == allowed.end()) {
    m.error("format", "must be one of: " + names + " (got \"" + *s + "\")");
    return fallback;
  }
  return *f;
}

std::string s3NotificationKey(std::string_view key, bool minio) {
  std::string out;
  out.reserve(key.size() + key.size() / 4);
  for (unsigned char c : key) {
    if (alnum(c) || c == '-' || c == '_' || c == '.')
      out += static_cast<char>(c);
    else if (c == ' ')
      out += '+';
    else if (minio ? c == '~' : (c == '/' || c == '*'))
      out += static_cast<char>(c);
    else
      percent(out, c);
  }
  return out;
}

nlohmann::json s3Envelope(const Event& ev) {
  const bool minio = ev.storage != "s3";
  std::string action;
  switch (ev.type) {
    case EventType::Created:
      action = "ObjectCreated:Put";
      break;
    case EventType::Moved:  // the object now at the new key; the old key is gone with it
      action = "ObjectCreated:Copy";
      break;
    case EventType::Removed:
      action = "ObjectRemoved:Delete";
      break;
    default:
      noForm(PayloadFormat::S3, ev, "created, moved and removed objects");
  }
  std::string name = minio ? "s3:" + action : action;
  if (ev.native.is_object() &&
      ev.native.value("eventName", "").find(action.substr(0, 14)) != std::string::npos)
    name = ev.native.value("eventName", name);  // e.g. CompleteMultipartUpload: keep the detail
  if (minio && name.rfind("s3:", 0) != 0) name = "s3:" + name;
  if (!minio && name.rfind("s3:", 0) == 0) name.erase(0, 3);
  auto [bucket, key] = bucketAndKey(ev);
  nlohmann::json out = {{"EventName", name}, {"Key", toUtf8Lossy(bucket + "/" + key)}};
  out["Records"] = nlohmann::json::array({s3Record(ev, minio, name, bucket, key)});
  return out;
}

bool formatCarries(PayloadFormat f, EventType t) {
  switch (f) {
    case PayloadFormat::S3:
      return t == EventType::Created || t == EventType::Moved || t == EventType::Removed;
    case PayloadFormat::OneTrigger:
      return t == EventType::Created || t == EventType::Moved;
    default:
      return true;
  }
}

nlohmann::json oneTriggerEvent(const Event& ev) {
  if (!formatCarries(PayloadFormat::OneTrigger, ev.type))
    noForm(PayloadFormat::OneTrigger, ev, "new files only");
  // OneTrigger's eventTime: Python's naive utcnow().isoformat(), microseconds, no zone.
  std::string when = formatTime(ev.time_ms);
  if (!when.empty() && when.back() == 'Z') when.back() = '0', when += "00";
  const std::string id = ev.etag ? *ev.etag : ev.version ? *ev.version : ev.id;
  return {{"Key", toUtf8Lossy(ev.path)},
          {"Records",
           {{{"objectKey", toUtf8Lossy(baseName(ev.path))},
             {"objectId", toUtf8Lossy(id)},
             {"eventTime", when},
             {"eventSource", "OneTrigger"}}}}};
}

nlohmann::json nativeEvent(const Event& ev) {
  if (ev.native.is_null()) return ev.data();
  if (ev.native.is_object() && ev.native.contains("eventSource") && ev.native.contains("s3"))
    return {{"Records", nlohmann::json::array({ev.native})}};  // as S3 and MinIO send it
  return ev.native;  // shellSafeJson() turns bytes that are not UTF-8 into U+FFFD
}

std::string shellSafeJson(const nlohmann::json& j) {
  std::string out;
  writeJson(out, j);
  return out;
}

Payload encodePayload(PayloadFormat f, const Event& ev) {
  switch (f) {
    case PayloadFormat::CloudEvents:
      return {shellSafeJson(toJson(ev)), "application/cloudevents+json; charset=utf-8"};
    case PayloadFormat::CloudEventsBinary:
      return {shellSafeJson(ev.data()), "application/json"};
    case PayloadFormat::S3:
      return {shellSafeJson(s3Envelope(ev)), "application/json"};
    case PayloadFormat::OneTrigger:
      return {shellSafeJson(oneTriggerEvent(ev)), "application/json"};
    case PayloadFormat::Native:
      return {shellSafeJson(nativeEvent(ev)), "application/json"};
  }
  return {};
}

}  // namespace sluice
