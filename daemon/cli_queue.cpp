#include "daemon/cli_queue.hpp"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "daemon/clock.hpp"
#include "daemon/config_reader.hpp"
#include "daemon/event.hpp"
#include "daemon/logging.hpp"
#include "daemon/progress.hpp"
#include "daemon/queue_sqlite.hpp"
#include "daemon/status_pages.hpp"

namespace sluice {
namespace {

constexpr int kInvalid = 2;

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


}  // namespace

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
  Selector sel;
  try {
    sel = a.selector(clock.nowMs());
  } catch (const std::invalid_argument& e) {
    std::fprintf(stderr, "queue %s: %s\n", cmd.c_str(), e.what());
    return kInvalid;
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
    Selector b = sel;
    if (cmd == "dead") b.state = "dead";
    auto rows = q->list(b);
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
  if (a.id.empty() && a.sink.empty() && a.prefix.empty() && a.since.empty() &&
      a.until.empty() && !a.all) {
    std::fprintf(stderr, "queue %s: say which deliveries: --id EVENT_ID, --sink NAME, --prefix "
                 "SUBJECT, --since/--until TIME or --all\n", cmd.c_str());
    return kInvalid;
  }
  ProgressLine progress(cmd == "replay" ? "replaying" : "purging", stderr, isatty(2) == 1, clock);
  auto report = [&](std::size_t done, std::size_t total) { progress.update(done, total); };
  std::size_t n = cmd == "replay" ? q->replay(sel, report) : q->purge(sel, report);
  const std::string took = progress.finish(n);
  if (n == 0) {  // a typo in --id must not look like success
    std::fprintf(stderr, "queue %s: no %s delivery matched%s%s%s%s\n", cmd.c_str(),
                 a.state == "any" ? "" : a.state.c_str(), a.sink.empty() ? "" : " --sink ",
                 escapeControl(a.sink).c_str(), a.id.empty() ? "" : " --id ",
                 escapeControl(a.id).c_str());
    return 1;
  }
  std::printf("%s %zu deliver%s (%s)\n", cmd == "replay" ? "replayed" : "purged", n,
              n == 1 ? "y" : "ies", took.c_str());
  return 0;
}

Selector QueueArgs::selector(std::int64_t now_ms) const {
  Selector s;
  if (!sink.empty()) s.sink = sink;
  if (!id.empty()) s.event_id = id;
  if (!prefix.empty()) s.subject_prefix = prefix;
  auto when = [&](const std::string& text, const char* flag) -> std::optional<std::int64_t> {
    if (text.empty()) return std::nullopt;
    auto t = whenArg(text, now_ms);
    if (!t)
      throw std::invalid_argument(std::string(flag) + " " + text +
                                  ": not a time (2026-12-01T10:00:00Z, 2026-12-01) or a "
                                  "duration back from now (90m, 2h, 7d)");
    return t;
  };
  s.since_ms = when(since, "--since");
  s.until_ms = when(until, "--until");
  s.state = state;
  s.limit = limit;
  return s;
}

std::optional<std::int64_t> whenArg(const std::string& text, std::int64_t now_ms) {
  if (auto t = parseTime(text)) return t;
  if (text.size() == 10) {
    if (auto t = parseTime(text + "T00:00:00Z")) return t;
  }
  if (auto d = parseDuration(text)) return now_ms - d->count();
  return std::nullopt;
}

void addQueueCommands(CLI::App* queue, const std::function<void(CLI::App*)>& addConfig,
                      QueueArgs& qa, std::string& qcmd) {
  queue->require_subcommand(1);
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
    s->add_option("--prefix", qa.prefix, "only events whose subject starts with this");
    s->add_option("--since", qa.since,
                  "only events sluice first saw at or after this time (2026-12-01T10:00:00Z, "
                  "2026-12-01, or back from now: 2h, 7d)");
    s->add_option("--until", qa.until, "only events first seen before this time (same forms)");
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
}

}  // namespace sluice
