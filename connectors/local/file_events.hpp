#pragma once
// Building local-file events and walking directory trees (no inotify here: pure functions over
// the file system, shared by the watcher and the reconciliation scan).
//
// Identity: a file version is its fingerprint "inode:mtime_ns:size"; the event id is
// eventId(source name, path, fingerprint, kind), so the same version seen twice (a second
// IN_CLOSE_WRITE, a rescan after a restart) has the same id and the queue drops the repeat.
#include <dirent.h>
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
  // (for removed: the last one known). `note` says why details are missing.
  Event make(EventType type, const std::string& path, const std::optional<struct stat>& st,
             const std::string& fp, nlohmann::json native, std::int64_t now_ms,
             const std::optional<std::string>& previous = std::nullopt,
             const std::optional<std::string>& note = std::nullopt) const;
};

// True when some process holds `path` open for writing, so it is not ready yet (its
// IN_CLOSE_WRITE will announce it). Probed with a read lease, which the kernel refuses while a
// writer has the file open; where leases are unavailable (not the owner and no CAP_LEASE, NFS)
// the answer is false and the file is announced. Needs SIGIO ignored (see LocalSpec::create).
// When false, `settled` is the file's stat taken while the lease was held (no writer could
// have it open then), so it is not a stale size from before a writer's last write.
bool openForWriting(const std::string& path, struct stat& settled);

// A depth-first walk of `root` (not following symlinks) that can pause: step() reports regular
// files through `file(path, stat)` and directories through `dir(path)` (before listing them)
// until it has reported `max_files` files, so a scan of millions of files can yield to the
// event loop and wait for its commits instead of holding every change in memory. Ignored
// names are skipped; unreadable directories are reported through `error(path, errno)`, fully
// listed ones through `listed(path)`.
class TreeWalk {
 public:
  struct Visitor {
    std::function<void(const std::string&, const struct stat&)> file;
    std::function<void(const std::string&)> dir;
    std::function<void(const std::string&, int)> error;
    std::function<void(const std::string&)> listed;  // a directory was listed to its end
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
