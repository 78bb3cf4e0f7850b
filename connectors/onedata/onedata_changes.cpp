#include "connectors/onedata/onedata_changes.hpp"

#include <algorithm>
#include <charconv>

namespace sluice::connectors::onedata {
namespace {

// An integer member: op-worker writes seq as a number (its Swagger says string: take both).
std::optional<std::int64_t> integer(const nlohmann::json& j) {
  if (j.is_number_integer()) return j.get<std::int64_t>();
  if (j.is_number_unsigned()) return static_cast<std::int64_t>(j.get<std::uint64_t>());
  if (j.is_string()) {
    const auto& s = j.get_ref<const std::string&>();
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && end == s.data() + s.size() && !s.empty()) return v;
  }
  return std::nullopt;
}

// A record's `fields` when the record is there and its document not deleted.
const nlohmann::json* liveFields(const nlohmann::json& line, const char* record) {
  auto r = line.find(record);
  if (r == line.end() || !r->is_object()) return nullptr;
  auto d = r->find("deleted");
  if (d != r->end() && d->is_boolean() && d->get<bool>()) return nullptr;
  auto f = r->find("fields");
  return f != r->end() && f->is_object() ? &*f : nullptr;
}

}  // namespace

const std::string& changesSpecification() {
  static const std::string kSpec =
      R"({"fileMeta":{"fields":["name","type","deleted"],"always":true},)"
      R"("fileLocation":{"fields":["size"]},"times":{"fields":["mtime"]}})";
  return kSpec;
}

ChangeLine parseChangeLine(std::string_view text) {
  ChangeLine c;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    c.error = "not a JSON object";
    return c;
  }
  auto id = j.find("fileId");
  if (id == j.end() || !id->is_string() || id->get_ref<const std::string&>().empty()) {
    c.error = "no fileId";
    return c;
  }
  c.file_id = id->get<std::string>();
  auto seq = j.find("seq");
  auto n = seq == j.end() ? std::nullopt : integer(*seq);
  if (!n || *n < 0) {
    c.error = "no seq";
    return c;
  }
  c.seq = *n;
  auto path = j.find("filePath");
  if (path != j.end() && path->is_string()) c.path = path->get<std::string>();
  if (auto meta = j.find("fileMeta"); meta != j.end() && meta->is_object()) {
    c.has_meta = true;
    auto d = meta->find("deleted");
    c.deleted = d != meta->end() && d->is_boolean() && d->get<bool>();
    auto f = meta->find("fields");
    if (f != meta->end() && f->is_object()) {
      c.name = f->value("name", "");
      c.type = f->value("type", "");
      auto fd = f->find("deleted");
      if (fd != f->end() && fd->is_boolean() && fd->get<bool>()) c.deleted = true;
    }
  }
  if (auto f = liveFields(j, "fileLocation"); f && f->contains("size"))
    c.size = integer((*f)["size"]);
  if (auto f = liveFields(j, "times"); f && f->contains("mtime")) {
    if (auto s = integer((*f)["mtime"])) c.mtime_ms = *s * 1000;
  }
  return c;
}

Event fileEvent(const Origin& o, EventType type, const std::string& path, const ObjectVersion& v,
                std::int64_t time_ms) {
  Event ev;
  ev.id = eventId({"onedata", o.provider, o.space_id, path, v.etag, std::to_string(v.size),
                   std::to_string(v.mtime_ms), toString(type)});
  ev.source = o.source_uri;
  ev.type = type;
  ev.time_ms = time_ms;
  ev.storage = "onedata";
  ev.connector = o.connector;
  ev.path = path;
  ev.size = v.size;
  ev.mtime_ms = v.mtime_ms;
  if (!v.etag.empty()) ev.etag = v.etag;
  // OneTrigger's record (COMPAT.md §1.5), so its consumers (faas-supervisor) read it as is;
  // its eventTime is naive UTC with microseconds.
  std::string when = formatTime(time_ms);
  if (!when.empty() && when.back() == 'Z') when.back() = '0', when += "00";
  const auto slash = path.rfind('/');
  ev.native = {
      {"Key", toUtf8Lossy(path)},
      {"Records",
       {{{"objectKey", toUtf8Lossy(slash == std::string::npos ? path : path.substr(slash + 1))},
         {"objectId", v.etag},
         {"eventTime", when},
         {"eventSource", "OneTrigger"}}}}};
  return ev;
}

