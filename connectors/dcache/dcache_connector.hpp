#pragma once
// A `dcache` source at work (see dcache_spec.hpp for what it promises).
//
// Flow: a channel (found again through the cursor, or created with the source's client-id),
// one inotify subscription per watched directory, one SSE stream. Each stream event becomes a
// Step; steps that need the file's attributes (a file written or moved in) ask the namespace;
// steps are turned into events strictly in stream order and committed with the cursor
// {channel, last id}, so a restart replays from the last committed id (Last-Event-ID).
//
// Invariants:
//  - index_ mirrors the committed source index (path → {PNFS-ID, mtime, size}); overlay_
//    holds what steps made but the queue has not stored yet, so later steps see it.
//  - Every event id comes from fileEvent(), whichever path saw the change (stream, listing).
//  - A reconciliation never undoes what the stream reported while it ran (`touched`).
//  - Whenever the stream may have lost something (start, EVENT_LOSS, IN_Q_OVERFLOW, a channel
//    gone, a competing client), a `gap` event is stored and the tree is listed again.
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "connectors/dcache/dcache_events.hpp"
#include "connectors/dcache/dcache_spec.hpp"
#include "daemon/commit_pump.hpp"
#include "daemon/http_auth.hpp"
#include "daemon/http_client.hpp"
#include "daemon/source_metrics.hpp"
#include "daemon/sse_parser.hpp"
#include "daemon/version_index.hpp"

namespace sluice::connectors::dcache {

class DcacheConnector final : public Connector {
 public:
  DcacheConnector(const DcacheSpec& spec, ConnectorContext& ctx);
  ~DcacheConnector() override;
  void start() override;
  void stop() override;
  void catchUp(std::function<void(std::string error)> done) override;

 private:
  using Done = std::function<void(std::string error)>;
  static constexpr std::size_t kHighWater = 256;  // steps + works before the stream pauses
  static constexpr int kStatsInFlight = 8;

  // One stream event on its way to the queue.
  struct Step {
    std::uint64_t seq = 0;
    std::optional<std::string> id;  // the SSE id: the cursor moves here once committed
    enum Kind { Nothing, Written, Deleted, MovedFrom, MovedTo, DirGone, Gap } kind = Nothing;
    std::string path, from, cookie, why;
    bool needs_stat = false, stat_running = false, ready = true, paired = false;
    std::optional<Entry> attrs;  // the namespace's answer; nullopt: gone before it was asked
    int attempts = 0;
    std::int64_t seen_ms = 0;
    nlohmann::json native;
  };
  // One reconciliation: directories to list, what was found, what the stream touched meanwhile.
  struct Scan {
    std::string why;
    bool full = true;  // false: only new directories (nothing is found missing)
    std::vector<std::string> roots;
    std::deque<std::string> dirs;
    int in_flight = 0, attempts = 0;
    std::unordered_set<std::string> seen, touched;
    std::string error;
    std::vector<Done> waiters;
  };

  // ---- channel and stream (dcache_stream.cpp) ----
  void openChannel();
  void findChannel();
  void createChannel();
  void setChannel(const std::string& url, bool fresh);
  void connect();
  bool onResponse(long status);
  bool onChunk(std::string_view chunk);
  void onStreamEnd(const HttpResponse& r);
  void retryLater(const std::string& why, long status);
  void onSse(SseEvent&& ev);
  void onSystem(const SystemEvent& s);
  void onInotify(const Inotify& n, const std::optional<std::string>& id);
  void lost(const std::string& why, bool new_channel);
  // ---- steps (dcache_steps.cpp) ----
  void addStep(Step s);
  Step* findStep(std::uint64_t seq);
  void stat(std::uint64_t seq);
  void expirePairs();
  void pair(Step& to);
  void flush();
  void materialize(Step& s, Batch& b);
  void stored(const Batch& b);
  const ObjectVersion* known(const std::string& path) const;
  ObjectVersion lastKnown(const std::string& path) const;
  const Tombstone* gone(const std::string& path, Tombstone& scratch) const;
  void note(Batch& b, IndexUpdate u);
  void removeFile(Batch& b, const std::string& path, const std::string& fallback,
                  const std::string& why);
  void pauseIfBehind();
  void drained();
  // ---- reconciliation and subscriptions (dcache_tree.cpp) ----
  void reconcile(const std::string& why, bool full, std::vector<std::string> roots, Done done);
  void listNext();
  void listDir(const std::string& dir);
  void onListing(const std::string& dir, const HttpResponse& r);
  void finishScan();
  void subscribe(const std::string& dir, std::function<void(bool ok)> then);
  void forgetSubscriptionsUnder(const std::string& dir);
  // ---- shared ----
  void load();
  void request(HttpRequest req, std::function<void(HttpResponse)> done);
  std::string cursorJson() const;
  void publishHealth();
  void checkOnceDone();

  const DcacheSpec& spec_;
  ConnectorContext& ctx_;
  const std::string health_key_;
  const Origin origin_;
  const std::string client_id_;
  HttpAuth auth_;
  VersionIndex index_;
  // path → the version uncommitted steps gave it (nullopt: removed), with how many wait.
  // path → the fingerprint (or tombstone, or nullopt: erased) uncommitted steps gave it, and
  // how many uncommitted batches touch it.
  std::unordered_map<std::string, std::pair<std::optional<std::string>, int>> overlay_;
  CommitPump pump_;
  bool running_ = false, stopped_ = false, once_ = false;
  // channel
  std::string channel_;                      // URL, "" = none yet
  std::string last_id_;                      // the last SSE id received on channel_
  std::map<std::string, std::string> subs_;  // subscription URL → directory
  std::map<std::string, std::string> dirs_;  // directory → subscription URL
  bool create_new_ = false;  // the next channel is a new one (a competing client has ours)
  std::string resync_why_;   // set: list the tree once the stream is open
  // stream
  std::uint64_t stream_id_ = 0;
  bool streaming_ = false, stream_open_ = false, paused_ = false;
  long stream_status_ = 0;
  std::string stream_error_, error_body_;
  SseParser parser_;
  boost::asio::steady_timer reconnect_timer_;
  std::chrono::milliseconds backoff_{1000};
  std::int64_t last_byte_ms_ = 0;
  // steps
  std::deque<Step> steps_;
  std::uint64_t next_seq_ = 0;
  int stats_in_flight_ = 0;
  std::unordered_set<std::string> uploading_;  // IN_CREATE seen, no IN_CLOSE_WRITE yet
  boost::asio::steady_timer step_timer_;
  // reconciliation
  std::unique_ptr<Scan> scan_;
  std::vector<std::pair<std::string, std::vector<std::string>>> scans_waiting_;  // partial
  bool full_again_ = false;
  std::string full_again_why_;
  std::vector<Done> full_again_waiters_;
  bool startup_pending_ = true;
  std::string scan_error_;
  boost::asio::steady_timer scan_timer_;
  // sluice once
  std::vector<Done> once_waiters_;
  bool once_finished_ = false;  // the stream was ended on purpose
  boost::asio::steady_timer quiet_timer_;
  // metrics
  SourceMetrics metrics_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace sluice::connectors::dcache
