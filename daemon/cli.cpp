#include "daemon/cli.hpp"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <iostream>

#include "daemon/clock.hpp"
#include "daemon/config.hpp"
#include "daemon/logging.hpp"
#include "daemon/queue_sqlite.hpp"
#include "daemon/cli_queue.hpp"
#include "daemon/runtime.hpp"

namespace sluice {
namespace {

constexpr int kInvalid = 2;

std::unique_ptr<Config> loadOrReport(const std::string& file) {
  auto r = loadConfig(file);
  // Warnings (a secret file readable by others) never stop anything, but are always said.
  for (auto& w : r.warnings) std::fprintf(stderr, "%s: warning: %s\n", file.c_str(), w.str().c_str());
  if (!r.config) {
    std::fprintf(stderr, "%s: %zu error%s\n", file.c_str(), r.errors.size(),
                 r.errors.size() == 1 ? "" : "s");
    for (auto& e : r.errors) std::fprintf(stderr, "  %s\n", e.str().c_str());
  }
  return std::move(r.config);
}

}  // namespace

int cliMain(int argc, char** argv) {
  CLI::App app{"sluice: storage events in, durable at-least-once deliveries out"};
  app.require_subcommand(0, 1);
  bool version = false;
  app.add_flag("--version", version, "print the version and exit");
  std::string config = "/etc/sluice/sluice.yaml";
  auto addConfig = [&](CLI::App* sub) {
    sub->add_option("-c,--config", config, "config file")->capture_default_str();
  };
  auto* run = app.add_subcommand("run", "run the daemon until SIGTERM/SIGINT");
  addConfig(run);
  auto* once = app.add_subcommand(
      "once", "catch up from the saved state, deliver what is due, exit (0: nothing pending)");
  addConfig(once);
  auto* check = app.add_subcommand("check", "validate a config: exit 0, or list every error and exit 2");
  addConfig(check);
  auto* queue = app.add_subcommand("queue", "inspect and repair the durable queue");
  addConfig(queue);
  QueueArgs qa;
  std::string qcmd;
  addQueueCommands(queue, addConfig, qa, qcmd);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kInvalid;
  }
  if (version) {
    std::printf("sluice %s\n", SLUICE_VERSION);
    return 0;
  }
  if (app.get_subcommands().empty()) {
    std::cout << app.help();
    return kInvalid;
  }
  auto cfg = loadOrReport(config);
  if (!cfg) return kInvalid;
  if (check->parsed()) {
    std::printf("%s: ok (%zu sources, %zu sinks, %zu routes)\n", config.c_str(),
                cfg->sources.size(), cfg->sinks.size(), cfg->routes.size());
    return 0;
  }
  try {
    if (queue->parsed()) return queueCommand(qcmd, *cfg, qa);
    auto log = makeLogger(cfg->log, cfg->secrets);
    SystemClock clock;
    bool reload = false;
    int rc = 0;
    if (run->parsed()) setSighupBlocked(true);
    {
      Runtime rt(*cfg, log, clock);
      try {
        rc = run->parsed() ? rt.run() : rt.once();
        reload = rt.reloadRequested();
      } catch (const std::exception& e) {
        log->critical("{}", e.what());
        return 1;
      }
    }  // every part is down (queue closed, ports and the state-dir lock released)
    if (reload) {
      log->flush();
      // The same binary and arguments; the file is read again and checked at start.
      execv("/proc/self/exe", argv);
      log->critical("reload: cannot re-execute sluice: {}", std::strerror(errno));
      return 1;
    }
    return rc;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sluice: %s\n", e.what());
    return 1;
  }
}

}  // namespace sluice