void SettleTracker::observe(const ChangeLine& c, std::int64_t now_ms, const ObjectVersion* known) {
  auto [it, fresh] = pending_.try_emplace(c.file_id);
  Pending& p = it->second;
  if (fresh) {
    p.first_seq = c.seq;
    p.changed_ms = now_ms;
    if (known) {  // a touch or a rename of a file the index has: the rest is as it was
      p.size = known->size;
      p.mtime_ms = known->mtime_ms;
    }
  }
  p.first_seq = std::min(p.first_seq, c.seq);
  bool changed = fresh;
  if (!c.path.empty() && c.path != p.path) p.path = c.path, changed = true;
  if (c.size && c.size != p.size) p.size = c.size, changed = true;
  if (c.mtime_ms && c.mtime_ms != p.mtime_ms) p.mtime_ms = c.mtime_ms, changed = true;
  if (changed) p.changed_ms = now_ms;
}

std::vector<std::pair<std::string, SettleTracker::Pending>> SettleTracker::takeSettled(
    std::int64_t now_ms, std::int64_t settle_ms) {
  std::vector<std::pair<std::string, Pending>> out;
  for (auto it = pending_.begin(); it != pending_.end();) {
    const Pending& p = it->second;
    const bool complete = p.size && p.mtime_ms && !p.path.empty();
    const bool quiet = now_ms - p.changed_ms >= settle_ms ||
                       (p.mtime_ms && now_ms - *p.mtime_ms >= settle_ms + 1000);
    if (complete && quiet) {
      out.emplace_back(it->first, std::move(it->second));
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

std::vector<std::string> SettleTracker::incomplete(std::int64_t now_ms,
                                                   std::int64_t settle_ms) const {
  std::vector<std::string> out;
  for (auto& [id, p] : pending_)
    if (!p.fetching && (!p.size || !p.mtime_ms || p.path.empty()) &&
        now_ms - p.changed_ms >= settle_ms)
      out.push_back(id);
  return out;
}

SettleTracker::Pending* SettleTracker::find(const std::string& file_id) {
  auto it = pending_.find(file_id);
  return it == pending_.end() ? nullptr : &it->second;
}

std::optional<std::int64_t> SettleTracker::minSeq() const {
  std::optional<std::int64_t> m;
  for (auto& [id, p] : pending_)
    if (!m || p.first_seq < *m) m = p.first_seq;
  return m;
}

std::optional<std::int64_t> SettleTracker::nextDue(std::int64_t settle_ms) const {
  std::optional<std::int64_t> due;
  for (auto& [id, p] : pending_) {
    if (p.fetching) continue;  // checked again when its attributes arrive
    std::int64_t t = p.changed_ms + settle_ms;
    if (p.mtime_ms) t = std::min(t, *p.mtime_ms + settle_ms + 1000);
    if (!due || t < *due) due = t;
  }
  return due;
}

std::optional<std::int64_t> parseCursor(const std::optional<std::string>& cursor) {
  if (!cursor) return std::nullopt;
  auto j = nlohmann::json::parse(*cursor, nullptr, false);
  if (!j.is_object() || !j.contains("seq") || !j["seq"].is_number_integer()) return std::nullopt;
  return j["seq"].get<std::int64_t>();
}

std::string formatCursor(std::int64_t seq) { return nlohmann::json{{"seq", seq}}.dump(); }

}  // namespace sluice::connectors::onedata
