#include "daemon/sse_parser.hpp"

#include <cctype>

namespace sluice {

void SseParser::reset() {
  framer_.reset();
  after_cr_ = false;
  started_ = false;
  oversized_ = false;
  current_ = SseEvent{};
  has_data_ = false;
}

void SseParser::feed(std::string_view chunk, const OnEvent& event, const OnError& error) {
  if (!started_) {
    // A UTF-8 BOM may open the stream (only there); it can arrive cut over chunks, rarely.
    static constexpr std::string_view kBom = "\xEF\xBB\xBF";
    if (chunk.substr(0, kBom.size()) == kBom) chunk.remove_prefix(kBom.size());
    if (!chunk.empty()) started_ = true;
  }
  normalised_.clear();
  for (char c : chunk) {
    if (c == '\n' && after_cr_) {  // the LF of a CRLF whose CR ended the last chunk
      after_cr_ = false;
      continue;
    }
    after_cr_ = c == '\r';
    normalised_.push_back(c == '\r' ? '\n' : c);
  }
  framer_.feed(normalised_,
               [&](std::string_view l, bool too_long) { line(l, too_long, event, error); });
}

void SseParser::line(std::string_view l, bool too_long, const OnEvent& event,
                     const OnError& error) {
  if (too_long) {
    oversized_ = true;
    error("an event stream line longer than the limit");
    return;
  }
  if (l.empty()) {  // dispatch
    if (has_data_ && !oversized_) event(std::move(current_));
    current_ = SseEvent{};
    has_data_ = false;
    oversized_ = false;
    return;
  }
  if (l.front() == ':') return;  // a comment: keep-alive
  auto colon = l.find(':');
  std::string_view field = l.substr(0, colon);
  std::string_view value =
      colon == std::string_view::npos ? std::string_view() : l.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (field == "data") {
    if (current_.data.size() + value.size() + 1 > max_event_) {
      if (!oversized_) error("an event whose data is longer than the limit");
      oversized_ = true;
      current_.data.clear();
      return;
    }
    if (has_data_) current_.data.push_back('\n');
    current_.data.append(value);
    has_data_ = true;
  } else if (field == "event") {
    current_.type = value.empty() ? "message" : std::string(value);
  } else if (field == "id") {
    if (value.find('\0') != std::string_view::npos) return;  // ignored, as the standard says
    current_.id = std::string(value);
    last_id_ = std::string(value);
  } else if (field == "retry") {
    bool digits = !value.empty() && value.size() < 10;
    for (char c : value) digits = digits && std::isdigit(static_cast<unsigned char>(c));
    if (digits) current_.retry_ms = std::stol(std::string(value));
  }
  // Other fields are ignored.
}

}  // namespace sluice
