#include "daemon/line_framer.hpp"

namespace sluice {

void LineFramer::feed(std::string_view chunk,
                      const std::function<void(std::string_view, bool)>& line) {
  while (!chunk.empty()) {
    auto nl = chunk.find('\n');
    std::string_view part = chunk.substr(0, nl);
    if (!skipping_) {
      if (buf_.size() + part.size() > max_line_) {
        skipping_ = true;
        buf_.clear();
      } else {
        buf_.append(part);
      }
    }
    if (nl == std::string_view::npos) return;
    chunk.remove_prefix(nl + 1);
    if (skipping_) {
      skipping_ = false;
      line({}, true);
      continue;
    }
    std::string_view text = buf_;
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    line(text, false);
    buf_.clear();
  }
}

}  // namespace sluice
