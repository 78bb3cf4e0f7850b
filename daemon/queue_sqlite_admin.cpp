// Operator access to the SQLite queue (`sluice queue list|dead|replay|purge|move|dead-letter`):
// blocking calls that run on the writer thread like every other operation, so their changes
// enter the in-memory counts through the same delta.
#include "daemon/clock.hpp"
#include "daemon/queue_sqlite.hpp"
#include "daemon/sqlite_db.hpp"

namespace sluice {
namespace {

const char* stateName(std::int64_t s) { return s == 0 ? "pending" : s == 1 ? "leased" : "dead"; }

}  // namespace

std::string SqliteQueue::whereClause(const Selector& sel, std::vector<std::string>& binds) {
  std::string w = " WHERE 1=1";
  if (sel.state == "pending") w += " AND d.state=0";
  else if (sel.state == "leased") w += " AND d.state=1";
  else if (sel.state == "dead") w += " AND d.state=2";
  else if (sel.state == "done")
    throw std::invalid_argument("finished deliveries can only be listed, not replayed or purged");
  else if (sel.state != "any") throw std::invalid_argument("unknown state " + sel.state);
  if (sel.sink) {
    binds.push_back(*sel.sink);
    w += " AND n.name=?" + std::to_string(binds.size());
  }
  if (sel.event_id) {
    binds.push_back(*sel.event_id);
    w += " AND e.id=?" + std::to_string(binds.size());
  }
  if (sel.subject_prefix) {  // a prefix, not LIKE: keys may hold % and _
    binds.push_back(*sel.subject_prefix);
    const std::string n = "?" + std::to_string(binds.size());
    w += " AND substr(json_extract(CAST(e.body AS TEXT), '$.subject'), 1, length(" + n + "))=" + n;
  }
  // Integers, so written into the statement rather than bound as text.
  if (sel.since_ms) w += " AND e.first_seen>=" + std::to_string(*sel.since_ms);
  if (sel.until_ms) w += " AND e.first_seen<" + std::to_string(*sel.until_ms);
  return w;
}

std::vector<DeliveryRow> SqliteQueue::listOutputs(const Selector& sel) {
  std::vector<DeliveryRow> rows;
  runSync([&] {
    std::string sql =
        "SELECT o.seq, n.name, o.attempts, o.done, o.event_id, o.subject, o.output "
        "FROM outputs o JOIN names n ON n.id = o.sink WHERE (?1 IS NULL OR n.name=?1) AND "
        "(?2 IS NULL OR o.event_id=?2) ORDER BY o.seq LIMIT " +
        std::to_string(sel.limit);
    auto st = db_->prepare(sql);
    if (sel.sink) st.bind(1, *sel.sink);
    else st.bindNull(1);
    if (sel.event_id) st.bind(2, *sel.event_id);
    else st.bindNull(2);
    while (st.step())
      rows.push_back({st.i64(0), st.text(1), "done", static_cast<int>(st.i64(2)), st.i64(3), 0,
                      st.text(4), st.text(5), "", st.text(6)});
  });
  return rows;
}

std::vector<DeliveryRow> SqliteQueue::list(const Selector& sel) {
  if (sel.state == "done") return listOutputs(sel);
  std::vector<DeliveryRow> rows;
  runSync([&] {
    std::vector<std::string> binds;
    std::string sql =
        "SELECT d.seq, n.name, d.state, d.attempts, d.due, d.since, e.id, e.body, "
        "coalesce(d.error, '') FROM deliveries d JOIN names n ON n.id = d.sink "
        "JOIN events e ON e.seq = d.seq" +
        whereClause(sel, binds) + " ORDER BY d.seq LIMIT " + std::to_string(sel.limit);
    auto st = db_->prepare(sql);
    for (std::size_t i = 0; i < binds.size(); ++i) st.bind(static_cast<int>(i + 1), binds[i]);
    while (st.step()) {
      DeliveryRow r{st.i64(0), st.text(1), stateName(st.i64(2)), static_cast<int>(st.i64(3)),
                    st.i64(4), st.i64(5), st.text(6), "", st.text(8)};
      try {
        r.subject = nlohmann::json::parse(st.text(7)).value("subject", "");
      } catch (const std::exception&) {
        r.subject = "(unreadable event)";
      }
      rows.push_back(std::move(r));
    }
  });
  return rows;
}

std::optional<Event> SqliteQueue::event(std::int64_t seq) {
  std::optional<Event> ev;
  runSync([&] {
    auto st = db_->prepare("SELECT body FROM events WHERE seq=?1");
    st.bind(1, seq);
    if (st.step()) ev = fromJson(nlohmann::json::parse(st.text(0)));
  });
  return ev;
}

void SqliteQueue::selectInto(const Selector& sel, const std::string& within) {
  std::vector<std::string> binds;
  std::string where = whereClause(sel, binds);
  if (!within.empty()) where += " AND " + within;
  db_->exec("CREATE TEMP TABLE IF NOT EXISTS selected(sink INTEGER, seq INTEGER)");
  db_->exec("DELETE FROM selected");
  auto ins = db_->prepare(
      "INSERT INTO selected SELECT d.sink, d.seq FROM deliveries d JOIN names n ON n.id = d.sink "
      "JOIN events e ON e.seq = d.seq" + where);
  for (std::size_t i = 0; i < binds.size(); ++i) ins.bind(static_cast<int>(i + 1), binds[i]);
  ins.run();
}

void SqliteQueue::tallySelected(int sign) {
  auto st = db_->prepare(
      "SELECT n.name, d.state, d.since, count(*) FROM selected s "
      "JOIN deliveries d ON d.sink = s.sink AND d.seq = s.seq JOIN names n ON n.id = d.sink "
      "GROUP BY d.sink, d.state, d.since");
  while (st.step()) delta_.add(st.text(0), static_cast<int>(st.i64(1)), st.i64(2), sign * st.i64(3));
}

std::size_t SqliteQueue::inChunks(const Selector& sel, const AdminProgress& progress,
                                  const std::function<std::size_t()>& apply) {
  constexpr std::int64_t kChunk = 5000;
  std::int64_t total = 0;
  runSync([&] {  // the candidates, numbered by rowid 1..total in a fresh table
    db_->exec("DROP TABLE IF EXISTS picked");
    db_->exec("CREATE TEMP TABLE picked(sink INTEGER, seq INTEGER)");
    selectInto(sel);
    db_->exec("INSERT INTO picked SELECT sink, seq FROM selected ORDER BY seq, sink");
    auto st = db_->prepare("SELECT count(*) FROM picked");
    st.step();
    total = st.i64(0);
  });
  std::size_t n = 0;
  for (std::int64_t from = 0; from < total; from += kChunk) {
    runSync([&] {
      // Selected again: the daemon may have leased or settled some since they were picked.
      selectInto(sel, "(d.sink, d.seq) IN (SELECT sink, seq FROM picked WHERE rowid > " +
                          std::to_string(from) + " AND rowid <= " + std::to_string(from + kChunk) +
                          ")");
      tallySelected(-1);
      n += apply();
      tallySelected(1);
    });
    if (progress) progress(static_cast<std::size_t>(std::min(from + kChunk, total)),
                           static_cast<std::size_t>(total));
  }
  runSync([&] { db_->exec("DROP TABLE IF EXISTS picked"); });
  return n;
}

std::size_t SqliteQueue::replay(const Selector& sel, const AdminProgress& progress) {
  return inChunks(sel, progress, [&] {
    db_->prepare("UPDATE deliveries SET state=0, attempts=0, due=?1, since=?1, error=NULL "
                 "WHERE (sink, seq) IN (SELECT sink, seq FROM selected)")
        .bind(1, clock_.nowMs())
        .run();
    return static_cast<std::size_t>(db_->changes());
  });
}

std::size_t SqliteQueue::purge(const Selector& sel, const AdminProgress& progress) {
  return inChunks(sel, progress, [&] {
    db_->exec("DELETE FROM deliveries WHERE (sink, seq) IN (SELECT sink, seq FROM selected)");
    auto n = static_cast<std::size_t>(db_->changes());
    db_->exec("UPDATE events SET remaining = (SELECT count(*) FROM deliveries d "
              "WHERE d.seq = events.seq) WHERE seq IN (SELECT seq FROM selected)");
    auto del = db_->prepare("DELETE FROM events WHERE remaining <= 0 AND seq IN "
                            "(SELECT seq FROM selected) RETURNING length(body)");
    while (del.step()) {
      delta_.addEvents(-1);
      delta_.addEventBytes(-del.i64(0));
    }
    return n;
  });
}

MoveResult SqliteQueue::move(const std::string& from, const std::string& to) {
  MoveResult out;
  runSync([&] {
    const std::int64_t t = nameId(to);
    selectInto(Selector{.sink = from, .state = "any"});
    tallySelected(-1);
    // An event routed to both sinks keeps its delivery to `to`: the other one is merged away.
    const std::string both =
        "(SELECT s.sink, s.seq FROM selected s JOIN deliveries d ON d.seq = s.seq AND d.sink = ?1)";
    db_->prepare("UPDATE events SET remaining = remaining - 1 WHERE seq IN (SELECT seq FROM " +
                 both + ")")
        .bind(1, t)
        .run();
    db_->prepare("DELETE FROM deliveries WHERE (sink, seq) IN " + both).bind(1, t).run();
    out.merged = static_cast<std::size_t>(db_->changes());
    db_->prepare("DELETE FROM selected WHERE seq IN (SELECT seq FROM deliveries WHERE sink=?1)")
        .bind(1, t)
        .run();
    db_->prepare("UPDATE deliveries SET sink=?1 WHERE (sink, seq) IN (SELECT sink, seq FROM selected)")
        .bind(1, t)
        .run();
    out.moved = static_cast<std::size_t>(db_->changes());
    db_->prepare("UPDATE selected SET sink=?1").bind(1, t).run();
    tallySelected(1);
  });
  return out;
}

std::size_t SqliteQueue::deadLetter(const std::string& sink, const std::string& reason) {
  std::size_t n = 0;
  runSync([&] {
    selectInto(Selector{.sink = sink, .state = "any"});
    tallySelected(-1);  // dead ones are counted back unchanged below
    db_->prepare("UPDATE deliveries SET state=2, due=?1, error=?2 "
                 "WHERE state < 2 AND (sink, seq) IN (SELECT sink, seq FROM selected)")
        .bind(1, clock_.nowMs())
        .bind(2, reason)
        .run();
    n = static_cast<std::size_t>(db_->changes());
    tallySelected(1);
  });
  return n;
}

}  // namespace sluice
