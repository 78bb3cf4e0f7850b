#pragma once
// A `onedata` source at work (see onedata_spec.hpp for what it promises).
//
// Invariants:
//  - The cursor ({"seq":N}) committed with a batch never passes a file still settling: it is
//    the last seq read, or the first seq of the oldest waiting file minus one, whichever is
//    lower. After a crash the stream is read again from there (last_seq is inclusive: N+1), so
//    a waiting file is seen again; what was committed is deduplicated by the index and the id.
//  - `index_` (path → {fileId, mtime, size}, and tombstones) mirrors the source index as
//    committed, in commit order (CommitPump's `stored` hook); `by_id_` is its file id → path
//    view, since a deletion line no longer carries the path.
//  - Every event comes from fileEvent(), whichever mode saw the change.
//  - After start() nothing throws; HTTP and parse errors are logged, counted and retried.
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "connectors/onedata/onedata_changes.hpp"
#include "connectors/onedata/onedata_spec.hpp"
#include "daemon/commit_pump.hpp"
#include "daemon/http_client.hpp"
#include "daemon/line_framer.hpp"
#include "daemon/source_metrics.hpp"

namespace sluice::connectors::onedata {

class OnedataConnector final : public Connector {
 public:
  OnedataConnector(const OnedataSpec& spec, ConnectorContext& ctx);
  ~OnedataConnector() override;
  void start() override;
  void stop() override;
  void catchUp(std::function<void(std::string error)> done) override;

 private:
  static constexpr std::size_t kHighWater = 64;  // queued works before the stream is paused
  using Done = std::function<void(std::string error)>;
  using Work = CommitPump::Work;
  // One listing of the space tree: directories still to list, the paths found, and the paths
  // the stream changed meanwhile (left to the stream).
  struct Scan {
    std::string why;
    std::vector<std::pair<std::string, std::string>> dirs;  // (id, path) to list
    std::string dir_id, dir_path, token;                    // the directory being listed
    std::unordered_set<std::string> seen, touched;
    std::int64_t started_ms = 0;
    int attempts = 0;
    bool in_flight = false, waiting = false;  // a page requested; held while commits lag
    std::size_t found_created = 0;
    std::vector<Done> waiters;
  };

  void loadIndex();
  void stored(const Batch& b);
  void enqueue(Work w);
  void drained();
  void publishHealth();
  HttpRequest request(const std::string& method, const std::string& url);
  // "<status> <error id>: <description>" of a failed answer (and the remedy for 401/403).
  std::string describe(const HttpResponse& r, bool stream) const;

  // changes stream (onedata_stream.cpp)
  void connect();
  bool onResponse(long status);
  bool onChunk(std::string_view chunk);
  void onLine(std::string_view line, bool too_long, Batch& b);
  void onStreamEnd(const HttpResponse& r);
  void badLine(const std::string& why);
  std::optional<std::int64_t> safeCursor() const;
  // Adds the cursor to `b` when it moved since the last one enqueued.
  void addCursor(Batch& b);

  // settling (onedata_settle.cpp)
  void checkSettled();
  void armSettleTimer();
  void fetchAttributes(const std::string& file_id);
  void addCreated(Batch& b, const std::string& file_id, const SettleTracker::Pending& p);
  void addRemoved(Batch& b, const std::string& path, std::int64_t now, const char* note);
  void finishOnceIfSettled();

  // listing (onedata_scan.cpp)
  void reconcile(const std::string& why, Done done);
  void listPage();
  void onPage(const HttpResponse& r);
  void finishScan(std::string error);

  const OnedataSpec& spec_;
  ConnectorContext& ctx_;
  const std::string health_key_;
  const Origin origin_;
  HttpAuth auth_;
  VersionIndex index_;
  std::unordered_map<std::string, std::string> by_id_;  // file id → path (live index entries)
  bool running_ = false, stopped_ = false, startup_pending_ = true;
  CommitPump pump_;
  // changes
  std::uint64_t stream_id_ = 0;
  std::uint64_t connects_ = 0;
  bool streaming_ = false, paused_ = false;
  long stream_status_ = 0;
  std::string error_body_, stream_error_;
  bool auth_failed_ = false;
  LineFramer framer_;
  boost::asio::steady_timer reconnect_timer_;
  std::chrono::milliseconds backoff_{1000};
  std::optional<std::int64_t> read_seq_;  // the last seq read (the loaded cursor at start)
  std::optional<std::int64_t> enqueued_cursor_;
  std::int64_t last_bad_log_ms_ = 0;
  std::size_t bad_unlogged_ = 0;
  // settle
  SettleTracker tracker_;
  boost::asio::steady_timer settle_timer_;
  std::size_t fetches_ = 0;
  Done once_done_;  // `sluice once` in changes mode: done when the stream ended and all settled
  bool once_stream_ended_ = false;
  // scan
  std::unique_ptr<Scan> scan_;
  std::string scan_error_;
  boost::asio::steady_timer scan_timer_;
  // metrics
  SourceMetrics metrics_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace sluice::connectors::onedata
