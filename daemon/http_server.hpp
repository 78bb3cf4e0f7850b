#pragma once
// The embedded HTTP server (libwebsockets), on its own thread.
//
// Serves what the runtime routes to it: /healthz, /readyz, /metrics, and push ingress
// (/ingest/{source}, see daemon/ingress.hpp), the status page and its WebSocket feed (/live,
// see daemon/status_api.hpp). Handlers run on the server thread and must not block; a handler may keep
// the Responder and call it later from any thread (e.g. after a durable commit) — the server
// wakes its loop with lws_cancel_service(). Request bodies are limited (max_body) and answered
// 413 beyond it. Binds only where told (default 127.0.0.1).
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice {

struct ServerRequest {
  std::string method;   // "GET", "POST", ...
  std::string path;     // without the query string
  std::string query;    // without '?'; lws 4.1 decodes it, so this is re-encoded, '&'-joined
  std::map<std::string, std::string> headers;  // lower-case names (see custom_headers)
  std::string body;
  std::string peer;     // remote address
};

// The value of `name` in ServerRequest::query ('&'-joined, %-encoded), decoded; nullopt: absent.
std::optional<std::string> queryValue(std::string_view query, std::string_view name);
// The credentials of "Authorization: <scheme> <credentials>" when its scheme is `scheme`
// (lower-case; matched case-insensitively), without surrounding blanks; nullopt otherwise.
std::optional<std::string_view> authorization(const ServerRequest& r, std::string_view scheme);

struct ServerResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::map<std::string, std::string> headers;
};

using Responder = std::function<void(ServerResponse)>;  // call once, from any thread
using ServerHandler = std::function<void(const ServerRequest&, Responder)>;

// A server → client WebSocket stream (RFC 6455, lws does the handshake and framing). What the
// client sends is read and ignored.
class WsStream {
 public:
  virtual ~WsStream() = default;
  // Server thread, when the connection can write: the next text message, or nullopt when none
  // waits now (the stream's `wake` then says when to ask again).
  virtual std::optional<std::string> next() = 0;
};
// Server thread, once per handshake, with the upgrade request (headers, peer). Returns the
// stream, or null to refuse the connection. `wake` may be called from any thread, also after
// the connection or the server is gone: the server then asks next() again.
using WsOpen =
    std::function<std::unique_ptr<WsStream>(const ServerRequest&, std::function<void()> wake)>;

struct RouteOptions {
  // Also match every path below: "/ingest/a" then takes "/ingest/a/x/y" (not "/ingest/ab").
  bool prefix = false;
  std::size_t max_body = 0;  // 0: the server's max_body; requests above it get 413 unread
  // Non-standard headers this route's handler reads (x-amz-*, ce-*), on top of the server's
  // custom_headers: lws 4.1 can look them up only by name (see HttpServerOptions).
  std::vector<std::string> headers;
};

struct HttpServerOptions {
  std::string listen = "127.0.0.1:8787";  // host:port; port 0 picks a free one
  std::size_t max_body = 10 << 20;
  // lws 4.1 can look up a header it does not know only by name (it cannot list them), so
  // non-standard headers to copy into ServerRequest::headers are named here, e.g. "x-amz-id".
  std::vector<std::string> custom_headers;
};

class HttpServer {
 public:
  explicit HttpServer(HttpServerOptions opts);
  ~HttpServer();  // stops the thread
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Register before start(). Exact path match unless opts.prefix; an exact match wins over a
  // prefix, a longer prefix over a shorter one. Method "" matches any method. The options
  // belong to the path: registering it again (another method) must repeat them.
  void route(const std::string& method, const std::string& path, ServerHandler handler,
             RouteOptions opts = {});
  // A WebSocket endpoint at exactly `path` (register before start()). A plain GET there gets
  // 426 unless route() registered the path too.
  void websocket(const std::string& path, WsOpen open);
  // Binds and starts the server thread; throws std::runtime_error when it cannot bind.
  void start();
  void stop();
  std::uint16_t port() const;  // the bound port (after start)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice
