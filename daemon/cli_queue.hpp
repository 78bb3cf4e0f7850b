#pragma once
// `sluice queue stats|list|dead|replay|purge|move|dead-letter`: operator access to the queue of
// a config's state_dir, with or without the daemon running.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "daemon/config.hpp"
#include "daemon/queue.hpp"

namespace sluice {

struct QueueArgs {
  std::string sink, id, state = "dead", from, to, reason;
  std::string prefix, since, until;  // subject prefix; first-seen time range (see whenArg)
  std::size_t limit = 100;
  bool all = false, json = false, show_output = false;
  // Throws std::invalid_argument for a --since / --until it cannot read.
  Selector selector(std::int64_t now_ms) const;
};

// The subcommands under `queue`; the one parsed sets `cmd`. `addConfig` adds -c to each.
void addQueueCommands(CLI::App* queue, const std::function<void(CLI::App*)>& addConfig,
                      QueueArgs& qa, std::string& cmd);
int queueCommand(const std::string& cmd, const Config& cfg, const QueueArgs& a);

// --since / --until: an RFC 3339 time ("2026-12-01T10:00:00Z"), a date ("2026-12-01", UTC
// midnight) or a duration back from now ("2h", "7d"). nullopt: unreadable.
std::optional<std::int64_t> whenArg(const std::string& text, std::int64_t now_ms);

}  // namespace sluice
