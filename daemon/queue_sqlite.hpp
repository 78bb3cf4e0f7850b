#pragma once
// SQLite implementation of Queue and QueueAdmin (WAL; commits that store new events are
// fsync'd, synchronous=FULL; see Op::durable for leases and settlements). One writer thread owns the connection; every operation is queued to it and all
// operations waiting when a transaction starts share it (group commit: one fsync for many
// callers). An operation that fails alone is retried in its own transaction so one bad batch
// cannot fail its neighbours.
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "daemon/queue.hpp"
#include "daemon/queue_tally.hpp"

namespace sluice {

namespace sqlite {
class Db;
}

class SqliteQueue final : public Queue, public QueueAdmin {
 public:
  SqliteQueue(const QueueOptions& opts, const Clock& clock);
  ~SqliteQueue() override;  // finishes queued operations, then stops the writer

  void append(RoutedBatch batch, std::function<void(CommitResult)> done) override;
  void lease(const std::string& sink, std::size_t max, Duration lease_for,
             std::function<void(bool, std::vector<Lease>, std::optional<std::int64_t>)> done)
      override;
  void settle(std::vector<Settlement> outcomes, std::function<void(bool)> done) override;
  SourceState loadState(const std::string& source, const IndexVisitor& index) override;
  QueueStats stats() override;
  std::string lastError() const override;

  std::vector<DeliveryRow> list(const Selector& sel) override;
  std::optional<Event> event(std::int64_t seq) override;
  std::size_t replay(const Selector& sel, const AdminProgress& progress = {}) override;
  std::size_t purge(const Selector& sel, const AdminProgress& progress = {}) override;
  MoveResult move(const std::string& from, const std::string& to) override;
  std::size_t deadLetter(const std::string& sink, const std::string& reason) override;

  // Transactions committed so far (for benchmarks and tests of group commit).
  std::uint64_t commits() const;

 private:
  std::vector<DeliveryRow> listOutputs(const Selector& sel);
  struct Op {
    std::function<void()> apply;                           // runs inside the transaction
    std::function<void(bool ok, const std::string&)> complete;  // after commit / rollback
    // Stores what exists nowhere else (new events, operator changes): fsync'd before the
    // callback (synchronous=FULL). Leases and settlements are not: after a power loss a lost
    // lease is released at the next open and a lost settlement is one redelivery, so
    // at-least-once holds with synchronous=NORMAL and one fsync leaves the latency path.
    bool durable = true;
  };
  void submit(Op op);
  // Runs `fn` on the writer thread inside a transaction and waits for it.
  void runSync(const std::function<void()>& fn);
  void writerLoop();
  bool runTransaction(std::deque<Op>& ops, std::string& error);
  void migrate();
  // Throws the "queue is full" error when `bodies` would pass opts_.max_bytes.
  void checkRoom(const std::vector<std::string>& bodies);
  // Event bodies as stored (encoded on the caller's thread: the writer is the bottleneck), and
  // the events that go straight to the dead-letter queue, by index, with why.
  struct Encoded {
    std::vector<std::string> bodies;
    std::map<std::size_t, std::string> dead;
  };
  static Encoded encode(const RoutedBatch& rb);
  // On the writer thread, inside its transaction: stores the batch's new events, their
  // deliveries, cursor and index updates.
  CommitResult insertBatch(RoutedBatch& rb, const Encoded& enc, std::int64_t now);
  static bool isFullError(const std::string& error);
  std::string diskFull() const;  // what an SQLITE_FULL means, with the free space and remedy
  void maybeExpireDedup();
  std::int64_t nameId(const std::string& name);
  std::string whereClause(const Selector& sel, std::vector<std::string>& binds);
  // Fills the temporary table `selected(sink, seq)` with the deliveries `sel` names; `within`
  // (SQL on d.sink, d.seq) narrows it further.
  void selectInto(const Selector& sel, const std::string& within = "");
  // Runs `apply` on chunks of the deliveries `sel` names, each chunk in `selected`, in its own
  // transaction; sums what apply returns and reports after each chunk.
  std::size_t inChunks(const Selector& sel, const AdminProgress& progress,
                       const std::function<std::size_t()>& apply);
  // Adds (sign +1) or removes (-1) the deliveries in `selected` to / from the delta tally.
  void tallySelected(int sign);
  QueueTally countAll();  // a full count: at open, and after another process wrote
  std::int64_t dataVersion();

  QueueOptions opts_;
  const Clock& clock_;
  std::unique_ptr<sqlite::Db> db_;
  std::unordered_map<std::string, std::int64_t> names_;  // writer thread only
  std::int64_t last_dedup_expiry_ms_ = 0;
  QueueTally delta_;               // writer thread: the open transaction's changes
  std::int64_t data_version_ = 0;  // writer thread: changes when another connection commits
  bool synchronous_full_ = true;   // writer thread: the connection's current setting

  mutable std::mutex stats_mu_;
  QueueTally committed_;  // guarded by stats_mu_: counts of what is on disk

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Op> pending_;
  bool stopping_ = false;
  std::uint64_t commits_ = 0;
  std::string last_error_;  // guarded by mu_
  std::thread writer_;
};

}  // namespace sluice
