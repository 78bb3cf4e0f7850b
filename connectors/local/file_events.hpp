#pragma once
// Building local-file events and walking directory trees (no inotify here: pure functions over
// the file system, shared by the watcher and the reconciliation scan).
//
// Identity: a file version is its fingerprint "inode:mtime_ns:size". An event's id is
// eventId(source name, previous path or "", path, fingerprint, kind[, mark]), where `mark` is
// the id of the last removal of `path` that the source index recorded (see Mark in
// file_index.hpp), left out when it recorded none. A removal (or the from-side of a move)
// leaves its own id as the path's mark, committed with the event. Hence:
//  - the same version seen again (a second IN_CLOSE_WRITE, a rescan, a restart: the index and
//    its marks come back from the queue) gets the same id, and no event at all while the index
//    knows it;
//  - a file that comes back (moved out of the tree and back, renamed A→B→A, restored with the
//    same inode, mtime and size) is a new change: its path's mark is the removal just recorded,
//    and that removal's id carried the mark before it, so no two appearances share an id;
//  - a path with no recorded removal keeps the id it had before marks existed.
// Tombstones (marks of paths with no file) are pruned after dedup_horizon, when the queue has
// forgotten the ids they keep apart; the mark of a file that is there stays with it.
#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "connectors/local/file_index.hpp"
#include "connectors/local/local_config.hpp"
#include "daemon/event.hpp"

namespace sluice::connectors::local {

FileVersion versionOf(const struct stat& st);
inline std::string fingerprint(const struct stat& st) { return toFingerprint(versionOf(st)); }

struct EventBuilder {
  const LocalSpec& spec;
  std::string source_uri;  // file://host/abs/root

  // created / removed / moved: `st` when the file could be examined, `fp` its fingerprint
  // (for removed: the last one known), `mark` the id of the path's last recorded removal ("":
  // none). `note` says why details are missing.
  Event make(EventType type, const std::string& path, const std::optional<struct stat>& st,
             const std::string& fp, const std::string& mark, nlohmann::json native,
             std::int64_t now_ms,
             const std::optional<std::string>& previous = std::nullopt,
             const std::optional<std::string>& note = std::nullopt) const;
};

// True when some process holds `path` open for writing, or opened it for writing during the
// probe, so it is not ready yet (its IN_CLOSE_WRITE will announce it; callers have the watch
// in place before they probe). Probed with a read lease, twice, which the kernel refuses while a
// writer has the file open; where leases are unavailable (not the owner and no CAP_LEASE, NFS)
// the answer is false and the file is announced. Needs SIGIO ignored, which the daemon's main
// does for the whole process (a lease break in that instant would otherwise end it).
// When false, `settled` is the file's stat taken while the lease was held (no writer could
// have it open then), so it is not a stale size from before a writer's last write.
bool openForWriting(const std::string& path, struct stat& settled);

// lstat() failed with `err` because the path is not there (any more); otherwise the entry is
// there but cannot be examined.
inline bool isGone(int err) { return err == ENOENT || err == ENOTDIR; }

// A depth-first walk of `root` (not following symlinks) that can pause: step() reports regular
// files through `file(path, stat)` and directories through `dir(path)` (before listing them)
// until it has reported `max_files` files, so a scan of millions of files can yield to the
// event loop and wait for its commits instead of holding every change in memory. Ignored
// names are skipped, and so are entries gone before they could be examined; unreadable
// directories are reported through `error(path, errno)`, fully listed ones through
// `listed(path)`, entries that are there but cannot be examined (lstat fails otherwise, e.g.
// ENAMETOOLONG, EACCES) through `unexaminable(path, errno)`.
class TreeWalk {
 public:
  struct Visitor {
    std::function<void(const std::string&, const struct stat&)> file;
    std::function<void(const std::string&)> dir;
    std::function<void(const std::string&, int)> error;
    std::function<void(const std::string&)> listed;  // a directory was listed to its end
    std::function<void(const std::string&, int)> unexaminable;
  };
  TreeWalk(std::string root, bool recursive, std::vector<std::string> ignore);
  ~TreeWalk();
  TreeWalk(TreeWalk&&) noexcept;
  TreeWalk& operator=(TreeWalk&&) noexcept;

  bool step(std::size_t max_files, const Visitor& v);  // true: more to do

 private:
  bool recursive_;
  std::vector<std::string> ignore_;
  std::vector<std::string> stack_;
  std::string current_;  // the directory being listed
  DIR* handle_ = nullptr;
};

}  // namespace sluice::connectors::local
