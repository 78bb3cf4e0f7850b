#pragma once
// Drives an io_context until a condition holds or a deadline passes (tests never sleep).
#include <chrono>
#include <functional>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

namespace sluice::test {

inline bool runUntil(boost::asio::io_context& io, const std::function<bool()>& pred,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  // Without work the loop returns at once and this would spin; the guard makes each turn wait
  // up to 20 ms for a handler (posted by another thread, a timer, a socket).
  auto guard = boost::asio::make_work_guard(io);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    if (io.stopped()) io.restart();
    io.run_one_for(std::chrono::milliseconds(20));
  }
  return true;
}

}  // namespace sluice::test
