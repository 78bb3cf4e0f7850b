#pragma once
// Thin RAII wrapper over one SQLite connection with cached prepared statements.
// Used only by the queue module (daemon/queue_sqlite*). Not thread-safe: one owner thread.
#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace sluice::sqlite {

class Error : public std::runtime_error {
 public:
  Error(int code, const std::string& what) : std::runtime_error(what), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

// A cached statement in use. Resetting it when the handle goes away matters: a SELECT left
// stepped keeps a read transaction (an old WAL snapshot) open, and the next BEGIN IMMEDIATE
// then fails with SQLITE_BUSY as soon as another process (`sluice queue ...`) has written.
class Stmt {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* s) : db_(db), s_(s) {}
  ~Stmt() { sqlite3_reset(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  Stmt& bind(int i, std::int64_t v);
  Stmt& bind(int i, std::string_view v);  // TEXT
  Stmt& bindBlob(int i, std::string_view v);
  Stmt& bindNull(int i);
  bool step();  // true: a row is available; false: done. Throws Error.
  void run();   // step to completion
  std::int64_t i64(int col) const { return sqlite3_column_int64(s_, col); }
  bool isNull(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
  std::string text(int col) const;
  void reset();

 private:
  sqlite3* db_;
  sqlite3_stmt* s_;
};

class Db {
 public:
  explicit Db(const std::string& path);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  void exec(const std::string& sql);
  // A cached, reset statement. Valid until the next prepare() of the same SQL.
  Stmt prepare(const std::string& sql);
  std::int64_t changes() const { return sqlite3_changes64(db_); }
  std::int64_t lastRowid() const { return sqlite3_last_insert_rowid(db_); }
  [[noreturn]] void fail(int rc, const std::string& context) const;

 private:
  sqlite3* db_ = nullptr;
  std::map<std::string, sqlite3_stmt*> cache_;
};

}  // namespace sluice::sqlite
