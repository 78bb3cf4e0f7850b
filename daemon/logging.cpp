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
    std::string text = redact(std::string(msg.payload.data(), msg.payload.size()), secrets_);
    std::string level(spdlog::level::to_string_view(msg.level).data(),
                      spdlog::level::to_string_view(msg.level).size());
    std::string line;
    if (json_) {
      line = nlohmann::json{{"time", formatTime(ms.count())},
                            {"level", level},
                            {"msg", toUtf8Lossy(text)}}
                 .dump() + "\n";
    } else {
      line = formatTime(ms.count()) + " " + level + " " + text + "\n";
    }
    ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
    (void)ignored;  // nowhere left to report a failing stderr
  }
  void flush_() override {}

 private:
  bool json_;
  std::vector<std::string> secrets_;
};

}  // namespace

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
