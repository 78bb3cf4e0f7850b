#pragma once
// The local file-system source: inotify over a directory tree, reconciled against the files
// the queue already knows (the source index) on start-up, after IN_Q_OVERFLOW and, when
// configured or degraded, periodically.
//
// Invariants:
//  - "created" = IN_CLOSE_WRITE or IN_MOVED_TO of a regular file (never IN_CREATE: the file
//    may still be written). New directories are watched first, then scanned, so files created
//    before the watch existed are not missed.
//  - Every event is committed together with the index update it implies; the in-memory index
//    mirrors what was emitted, and a failed commit is retried (intake pauses), never dropped.
//  - One commit in flight at a time, so batches are committed in the order of the changes.
//  - Memory is bounded: scans run in steps on the event loop and, like inotify reads, stop
//    while max_pending changes wait for their commit; they resume when commits drain. So do
//    the removals of a directory that went away: its files stay known until announced, and a
//    file recorded meanwhile at such a path has the old one's removal announced first.
//  - Every `created` is followed by a `removed` once the file is gone, also for a file gone
//    before it could be examined (it stays known, as version 0:0:0, until its removal is seen).
//  - Files that are there but cannot be examined are logged, counted
//    (sluice_local_unexaminable_total), make the source Degraded until a full scan finds none,
//    and make catchUp() (sluice once) report an error.
//  - Event ids follow file_events.hpp; the marks they need live in the index (file_index.hpp).
#include <sys/inotify.h>
#include <sys/stat.h>

#include <deque>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "connectors/local/file_events.hpp"
#include "connectors/local/inotify_decoder.hpp"
#include "connectors/local/local_config.hpp"

namespace sluice {
class Counter;
}

namespace sluice::connectors::local {

class LocalConnector final : public Connector {
 public:
  LocalConnector(const LocalSpec& spec, ConnectorContext& ctx, std::string root);
  ~LocalConnector() override;
  void start() override;
  void stop() override;
  void catchUp(std::function<void(std::string)> done) override;
  // Changes recorded but not yet committed (bounded by spec.max_pending plus one step).
  std::size_t held() const { return pending_.size(); }
  static constexpr std::size_t kBatchEntries = 1024;  // changes per commit, files per scan step

 private:
  // Unexaminable entries logged one by one per scan; the rest are summed up at its end.
  static constexpr std::size_t kLoggedPerScan = 20;

