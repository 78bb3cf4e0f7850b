#pragma once
// A destination for events. The dispatcher owns leases, attempts, backoff, max age and the
// dead-letter queue; a sink only turns one event into one effect and says how it went.
//
// Contract:
//  - deliver() is called by the dispatcher on the io_context thread, with at most
//    policy.concurrency calls in flight per sink. It never throws.
//  - `done` is called exactly once per deliver(), on the io_context thread, never inline
//    (post it when the answer is immediate). Done only when the receiver accepted the event.
//  - abort() is called once at shutdown, after the sink's shutdown_grace: in-flight work is
//    cut short and its callbacks report Retry (the delivery is released, not lost, and the
//    attempt is not counted).
//  - handOver() is called at a reload instead (the process re-executes itself): a sink whose
//    work can outlive the process image (local jobs are children that survive execve) leaves
//    it running, reports every in-flight delivery through its callback at once (released, as
//    above) and returns true; the next image finds the work and attaches the redelivery to it.
//    Others return false and get the grace, as at shutdown.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "daemon/clock.hpp"
#include "daemon/delivery.hpp"
#include "daemon/event.hpp"

namespace spdlog {
class logger;
}

namespace sluice {

class HttpClient;
class ObjectStores;
class Metrics;
class Health;

struct DeliveryInfo {
  std::string sink;
  std::int64_t seq = 0;        // the queue's position of the event (unique per event)
  int attempt = 1;             // 1 for the first try
  std::int64_t first_seen_ms = 0;
};

using DeliveryCallback = std::function<void(DeliveryResult)>;

class Sink {
 public:
  virtual ~Sink() = default;
  virtual void deliver(const Event& ev, const DeliveryInfo& info, DeliveryCallback done) = 0;
  virtual void abort() = 0;
  virtual bool handOver() { return false; }
  // How many more deliveries the sink could start now, beyond those in flight (a job that needs
  // a free GPU). The dispatcher leases no more than that, so waiting events stay in the queue
  // with no attempt counted; it looks again after each finished delivery and every second.
  virtual int room() const { return std::numeric_limits<int>::max(); }
};

// What a sink may use; everything is owned by the runtime and outlives the sink.
struct SinkContext {
  boost::asio::io_context& io;
  HttpClient& http;
  Metrics& metrics;
  Health& health;
  const Clock& clock;
  std::filesystem::path state_dir;
  std::shared_ptr<spdlog::logger> log;
  // The sources' object stores (by source name = Event::connector); null in tests of sinks
  // that touch no objects.
  const ObjectStores* stores = nullptr;
};

// A sink's parsed config: plain data, built without I/O (except reading *_file secrets).
class SinkSpec {
 public:
  virtual ~SinkSpec() = default;
  std::string name;
  std::string type;
  DeliveryPolicy policy;  // filled by the core from `delivery:` and the sink's own overrides
  // Called once at start-up; may throw std::runtime_error (start-up fails with that message).
  virtual std::unique_ptr<Sink> create(SinkContext& ctx) const = 0;
  // Whether deliveries of this event type can succeed at all (a payload format with no form for
  // it makes them dead letters); `sluice check` warns of routes that send such types.
  virtual bool carries(EventType) const { return true; }
  // The sources whose object stores this sink writes to (a job's outputs); the config checks
  // that each exists.
  virtual std::vector<std::string> sources() const { return {}; }
  // Whether its deliveries emit events (a supervisor's job results): routes may then name the
  // sink in `from` as the built-in source of those events.
  virtual bool emitsEvents() const { return false; }
};

}  // namespace sluice
