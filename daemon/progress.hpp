#pragma once
// Progress of a long operator command (`sluice queue replay|purge`, `sluice once`): on a
// terminal one line on stderr, rewritten in place at most every 200 ms (count, total, rate);
// otherwise nothing until the summary, so logs and cron mails get one line, not hundreds.
#include <cstdint>
#include <cstdio>
#include <string>

#include "daemon/clock.hpp"

namespace sluice {

class ProgressLine {
 public:
  // `what`: the verb shown before the counts ("replaying"). `tty`: whether `out` is a terminal.
  ProgressLine(std::string what, std::FILE* out, bool tty, const Clock& clock);
  void update(std::size_t done, std::size_t total);
  // Clears the in-place line (on a terminal) and returns "N/s over S s" for the summary.
  std::string finish(std::size_t done);

 private:
  std::string what_;
  std::FILE* out_;
  bool tty_;
  const Clock& clock_;
  std::int64_t start_ms_;
  std::int64_t shown_ms_ = -1;
};

// "12.5 s, 340/s": elapsed time and the rate of `done` over it.
std::string rateText(std::size_t done, std::int64_t elapsed_ms);

}  // namespace sluice
