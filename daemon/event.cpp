#include "daemon/event.hpp"

#include <openssl/evp.h>

#include <array>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <limits>
#include <stdexcept>
#include <type_traits>

namespace sluice {
namespace {

constexpr std::array<std::string_view, 7> kTypeNames = {
    "created", "removed", "moved", "attributes", "gap", "job.succeeded", "job.failed"};
constexpr std::string_view kTypePrefix = "sluice.object.";
constexpr std::string_view kJobPrefix = "sluice.";  // + "job.succeeded"

}  // namespace

size_t utf8Sequence(std::string_view b, size_t i, char32_t* code_point) {
  auto c = static_cast<unsigned char>(b[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (n == 0 || i + n > b.size()) return 0;
  std::uint32_t cp = n == 1 ? c : n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
  for (size_t k = 1; k < n; ++k) {
    auto cc = static_cast<unsigned char>(b[i + k]);
    if ((cc >> 6) != 2) return 0;
    cp = (cp << 6) | (cc & 0x3f);
  }
  // Reject overlong forms, surrogates and values past U+10FFFF.
  if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
      cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  if (code_point) *code_point = cp;
  return n;
}

namespace {

// A string member as valid UTF-8: lossy text only where it is not valid already.
std::string text(const std::string& s) { return isUtf8(s) ? s : toUtf8Lossy(s); }
nlohmann::json text(const std::optional<std::string>& s) {
  return s ? nlohmann::json(text(*s)) : nlohmann::json(nullptr);
}

bool hasInvalidText(const nlohmann::json& j) {
  if (j.is_string()) return !isUtf8(j.get_ref<const std::string&>());
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it)
      if (!isUtf8(it.key()) || hasInvalidText(it.value())) return true;
  } else if (j.is_array()) {
    for (const auto& v : j)
      if (hasInvalidText(v)) return true;
  }
  return false;
}

// `native` is the storage's own event, verbatim; only when it holds invalid text (a connector
// copied raw bytes into it) is it re-encoded, with U+FFFD where the bytes were.
nlohmann::json validNative(const nlohmann::json& native) {
  if (!hasInvalidText(native)) return native;
  return nlohmann::json::parse(safeDump(native));
}

// Writes a raw byte string as JSON: text member always, base64 member when not valid UTF-8.
void putBytes(nlohmann::json& out, const char* name, const std::string& bytes) {
  bool exact = true;
  out[name] = toUtf8Lossy(bytes, &exact);
  if (!exact) out[std::string(name) + "_b64"] = base64Encode(bytes);
}

std::string getBytes(const nlohmann::json& in, const std::string& name) {
  if (auto b = in.find(name + "_b64"); b != in.end() && b->is_string()) {
    if (auto raw = base64Decode(b->get<std::string>())) return *raw;
    throw std::invalid_argument("data." + name + "_b64 is not valid base64");
  }
  return in.at(name).get<std::string>();
}

template <typename T>
std::optional<T> optional(const nlohmann::json& in, const char* name) {
  auto it = in.find(name);
  if (it == in.end() || it->is_null()) return std::nullopt;
  if constexpr (std::is_integral_v<T>) {
    // get<int64_t>() of 1e300 is undefined behaviour, of 2^64-1 a wrapped -1: refuse both.
    if (!it->is_number_integer() ||
        (it->is_number_unsigned() && it->template get<std::uint64_t>() >
                                         static_cast<std::uint64_t>(std::numeric_limits<T>::max())))
      throw std::invalid_argument(std::string("data.") + name + " must be a whole number");
  }
  return it->get<T>();
}

}  // namespace

std::string_view toString(EventType t) { return kTypeNames.at(static_cast<size_t>(t)); }

bool isJobEvent(EventType t) { return t == EventType::JobSucceeded || t == EventType::JobFailed; }

std::optional<EventType> eventTypeFromString(std::string_view s) {
  if (s.starts_with(kTypePrefix)) s.remove_prefix(kTypePrefix.size());
  else if (s.starts_with("sluice.job.")) s.remove_prefix(kJobPrefix.size());
  for (size_t i = 0; i < kTypeNames.size(); ++i)
    if (kTypeNames[i] == s) return static_cast<EventType>(i);
  return std::nullopt;
}

std::string Event::typeUri() const {
  return std::string(isJobEvent(type) ? kJobPrefix : kTypePrefix) + std::string(toString(type));
}

std::string Event::subject() const { return toUtf8Lossy(path); }

nlohmann::json Event::data() const {
  nlohmann::json d = nlohmann::json::object();
  d["storage"] = text(storage);
  d["connector"] = text(connector);
  putBytes(d, "path", path);
  if (previous_path) putBytes(d, "previous_path", *previous_path);
  d["size"] = size ? nlohmann::json(*size) : nlohmann::json(nullptr);
  d["etag"] = text(etag);
  d["version"] = text(version);
  d["mtime"] = mtime_ms ? nlohmann::json(formatTime(*mtime_ms)) : nlohmann::json(nullptr);
  if (bucket) d["bucket"] = text(*bucket);
  if (key) putBytes(d, "key", *key);
  if (note) d["note"] = text(*note);
  d["native"] = validNative(native);
  return d;
}

nlohmann::json toJson(const Event& ev) {
  return {{"specversion", "1.0"},
          {"id", text(ev.id)},
          {"source", isUtf8(ev.source) ? ev.source : uriEscape(ev.source)},
          {"type", ev.typeUri()},
          {"subject", ev.subject()},
          {"time", formatTime(ev.time_ms)},
          {"datacontenttype", "application/json"},
          {"data", ev.data()}};
}

Event fromJson(const nlohmann::json& j) {
  try {
    if (j.at("specversion").get<std::string>() != "1.0")
      throw std::invalid_argument("specversion must be \"1.0\"");
    Event ev;
    ev.id = j.at("id").get<std::string>();
    ev.source = j.at("source").get<std::string>();
    auto type = eventTypeFromString(j.at("type").get<std::string>());
    if (!type) throw std::invalid_argument("unknown type " + j.at("type").dump());
    ev.type = *type;
    auto t = parseTime(j.at("time").get<std::string>());
    if (!t) throw std::invalid_argument("time is not RFC 3339");
    ev.time_ms = *t;
    const auto& d = j.at("data");
    ev.storage = d.at("storage").get<std::string>();
    ev.connector = d.at("connector").get<std::string>();
    ev.path = getBytes(d, "path");
    if (d.contains("previous_path")) ev.previous_path = getBytes(d, "previous_path");
    ev.size = optional<std::int64_t>(d, "size");
    ev.etag = optional<std::string>(d, "etag");
    ev.version = optional<std::string>(d, "version");
    if (auto m = optional<std::string>(d, "mtime")) ev.mtime_ms = parseTime(*m);
    ev.bucket = optional<std::string>(d, "bucket");
    if (d.contains("key")) ev.key = getBytes(d, "key");
    ev.note = optional<std::string>(d, "note");
    ev.native = d.value("native", nlohmann::json(nullptr));
    return ev;
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument(std::string("malformed event: ") + e.what());
  }
}

std::string eventId(std::initializer_list<std::string_view> parts) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  for (auto p : parts) {
    std::uint64_t n = p.size();
    EVP_DigestUpdate(ctx, &n, sizeof n);
    EVP_DigestUpdate(ctx, p.data(), p.size());
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < 16; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

std::string formatTime(std::int64_t ms) {
  std::time_t secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  int milli = static_cast<int>(ms - static_cast<std::int64_t>(secs) * 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, milli);
  return buf;
}

std::optional<std::int64_t> parseTime(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.fff...](Z|+hh:mm|-hh:mm)
  std::tm tm{};
  int consumed = 0;
  std::string str(s);
  if (std::sscanf(str.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6 || consumed != 19)
    return std::nullopt;
  // timegm() would roll month 13 or day 45 over into a valid time: refuse them instead.
  if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 60)
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::int64_t ms = static_cast<std::int64_t>(timegm(&tm)) * 1000;
  size_t i = 19;
  if (i < str.size() && str[i] == '.') {
    int digits = 0, frac = 0;
    for (++i; i < str.size() && std::isdigit(static_cast<unsigned char>(str[i])); ++i, ++digits)
      if (digits < 3) frac = frac * 10 + (str[i] - '0');
    if (digits == 0) return std::nullopt;
    for (int d = digits; d < 3; ++d) frac *= 10;
    ms += frac;
  }
  // formatTime() writes four-digit years: refuse a time it could not write back.
  auto inRange = [](std::int64_t t) -> std::optional<std::int64_t> {
    constexpr std::int64_t kMin = -62'167'219'200'000LL;  // 0000-01-01T00:00:00.000Z
    constexpr std::int64_t kMax = 253'402'300'799'999LL;  // 9999-12-31T23:59:59.999Z
    if (t < kMin || t > kMax) return std::nullopt;
    return t;
  };
  if (i < str.size() && (str[i] == 'Z' || str[i] == 'z') && i + 1 == str.size()) return inRange(ms);
  int hh = 0, mm = 0;
  if (i < str.size() && (str[i] == '+' || str[i] == '-') &&
      std::sscanf(str.c_str() + i + 1, "%2d:%2d", &hh, &mm) == 2 && i + 6 == str.size()) {
    std::int64_t off = (hh * 60 + mm) * 60000LL;
    return inRange(str[i] == '+' ? ms - off : ms + off);
  }
  return std::nullopt;
}

std::string safeDump(const nlohmann::json& j, int indent) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string toUtf8Lossy(std::string_view b, bool* exact) {
  std::string out;
  out.reserve(b.size());
  bool ok = true;
  for (size_t i = 0; i < b.size();) {
    if (size_t n = utf8Sequence(b, i)) {
      out.append(b.substr(i, n));
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      ok = false;
      ++i;
    }
  }
  if (exact) *exact = ok;
  return out;
}

bool isUtf8(std::string_view b) {
  for (size_t i = 0; i < b.size();) {
    size_t n = utf8Sequence(b, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string uriEscape(std::string_view b) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(b.size());
  for (size_t i = 0; i < b.size();) {
    auto c = static_cast<unsigned char>(b[i]);
    size_t n = utf8Sequence(b, i);
    if (n > 0 && c != '%' && c >= 0x20 && c != 0x7f) {
      out.append(b.substr(i, n));
      i += n;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
      ++i;
    }
  }
  return out;
}

std::string base64Encode(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::optional<std::string> base64Decode(std::string_view in) {
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out(3 * in.size() / 4, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()),
                          static_cast<int>(in.size()));
  if (n < 0) return std::nullopt;
  size_t pad = (!in.empty() && in.back() == '=') + (in.size() > 1 && in[in.size() - 2] == '=');
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

}  // namespace sluice
