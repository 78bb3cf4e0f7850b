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
//    while max_pending changes wait for their commit; they resume when commits drain.
#include <sys/inotify.h>
#include <sys/stat.h>

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "connectors/local/file_events.hpp"
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
  struct Entry {
    std::optional<Event> event;  // nullopt: an index update alone (an unselected event type)
    IndexUpdate index;
  };
  struct Scan {
    std::string why;
    std::string root;  // the subtree walked
    bool full = false;  // the whole tree: files the index knows but the walk did not see are gone
    bool was_degraded = false;
    bool watch_failed = false;
    TreeWalk walk;
    // Full scans: known files in directories not listed to the end are gone when the scan
    // ends, except below an unreadable directory and those recorded meanwhile (vouched).
    std::unordered_set<std::string> visited;
    std::vector<std::string> unreadable;
    std::unordered_set<std::string> vouched;
    // Removals are announced in steps, like the walk: files a listing did not show (with the
    // version then known: one recorded since then is newer, not gone), and at the end the
    // known files of directories the walk did not reach.
    std::deque<std::pair<std::string, FileVersion>> gone;
    bool ending = false;                // the walk is done
    std::vector<std::string> vanished;  // directories whose known files are gone
    std::string listing;                    // the directory being listed
    std::unordered_set<std::string> names;  // its names seen (or recorded) so far
    std::int64_t now_ms = 0;
    std::size_t changes = 0;
  };
  void loadIndex();
  void scan(const std::string& subtree, const char* why);
  void enqueue(const std::string& subtree, const char* why);
  void runScans();  // steps the front scan; yields to the loop between steps
  void finishScan(Scan& s);
  bool vanishStep(Scan& s);  // announces up to a batch of removals; true: more to do
  void listed(Scan& s, const std::string& dir);  // known files the listing did not see are gone
  void addWatches(const std::string& dir);
  bool addWatch(const std::string& dir);
  void removeWatches(const std::string& dir_prefix);
  void forgetSubtree(const std::string& prefix, const nlohmann::json& native);
  void arm();
  void onReadable();
  void handle(const struct inotify_event* ie,
              std::unordered_map<std::uint32_t, std::pair<std::string, std::string>>& moves);
  void fileWritten(const std::string& path, const nlohmann::json& native);
  void fileGone(const std::string& path, const nlohmann::json& native);
  void fileMoved(const std::string& from, const std::string& fp, const std::string& to,
                 const nlohmann::json& native);
  void record(EventType type, bool selected, Event ev, IndexUpdate idx);
  void flush();
  void degraded(const std::string& why);
  void schedulePeriodicScan();
  void notifyIdle();

  const LocalSpec& spec_;
  ConnectorContext& ctx_;
  std::string root_;
  EventBuilder builder_;
  std::string health_key_;
  int fd_ = -1;
  std::unique_ptr<boost::asio::posix::stream_descriptor> stream_;
  boost::asio::steady_timer retry_timer_, rescan_timer_;
  std::unordered_map<int, std::string> dirs_;          // wd → directory
  std::unordered_map<std::string, int> wds_;           // directory → wd
  FileIndex index_;  // what was announced (committed or pending): mirrors the queue's index
  std::deque<Entry> pending_;
  std::deque<Scan> scan_queue_;  // the front one runs; new-directory scans go before a full one
  boost::asio::steady_timer step_timer_;
  bool step_armed_ = false;
  bool startup_pending_ = false;  // readiness waits for the first full scan to finish
  bool rescan_pending_ = false;   // an overflow during a full scan: one more full scan after it
  bool stopped_ = false;          // stop(): no scan step and no commit starts any more
  bool loaded_ = false, running_ = false, committing_ = false, paused_ = false, reading_ = false;
  bool degraded_ = false;
  int failures_ = 0;
  std::vector<std::function<void(std::string)>> idle_waiters_;
  std::string last_error_;
  Counter& overflows_;
  Counter& scans_;
};

}  // namespace sluice::connectors::local
