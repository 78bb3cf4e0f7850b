#include "connectors/local/file_index.hpp"

#include <charconv>
#include <cstdio>

namespace sluice::connectors::local {
namespace {

template <typename T>
bool parseField(std::string_view& s, T& out, bool last) {
  auto end = last ? s.size() : s.find(':');
  if (end == std::string_view::npos || end == 0) return false;
  auto r = std::from_chars(s.data(), s.data() + end, out);
  if (r.ec != std::errc() || r.ptr != s.data() + end) return false;
  s.remove_prefix(last ? end : end + 1);
  return true;
}

bool parseHex(std::string_view s, std::uint64_t& out) {
  auto r = std::from_chars(s.data(), s.data() + s.size(), out, 16);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

}  // namespace

bool isUnder(const std::string& path, const std::string& dir) {
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 && path[dir.size()] == '/';
}

std::string toFingerprint(const FileVersion& v) {
  return std::to_string(v.ino) + ":" + std::to_string(v.mtime_ns) + ":" + std::to_string(v.size);
}

std::optional<FileVersion> parseFingerprint(std::string_view fp) {
  FileVersion v;
  if (!parseField(fp, v.ino, false) || !parseField(fp, v.mtime_ns, false) ||
      !parseField(fp, v.size, true))
    return std::nullopt;
  return v;
}

std::optional<Mark> toMark(std::string_view id, std::int64_t time_ms) {
  Mark m{.time_ms = time_ms};
  if (id.size() != 32 || !parseHex(id.substr(0, 16), m.hi) || !parseHex(id.substr(16), m.lo))
    return std::nullopt;
  return m;
}

std::string markId(const Mark& m) {
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(m.hi),
                static_cast<unsigned long long>(m.lo));
  return buf;
}

std::string encodeEntry(const FileVersion* file, const Mark* mark) {
  std::string out = file ? toFingerprint(*file) : "";
  if (mark) {  // appended piece by piece: g++ 12 -O3 misreports the + chain (-Wstringop-overflow)
    out += '|';
    out += markId(*mark);
    out += '@';
    out += std::to_string(mark->time_ms);
  }
  return out;
}

DecodedEntry decodeEntry(std::string_view text) {
  DecodedEntry e;
  auto bar = text.find('|');
  std::string_view file = text.substr(0, bar);
  if (!file.empty()) e.file = parseFingerprint(file).value_or(FileVersion{});
  if (bar == std::string_view::npos) return e;
  std::string_view mark = text.substr(bar + 1);
  auto at = mark.find('@');
  std::int64_t ms = 0;
  if (at != std::string_view::npos) {
    std::string_view t = mark.substr(at + 1);
    if (parseField(t, ms, true)) e.mark = toMark(mark.substr(0, at), ms);
  }
  return e;
}

std::pair<std::string, std::string> splitPath(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return {"", path};
  return {path.substr(0, slash), path.substr(slash + 1)};
}

const FileVersion* FileIndex::find(const std::string& path) const {
  auto [d, name] = splitPath(path);
  auto it = dirs_.find(d);
  if (it == dirs_.end()) return nullptr;
  auto f = it->second.find(name);
  return f == it->second.end() ? nullptr : &f->second;
}

void FileIndex::set(const std::string& path, const FileVersion& v) {
  auto [d, name] = splitPath(path);
  auto [it, added] = dirs_[d].insert_or_assign(std::move(name), v);
  if (added) ++files_;
}

void FileIndex::erase(const std::string& path) {
  auto [d, name] = splitPath(path);
  auto it = dirs_.find(d);
  if (it == dirs_.end() || it->second.erase(name) == 0) return;
  --files_;
  if (it->second.empty()) dirs_.erase(it);
}

const FileIndex::Names* FileIndex::dir(const std::string& d) const {
  auto it = dirs_.find(d);
  return it == dirs_.end() ? nullptr : &it->second;
}

std::vector<std::string> FileIndex::dirs() const {
  std::vector<std::string> out;
  out.reserve(dirs_.size());
  for (const auto& [d, _] : dirs_) out.push_back(d);
  return out;
}

std::vector<std::string> FileIndex::dirsUnder(const std::string& dir) const {
  std::vector<std::string> out;
  for (const auto& [d, _] : dirs_)
    if (d == dir || isUnder(d, dir)) out.push_back(d);
  return out;
}

const Mark* FileIndex::mark(const std::string& path) const {
  auto [d, name] = splitPath(path);
  auto it = marked_.find(d);
  if (it == marked_.end()) return nullptr;
  auto m = it->second.find(name);
  return m == it->second.end() ? nullptr : &m->second;
}

void FileIndex::setMark(const std::string& path, const Mark& m) {
  auto [d, name] = splitPath(path);
  auto [it, added] = marked_[d].insert_or_assign(std::move(name), m);
  if (added) ++marks_;
}

void FileIndex::eraseMark(const std::string& path) {
  auto [d, name] = splitPath(path);
  auto it = marked_.find(d);
  if (it == marked_.end() || it->second.erase(name) == 0) return;
  --marks_;
  if (it->second.empty()) marked_.erase(it);
}

std::vector<std::string> FileIndex::expiredTombstones(std::int64_t cutoff_ms) const {
  std::vector<std::string> out;
  for (const auto& [d, names] : marked_) {
    const Names* files = dir(d);
    for (const auto& [name, m] : names)
      if (m.time_ms < cutoff_ms && !(files && files->count(name))) out.push_back(d + "/" + name);
  }
  return out;
}

}  // namespace sluice::connectors::local
