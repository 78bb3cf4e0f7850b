#include "daemon/queue_sqlite.hpp"

#include <sys/statvfs.h>

#include <algorithm>
#include <filesystem>
#include <future>
#include <map>

#include "daemon/clock.hpp"
#include "daemon/sqlite_db.hpp"

namespace sluice {
namespace {

constexpr int kPending = 0, kLeased = 1, kDead = 2;
constexpr std::size_t kMaxOpsPerTransaction = 20000;
constexpr std::int64_t kDedupExpiryEveryMs = 3'600'000;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS names(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL);
CREATE TABLE IF NOT EXISTS events(
  seq INTEGER PRIMARY KEY, id TEXT NOT NULL, source INTEGER NOT NULL,
  first_seen INTEGER NOT NULL, remaining INTEGER NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS deliveries(
  sink INTEGER NOT NULL, seq INTEGER NOT NULL, state INTEGER NOT NULL,
  attempts INTEGER NOT NULL, due INTEGER NOT NULL, since INTEGER NOT NULL, error TEXT,
  PRIMARY KEY(sink, seq)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(sink, due) WHERE state < 2;
CREATE TABLE IF NOT EXISTS dedup(id TEXT PRIMARY KEY, seen INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dedup_seen ON dedup(seen);
CREATE TABLE IF NOT EXISTS cursors(source INTEGER PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS source_index(
  source INTEGER NOT NULL, key BLOB NOT NULL, fp TEXT NOT NULL,
  PRIMARY KEY(source, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outputs(
  sink INTEGER NOT NULL, seq INTEGER NOT NULL, done INTEGER NOT NULL, attempts INTEGER NOT NULL,
  event_id TEXT NOT NULL, subject TEXT NOT NULL, output BLOB NOT NULL,
  PRIMARY KEY(sink, seq)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS outputs_done ON outputs(done);
INSERT OR IGNORE INTO meta(key, value) VALUES('schema', '1');
)sql";

}  // namespace

std::unique_ptr<SqliteQueue> openSqliteQueue(const QueueOptions& opts, const Clock& clock) {
  return std::make_unique<SqliteQueue>(opts, clock);
}

SqliteQueue::SqliteQueue(const QueueOptions& opts, const Clock& clock)
    : opts_(opts), clock_(clock) {
  try {
    db_ = std::make_unique<sqlite::Db>(opts.path);
    db_->exec("PRAGMA busy_timeout=10000");  // first: the other pragmas may wait for a lock
    db_->exec("PRAGMA journal_mode=WAL");
    db_->exec("PRAGMA synchronous=FULL");  // fsync on every commit: the durability contract
    // Checkpoints truncate the WAL back to this size, so it does not keep its peak size.
    db_->exec("PRAGMA journal_size_limit=4194304");
    migrate();
    if (opts.release_leases_on_open) {
      // Only the owning daemon opens with this: leases of a dead process become due now.
      db_->prepare("UPDATE deliveries SET state=?1, due=?2 WHERE state=?3")
          .bind(1, std::int64_t{kPending})
          .bind(2, clock_.nowMs())
          .bind(3, std::int64_t{kLeased})
          .run();
    }
    // One read transaction, so another process's commit is either in both or in neither.
    db_->exec("BEGIN");
    data_version_ = dataVersion();
    committed_ = countAll();
    db_->exec("COMMIT");
  } catch (const sqlite::Error& e) {
    throw std::runtime_error("queue " + opts.path + ": " + e.what());
  }
  writer_ = std::thread([this] { writerLoop(); });
}

SqliteQueue::~SqliteQueue() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  writer_.join();
}

void SqliteQueue::migrate() {
  db_->exec("BEGIN IMMEDIATE");
  db_->exec(kSchema);
  auto st = db_->prepare("SELECT value FROM meta WHERE key='schema'");
  std::string version = st.step() ? st.text(0) : "";
  if (version != "1") {
    db_->exec("ROLLBACK");
    throw sqlite::Error(0, "unsupported queue schema version '" + version + "'");
  }
  db_->exec("COMMIT");
}

std::uint64_t SqliteQueue::commits() const {
  std::lock_guard lock(mu_);
  return commits_;
}

void SqliteQueue::submit(Op op) {
  {
    std::lock_guard lock(mu_);
    pending_.push_back(std::move(op));
  }
  cv_.notify_one();
}

void SqliteQueue::runSync(const std::function<void()>& fn) {
  std::promise<void> p;
  auto f = p.get_future();
  auto error = std::make_shared<std::exception_ptr>();
  submit({[&fn, error] {
            try {
              fn();
            } catch (...) {
              *error = std::current_exception();
              throw;
            }
          },
          [&p, error](bool ok, const std::string& why) {
            if (ok) p.set_value();
            else if (*error) p.set_exception(*error);
            else p.set_exception(std::make_exception_ptr(std::runtime_error(why)));
          }});
  f.get();
}

std::int64_t SqliteQueue::dataVersion() {
  auto st = db_->prepare("PRAGMA data_version");
  return st.step() ? st.i64(0) : 0;
}

QueueTally SqliteQueue::countAll() {
  QueueTally t;
  auto st = db_->prepare(
      "SELECT n.name, d.state, CASE WHEN d.state=2 THEN 0 ELSE d.since / 1000 END AS s, "
      "count(*) FROM deliveries d JOIN names n ON n.id = d.sink GROUP BY d.sink, d.state, s");
  while (st.step()) t.add(st.text(0), static_cast<int>(st.i64(1)), st.i64(2) * 1000, st.i64(3));
  auto e = db_->prepare("SELECT count(*), coalesce(sum(length(body)), 0) FROM events");
  if (e.step()) {
    t.addEvents(e.i64(0));
    t.addEventBytes(e.i64(1));
  }
  auto d = db_->prepare("SELECT count(*) FROM dedup");
  if (d.step()) t.addDedup(d.i64(0));
  return t;
}

bool SqliteQueue::runTransaction(std::deque<Op>& ops, std::string& error) {
  delta_ = {};
  try {
    const bool full = std::any_of(ops.begin(), ops.end(), [](const Op& op) { return op.durable; });
    if (full != synchronous_full_) {  // outside a transaction, where SQLite applies it
      db_->exec(full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
      synchronous_full_ = full;
    }
    db_->exec("BEGIN IMMEDIATE");
  } catch (const std::exception& e) {
    error = e.what();
    return false;
  }
  try {
    // Under the write lock nobody else can commit: if another process (`sluice queue replay`)
    // committed since our last look, recount before this transaction's changes.
    if (std::int64_t v = dataVersion(); v != data_version_) {
      auto fresh = countAll();
      std::lock_guard lock(stats_mu_);
      committed_ = std::move(fresh);
      data_version_ = v;
    }
    for (auto& op : ops) op.apply();
    db_->exec("COMMIT");
    if (!delta_.empty()) {
      std::lock_guard lock(stats_mu_);
      committed_.merge(delta_);
    }
    delta_ = {};
    return true;
  } catch (const sqlite::Error& e) {
    error = (e.code() & 0xff) == SQLITE_FULL ? diskFull() : e.what();
  } catch (const std::exception& e) {
    error = e.what();
  }
  delta_ = {};
  names_.clear();  // the rollback may have undone names inserted (and cached) in it
  try {
    db_->exec("ROLLBACK");
  } catch (const std::exception&) {
    // A failed COMMIT may already have rolled back; nothing else to undo.
  }
  return false;
}

void SqliteQueue::writerLoop() {
  for (;;) {
    std::deque<Op> batch;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
      if (pending_.empty()) return;  // stopping and drained
      while (!pending_.empty() && batch.size() < kMaxOpsPerTransaction) {
        batch.push_back(std::move(pending_.front()));
        pending_.pop_front();
      }
    }
    std::string error;
    if (runTransaction(batch, error)) {
      {
        std::lock_guard lock(mu_);
        ++commits_;
        last_error_.clear();
      }
      for (auto& op : batch) op.complete(true, "");
    } else if (batch.size() == 1) {
      {
        std::lock_guard lock(mu_);
        last_error_ = error;
      }
      batch.front().complete(false, error);
    } else {
      for (auto& op : batch) {  // isolate the failing operation(s)
        std::deque<Op> one;
        one.push_back(std::move(op));
        std::string e;
        bool ok = runTransaction(one, e);
        {
          std::lock_guard lock(mu_);
          if (ok) ++commits_;
          else last_error_ = e;
        }
        one.front().complete(ok, e);
      }
    }
    maybeExpireDedup();
  }
}

void SqliteQueue::maybeExpireDedup() {
  std::int64_t now = clock_.nowMs();
  if (now - last_dedup_expiry_ms_ < kDedupExpiryEveryMs) return;
  // In chunks, one transaction each, with whatever is waiting committed in between: a week of
  // ids can be millions of rows, and one big DELETE would stall every caller meanwhile.
  constexpr std::int64_t kChunk = 5000;
  std::int64_t deleted = 0;
  std::deque<Op> one;
  one.push_back({[this, now, &deleted] {
                   db_->prepare("DELETE FROM dedup WHERE id IN (SELECT id FROM dedup "
                                "WHERE seen < ?1 ORDER BY seen LIMIT ?2)")
                       .bind(1, now - opts_.dedup_horizon.count())
                       .bind(2, kChunk)
                       .run();
                   deleted = db_->changes();
                   delta_.addDedup(-deleted);
                   // Kept outputs of finished deliveries live as long as the ids do.
                   db_->prepare("DELETE FROM outputs WHERE done < ?1")
                       .bind(1, now - opts_.dedup_horizon.count())
                       .run();
                 },
                 [](bool, const std::string&) {}, false});
  std::string e;
  bool ok = runTransaction(one, e);
  // Done (or failed: best effort, tried again an hour later) unless a full chunk went.
  if (!ok || deleted < kChunk) last_dedup_expiry_ms_ = now;
}

std::int64_t SqliteQueue::nameId(const std::string& name) {
  if (auto it = names_.find(name); it != names_.end()) return it->second;
  db_->prepare("INSERT OR IGNORE INTO names(name) VALUES(?1)").bind(1, name).run();
  auto st = db_->prepare("SELECT id FROM names WHERE name=?1");
  st.bind(1, name);
  if (!st.step()) throw std::runtime_error("name id vanished: " + name);
  std::int64_t id = st.i64(0);
  // Safe to cache: runTransaction() clears the cache when a transaction rolls back.
  names_.emplace(name, id);
  return id;
}

namespace {
constexpr std::string_view kFullPrefix = "the queue is full: ";
}  // namespace

std::string SqliteQueue::diskFull() const {
  auto dir = std::filesystem::absolute(opts_.path).parent_path();
  struct statvfs vfs {};
  std::string free = statvfs(dir.c_str(), &vfs) == 0
                         ? std::to_string(static_cast<std::uint64_t>(vfs.f_bavail) * vfs.f_frsize / 1048576) + " MiB free"
                         : "free space unknown";
  return "the disk is full: the file system of " + dir.string() + " has " + free +
         ". Free space there; sources are paused until a commit succeeds";
}

bool SqliteQueue::isFullError(const std::string& error) { return error.starts_with(kFullPrefix); }

void SqliteQueue::checkRoom(const std::vector<std::string>& bodies) {
  if (opts_.max_bytes == 0) return;
  std::int64_t stored = delta_.eventBytes();
  {
    std::lock_guard lock(stats_mu_);
    stored += committed_.eventBytes();
  }
  std::int64_t adding = 0;
  for (auto& b : bodies) adding += static_cast<std::int64_t>(b.size());
  // An empty queue takes any batch: one bigger than the cap must not stop intake for good.
  if (stored == 0 || stored + adding <= static_cast<std::int64_t>(opts_.max_bytes)) return;
  throw std::runtime_error(std::string(kFullPrefix) + std::to_string(stored) +
                           " bytes of events await delivery or sit in the dead-letter queue, "
                           "and this batch of " + std::to_string(adding) +
                           " bytes would pass queue.max_size (" + std::to_string(opts_.max_bytes) +
                           " bytes). Sources are paused until deliveries finish; purge or "
                           "replay dead letters (sluice queue dead) or raise queue.max_size");
}

SqliteQueue::Encoded SqliteQueue::encode(const RoutedBatch& rb) {
  Encoded enc;
  enc.bodies.reserve(rb.batch.events.size());
  for (const auto& ev : rb.batch.events) {
    try {
      enc.bodies.push_back(toJson(ev).dump());
    } catch (const std::exception& e) {
      // No byte string from storage may take the daemon down: the event is kept with what
      // could be encoded (invalid UTF-8 replaced) and goes straight to the dead-letter queue.
      enc.dead[enc.bodies.size()] = std::string("the event could not be encoded exactly: ") + e.what();
      enc.bodies.push_back(safeDump(toJson(ev)));
    }
  }
  for (auto& [i, why] : rb.batch.dead)
    if (i < enc.bodies.size()) enc.dead.emplace(i, why);
  return enc;
}

CommitResult SqliteQueue::insertBatch(RoutedBatch& rb, const Encoded& enc, std::int64_t now) {
  CommitResult r;
  const std::int64_t source = nameId(rb.batch.source);
  auto& events = rb.batch.events;
  for (std::size_t i = 0; i < events.size(); ++i) {
    auto& ev = events[i];
    db_->prepare("INSERT OR IGNORE INTO dedup(id, seen) VALUES(?1, ?2)")
        .bind(1, ev.id)
        .bind(2, now)
        .run();
    if (db_->changes() == 1) {
      delta_.addDedup(1);
    } else {  // seen before: new again only if that was beyond the horizon
      db_->prepare("UPDATE dedup SET seen=?1 WHERE id=?2 AND seen < ?3")
          .bind(1, now)
          .bind(2, ev.id)
          .bind(3, now - opts_.dedup_horizon.count())
          .run();
      if (db_->changes() == 0) {
        ++r.deduplicated;
        continue;
      }
    }
    const auto& sinks = i < rb.sinks.size() ? rb.sinks[i]
                                                : std::vector<std::string>{};
    if (sinks.empty()) {
      ++r.unrouted;
      continue;
    }
    db_->prepare(
           "INSERT INTO events(id, source, first_seen, remaining, body) "
           "VALUES(?1, ?2, ?3, ?4, ?5)")
        .bind(1, ev.id)
        .bind(2, source)
        .bind(3, now)
        .bind(4, static_cast<std::int64_t>(sinks.size()))
        .bind(5, enc.bodies[i])
        .run();
    std::int64_t seq = db_->lastRowid();
    delta_.addEvents(1);
    delta_.addEventBytes(static_cast<std::int64_t>(enc.bodies[i].size()));
    auto bad = enc.dead.find(i);
    const int state = bad == enc.dead.end() ? kPending : kDead;
    for (auto& sink : sinks) {
      delta_.add(sink, state, now, 1);
      auto ins = db_->prepare(
          "INSERT INTO deliveries(sink, seq, state, attempts, due, since, error) "
          "VALUES(?1, ?2, ?3, 0, ?4, ?4, ?5)");
      ins.bind(1, nameId(sink)).bind(2, seq).bind(3, std::int64_t{state}).bind(4, now);
      if (state == kDead) ins.bind(5, bad->second);
      else ins.bindNull(5);
      ins.run();
    }
    ++r.committed;
    if (state == kDead) ++(rb.batch.dead.count(i) ? r.parked : r.unencodable);
  }
  if (rb.batch.cursor) {
    db_->prepare("INSERT OR REPLACE INTO cursors(source, value) VALUES(?1, ?2)")
        .bind(1, source)
        .bindBlob(2, *rb.batch.cursor)
        .run();
  }
  for (auto& u : rb.batch.index) {
    if (u.fingerprint) {
      db_->prepare("INSERT OR REPLACE INTO source_index(source, key, fp) "
                   "VALUES(?1, ?2, ?3)")
          .bind(1, source)
          .bindBlob(2, u.key)
          .bind(3, *u.fingerprint)
          .run();
    } else {
      db_->prepare("DELETE FROM source_index WHERE source=?1 AND key=?2")
          .bind(1, source)
          .bindBlob(2, u.key)
          .run();
    }
  }
  r.ok = true;
  return r;
}

void SqliteQueue::append(RoutedBatch rb, std::function<void(CommitResult)> done) {
  auto result = std::make_shared<CommitResult>();
  auto batch = std::make_shared<RoutedBatch>(std::move(rb));
  auto enc = std::make_shared<Encoded>(encode(*batch));
  submit({[this, batch, enc, result] {
            checkRoom(enc->bodies);
            *result = insertBatch(*batch, *enc, clock_.nowMs());
          },
          [result, done = std::move(done)](bool ok, const std::string& error) {
            if (!ok) *result = CommitResult{false, error, isFullError(error)};
            done(*result);
          }});
}

void SqliteQueue::lease(
    const std::string& sink, std::size_t max, Duration lease_for,
    std::function<void(bool, std::vector<Lease>, std::optional<std::int64_t>)> done) {
  struct Out {
    std::vector<Lease> leases;
    std::optional<std::int64_t> next_due;
  };
  auto out = std::make_shared<Out>();
  submit({[this, sink, max, lease_for, out] {
            Out o;
            const std::int64_t now = clock_.nowMs();
            const std::int64_t sid = nameId(sink);
            struct Corrupt {
              std::int64_t seq, since;
              int state;
              std::string why;
            };
            std::vector<Corrupt> corrupt;
            std::vector<int> states;  // of o.leases, before this lease
            {
              auto st = db_->prepare(
                  "SELECT d.seq, d.attempts, d.since, e.body, d.state FROM deliveries d "
                  "JOIN events e ON e.seq = d.seq "
                  "WHERE d.sink=?1 AND d.state < 2 AND d.due <= ?2 ORDER BY d.due LIMIT ?3");
              st.bind(1, sid).bind(2, now).bind(3, static_cast<std::int64_t>(max));
              while (st.step()) {
                Lease l;
                l.seq = st.i64(0);
                l.sink = sink;
                l.attempt = static_cast<int>(st.i64(1)) + 1;
                l.first_seen_ms = st.i64(2);
                try {
                  l.event = fromJson(nlohmann::json::parse(st.text(3)));
                  o.leases.push_back(std::move(l));
                  states.push_back(static_cast<int>(st.i64(4)));
                } catch (const std::exception& e) {
                  corrupt.push_back({l.seq, l.first_seen_ms, static_cast<int>(st.i64(4)),
                                     std::string("stored event unreadable: ") + e.what()});
                }
              }
            }
            for (std::size_t i = 0; i < o.leases.size(); ++i) {
              db_->prepare("UPDATE deliveries SET state=1, attempts=attempts+1, due=?1 "
                           "WHERE sink=?2 AND seq=?3")
                  .bind(1, now + lease_for.count())
                  .bind(2, sid)
                  .bind(3, o.leases[i].seq)
                  .run();
              delta_.move(sink, states[i], kLeased, o.leases[i].first_seen_ms);
            }
            for (auto& c : corrupt) {  // kept for the operator, never dropped
              db_->prepare("UPDATE deliveries SET state=2, error=?1 WHERE sink=?2 AND seq=?3")
                  .bind(1, c.why)
                  .bind(2, sid)
                  .bind(3, c.seq)
                  .run();
              delta_.move(sink, c.state, kDead, c.since);
            }
            auto st = db_->prepare("SELECT min(due) FROM deliveries WHERE sink=?1 AND state < 2");
            st.bind(1, sid);
            if (st.step() && !st.isNull(0)) o.next_due = st.i64(0);
            *out = std::move(o);
          },
          [out, done = std::move(done)](bool ok, const std::string&) {
            if (!ok) *out = {};
            done(ok, std::move(out->leases), out->next_due);
          },
          false});
}

void SqliteQueue::settle(std::vector<Settlement> outcomes, std::function<void(bool)> done) {
  auto list = std::make_shared<std::vector<Settlement>>(std::move(outcomes));
  auto encoded = std::make_shared<std::vector<Encoded>>();
  for (auto& s : *list) encoded->push_back(s.emit ? encode(*s.emit) : Encoded{});
  submit({[this, list, encoded] {
            for (std::size_t i = 0; i < list->size(); ++i) {
              auto& s = (*list)[i];
              const std::int64_t sid = nameId(s.sink);
              int state = 0;
              std::int64_t since = 0;
              {
                auto st = db_->prepare("SELECT state, since FROM deliveries WHERE sink=?1 AND seq=?2");
                st.bind(1, sid).bind(2, s.seq);
                if (!st.step()) continue;  // purged meanwhile
                state = static_cast<int>(st.i64(0));
                since = st.i64(1);
              }
              if (s.emit) insertBatch(*s.emit, (*encoded)[i], clock_.nowMs());
              if (s.outcome == Outcome::Done) {
                db_->prepare("DELETE FROM deliveries WHERE sink=?1 AND seq=?2")
                    .bind(1, sid)
                    .bind(2, s.seq)
                    .run();
                delta_.add(s.sink, state, since, -1);
                if (s.output)
                  db_->prepare("INSERT OR REPLACE INTO outputs(sink, seq, done, attempts, "
                               "event_id, subject, output) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)")
                      .bind(1, sid)
                      .bind(2, s.seq)
                      .bind(3, clock_.nowMs())
                      .bind(4, std::int64_t{s.attempts})
                      .bind(5, s.event_id)
                      .bind(6, s.subject)
                      .bindBlob(7, *s.output)
                      .run();
                db_->prepare("UPDATE events SET remaining = remaining - 1 WHERE seq=?1")
                    .bind(1, s.seq)
                    .run();
                auto del = db_->prepare(
                    "DELETE FROM events WHERE seq=?1 AND remaining <= 0 RETURNING length(body)");
                del.bind(1, s.seq);
                while (del.step()) {
                  delta_.addEvents(-1);
                  delta_.addEventBytes(-del.i64(0));
                }
              } else if (s.outcome == Outcome::Release) {
                db_->prepare("UPDATE deliveries SET state=0, due=?1, attempts=max(attempts-1, 0) "
                             "WHERE sink=?2 AND seq=?3")
                    .bind(1, s.due_ms)
                    .bind(2, sid)
                    .bind(3, s.seq)
                    .run();
                delta_.move(s.sink, state, kPending, since);
              } else {
                bool retry = s.outcome == Outcome::Retry;
                db_->prepare("UPDATE deliveries SET state=?1, due=?2, error=?3 "
                             "WHERE sink=?4 AND seq=?5")
                    .bind(1, std::int64_t{retry ? kPending : kDead})
                    .bind(2, retry ? s.due_ms : clock_.nowMs())
                    .bind(3, s.reason)
                    .bind(4, sid)
                    .bind(5, s.seq)
                    .run();
                delta_.move(s.sink, state, retry ? kPending : kDead, since);
              }
            }
          },
          [done = std::move(done)](bool ok, const std::string&) { done(ok); },
          false});
}

SourceState SqliteQueue::loadState(const std::string& source, const IndexVisitor& index) {
  SourceState state;
  runSync([&] {
    const std::int64_t sid = nameId(source);
    auto c = db_->prepare("SELECT value FROM cursors WHERE source=?1");
    c.bind(1, sid);
    if (c.step()) state.cursor = c.text(0);
    if (!index) return;
    auto st = db_->prepare("SELECT key, fp FROM source_index WHERE source=?1");
    st.bind(1, sid);
    while (st.step()) index(st.text(0), st.text(1));
  });
  return state;
}

std::string SqliteQueue::lastError() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

QueueStats SqliteQueue::stats() {
  std::lock_guard lock(stats_mu_);
  return committed_.snapshot();
}

}  // namespace sluice
