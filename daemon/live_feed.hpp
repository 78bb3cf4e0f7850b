#pragma once
// The live feed: what the intake commits and what the dispatcher settles, as it happens, for the
// status page (/live) and its counters.
//
// Invariants:
//  - LiveFeed is an observer: the intake and the dispatcher call it on the io_context thread,
//    after the queue said the commit / settlement is durable, and never wait on it. A null
//    LiveFeed* means nobody watches (`sluice once`, unit tests).
//  - LiveFeedHub fans JSON lines out to subscribers with a bounded buffer each: a subscriber
//    that does not keep up loses its OLDEST lines (never blocks the publisher, never grows),
//    and the next line it reads is {"kind":"dropped","count":N} saying how many it lost.
//  - Everything in LiveFeedHub and LiveSubscriber is thread-safe.
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace sluice {

struct LiveEvent {
  std::string id;
  std::string type;     // "created", "removed", ...
  std::string subject;  // the path as UTF-8 text
  std::vector<std::string> sinks;  // where it is routed (empty: unrouted, not stored)
};

struct LiveDelivery {
  std::string sink;
  std::string event_id;
  std::string subject;
  std::string outcome;  // done | retry | dead
  int attempt = 0;
  std::string reason;  // retry / dead: why
};

class LiveFeed {
 public:
  virtual ~LiveFeed() = default;
  // A batch of `source` is durable. `events` are the batch's events; when the queue reported
  // some as duplicates, which ones is not known here, so a partly deduplicated batch is shown
  // whole (a fully deduplicated one is not shown). `cursor`: the source's new cursor, if any.
  virtual void committed(const std::string& source, const std::vector<LiveEvent>& events,
                         const std::optional<std::string>& cursor) = 0;
  // A delivery outcome is durable (released leases are not outcomes and are not reported).
  virtual void settled(const LiveDelivery& d) = 0;
  // A source read its saved cursor at start.
  virtual void cursorLoaded(const std::string& source, const std::optional<std::string>& cursor) = 0;
};

// One reader of the hub (a /live WebSocket connection).
class LiveSubscriber {
 public:
  // `wake` runs (on the publishing thread) when a line arrives while the buffer was empty.
  LiveSubscriber(std::size_t max_lines, std::size_t max_bytes, std::function<void()> wake)
      : max_lines_(max_lines), max_bytes_(max_bytes), wake_(std::move(wake)) {}
  void push(const std::string& line);
  // The next line (a "dropped" notice first when lines were lost), or nullopt when none waits.
  std::optional<std::string> next();
  std::uint64_t droppedTotal() const;

 private:
  const std::size_t max_lines_, max_bytes_;
  std::function<void()> wake_;
  mutable std::mutex mu_;
  std::deque<std::string> lines_;
  std::size_t bytes_ = 0;
  std::uint64_t dropped_unreported_ = 0, dropped_total_ = 0;
};

class LiveFeedHub {
 public:
  struct Options {
    std::size_t max_lines = 1000;       // per subscriber
    std::size_t max_bytes = 1u << 20;  // per subscriber
    std::size_t max_subscribers = 32;   // /live connections beyond it are refused
  };
  explicit LiveFeedHub(Options o) : opts_(o) {}
  // Null when max_subscribers are connected. The hub keeps only a weak reference: dropping the
  // returned pointer unsubscribes.
  std::shared_ptr<LiveSubscriber> subscribe(std::function<void()> wake);
  void publish(const std::string& line);
  std::size_t subscribers();

 private:
  Options opts_;
  std::mutex mu_;
  std::vector<std::weak_ptr<LiveSubscriber>> subs_;
};

// The feed's JSON lines (one object, no newline). Strings are made valid UTF-8 (invalid bytes
// become U+FFFD) so that one odd file name can never break the feed.
std::string liveEventLine(const std::string& source, const LiveEvent& ev, std::int64_t time_ms);
std::string liveDeliveryLine(const LiveDelivery& d, std::int64_t time_ms);

}  // namespace sluice
