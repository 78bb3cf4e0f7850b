#pragma once
// `type: onedata` — a Oneprovider space followed as a source (PROTOCOLS.md §2):
//  - `mode: changes` (default): the space's metadata changes stream, resumed from the last seq
//    whose effects are committed (the cursor; `last_seq` is inclusive, so cursor+1).
//  - `mode: poll`: the space tree listed by file id every `interval`, against the source index.
// Onedata has no close-write event: a regular file counts as `created` once its size and mtime
// stayed the same for `settle`. The source index maps each path to {fileId, mtime, size}; both
// modes derive event ids from that alone (onedata_changes.hpp fileEvent()), so switching modes
// or seeing a file through both the stream and a listing yields one event.
#include <string>
#include <vector>

#include "daemon/config_reader.hpp"
#include "daemon/connector.hpp"
#include "daemon/http_auth.hpp"

namespace sluice::connectors::onedata {

// Oneprovider's REST prefix (op-worker `op_rest_api_prefix`).
inline constexpr const char* kApiPrefix = "/api/v3/oneprovider";

struct OnedataSpec final : ConnectorSpec {
  std::string provider;  // http(s)://host[:port], no trailing slash
  std::string space_id;
  std::vector<std::string> paths;  // "/<space name>/dir" prefixes; empty: the whole space
  HttpAuthConfig auth;             // token_file, sent as X-Auth-Token
  std::string mode = "changes";    // changes | poll
  Duration settle{5'000};
  Duration interval{300'000};  // poll: a listing this often
  Duration timeout{60'000};    // changes: the stream's inactivity timeout (the `timeout` param)
  bool emit_created = true, emit_removed = false;

  std::unique_ptr<Connector> create(ConnectorContext& ctx) const override;
  std::unique_ptr<ObjectStore> objectStore(boost::asio::io_context& io, HttpClient& http,
                                           const Clock& clock) const override;
  std::string apiUrl() const { return provider + kApiPrefix; }
  // The event's `source` URI: the space on its provider.
  std::string sourceUri() const { return provider + "/" + space_id; }
  // `path` ("/space/dir/file") is inside one of `paths` (or there are none).
  bool wanted(const std::string& path) const;
  // A listing must descend into the directory `dir`: it is wanted or holds a wanted prefix.
  bool descend(const std::string& dir) const;
};

}  // namespace sluice::connectors::onedata
