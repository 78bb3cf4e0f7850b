#pragma once
// What a remote source knows of the objects it lists (a bucket's keys, a dCache tree's files,
// an Onedata space's files), mirrored from its source index: the version of each object it has
// seen, and the removals it remembers until the dedup horizon has passed.
//
// Why removals are remembered: a removal can be seen twice (a replayed stream event after a
// listing already found the object gone); both must name the same version to get the same id.
//
// Invariant: the connector changes it only through apply(), with the index updates of a batch
// the queue has committed, in commit order; so it always equals the stored source index.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "daemon/connector.hpp"

namespace sluice {

// One version of an object, as kept in the index ("etag:mtime_ms:size"). `etag` is whatever
// names the content: an S3 ETag, a dCache PNFS-ID, an Onedata file id.
struct ObjectVersion {
  std::string etag;
  std::int64_t mtime_ms = 0;
  std::int64_t size = 0;
  bool operator==(const ObjectVersion&) const = default;
};
std::string toFingerprint(const ObjectVersion& v);
std::optional<ObjectVersion> parseFingerprint(std::string_view fp);
// A removal the index remembers ("~etag:mtime:size@ms").
struct Tombstone {
  ObjectVersion version;
  std::int64_t removed_ms = 0;
};
std::string toTombstone(const Tombstone& t);
std::optional<Tombstone> parseTombstone(std::string_view text);
// Two versions are the same object version; a modification time of 0 is unknown (AWS and Ceph
// records carry none) and then ETag and size decide.
bool sameVersion(const ObjectVersion& a, const ObjectVersion& b);

class VersionIndex {
 public:
  // Reads the source's saved state (blocking; at start only) and returns its cursor. Removals
  // remembered past the horizon are left out and returned in `expired` as erasures to commit.
  std::optional<std::string> load(Intake& intake, const std::string& source,
                                  std::int64_t horizon_ms, std::vector<IndexUpdate>& expired);
  bool loaded() const { return loaded_; }
  // Mirrors a committed batch's index updates.
  void apply(const std::vector<IndexUpdate>& updates);

  const ObjectVersion* find(const std::string& key) const;
  const Tombstone* findGone(const std::string& key) const;
  // The version a removal of `key` names: the one known, or the one whose removal is
  // remembered (this is that removal, seen again), or an empty version.
  ObjectVersion lastKnown(const std::string& key) const;
  // The update that records `key` (version `v`) as removed at `now_ms`: a tombstone when the
  // version is known, else an erasure.
  static IndexUpdate removal(const std::string& key, const ObjectVersion& v, std::int64_t now_ms);
  // Erasures of the removals remembered since before `horizon_ms` (the queue forgot their ids).
  std::vector<IndexUpdate> expired(std::int64_t horizon_ms) const;

  const std::unordered_map<std::string, ObjectVersion>& objects() const { return live_; }
  const std::unordered_map<std::string, Tombstone>& removals() const { return gone_; }

 private:
  bool loaded_ = false;
  std::unordered_map<std::string, ObjectVersion> live_;
  std::unordered_map<std::string, Tombstone> gone_;
};

}  // namespace sluice
