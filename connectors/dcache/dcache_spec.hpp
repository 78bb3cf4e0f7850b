#pragma once
// `type: dcache` — a dCache tree followed through the frontend's storage events (SSE, inotify
// subscriptions; PROTOCOLS.md §1), reconciled by namespace listings whenever the stream may
// have lost something (start-up, EVENT_LOSS, IN_Q_OVERFLOW, an expired channel, a competing
// client), so that every file written is delivered once.
#include <string>
#include <vector>

#include "daemon/config_reader.hpp"
#include "daemon/connector.hpp"
#include "daemon/http_auth.hpp"

namespace sluice::connectors::dcache {

struct DcacheSpec final : ConnectorSpec {
  std::string url;         // frontend API base, e.g. https://dcache:3880/api/v1 (no trailing /)
  std::string webdav_url;  // the WebDAV door for object reads and writes ("" = none)
  std::vector<std::string> paths;  // absolute, no trailing '/'
  bool recursive = false;
  HttpAuthConfig auth;
  bool emit_created = true, emit_removed = false, emit_moved = false;
  std::string client_id;                // finds this source's channel again after a restart
  Duration channel_timeout{3'600'000};  // how long dCache keeps the channel while disconnected
  Duration idle_timeout{600'000};       // no byte for this long: reconnect (dCache sends no pings)
  Duration move_pair{2000};             // emit_moved: how long half a rename waits for the other
  Duration once_quiet{2000};            // `sluice once`: the stream is drained after this silence

  std::unique_ptr<Connector> create(ConnectorContext& ctx) const override;
  std::unique_ptr<ObjectStore> objectStore(boost::asio::io_context& io, HttpClient& http,
                                           const Clock& clock) const override;
};

}  // namespace sluice::connectors::dcache
