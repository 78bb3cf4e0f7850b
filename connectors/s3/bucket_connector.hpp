#pragma once
// A `minio` or `s3` source at work (see bucket_spec.hpp for what it promises).
//
// Invariants:
//  - One commit in flight; work waits in `queue_`, which stays short: a listen stream is paused
//    and a listing waits while it is long (TCP flow control then holds MinIO back).
//  - `index_` (key → version, and tombstones) mirrors the source index as committed: it changes
//  only after a
//    commit succeeded, in the order of the commits.
//  - Every event id comes from objectEvent(), whichever path saw the change (stream, push,
//    listing), so a change seen twice is deduplicated by the queue.
//  - A push is answered 2xx only after its batch is committed (a body sluice cannot use is
//    committed as a dead-lettered `gap` event), 503 when it cannot be: MinIO then keeps it.
//  - A reconciliation never undoes what the stream or a push reported while it ran: keys they
//    touched are left to them.
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "connectors/s3/bucket_spec.hpp"
#include "connectors/s3/s3_records.hpp"
#include "daemon/commit_pump.hpp"
#include "daemon/http_server.hpp"
#include "daemon/line_framer.hpp"
#include "daemon/s3_client.hpp"

namespace sluice {
class Counter;
}

namespace sluice::connectors::s3 {

class BucketConnector final : public Connector {
 public:
  BucketConnector(const BucketSpec& spec, ConnectorContext& ctx);
  ~BucketConnector() override;
  void start() override;
  void stop() override;
  void catchUp(std::function<void(std::string error)> done) override;

 private:
  // Queued works beyond which the stream is paused and a listing waits (a work is one chunk
  // of the stream, one push or one listing page).
  static constexpr std::size_t kHighWater = 64;
  using Done = std::function<void(std::string error)>;
  using Work = CommitPump::Work;
  // One reconciliation: the keys listed so far and those live events changed meanwhile.
  struct Scan {
    std::string why;
    std::unordered_set<std::string> seen, touched;
    std::string token;
    bool page_in_flight = false, waiting = false;
    int attempts = 0;
    std::vector<Done> waiters;
    // Asked for again while running (a reconnect): another pass follows this one.
    bool again = false;
    std::string again_why;
    std::vector<Done> again_waiters;
  };

  void loadIndex();
  // Queues a work for commit (CommitPump), pausing the stream while the queue is long.
  void enqueue(Work w);
  // After a commit (or a failed one): resumes what waited for the queue to shorten.
  void drained();
  bool wanted(const std::string& key) const;
  // Adds the event of `r` (if wanted and emitted) and its index update to `b`.
  void addRecord(Batch& b, const ParsedRecord& r);

  void connect();
  bool onResponse(long status);
  bool onChunk(std::string_view chunk);
  void onStreamEnd(const HttpResponse& r);

  void reconcile(const std::string& why, Done done);
  void listPage();
  void onPage(S3ListPage page);
  void finishScan(std::string error);

  void pollSqs();
  void onReceive(const HttpResponse& r);
  void sqsCall(const std::string& op, const nlohmann::json& body,
               std::function<void(HttpResponse)> done);
  void deleteMessages(std::vector<std::string> handles);
  void extendVisibility();
  // Parks what a source was sent and cannot use as a dead-lettered `gap` event in `b`.
  void park(Batch& b, const std::string& id, const std::string& why, const std::string& body);

  void onPush(const ServerRequest& req, Responder respond);
  void waitQuiet(Done done);
  void publishHealth();

  const BucketSpec& spec_;
  ConnectorContext& ctx_;
  const std::string health_key_;
  Origin origin_;
  std::unique_ptr<AwsCredentialsProvider> creds_;
  std::unique_ptr<S3Client> s3_;  // null: push mode without credentials (no reconciling)
  VersionIndex index_;            // objects the bucket has, removals within the dedup horizon
  bool running_ = false, stopped_ = false;
  CommitPump pump_;
  // listen
  std::uint64_t stream_id_ = 0;
  bool streaming_ = false, stream_open_ = false, paused_ = false;
  long stream_status_ = 0;
  std::string stream_error_, error_body_;
  LineFramer framer_;
  boost::asio::steady_timer reconnect_timer_;
  std::chrono::milliseconds backoff_{1000};
  // reconcile
  std::unique_ptr<Scan> scan_;
  bool startup_pending_ = false;
  std::string scan_error_;
  boost::asio::steady_timer scan_timer_;
  // sqs
  int polls_ = 0;  // ReceiveMessage calls in flight
  bool backing_off_ = false, extending_ = false;
  std::size_t deletes_in_flight_ = 0;  // `sluice once` is done only when they are answered
  boost::asio::steady_timer poll_timer_, visibility_timer_;
  std::unordered_set<std::string> hidden_;  // receipt handles of messages not committed yet
  std::vector<Done> drained_waiters_;       // `sluice once`: done at the first empty receive
  // push
  std::int64_t last_push_ms_ = 0;
  boost::asio::steady_timer quiet_timer_;
  Counter& bad_lines_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace sluice::connectors::s3
