#pragma once
// Splits a byte stream into lines, for every streaming source (MinIO's NDJSON listen stream,
// Onedata's changes, the SSE framing of dCache builds on it). Chunks arrive cut anywhere; a
// line ends at '\n' (a '\r' before it is dropped). A line longer than `max_line` is not kept:
// its bytes are skipped up to the next '\n' and the line is reported as too long, so a hostile
// stream cannot grow memory without bound.
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace sluice {

class LineFramer {
 public:
  explicit LineFramer(std::size_t max_line = 1 << 20) : max_line_(max_line) {}
  // Calls `line` for each complete line in order (`too_long` set for a skipped one, empty text).
  void feed(std::string_view chunk,
            const std::function<void(std::string_view line, bool too_long)>& line);
  std::size_t buffered() const { return buf_.size(); }
  void reset() {
    buf_.clear();
    skipping_ = false;
  }

 private:
  std::size_t max_line_;
  std::string buf_;
  bool skipping_ = false;
};

}  // namespace sluice
