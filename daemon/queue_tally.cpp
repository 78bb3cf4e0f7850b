#include "daemon/queue_tally.hpp"

namespace sluice {
namespace {
constexpr int kDead = 2;

std::int64_t floorSecond(std::int64_t ms) { return ms >= 0 ? ms / 1000 : (ms - 999) / 1000; }
}  // namespace

void QueueTally::bucket(Sink& s, std::int64_t second, std::int64_t n) {
  auto& b = s.since_s[second];
  b += n;
  if (b == 0) s.since_s.erase(second);
}

void QueueTally::add(const std::string& sink, int state, std::int64_t since_ms, std::int64_t n) {
  auto& s = sinks_[sink];
  s.count.at(static_cast<std::size_t>(state)) += n;
  if (state != kDead) bucket(s, floorSecond(since_ms), n);
}

void QueueTally::move(const std::string& sink, int from, int to, std::int64_t since_ms) {
  if (from == to) return;
  add(sink, from, since_ms, -1);
  add(sink, to, since_ms, 1);
}

void QueueTally::merge(const QueueTally& delta) {
  events_ += delta.events_;
  dedup_ += delta.dedup_;
  event_bytes_ += delta.event_bytes_;
  for (const auto& [name, d] : delta.sinks_) {
    auto& s = sinks_[name];
    for (std::size_t i = 0; i < s.count.size(); ++i) s.count[i] += d.count[i];
    for (const auto& [second, n] : d.since_s) bucket(s, second, n);
  }
}

QueueStats QueueTally::snapshot() const {
  QueueStats st;
  st.events = events_;
  st.dedup_entries = dedup_;
  st.event_bytes = event_bytes_;
  for (const auto& [name, s] : sinks_) {
    if (s.count == decltype(s.count){}) continue;  // as a full count would: no rows, no sink
    SinkStats ss;
    ss.sink = name;
    ss.pending = s.count[0] + s.count[1];
    ss.leased = s.count[1];
    ss.dead = s.count[2];
    if (!s.since_s.empty()) ss.oldest_pending_ms = s.since_s.begin()->first * 1000;
    st.sinks.push_back(std::move(ss));
  }
  return st;
}

}  // namespace sluice
