#pragma once
// Base fixture of the HTTP sinks' unit tests (webhook, OSCAR, Lambda): a loop, a loopback server
// that records requests, the shared HTTP client and a sink context, plus a `deliver` that runs
// the loop until the sink answers.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <optional>
#include <string>
#include <utility>

#include "daemon/clock.hpp"
#include "daemon/health.hpp"
#include "daemon/http_client.hpp"
#include "daemon/metrics.hpp"
#include "daemon/sink.hpp"
#include "tests/unit/support/loop.hpp"
#include "tests/unit/support/temp_dir.hpp"
#include "tests/unit/support/test_http_server.hpp"

namespace sluice::test {

class HttpSinkTest : public ::testing::Test {
 protected:
  explicit HttpSinkTest(std::string sink_name) : sink_name_(std::move(sink_name)) {}

  // Delivers one event and runs the loop until the sink answers (never inline).
  DeliveryResult deliver(Sink& sink, const Event& ev, int attempt = 1) {
    std::optional<DeliveryResult> out;
    sink.deliver(ev, DeliveryInfo{sink_name_, 1, attempt, ev.time_ms},
                 [&](DeliveryResult r) { out = std::move(r); });
    EXPECT_FALSE(out.has_value()) << "done must not be called inline";
    EXPECT_TRUE(runUntil(io, [&] { return out.has_value(); }));
    return out.value_or(DeliveryResult{Dead{"no answer"}});
  }

  std::string sink_name_;
  boost::asio::io_context io;
  TestHttpServer server;
  HttpClient http{io};
  Metrics metrics;
  Health health;
  ManualClock clock;
  TempDir dir;
  SinkContext ctx{io, http, metrics, health, clock, dir.path(), nullptr};
};

}  // namespace sluice::test
