#include "connectors/local/file_index.hpp"

#include <charconv>

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

std::vector<std::string> FileIndex::filesUnder(const std::string& dir) const {
  std::vector<std::string> out;
  for (const auto& [d, names] : dirs_)
    if (d == dir || isUnder(d, dir))
      for (const auto& [name, _] : names) out.push_back(d + "/" + name);
  return out;
}

}  // namespace sluice::connectors::local
