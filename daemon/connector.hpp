#pragma once
// A source of events. It reads its storage's change stream, turns changes into Events and
// hands them to the Intake in batches, together with the state it needs to resume.
//
// Contract (persist, then acknowledge):
//  - A batch's events, its new cursor and its index updates are committed in ONE durable
//    transaction. Only after `done(ok)` may the connector acknowledge upstream (delete an SQS
//    message, answer 2xx to a push, advance a server-side cursor).
//  - On a failed commit (disk full, queue unwritable) the connector keeps the batch, pauses
//    intake and retries; it never drops it.
//  - start(), stop() and catchUp() are called on the io_context thread; callbacks run there.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "daemon/clock.hpp"
#include "daemon/config_reader.hpp"
#include "daemon/event.hpp"
#include "daemon/object_store.hpp"

namespace spdlog {
class logger;
}

namespace sluice {

class Metrics;
class Health;
class HttpClient;
class Ingress;

// A source's resumable listing state (inotify: files known; S3 scan: keys and etags).
struct IndexUpdate {
  std::string key;
  std::optional<std::string> fingerprint;  // nullopt erases the key
};

struct Batch {
  std::string source;
  std::vector<Event> events;
  std::optional<std::string> cursor;  // set: replaces the stored cursor
  std::vector<IndexUpdate> index;
  // events[i] → why it cannot be used (e.g. a pushed body sluice could not parse, kept as a
  // `gap` event holding it): stored straight into the dead-letter queue with that reason, for
  // every sink the source's routes name (filters do not apply: there is nothing to filter on).
  // Nothing is dropped, and an operator can replay it.
  std::map<std::size_t, std::string> dead;
};

struct CommitResult {
  bool ok = false;
  std::string error;             // why the commit failed (queue unwritable, disk full, ...)
  bool full = false;             // failed for queue.max_size: a smaller batch may still fit
  std::size_t committed = 0;     // new events stored
  std::size_t deduplicated = 0;  // ids already seen within the dedup horizon
  std::size_t unrouted = 0;      // new events no route wanted (counted, not stored)
  std::size_t unencodable = 0;   // stored straight into the dead-letter queue (see the reason)
  std::size_t parked = 0;        // Batch::dead entries stored into the dead-letter queue
};

struct SourceState {
  std::optional<std::string> cursor;
};

// Called for each entry of a source's index as it is read, so that a big index streams into
// the connector's own structure instead of passing through a temporary copy.
using IndexVisitor = std::function<void(const std::string& key, const std::string& fingerprint)>;

// The connector's view of the queue.
class Intake {
 public:
  virtual ~Intake() = default;
  // Routes the events and commits the batch durably; `done` runs on the io_context thread.
  virtual void commit(Batch batch, std::function<void(CommitResult)> done) = 0;
  // The saved state of `source`, and its index through `index` when set (blocking read; call
  // at start only). The visitor runs on another thread while the caller waits.
  virtual SourceState loadState(const std::string& source, const IndexVisitor& index) = 0;
};

struct ConnectorContext {
  boost::asio::io_context& io;
  Intake& intake;
  Metrics& metrics;
  Health& health;
  const Clock& clock;
  std::shared_ptr<spdlog::logger> log;
  // The queue forgets an event id this long after it was seen (config `dedup_horizon`), so
  // per-change state a connector keeps only to make ids distinct may be pruned after it.
  Duration dedup_horizon{7LL * 86'400'000};
  // The process's one HTTP client (streams, listings, object reads), on `io`. Set by the
  // runtime; null only in tests of connectors that make no requests.
  HttpClient* http = nullptr;
  // Push ingress (daemon/ingress.hpp): a push source adds its route here from create(). Set by
  // the runtime; null only in tests of connectors that take no pushes.
  Ingress* ingress = nullptr;
};

class Connector {
 public:
  virtual ~Connector() = default;
  // Resume from the saved state and follow the source until stop().
  virtual void start() = 0;
  // Stop intake: no commit starts after this returns (one in flight may still complete).
  virtual void stop() = 0;
  // `sluice once`: bring the queue up to date with what the source holds now, then call `done`
  // with an empty string on success or the reason it could not.
  virtual void catchUp(std::function<void(std::string error)> done) = 0;
};

class ConnectorSpec {
 public:
  virtual ~ConnectorSpec() = default;
  std::string name;
  std::string type;
  virtual std::unique_ptr<Connector> create(ConnectorContext& ctx) const = 0;
  // What create() needs from the machine (a directory, a device), checked without starting
  // anything, so that a reload can refuse a config whose sources could not start. "" = fine.
  virtual std::string preflight() const { return ""; }
  // True when storage pushes events to this source through the ingress: the config then
  // needs http.listen and http.ingress_token_file, and `sluice once` serves HTTP too.
  virtual bool takesPushes() const { return false; }
  // How objects of this source reach jobs (see daemon/object_store.hpp); null: they cannot.
  virtual std::unique_ptr<ObjectStore> objectStore(boost::asio::io_context&, HttpClient&,
                                                   const Clock&) const {
    return nullptr;
  }
};

}  // namespace sluice
