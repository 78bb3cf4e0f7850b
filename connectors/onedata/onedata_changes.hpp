#pragma once
// The protocol half of the onedata source, without I/O: the changes specification sluice asks
// for, one stream line parsed, the events both modes build, and the settle tracker that decides
// when a written file counts as created.
//
// Why this changes specification: `fileMeta` with `always` (every line then says what the file
// is, its name and type, and whether it is deleted), `fileLocation` (size) and `times` (mtime)
// WITHOUT `always`. op-worker drops a whole line when an `always` record is missing or deleted
// (a directory has no file_location; a deleted file's file_location and times are deleted
// first), so with `always` on all three a directory would be skipped (fine) but a deletion
// would never be seen: its last line, the deleted file_meta, would be dropped. So size and mtime
// arrive on separate lines and the tracker merges them per file id.
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/event.hpp"
#include "daemon/version_index.hpp"

namespace sluice::connectors::onedata {

// The POST body of the changes request.
const std::string& changesSpecification();

struct ChangeLine {
  std::string error;  // set: the line is not a change sluice can read (nothing else is)
  std::string file_id, path;
  std::int64_t seq = 0;
  bool has_meta = false;   // a fileMeta record came with it (always, unless op-worker changed)
  std::string name, type;  // "REG", "DIR", "LNK", "SYMLNK"
  bool deleted = false;    // fields.deleted, or the file_meta document itself deleted
  std::optional<std::int64_t> size;      // fileLocation that changed, not deleted
  std::optional<std::int64_t> mtime_ms;  // times that changed, not deleted (seconds * 1000)
};
ChangeLine parseChangeLine(std::string_view line);

// The identity of the source both modes share (the event's storage, source and id parts).
struct Origin {
  std::string connector;  // the source's name
  std::string provider;   // provider URL
  std::string space_id;
  std::string source_uri;
};
// The event for `path` at version `v` (etag = the file id). The id depends on the origin, the
// path, the version and the type only, so the stream and a listing agree.
Event fileEvent(const Origin& o, EventType type, const std::string& path, const ObjectVersion& v,
                std::int64_t time_ms);

// Files the stream reported as written, waiting until size and mtime stay the same for
// `settle`. Keyed by file id; remembers the seq of the first line of each, so the cursor stays
// below every file still waiting.
class SettleTracker {
 public:
  struct Pending {
    std::string path;
    std::optional<std::int64_t> size, mtime_ms;
    std::int64_t first_seq = 0;
    std::int64_t changed_ms = 0;  // sluice's clock when path, size or mtime last changed
    bool fetching = false;        // its attributes are being read (size or mtime unknown)
  };
  // A line about a regular file that exists: starts or updates its entry. `known` is what the
  // index holds for this file id (used for a size or mtime the line does not carry).
  void observe(const ChangeLine& c, std::int64_t now_ms, const ObjectVersion* known);
  void forget(const std::string& file_id) { pending_.erase(file_id); }
  // Complete entries quiet for `settle`, or whose mtime is older than `settle` plus a second
  // (mtime has whole seconds); taken out of the tracker.
  std::vector<std::pair<std::string, Pending>> takeSettled(std::int64_t now_ms,
                                                           std::int64_t settle_ms);
  // Entries whose size or mtime is still unknown once quiet: their attributes must be read.
  std::vector<std::string> incomplete(std::int64_t now_ms, std::int64_t settle_ms) const;
  Pending* find(const std::string& file_id);
  // The smallest first seq of a waiting file, if any.
  std::optional<std::int64_t> minSeq() const;
  // When the next entry may settle (ms since epoch), if any is waiting.
  std::optional<std::int64_t> nextDue(std::int64_t settle_ms) const;
  bool empty() const { return pending_.empty(); }
  std::size_t size() const { return pending_.size(); }

 private:
  std::map<std::string, Pending> pending_;
};

// The cursor as stored ({"seq":N}); nullopt for anything else.
std::optional<std::int64_t> parseCursor(const std::optional<std::string>& cursor);
std::string formatCursor(std::int64_t seq);

}  // namespace sluice::connectors::onedata
