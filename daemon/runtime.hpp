#pragma once
// Wires one process together from a validated Config: state-dir lock, queue, sinks,
// dispatcher, connectors, HTTP server, signals and systemd notifications.
//
// Two modes with the same state: run() follows the sources until SIGTERM/SIGINT (then stops
// intake, lets in-flight deliveries finish up to the drain deadline, releases the rest and
// exits 0); once() catches up from the saved state, delivers what is due, and exits.
//
// SIGHUP reloads the config: the file is validated first, and an invalid one is only logged
// (the daemon goes on with the config it has). A valid one is applied by the same graceful stop
// as SIGTERM, after which run() returns with reloadRequested() set and the caller re-executes
// the process (same pid, same arguments): every key can change, and the queue, the cursors and
// the start-up reconciliation carry the state across, so nothing is lost in the swap.
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "daemon/clock.hpp"
#include "daemon/config.hpp"

namespace spdlog {
class logger;
}

namespace sluice {

class Runtime {
 public:
  Runtime(const Config& cfg, std::shared_ptr<spdlog::logger> log, const Clock& clock);
  ~Runtime();
  int run();   // exit status
  int once();  // 0 when nothing is pending afterwards; 1 with a summary otherwise
  bool reloadRequested() const { return reload_; }

 private:
  struct Parts;
  void build(bool daemon);
  // Reload checks beyond validation: what would stop `next` from starting on this machine.
  std::vector<std::string> preflight(const Config& next) const;
  // Deliveries of sinks no longer in the config: logged (each sink once, or all when
  // `log_all`) and shown in /readyz until they are moved or dead-lettered.
  void checkStranded(bool log_all);
  const Config& cfg_;
  std::shared_ptr<spdlog::logger> log_;
  const Clock& clock_;
  std::unique_ptr<Parts> p_;
  bool reload_ = false;
  std::set<std::string> stranded_;  // sinks already named in the log
};

// Blocks (or unblocks) SIGHUP in the calling thread; threads started later inherit the mask.
// `sluice run` blocks it before starting anything, so a reload request that comes while the
// daemon starts (or restarts for a reload) waits until run() can handle it.
void setSighupBlocked(bool blocked);

// Exclusive lock on <state_dir>/lock so two daemons never share a queue. Throws when taken.
int lockStateDir(const std::string& state_dir);

}  // namespace sluice
