#pragma once
// Delivery counts kept in memory by the queue, so that stats() (scraped by /metrics, read by
// the systemd status tick) never scans the deliveries table. A GROUP BY over a million rows
// takes ~0.6 s, and on the writer thread it stalled every sink's deliveries for that long.
//
// The queue keeps one committed tally and one delta per transaction: operations record their
// changes in the delta, which is merged on COMMIT and dropped on ROLLBACK, so the tally always
// describes what is on disk. Oldest-pending ages are kept as per-second buckets of the
// deliveries' first-seen times (so the age is exact to the second, and cheap to maintain).
#include <array>
#include <cstdint>
#include <map>
#include <string>

#include "daemon/queue.hpp"

namespace sluice {

class QueueTally {
 public:
  // Counts n deliveries (n < 0: removes them) of `sink` in `state` (0 pending, 1 leased,
  // 2 dead) first seen at since_ms.
  void add(const std::string& sink, int state, std::int64_t since_ms, std::int64_t n);
  // Moves one delivery from one state to another.
  void move(const std::string& sink, int from, int to, std::int64_t since_ms);
  void addEvents(std::int64_t n) { events_ += n; }
  void addDedup(std::int64_t n) { dedup_ += n; }
  void addEventBytes(std::int64_t n) { event_bytes_ += n; }
  std::int64_t eventBytes() const { return event_bytes_; }

  void merge(const QueueTally& delta);
  bool empty() const { return sinks_.empty() && events_ == 0 && dedup_ == 0 && event_bytes_ == 0; }
  QueueStats snapshot() const;

 private:
  struct Sink {
    std::array<std::int64_t, 3> count{};
    std::map<std::int64_t, std::int64_t> since_s;  // pending or leased, by first-seen second
  };
  static void bucket(Sink& s, std::int64_t second, std::int64_t n);
  std::map<std::string, Sink> sinks_;
  std::int64_t events_ = 0;
  std::int64_t dedup_ = 0;
  std::int64_t event_bytes_ = 0;
};

}  // namespace sluice
