#pragma once
// The files the local source has announced, as it mirrors the queue's source index: for each
// directory, name → file version. Split by directory (rather than one map of full paths with
// fingerprint strings) for two reasons: memory (~130 bytes per file instead of ~380: names are
// short, versions are 24 bytes) and reconciliation, which compares one directory listing at a
// time with what is known of that directory.
//
// Beside the files, the index keeps marks: for a path whose removal was recorded, that
// removal's event id. Only paths with such a past have one (a spool of unique names holds one
// per name removed within the dedup horizon). A mark is never a file: dir(), dirs() and find()
// show files only, so reconciliation cannot take a tombstone for a file that vanished.
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

// The last recorded removal of a path: its event id (128 bits, the 32 hex digits of eventId())
// and when it was recorded. While no file is at the path it is a tombstone; once a file is
// there again it stays as that file's epoch, so everything that file does gets ids apart from
// the earlier file's, even with the same fingerprint.
struct Mark {
  std::uint64_t hi = 0, lo = 0;
  std::int64_t time_ms = 0;
  bool operator==(const Mark&) const = default;
};

// nullopt: `id` is not 32 hex digits (never so for eventId()).
std::optional<Mark> toMark(std::string_view id, std::int64_t time_ms);
std::string markId(const Mark& m);

// One path's entry as the queue stores it: "[fingerprint][|<mark id>@<ms>]", e.g.
// "12:1700000000000000000:5" (a file), "12:1700000000000000000:5|<id>@1700000000000" (a file
// that came back after a removal), "|<id>@1700000000000" (a tombstone). A file part this
// version cannot read decodes as FileVersion{} (a file that counts as changed).
std::string encodeEntry(const FileVersion* file, const Mark* mark);
struct DecodedEntry {
  std::optional<FileVersion> file;
  std::optional<Mark> mark;
};
DecodedEntry decodeEntry(std::string_view text);

class FileIndex {
 public:
  using Names = std::unordered_map<std::string, FileVersion>;

  const FileVersion* find(const std::string& path) const;
  void set(const std::string& path, const FileVersion& v);
  void erase(const std::string& path);  // the file only: its mark stays
  std::size_t size() const { return files_; }
  // Files known directly in `dir` (nullptr: none).
  const Names* dir(const std::string& dir) const;
  // Directories that hold known files.
  std::vector<std::string> dirs() const;
  // Those of them at or below `dir`.
  std::vector<std::string> dirsUnder(const std::string& dir) const;

  const Mark* mark(const std::string& path) const;
  void setMark(const std::string& path, const Mark& m);
  void eraseMark(const std::string& path);
  std::size_t marks() const { return marks_; }
  // Paths with a mark but no file whose removal was recorded before `cutoff_ms`.
  std::vector<std::string> expiredTombstones(std::int64_t cutoff_ms) const;

 private:
  std::unordered_map<std::string, Names> dirs_;
  std::unordered_map<std::string, std::unordered_map<std::string, Mark>> marked_;
  std::size_t files_ = 0, marks_ = 0;
};

// "/a/b/c" → {"/a/b", "c"}.
std::pair<std::string, std::string> splitPath(const std::string& path);
// True when `path` lies below directory `dir` (not `dir` itself).
bool isUnder(const std::string& path, const std::string& dir);

}  // namespace sluice::connectors::local
