#pragma once
// The supervisor sink's unit-test fixture: real processes (small /bin/sh scripts written into a
// temp dir), a local object store for the `inbox` source, waits that run the io_context until a
// condition holds or a deadline passes.
#include <gtest/gtest.h>
#include <signal.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <set>
#include <sstream>

#include "connectors/local/local_store.hpp"
#include "daemon/health.hpp"
#include "daemon/http_client.hpp"
#include "sinks/supervisor/supervisor_sink.hpp"
#include "tests/unit/support/loop.hpp"
#include "tests/unit/support/sink_spec.hpp"
#include "tests/unit/support/temp_dir.hpp"

namespace sluice::sinks::supervisor {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

inline std::string readFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A pid file a job writes with `echo $! > f`: the file exists (empty) before the pid is in it,
// so it is complete only once it ends with the newline.
inline bool pidWritten(const fs::path& p) {
  auto s = readFile(p);
  return !s.empty() && s.back() == '\n';
}

inline void writeFile(const fs::path& p, const std::string& content, fs::perms perms) {
  std::ofstream(p, std::ios::binary) << content;
  fs::permissions(p, perms);
}

// Dead processes only: gone (ESRCH) or a zombie waiting for whoever adopted it to reap it.
inline bool processGone(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  auto stat = readFile("/proc/" + std::to_string(pid) + "/stat");
  auto close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z';
}

struct Parsed {
  std::unique_ptr<SinkSpec> spec;
  std::vector<ConfigError> errors;
  bool hasError(const std::string& path, const std::string& text = "") const {
    for (auto& e : errors)
      if (e.path == path && e.message.find(text) != std::string::npos) return true;
    return false;
  }
};

inline Parsed parse(const std::string& yaml) {
  ConfigErrors errors;
  std::unique_ptr<SinkSpec> spec = test::parseSinkSpec<SinkSpec>(yaml, errors);
  EXPECT_NE(spec, nullptr);
  return {std::move(spec), errors.list()};
}

inline Event makeEvent(const std::string& id) {
  Event ev;
  ev.id = id;
  ev.source = "file://host/inbox";
  ev.time_ms = 1'700'000'000'123;
  ev.storage = "local";
  ev.connector = "inbox";
  ev.path = "/inbox/a.txt";
  ev.size = 5;
  return ev;
}

class SupervisorSinkTest : public ::testing::Test {
 protected:
  SupervisorSinkTest() {
    log_ = std::make_shared<spdlog::logger>(
        "supervisor-test", std::make_shared<spdlog::sinks::ostream_sink_st>(log_text_));
    log_->set_level(spdlog::level::trace);
  }

  fs::path script(const std::string& name, const std::string& body) {
    auto p = tmp_.path() / name;
    writeFile(p, "#!/bin/sh\n" + body, fs::perms::owner_all);
    return p;
  }

  // `extra` are YAML lines added to the sink's mapping.
  std::unique_ptr<Sink> makeSink(const std::string& command, const std::string& extra = "") {
    auto parsed = parse("name: jobs\ntype: supervisor\ncommand: " + command + "\n" + extra);
    for (auto& e : parsed.errors) ADD_FAILURE() << e.str();
    SinkContext ctx{io_, http_, metrics_, health_, clock_, tmp_.path() / "state", log_, &stores_};
    return parsed.spec->create(ctx);
  }

  fs::path jobDir(const std::string& folder) { return tmp_.path() / "state/jobs/jobs" / folder; }

  bool waitUntil(const std::function<bool()>& cond, std::chrono::milliseconds limit = 10s) {
    return test::runUntil(io_, cond, limit);
  }

  DeliveryResult deliver(Sink& sink, const Event& ev, int attempt = 1) {
    std::optional<DeliveryResult> result;
    sink.deliver(ev, DeliveryInfo{"jobs", 1, attempt, 0}, [&](DeliveryResult r) { result = r; });
    EXPECT_FALSE(result.has_value()) << "answered inline";
    EXPECT_TRUE(waitUntil([&] { return result.has_value(); }));
    return result.value_or(Retry{std::nullopt, "no answer"});
  }

  static std::string reasonOf(const DeliveryResult& r) {
    if (auto* rt = std::get_if<Retry>(&r)) return rt->reason;
    if (auto* d = std::get_if<Dead>(&r)) return d->reason;
    return "";
  }

  test::TempDir tmp_;
  boost::asio::io_context io_;
  HttpClient http_{io_};
  Metrics metrics_;
  Health health_;
  ManualClock clock_;
  ObjectStores stores_ = [this] {  // the `inbox` source of makeEvent() is a local one
    ObjectStores s;
    s.add("inbox", std::make_unique<connectors::local::LocalStore>(io_));
    return s;
  }();
  std::ostringstream log_text_;
  std::shared_ptr<spdlog::logger> log_;
};

}  // namespace sluice::sinks::supervisor
