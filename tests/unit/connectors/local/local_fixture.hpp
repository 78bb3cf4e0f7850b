#pragma once
// The local source under test: a real connector over a temp directory, with a stand-in for the
// queue that records what is committed (and can hold commits back, or refuse them).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <filesystem>
#include <fstream>
#include <map>

#include "connectors/local/local_connector.hpp"
#include "daemon/health.hpp"
#include "daemon/metrics.hpp"
#include "daemon/registry.hpp"
#include "tests/unit/support/loop.hpp"
#include "tests/unit/support/recording_intake.hpp"
#include "tests/unit/support/source_entry.hpp"
#include "tests/unit/support/temp_dir.hpp"

namespace sluice::connectors::local::test {

using sluice::test::TempDir;

using sluice::test::RecordingIntake;

struct LocalFixture : ::testing::Test {
  TempDir dir;
  boost::asio::io_context io;
  RecordingIntake intake{io};
  Metrics metrics;
  Health health;
  ManualClock clock;
  ConnectorContext ctx{
      io,
      intake,
      metrics,
      health,
      clock,
      std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::null_sink_mt>())};
  std::unique_ptr<ConnectorSpec> spec;
  std::unique_ptr<Connector> conn;

  std::string root() const { return dir.path().string() + "/in"; }
  void make(const std::string& extra = "", const std::function<void(LocalSpec&)>& tune = nullptr) {
    std::filesystem::create_directories(root());
    std::string error;
    spec = sluice::test::parseSourceEntry(
        "{name: in, type: local, path: '" + root() + "'" + extra + "}", &error);
    ASSERT_TRUE(spec) << error;
    if (tune) tune(static_cast<LocalSpec&>(*spec));
    conn = spec->create(ctx);
  }
  bool runUntil(const std::function<bool()>& pred) { return sluice::test::runUntil(io, pred); }
  static void write(const std::string& path, const std::string& data) {
    std::ofstream(path, std::ios::binary) << data;
  }
  std::vector<std::string> paths(EventType t) const {
    std::vector<std::string> out;
    for (auto& e : intake.events)
      if (e.type == t) out.push_back(e.path.substr(root().size()));
    return out;
  }
  // The committed index's files (tombstones, "|<id>@<ms>", are not files).
  std::size_t indexedFiles() const {
    return std::count_if(intake.index.begin(), intake.index.end(),
                         [](const auto& kv) { return kv.second.rfind('|', 0) != 0; });
  }
  std::string catchUp() {
    bool done = false;
    std::string error = "unset";
    conn->catchUp([&](std::string e) {
      done = true;
      error = std::move(e);
    });
    EXPECT_TRUE(runUntil([&] { return done; }));
    return error;
  }
  // Stops the connector and runs what it left queued (a commit's completion) while it lives.
  void stop() {
    conn->stop();
    if (io.stopped()) io.restart();
    io.poll();
  }
  void release() {  // completes the commits held back by intake.hold
    intake.hold = false;
    auto held = std::move(intake.held);
    intake.held.clear();
    for (auto& h : held) h();
  }
};

}  // namespace sluice::connectors::local::test
