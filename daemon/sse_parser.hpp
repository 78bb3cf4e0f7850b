#pragma once
// Server-sent events (the WHATWG "text/event-stream" format), for every SSE source (dCache's
// storage events today). Chunks arrive cut anywhere; lines end in CRLF, LF or a lone CR; a
// leading BOM is skipped; `:` lines are comments (keep-alives); `field: value` loses one space
// after the colon; `data` lines join with '\n'; a blank line dispatches the event when it has
// data. Unlike a browser's EventSource, each event says whether it carried an `id` itself
// (dCache's SYSTEM events carry none and must not be taken for the last one's), while
// lastEventId() keeps the standard's running value for `Last-Event-ID` on reconnect.
//
// Bounded: a line over `max_line` or an event whose data grows over `max_event` is dropped
// whole and reported, so a hostile stream cannot grow memory.
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/line_framer.hpp"

namespace sluice {

struct SseEvent {
  std::string type = "message";   // `event:`, default "message"
  std::string data;               // `data:` lines joined with '\n'
  std::optional<std::string> id;  // set only when this event had an `id:` field
  std::optional<long> retry_ms;   // `retry:` when it held only digits
};

class SseParser {
 public:
  explicit SseParser(std::size_t max_line = 1 << 20, std::size_t max_event = 4 << 20)
      : framer_(max_line), max_event_(max_event) {}
  using OnEvent = std::function<void(SseEvent&& ev)>;
  using OnError = std::function<void(std::string_view why)>;
  void feed(std::string_view chunk, const OnEvent& event, const OnError& error);
  // A new connection: the partial line and event are forgotten, lastEventId() is kept.
  void reset();
  const std::string& lastEventId() const { return last_id_; }

 private:
  void line(std::string_view l, bool too_long, const OnEvent& event, const OnError& error);
  LineFramer framer_;
  std::size_t max_event_;
  std::string normalised_;  // the chunk with CR and CRLF turned into LF
  bool after_cr_ = false;   // the last chunk ended in CR (a following LF belongs to it)
  bool started_ = false;    // past the optional BOM
  bool oversized_ = false;  // the event being read is dropped
  SseEvent current_;
  bool has_data_ = false;
  std::string last_id_;
};

}  // namespace sluice
