#pragma once
// `type: local` — a local directory tree watched with inotify.
#include <cstdint>
#include <string>
#include <vector>

#include "daemon/config_reader.hpp"
#include "daemon/connector.hpp"

namespace sluice::connectors::local {

struct LocalSpec final : ConnectorSpec {
  std::string path;                  // as configured; made absolute at create()
  bool recursive = true;
  bool emit_created = true, emit_removed = false, emit_moved = false;
  std::vector<std::string> ignore;   // fnmatch globs on the base name (files and directories)
  Duration rescan_interval{0};       // periodic reconciliation; 0 = only on start and overflow
  std::uint64_t max_watches = 0;     // own cap on inotify watches; 0 = the kernel's limit
  // Changes held in memory before reading and scanning stop to wait for commits. Not a config
  // key (the default bounds memory to a few tens of MB); tests lower it.
  std::size_t max_pending = 16384;
  std::unique_ptr<Connector> create(ConnectorContext& ctx) const override;
  std::string preflight() const override;
  std::unique_ptr<ObjectStore> objectStore(boost::asio::io_context& io, HttpClient&,
                                           const Clock&) const override;
};

bool ignored(const std::vector<std::string>& globs, const std::string& base_name);

}  // namespace sluice::connectors::local
