#include "daemon/logging.hpp"

#include <unistd.h>

#include <mutex>

#include <spdlog/sinks/base_sink.h>

#include "daemon/event.hpp"

namespace sluice {
namespace {

class LineSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  LineSink(bool json, std::vector<std::string> secrets)
      : json_(json), secrets_(std::move(secrets)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch());
    auto level = spdlog::level::to_string_view(msg.level);
    std::string line =
        formatLogLine(json_, ms.count(), std::string_view(level.data(), level.size()),
                      std::string_view(msg.payload.data(), msg.payload.size()), secrets_);
    ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
    (void)ignored;  // nowhere left to report a failing stderr
  }
  void flush_() override {}

 private:
  bool json_;
  std::vector<std::string> secrets_;
};

void appendHex(std::string& out, const char* prefix, unsigned value, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += prefix;
  for (int shift = 4 * (digits - 1); shift >= 0; shift -= 4) out += kHex[(value >> shift) & 15];
}

}  // namespace

std::string escapeControl(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    char32_t cp = 0;
    std::size_t n = utf8Sequence(text, i, &cp);
    if (c == '\\') {
      out += "\\\\";
    } else if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x80 || n == 0) {  // other C0 controls, DEL, a byte of invalid UTF-8
      appendHex(out, "\\x", c, 2);
      n = 1;
    } else if (cp <= 0x9F) {  // C1 controls: valid UTF-8, yet some terminals act on them
      appendHex(out, "\\u", static_cast<unsigned>(cp), 4);
    } else {
      out.append(text.substr(i, n));
    }
    i += n;
  }
  return out;
}

std::string formatLogLine(bool json, std::int64_t time_ms, std::string_view level,
                          std::string_view message, const std::vector<std::string>& secrets) {
  std::string text = redact(std::string(message), secrets);
  if (json) {
    nlohmann::json record{
        {"time", formatTime(time_ms)}, {"level", level}, {"msg", toUtf8Lossy(text)}};
    return record.dump() + "\n";
  }
  return formatTime(time_ms) + " " + std::string(level) + " " + escapeControl(text) + "\n";
}

std::string redact(std::string line, const std::vector<std::string>& secrets) {
  for (auto& s : secrets) {
    if (s.empty()) continue;
    for (auto pos = line.find(s); pos != std::string::npos; pos = line.find(s, pos + 10))
      line.replace(pos, s.size(), "<redacted>");
  }
  return line;
}

std::shared_ptr<spdlog::logger> makeLogger(const LogConfig& cfg,
                                           const std::vector<std::string>& secrets) {
  auto sink = std::make_shared<LineSink>(cfg.format == "json", secrets);
  auto log = std::make_shared<spdlog::logger>("sluice", sink);
  log->set_level(spdlog::level::from_str(cfg.level));
  log->flush_on(spdlog::level::trace);
  return log;
}

}  // namespace sluice
