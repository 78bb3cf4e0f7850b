#include "daemon/progress.hpp"

#include <cinttypes>

namespace sluice {

ProgressLine::ProgressLine(std::string what, std::FILE* out, bool tty, const Clock& clock)
    : what_(std::move(what)), out_(out), tty_(tty), clock_(clock), start_ms_(clock.nowMs()) {}

void ProgressLine::update(std::size_t done, std::size_t total) {
  if (!tty_) return;
  const std::int64_t now = clock_.nowMs();
  if (shown_ms_ >= 0 && now - shown_ms_ < 200 && done < total) return;
  shown_ms_ = now;
  std::fprintf(out_, "\r\033[K%s %zu of %zu (%s)", what_.c_str(), done, total,
               rateText(done, now - start_ms_).c_str());
  std::fflush(out_);
}

std::string ProgressLine::finish(std::size_t done) {
  if (tty_ && shown_ms_ >= 0) {
    std::fprintf(out_, "\r\033[K");
    std::fflush(out_);
  }
  return rateText(done, clock_.nowMs() - start_ms_);
}

std::string rateText(std::size_t done, std::int64_t elapsed_ms) {
  char buf[96];
  const double s = static_cast<double>(elapsed_ms) / 1000.0;
  if (elapsed_ms <= 0) {
    std::snprintf(buf, sizeof buf, "%.1f s", s);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f s, %.0f/s", s, static_cast<double>(done) / s);
  }
  return buf;
}

}  // namespace sluice
