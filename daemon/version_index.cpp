#include "daemon/version_index.hpp"

#include <charconv>

namespace sluice {
namespace {

bool number(std::string_view s, std::int64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

std::string toFingerprint(const ObjectVersion& v) {
  return v.etag + ":" + std::to_string(v.mtime_ms) + ":" + std::to_string(v.size);
}

std::optional<ObjectVersion> parseFingerprint(std::string_view fp) {
  auto c2 = fp.rfind(':');
  if (c2 == std::string_view::npos || c2 == 0) return std::nullopt;
  auto c1 = fp.rfind(':', c2 - 1);
  if (c1 == std::string_view::npos) return std::nullopt;
  ObjectVersion v;
  v.etag = std::string(fp.substr(0, c1));
  if (!number(fp.substr(c1 + 1, c2 - c1 - 1), v.mtime_ms) || !number(fp.substr(c2 + 1), v.size))
    return std::nullopt;
  return v;
}

std::string toTombstone(const Tombstone& t) {
  return "~" + toFingerprint(t.version) + "@" + std::to_string(t.removed_ms);
}

std::optional<Tombstone> parseTombstone(std::string_view text) {
  auto at = text.rfind('@');
  if (text.empty() || text.front() != '~' || at == std::string_view::npos) return std::nullopt;
  Tombstone t;
  auto v = parseFingerprint(text.substr(1, at - 1));
  if (!v || !number(text.substr(at + 1), t.removed_ms)) return std::nullopt;
  t.version = *v;
  return t;
}

bool sameVersion(const ObjectVersion& a, const ObjectVersion& b) {
  return a.etag == b.etag && a.size == b.size &&
         (a.mtime_ms == b.mtime_ms || a.mtime_ms == 0 || b.mtime_ms == 0);
}

std::optional<std::string> VersionIndex::load(Intake& intake, const std::string& source,
                                              std::int64_t horizon_ms,
                                              std::vector<IndexUpdate>& expired) {
  SourceState st = intake.loadState(source, [&](const std::string& key, const std::string& fp) {
    if (auto v = parseFingerprint(fp)) {
      live_[key] = *v;
    } else if (auto t = parseTombstone(fp)) {
      if (t->removed_ms >= horizon_ms)
        gone_[key] = *t;
      else
        expired.push_back({key, std::nullopt});
    }
  });
  loaded_ = true;
  return st.cursor;
}

void VersionIndex::apply(const std::vector<IndexUpdate>& updates) {
  for (auto& u : updates) {
    live_.erase(u.key);
    gone_.erase(u.key);
    if (!u.fingerprint) continue;
    if (auto v = parseFingerprint(*u.fingerprint))
      live_[u.key] = *v;
    else if (auto t = parseTombstone(*u.fingerprint))
      gone_[u.key] = *t;
  }
}

const ObjectVersion* VersionIndex::find(const std::string& key) const {
  auto it = live_.find(key);
  return it == live_.end() ? nullptr : &it->second;
}

const Tombstone* VersionIndex::findGone(const std::string& key) const {
  auto it = gone_.find(key);
  return it == gone_.end() ? nullptr : &it->second;
}

ObjectVersion VersionIndex::lastKnown(const std::string& key) const {
  if (auto* v = find(key)) return *v;
  if (auto* t = findGone(key)) return t->version;
  return {};
}

IndexUpdate VersionIndex::removal(const std::string& key, const ObjectVersion& v,
                                  std::int64_t now_ms) {
  if (v.etag.empty()) return {key, std::nullopt};
  return {key, toTombstone({v, now_ms})};
}

std::vector<IndexUpdate> VersionIndex::expired(std::int64_t horizon_ms) const {
  std::vector<IndexUpdate> out;
  for (auto& [key, t] : gone_)
    if (t.removed_ms < horizon_ms) out.push_back({key, std::nullopt});
  return out;
}

}  // namespace sluice
