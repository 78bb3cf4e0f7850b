#include "daemon/live_feed.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "daemon/event.hpp"

namespace sluice {

void LiveSubscriber::push(const std::string& line) {
  bool was_empty = false;
  {
    std::lock_guard lock(mu_);
    was_empty = lines_.empty() && dropped_unreported_ == 0;
    lines_.push_back(line);
    bytes_ += line.size();
    // Drop the oldest: a client that reconnects cares about now, not about what it missed.
    while (lines_.size() > max_lines_ || (bytes_ > max_bytes_ && lines_.size() > 1)) {
      bytes_ -= lines_.front().size();
      lines_.pop_front();
      ++dropped_unreported_;
      ++dropped_total_;
    }
  }
  // Only on the empty → non-empty edge: a busy feed must not wake the server per line.
  if (was_empty && wake_) wake_();
}

std::optional<std::string> LiveSubscriber::next() {
  std::lock_guard lock(mu_);
  if (dropped_unreported_ > 0) {
    auto n = dropped_unreported_;
    dropped_unreported_ = 0;
    return nlohmann::json{{"kind", "dropped"}, {"count", n}}.dump();
  }
  if (lines_.empty()) return std::nullopt;
  std::string line = std::move(lines_.front());
  lines_.pop_front();
  bytes_ -= line.size();
  return line;
}

std::uint64_t LiveSubscriber::droppedTotal() const {
  std::lock_guard lock(mu_);
  return dropped_total_;
}

std::shared_ptr<LiveSubscriber> LiveFeedHub::subscribe(std::function<void()> wake) {
  std::lock_guard lock(mu_);
  std::erase_if(subs_, [](const std::weak_ptr<LiveSubscriber>& w) { return w.expired(); });
  if (subs_.size() >= opts_.max_subscribers) return nullptr;
  auto s = std::make_shared<LiveSubscriber>(opts_.max_lines, opts_.max_bytes, std::move(wake));
  subs_.push_back(s);
  return s;
}

void LiveFeedHub::publish(const std::string& line) {
  std::vector<std::shared_ptr<LiveSubscriber>> live;
  {
    std::lock_guard lock(mu_);
    for (auto& w : subs_)
      if (auto s = w.lock()) live.push_back(std::move(s));
  }
  // Pushed outside the hub's lock: a wake callback may take the server's lock.
  for (auto& s : live) s->push(line);
}

std::size_t LiveFeedHub::subscribers() {
  std::lock_guard lock(mu_);
  return static_cast<std::size_t>(std::count_if(
      subs_.begin(), subs_.end(), [](const std::weak_ptr<LiveSubscriber>& w) { return !w.expired(); }));
}

std::string liveEventLine(const std::string& source, const LiveEvent& ev, std::int64_t time_ms) {
  return safeDump({{"kind", "event"},
                   {"time_ms", time_ms},
                   {"source", source},
                   {"id", ev.id},
                   {"type", ev.type},
                   {"subject", ev.subject},
                   {"sinks", ev.sinks}});
}

std::string liveDeliveryLine(const LiveDelivery& d, std::int64_t time_ms) {
  return safeDump({{"kind", "delivery"},
                   {"time_ms", time_ms},
                   {"sink", d.sink},
                   {"event_id", d.event_id},
                   {"subject", d.subject},
                   {"outcome", d.outcome},
                   {"attempt", d.attempt},
                   {"reason", d.reason}});
}

}  // namespace sluice