  struct Entry {
    std::optional<Event> event;  // nullopt: an index update alone (an unselected event type)
    IndexUpdate index;
  };
  // Background work stepped on the event loop: a walk (a new directory, or the whole tree),
  // the removals of a directory that went away (forget), or dropping old tombstones (prune).
  struct Scan {
    enum class Kind { Walk, Forget, Prune };
    Kind kind = Kind::Walk;
    std::string why;
    std::string root;  // the subtree walked or forgotten
    bool full = false;  // the whole tree: files the index knows but the walk did not see are gone
    bool was_degraded = false;
    bool watch_failed = false;
    std::optional<TreeWalk> walk;  // a Walk's
    nlohmann::json native;         // what the removals this job announces carry
    // Full scans: known files in directories not listed to the end are gone when the scan
    // ends, except below an unreadable directory and those recorded meanwhile (vouched).
    // Forgets: the known files of the directories below `root`, except those vouched.
    std::unordered_set<std::string> visited;
    std::vector<std::string> unreadable;
    std::unordered_set<std::string> vouched;
    // Removals are announced in steps, like the walk: files a listing did not show (with the
    // version then known: one recorded since then is newer, not gone), and at the end the
    // known files of directories the walk did not reach.
    std::deque<std::pair<std::string, FileVersion>> gone;
    bool ending = false;                // the walk is done
    std::vector<std::string> vanished;  // directories whose known files are gone
    std::vector<std::string> expired;   // a Prune's tombstones
    std::string listing;                    // the directory being listed
    std::unordered_set<std::string> names;  // its names seen (or recorded) so far
    std::int64_t now_ms = 0;
    std::size_t changes = 0;
    std::size_t unexaminable = 0;  // entries that could not be examined
    std::string last_unexaminable;
  };
  void loadIndex();
  void scan(const std::string& subtree, const char* why);
  void enqueue(const std::string& subtree, const char* why);
  void enqueueFirst(Scan sc);  // before the first full scan
  void enqueuePrune();
  void runScans();             // steps the front job; yields to the loop between steps
  void walkStep(Scan& s);
  void finishScan(Scan& s);
  bool vanishStep(Scan& s);  // announces up to a batch of removals; true: more to do
  void listed(Scan& s, const std::string& dir);  // known files the listing did not see are gone
  bool vouches(const Scan& s, const std::string& path) const;
  void settle(const std::string& path);  // a forgotten file at `path`: announce its removal now
  bool addWatch(const std::string& dir);
  // Drops the watches at and below `dir_prefix`; `keep` stays in the kernel (the mapping goes):
  // the directory now at the prefix may be one that was below it (moved up).
  void removeWatches(const std::string& dir_prefix, int keep = -1);
  void forgetSubtree(const std::string& prefix, nlohmann::json native);
  void arm();
  void onReadable();
  void handle(const InotifyRecord& ie,
              std::unordered_map<std::uint32_t, std::pair<std::string, std::string>>& moves);
  void fileWritten(const std::string& path, const nlohmann::json& native);
  void fileGone(const std::string& path, const nlohmann::json& native);
  void fileMoved(const std::string& from, const std::string& fp, const std::string& to,
                 const nlohmann::json& native);
  std::string markOf(const std::string& path) const;  // "": no removal recorded
  // The index change and its event, recorded together (the event is left out when its type
  // is not selected): a file (re)appeared or changed; a file is gone, leaving `ev.id` as mark.
  void recordFile(bool selected, Event ev, const std::string& path, const FileVersion& v);
  void recordGone(bool selected, Event ev, const std::string& path);
  IndexUpdate bury(const std::string& path, const std::string& removal_id, std::int64_t ms);
  void push(bool selected, Event ev, IndexUpdate idx);
  void flush();
  void degraded(const std::string& why);
  // `path` is there but could not be examined (`verb`: "examine", "list") by scan `in` (or an
  // inotify event: nullptr).
  void unexaminable(const std::string& path, int err, Scan* in, const char* verb);
  void publishHealth();
  void schedulePeriodicScan();
  void schedulePrune();
  void notifyIdle();

  const LocalSpec& spec_;
  ConnectorContext& ctx_;
  std::string root_;
  EventBuilder builder_;
  std::string health_key_;
  int fd_ = -1;
  std::unique_ptr<boost::asio::posix::stream_descriptor> stream_;
  boost::asio::steady_timer retry_timer_, rescan_timer_, prune_timer_;
  std::unordered_map<int, std::string> dirs_;          // wd → directory
  std::unordered_map<std::string, int> wds_;           // directory → wd
  FileIndex index_;  // what was announced (committed or pending): mirrors the queue's index
  std::deque<Entry> pending_;
  // The front one runs; new-directory scans and forgets go before a full one. A list: a step
  // may queue a job (a forget) while it holds a reference to the one it steps.
  std::list<Scan> scan_queue_;
  boost::asio::steady_timer step_timer_;
  bool step_armed_ = false;
  bool startup_pending_ = false;  // readiness waits for the first full scan to finish
  bool rescan_pending_ = false;   // an overflow during a full scan: one more full scan after it
  bool stopped_ = false;          // stop(): no scan step and no commit starts any more
  bool loaded_ = false, running_ = false, committing_ = false, paused_ = false, reading_ = false;
  bool degraded_ = false;
  std::string degraded_why_;
  // Entries that could not be examined (how many, the last one): a full scan's end sets them to
  // what it found; other scans and inotify events add to them.
  std::size_t unexaminable_count_ = 0;
  std::string unexaminable_last_;
  std::string scan_error_;  // what the last full scan could not do ("" = nothing), for catchUp
  int failures_ = 0;
  std::size_t batch_limit_ = kBatchEntries;  // halved while batches do not fit queue.max_size
  std::vector<std::function<void(std::string)>> idle_waiters_;
  Counter& overflows_;
  Counter& scans_;
  Counter& unexaminable_;
};

}  // namespace sluice::connectors::local
