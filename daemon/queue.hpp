#pragma once
// The durable queue: events, their per-sink deliveries, the sources' cursors and listing
// indexes, and the dead-letter queue.
//
// Invariants:
//  - append() stores a batch's new events, one delivery per routed sink, the source's cursor
//    and index updates in ONE transaction; its callback runs only after that transaction is on
//    disk (fsync). Nothing outside this module knows the storage engine.
//  - An event id seen within the dedup horizon is not stored again (counted as deduplicated).
//  - A delivery is pending, leased (with an expiry) or dead. lease() counts an attempt before
//    the sink runs, so a delivery that crashes the process still exhausts max_attempts. Leases
//    of a previous process are released when the queue is opened by the owning daemon.
//  - An event's storage is reclaimed when its last delivery is done (or purged).
//  - Every method is thread-safe. Callbacks run on the queue's writer thread: post them to
//    your own executor. They are always called, also when the queue fails (ok=false).
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/config_reader.hpp"
#include "daemon/connector.hpp"
#include "daemon/event.hpp"

namespace sluice {

class Clock;

struct RoutedBatch {
  Batch batch;
  std::vector<std::vector<std::string>> sinks;  // sinks[i]: the sinks events[i] goes to
};

struct Lease {
  std::int64_t seq = 0;
  std::string sink;
  Event event;
  int attempt = 1;  // this attempt, 1-based
  std::int64_t first_seen_ms = 0;
};

// Release: the attempt was cut short by sluice itself (shutdown, reload) and does not count:
// the delivery is pending again, due at due_ms, with the attempt the lease counted taken back.
enum class Outcome { Done, Retry, Dead, Release };

struct Settlement {
  std::int64_t seq = 0;
  std::string sink;
  Outcome outcome = Outcome::Done;
  std::int64_t due_ms = 0;  // Retry / Release: when to try again
  std::string reason;       // Retry / Dead: why (kept for operators)
  // Done: the receiver's answer to keep (until dedup_horizon), with what identifies it.
  std::optional<std::string> output;
  std::string event_id;
  std::string subject;
  int attempts = 0;
  // Events to store in the same transaction (a job's result event), with their sinks; never
  // refused for queue.max_size: they are few and the settlement must not fail for them.
  std::optional<RoutedBatch> emit;
};

struct SinkStats {
  std::string sink;
  std::int64_t pending = 0;  // waiting or leased
  std::int64_t leased = 0;
  std::int64_t dead = 0;
  std::optional<std::int64_t> oldest_pending_ms;  // first-seen time of the oldest pending event
};

struct QueueStats {
  std::int64_t events = 0;        // stored events (not yet finished)
  std::int64_t dedup_entries = 0;
  std::int64_t event_bytes = 0;  // stored event bodies: what QueueOptions::max_bytes caps
  std::vector<SinkStats> sinks;
};

struct DeliveryRow {
  std::int64_t seq = 0;
  std::string sink;
  std::string state;  // pending | leased | dead
  int attempts = 0;
  std::int64_t due_ms = 0;
  std::int64_t first_seen_ms = 0;
  std::string event_id;
  std::string subject;
  std::string last_error;
  std::string output;  // state "done": the receiver's answer that the sink kept
};

struct MoveResult {
  std::size_t moved = 0;
  std::size_t merged = 0;  // dropped: the event already had a delivery to the target
};

struct Selector {  // for list / replay / purge
  std::optional<std::string> sink;
  std::optional<std::string> event_id;
  // pending | leased | dead | any; list() also takes "done": finished deliveries whose sink
  // kept the receiver's answer (Settlement::output)
  std::string state = "dead";
  std::size_t limit = 100;
  std::optional<std::string> subject_prefix;  // the event's subject starts with it
  // The event's first-seen time (when sluice committed it), ms since the epoch: since <= t < until
  std::optional<std::int64_t> since_ms, until_ms;
};

// Called between chunks of a long replay or purge: how many so far, of how many selected.
using AdminProgress = std::function<void(std::size_t done, std::size_t total)>;

struct QueueOptions {
  std::string path;                 // the database file
  Duration dedup_horizon{7LL * 86'400'000};
  bool release_leases_on_open = true;  // the owning daemon: yes; `sluice queue` CLI: no
  // Cap on the stored events (their bodies), pending or dead: exactly what finished
  // deliveries (and purged dead letters) free again. Dedup ids and the sources' indexes are
  // not counted. A batch that would pass the cap fails (CommitResult::full): sources pause,
  // nothing drops. An empty queue takes any batch, so one bigger than the cap cannot stall
  // intake for good. 0: the disk is the limit.
  std::uint64_t max_bytes = 0;
};

class Queue {
 public:
  virtual ~Queue() = default;

  // Durable commit of a routed batch (group-committed with whatever else is waiting).
  virtual void append(RoutedBatch batch, std::function<void(CommitResult)> done) = 0;
  // Leases up to `max` due deliveries of `sink` until now + lease_for. Also reports when the
  // next delivery of that sink becomes due (nullopt: none pending).
  virtual void lease(const std::string& sink, std::size_t max, Duration lease_for,
                     std::function<void(bool ok, std::vector<Lease>, std::optional<std::int64_t>
                                                                        next_due_ms)> done) = 0;
  // Records outcomes (done / retry at due_ms / dead) in one transaction.
  virtual void settle(std::vector<Settlement> outcomes, std::function<void(bool ok)> done) = 0;
  // Blocking reads.
  virtual SourceState loadState(const std::string& source, const IndexVisitor& index) = 0;
  virtual QueueStats stats() = 0;
  // Why the last failed operation failed (disk full, with the free space and the remedy;
  // queue.max_size reached); "" once an operation succeeded since.
  virtual std::string lastError() const = 0;
};

// Operator access (`sluice queue list|dead|replay|purge`). Blocking.
class QueueAdmin {
 public:
  virtual ~QueueAdmin() = default;
  virtual std::vector<DeliveryRow> list(const Selector& sel) = 0;
  virtual std::optional<Event> event(std::int64_t seq) = 0;
  // Makes selected deliveries pending and due now, attempts reset. Returns how many. Works
  // in chunks (one transaction each, so the daemon's own writes interleave), reporting each.
  virtual std::size_t replay(const Selector& sel, const AdminProgress& progress = {}) = 0;
  // Deletes selected deliveries (and events left without deliveries). Returns how many.
  virtual std::size_t purge(const Selector& sel, const AdminProgress& progress = {}) = 0;
  // Gives every delivery of sink `from` (a sink renamed or removed from the config) to sink
  // `to`, keeping state, attempts and due times. Where an event already has a delivery to
  // `to`, the one of `from` is dropped (merged) instead.
  virtual MoveResult move(const std::string& from, const std::string& to) = 0;
  // Moves every pending or leased delivery of `sink` to the dead-letter queue with `reason`.
  virtual std::size_t deadLetter(const std::string& sink, const std::string& reason) = 0;
};

class SqliteQueue;
// Opens (creating if needed) the SQLite-backed queue. Throws std::runtime_error on failure.
std::unique_ptr<SqliteQueue> openSqliteQueue(const QueueOptions& opts, const Clock& clock);

}  // namespace sluice
