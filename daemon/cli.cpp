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
#include "daemon/runtime.hpp"
#include "daemon/status_pages.hpp"

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

std::string ageText(std::int64_t ms) {
  if (ms < 60'000) return std::to_string(ms / 1000) + "s";
  if (ms < 3'600'000) return std::to_string(ms / 60'000) + "m";
  return std::to_string(ms / 3'600'000) + "h";
}

// A kept output, line by line under its row; escaped, since it is the receiver's text.
void printOutput(const std::string& output) {
  std::size_t start = 0;
  while (start < output.size()) {
    auto end = output.find('\n', start);
    if (end == std::string::npos) end = output.size();
    std::printf("    | %s\n", escapeControl(output.substr(start, end - start)).c_str());
    start = end + 1;
  }
}

struct QueueArgs {
  std::string sink, id, state = "dead", from, to, reason;
  std::size_t limit = 100;
  bool all = false, json = false, show_output = false;
  Selector selector() const {
    Selector s;
    if (!sink.empty()) s.sink = sink;
    if (!id.empty()) s.event_id = id;
    s.state = state;
    s.limit = limit;
    return s;
  }
};

int queueCommand(const std::string& cmd, const Config& cfg, const QueueArgs& a) {
  SystemClock clock;
  QueueOptions qo;
  qo.path = (cfg.state_dir / "queue.db").string();
  qo.release_leases_on_open = false;  // the daemon may be running and own them
  qo.dedup_horizon = cfg.dedup_horizon;
  if (!std::filesystem::exists(qo.path)) {
    std::fprintf(stderr, "no queue at %s (sluice has not run with this state_dir yet)\n",
                 qo.path.c_str());
    return 1;
  }
  auto q = openSqliteQueue(qo, clock);
  if (cmd == "stats") {
    auto s = q->stats();
    std::vector<std::string> names;
    for (auto& spec : cfg.sinks) names.push_back(spec->name);
    includeSinks(s, names);
    if (a.json) {
      nlohmann::json j = {{"events", s.events}, {"dedup_entries", s.dedup_entries},
                          {"sinks", nlohmann::json::object()}};
      for (auto& ss : s.sinks)
        j["sinks"][ss.sink] = {
            {"pending", ss.pending}, {"leased", ss.leased}, {"dead", ss.dead},
            {"oldest_pending_age_s",
             ss.oldest_pending_ms ? (clock.nowMs() - *ss.oldest_pending_ms) / 1000 : 0}};
      std::cout << j.dump(2) << "\n";
      return 0;
    }
    // PENDING counts every undelivered, not dead delivery: those waiting plus those LEASED
    // (in flight). OLDEST: age of the oldest of them.
    std::printf("%-20s %10s %8s %8s %12s\n", "SINK", "PENDING", "LEASED", "DEAD", "OLDEST");
    for (auto& ss : s.sinks) {
      std::printf("%-20s %10lld %8lld %8lld %12s%s\n", escapeControl(ss.sink).c_str(),
                  static_cast<long long>(ss.pending), static_cast<long long>(ss.leased),
                  static_cast<long long>(ss.dead),
                  ss.oldest_pending_ms ? ageText(clock.nowMs() - *ss.oldest_pending_ms).c_str() : "-",
                  cfg.hasSink(ss.sink) ? "" : "  (not in the config: see `sluice queue move`)");
    }
    std::printf("PENDING includes LEASED (in flight). Events stored: %lld (%lld bytes), ids "
                "remembered for dedup: %lld\n",
                static_cast<long long>(s.events), static_cast<long long>(s.event_bytes),
                static_cast<long long>(s.dedup_entries));
    return 0;
  }
  if (cmd == "list" || cmd == "dead") {
    QueueArgs b = a;
    if (cmd == "dead") b.state = "dead";
    auto rows = q->list(b.selector());
    const bool outputs = a.show_output || b.state == "done";
    if (a.json) {
      auto arr = nlohmann::json::array();
      for (auto& r : rows)
        arr.push_back({{"seq", r.seq}, {"sink", r.sink}, {"state", r.state},
                       {"attempts", r.attempts}, {"event_id", r.event_id},
                       {"subject", r.subject}, {"error", r.last_error}});
      if (outputs)
        for (std::size_t i = 0; i < rows.size(); ++i)
          arr[i]["output"] = toUtf8Lossy(rows[i].output);
      std::cout << arr.dump(2) << "\n";
      return 0;
    }
    if (rows.empty()) {
      std::printf("(none)\n");
      return 0;
    }
    // Names come from storage: escaped, so a hostile one cannot drive the terminal.
    std::printf("%-8s %-12s %-8s %-8s %-32s %s\n", "SEQ", "SINK", "STATE", "ATTEMPTS", "EVENT ID",
                "SUBJECT  -- LAST ERROR");
    for (auto& r : rows) {
      std::printf("%-8lld %-12s %-8s %-8d %-32s %s%s%s\n", static_cast<long long>(r.seq),
                  escapeControl(r.sink).c_str(), r.state.c_str(), r.attempts,
                  escapeControl(r.event_id).c_str(), escapeControl(r.subject).c_str(),
                  r.last_error.empty() ? "" : "  -- ", escapeControl(r.last_error).c_str());
      if (a.show_output) printOutput(r.output);
    }
    return 0;
  }
  if (cmd == "move") {
    if (!cfg.hasSink(a.to)) {
      std::fprintf(stderr, "queue move: --to %s is not a sink of this config\n", a.to.c_str());
      return kInvalid;
    }
    auto r = q->move(a.from, a.to);
    if (r.moved == 0 && r.merged == 0) {
      std::fprintf(stderr, "queue move: sink %s has no deliveries\n", escapeControl(a.from).c_str());
      return 1;
    }
    std::printf("moved %zu deliveries from %s to %s (%zu dropped: the event already had a "
                "delivery to %s)\n", r.moved, a.from.c_str(), a.to.c_str(), r.merged, a.to.c_str());
    return 0;
  }
  if (cmd == "dead-letter") {
    auto n = q->deadLetter(a.sink, a.reason);
    if (n == 0) {
      std::fprintf(stderr, "queue dead-letter: sink %s has no pending deliveries\n",
                   escapeControl(a.sink).c_str());
      return 1;
    }
    std::printf("moved %zu deliveries of %s to the dead-letter queue\n", n, a.sink.c_str());
    return 0;
  }
  if (a.id.empty() && a.sink.empty() && !a.all) {
    std::fprintf(stderr, "queue %s: say which deliveries: --id EVENT_ID, --sink NAME or --all\n",
                 cmd.c_str());
    return kInvalid;
  }
  QueueArgs b = a;
  b.limit = static_cast<std::size_t>(-1) >> 1;
  std::size_t n = cmd == "replay" ? q->replay(b.selector()) : q->purge(b.selector());
  if (n == 0) {  // a typo in --id must not look like success
    std::fprintf(stderr, "queue %s: no %s delivery matched%s%s%s%s\n", cmd.c_str(),
                 b.state == "any" ? "" : b.state.c_str(), a.sink.empty() ? "" : " --sink ",
                 escapeControl(a.sink).c_str(), a.id.empty() ? "" : " --id ",
                 escapeControl(a.id).c_str());
    return 1;
  }
  std::printf("%s %zu deliver%s\n", cmd == "replay" ? "replayed" : "purged", n, n == 1 ? "y" : "ies");
  return 0;
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
  queue->require_subcommand(1);
  QueueArgs qa;
  std::string qcmd;
  for (auto [name, help] : {std::pair{"stats", "deliveries per sink: pending, leased, dead, oldest"},
                            std::pair{"list", "list deliveries (--state pending|leased|dead|any)"},
                            std::pair{"dead", "list the dead-letter queue"},
                            std::pair{"replay", "make dead (or selected) deliveries due again"},
                            std::pair{"purge", "delete dead (or selected) deliveries"}}) {
    auto* s = queue->add_subcommand(name, help);
    addConfig(s);
    s->callback([&qcmd, n = std::string(name)] { qcmd = n; });
    s->add_flag("--json", qa.json, "machine-readable output");
    if (std::string(name) == "stats") continue;
    s->add_option("--sink", qa.sink, "only this sink");
    s->add_option("--id", qa.id, "only this event id");
    if (std::string(name) == "list") {
      s->add_option("--state", qa.state,
                    "pending | leased | dead | any | done (finished, with a kept output)")
          ->check(CLI::IsMember({"pending", "leased", "dead", "any", "done"}))
          ->capture_default_str();
      s->add_flag("--show-output", qa.show_output,
                  "print what the receiver answered (sync OSCAR, RequestResponse Lambda); "
                  "without --state: the finished deliveries")
          ->each([&qa, s](const std::string&) {
            if (s->count("--state") == 0) qa.state = "done";
          });
    } else if (std::string(name) != "dead") {
      s->add_option("--state", qa.state, "pending | leased | dead | any")
          ->check(CLI::IsMember({"pending", "leased", "dead", "any"}))
          ->capture_default_str();
    }
    if (std::string(name) == "replay" || std::string(name) == "purge")
      s->add_flag("--all", qa.all, "every delivery in the selected state");
    else
      s->add_option("--limit", qa.limit, "at most this many rows")->capture_default_str();
  }
  // Ways out for the deliveries of a sink that was renamed or removed from the config.
  auto* move = queue->add_subcommand(
      "move", "give every delivery of a renamed or removed sink to a configured sink");
  addConfig(move);
  move->callback([&qcmd] { qcmd = "move"; });
  move->add_option("--from", qa.from, "the old sink name")->required();
  move->add_option("--to", qa.to, "a sink of the config")->required();
  auto* dead_letter = queue->add_subcommand(
      "dead-letter", "move every pending delivery of a sink to the dead-letter queue");
  addConfig(dead_letter);
  dead_letter->callback([&qcmd] { qcmd = "dead-letter"; });
  dead_letter->add_option("--sink", qa.sink, "the sink")->required();
  qa.reason = "dead-lettered by the operator (sluice queue dead-letter)";
  dead_letter->add_option("--reason", qa.reason, "kept with each delivery")->capture_default_str();
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
