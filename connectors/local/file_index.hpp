#pragma once
// The files the local source has announced, as it mirrors the queue's source index: for each
// directory, name → file version. Split by directory (rather than one map of full paths with
// fingerprint strings) for two reasons: memory (~130 bytes per file instead of ~380: names are
// short, versions are 24 bytes) and reconciliation, which compares one directory listing at a
// time with what is known of that directory.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sluice::connectors::local {

// The identity of one version of a file. Its text form "ino:mtime_ns:size" is the fingerprint
// stored in the queue and hashed into event ids.
struct FileVersion {
  std::uint64_t ino = 0;
  std::int64_t mtime_ns = 0;
  std::uint64_t size = 0;
  bool operator==(const FileVersion&) const = default;
};

std::string toFingerprint(const FileVersion& v);
// nullopt: not a fingerprint this version wrote (the file then counts as changed).
std::optional<FileVersion> parseFingerprint(std::string_view fp);

class FileIndex {
 public:
  using Names = std::unordered_map<std::string, FileVersion>;

  const FileVersion* find(const std::string& path) const;
  void set(const std::string& path, const FileVersion& v);
  void erase(const std::string& path);
  std::size_t size() const { return files_; }
  // Files known directly in `dir` (nullptr: none).
  const Names* dir(const std::string& dir) const;
  // Directories that hold known files.
  std::vector<std::string> dirs() const;
  // Paths of the files in `dir` and every directory below it.
  std::vector<std::string> filesUnder(const std::string& dir) const;

 private:
  std::unordered_map<std::string, Names> dirs_;
  std::size_t files_ = 0;
};

// "/a/b/c" → {"/a/b", "c"}.
std::pair<std::string, std::string> splitPath(const std::string& path);
// True when `path` lies below directory `dir` (not `dir` itself).
bool isUnder(const std::string& path, const std::string& dir);

}  // namespace sluice::connectors::local
