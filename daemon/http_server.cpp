// The embedded HTTP server: one lws context with one vhost, serviced by one thread.
//
// Invariants:
//  - Every lws call except lws_cancel_service() happens on the service thread, or in start() /
//    stop() while that thread does not run; so does every access to Impl::txns.
//  - A Txn is one request/response exchange. Its Responder may run on any thread: it touches
//    only Txn::answered/orphaned/resp and the Hub, under Hub::mu, and wakes the loop with
//    lws_cancel_service(); the loop then writes the answer from LWS_CALLBACK_HTTP_WRITEABLE.
//  - A Txn outlives its connection: closing marks it orphaned, and a later Responder does nothing.
//    Hub::ctx is cleared under Hub::mu before the context is destroyed, so a Responder that
//    outlives the server never touches a dead context.
//  - A WebSocket connection (websocket()) lives in Impl::ws from its handshake to its close, on
//    the service thread only. Its stream's wake may run on any thread: like a Responder it only
//    wakes the loop, which then asks every WebSocket connection for its next message.
//  - Every response carries Content-Length. When the request's framing is unusable (no length
//    on a POST/PUT/PATCH, chunked, bad length) the connection closes after the answer, because
//    lws 4.1 would otherwise read the next request as body.
#include "daemon/http_server.hpp"

#include <libwebsockets.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "daemon/http_server_lws.hpp"
#include "daemon/sigv4.hpp"  // formDecode

namespace sluice {
namespace {

constexpr std::size_t kChunk = 64 * 1024;  // body bytes given to lws per writable callback
// lws's own deadline (5 s) is for a body to arrive. A handler may wait longer (a durable commit),
// but one that never answers, or a client that stops reading, must not pin the connection.
constexpr int kResponseTimeoutSecs = 60;

enum class Phase { Reading, Dispatched, Writing };

struct Txn {
  // Service thread only.
  lws* wsi = nullptr;
  Phase phase = Phase::Reading;
  const ServerHandler* handler = nullptr;
  ServerRequest req;
  bool head = false;         // HEAD: headers only
  bool close_after = false;  // request framing unusable: don't reuse the connection
  bool headers_sent = false;
  std::string out;  // LWS_PRE bytes of headroom, then the body
  std::size_t sent = 0;
  // Guarded by Hub::mu; orphaned is written only on the service thread.
  bool answered = false;
  bool orphaned = false;
  ServerResponse resp;
};

struct Hub {
  std::mutex mu;
  lws_context* ctx = nullptr;               // null once the loop is gone
  std::vector<std::shared_ptr<Txn>> ready;  // answered, not yet picked up by the loop
};

// A path's handlers. Inside the anonymous namespace: sluice::Route (config.hpp) is another type,
// and two definitions of one name break the one-definition rule (ASan saw it).
struct PathRoute {
  RouteOptions opts;
  std::vector<std::string> headers;  // the server's custom headers and the route's own
  std::vector<std::pair<std::string, ServerHandler>> handlers;  // by method
};

}  // namespace

struct HttpServer::Impl {
  explicit Impl(HttpServerOptions o) : opts(std::move(o)) {}

  HttpServerOptions opts;
  std::map<std::string, PathRoute> routes;
  lws_protocols protocols[2] = {};
  lws_context* ctx = nullptr;
  std::shared_ptr<Hub> hub;
  std::unordered_map<lws*, std::shared_ptr<Txn>> txns;
  std::map<std::string, WsOpen> ws_routes;
  struct WsConn {
    std::unique_ptr<WsStream> stream;
    std::string out;  // LWS_PRE bytes of headroom, then the message being written
  };
  std::unordered_map<lws*, WsConn> ws;
  std::thread thread;
  std::atomic<bool> stopping{false};
  std::uint16_t port = 0;

  static int callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, std::size_t len);
  int onHttp(lws* wsi, const char* uri, std::size_t len);
  int onBody(lws* wsi, const char* data, std::size_t len);
  int onBodyDone(lws* wsi);
  int onWritable(lws* wsi);
  void onWake();
  void onClosed(lws* wsi);
  const PathRoute* findRoute(const std::string& path) const;
  void dispatch(const std::shared_ptr<Txn>& t);
  int answerNow(Txn& t, int status, std::string body, std::map<std::string, std::string> h = {});
  bool writeHeaders(Txn& t);
  int finish(lws* wsi);
  int onWsHandshake(lws* wsi);
  int onWsWritable(lws* wsi);
};

int HttpServer::Impl::callback(lws* wsi, lws_callback_reasons reason, void* user, void* in,
                               std::size_t len) {
  auto* self = wsi ? static_cast<Impl*>(lws_context_user(lws_get_context(wsi))) : nullptr;
  if (!self) return lws_callback_http_dummy(wsi, reason, user, in, len);
  try {  // nothing may unwind through lws's C frames
    switch (reason) {
      case LWS_CALLBACK_HTTP:
        return self->onHttp(wsi, static_cast<const char*>(in), len);
      case LWS_CALLBACK_HTTP_BODY:
        return self->onBody(wsi, static_cast<const char*>(in), len);
      case LWS_CALLBACK_HTTP_BODY_COMPLETION:
        return self->onBodyDone(wsi);
      case LWS_CALLBACK_HTTP_WRITEABLE:
        return self->onWritable(wsi);
      case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
        self->onWake();
        return 0;
      case LWS_CALLBACK_CLOSED_HTTP:  // not sent for every close; WSI_DESTROY always is
      case LWS_CALLBACK_WSI_DESTROY:
        self->onClosed(wsi);
        self->ws.erase(wsi);
        break;
      case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:  // a WebSocket upgrade: nonzero refuses it
        return self->onWsHandshake(wsi);
      case LWS_CALLBACK_ESTABLISHED:
        lws_callback_on_writable(wsi);
        return 0;
      case LWS_CALLBACK_SERVER_WRITEABLE:
        return self->onWsWritable(wsi);
      case LWS_CALLBACK_RECEIVE:  // what a feed's client says is of no interest
        return 0;
      case LWS_CALLBACK_CLOSED:
        self->ws.erase(wsi);
        return 0;
      default:
        break;
    }
  } catch (...) {
    return -1;  // drop this connection, keep the server
  }
  return lws_callback_http_dummy(wsi, reason, user, in, len);
}

int HttpServer::Impl::onHttp(lws* wsi, const char* uri, std::size_t len) {
  auto t = std::make_shared<Txn>();
  t->wsi = wsi;
  onClosed(wsi);  // a previous exchange on this connection can no longer be answered
  txns[wsi] = t;
  ServerRequest& r = t->req;
  const PathRoute* route = findRoute(std::string(uri ? uri : "", uri ? len : 0));
  r = http_lws::readRequest(wsi, uri, len, route ? route->headers : opts.custom_headers);
  t->head = r.method == "HEAD";
  // lws 4.1 mis-reads a pipelined request's body (it hands the request's own first bytes to
  // HTTP_BODY, then repeats HTTP_BODY_COMPLETION without end, so the server thread never returns
  // to poll). Closing after every answer means a connection never carries a second request.
  t->close_after = true;

  if (r.headers.count("transfer-encoding")) {  // lws 4.1 cannot decode a chunked body
    t->close_after = true;
    return answerNow(*t, 411, "send the body with a Content-Length\n");
  }
  std::uint64_t length = 0;
  if (auto it = r.headers.find("content-length"); it != r.headers.end()) {
    const std::string& v = it->second;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), length);
    if (v.empty() || ec != std::errc() || p != v.data() + v.size()) {
      t->close_after = true;
      return answerNow(*t, 400, "bad Content-Length\n");
    }
  } else if (r.method == "POST" || r.method == "PUT" || r.method == "PATCH") {
    t->close_after = true;  // lws now expects a body of unknown length
  }

  if (!route && ws_routes.count(r.path))
    return answerNow(*t, 426, "this is a WebSocket endpoint\n", {{"Upgrade", "websocket"}});
  if (!route) return answerNow(*t, 404, "not found\n");
  std::string allow;
  for (const auto& [method, handler] : route->handlers) {
    if (method.empty() || method == r.method) {
      t->handler = &handler;
      break;
    }
    allow += (allow.empty() ? "" : ", ") + method;
  }
  if (!t->handler) return answerNow(*t, 405, "method not allowed\n", {{"Allow", allow}});
  // Answered before the body arrives; lws then reads and drops the body, keeping the
  // connection usable, and a client that waits on "Expect: 100-continue" never sends it.
  std::size_t max_body = route->opts.max_body ? route->opts.max_body : opts.max_body;
  if (length > max_body)
    return answerNow(*t, 413, "body larger than " + std::to_string(max_body) + " bytes\n");
  if (length == 0) {
    dispatch(t);
    return 0;
  }
  r.body.reserve(length);
  if (http_lws::wantsContinue(wsi, r)) {
    // lws 4.1 ignores Expect; unanswered, clients stall before sending (curl: 1 s).
    static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
    unsigned char buf[LWS_PRE + sizeof kContinue];
    std::memcpy(buf + LWS_PRE, kContinue, sizeof kContinue - 1);
    if (lws_write(wsi, buf + LWS_PRE, sizeof kContinue - 1, LWS_WRITE_HTTP_HEADERS) < 0) return -1;
  }
  return 0;
}

const PathRoute* HttpServer::Impl::findRoute(const std::string& path) const {
  if (auto it = routes.find(path); it != routes.end()) return &it->second;
  // Walk up the path: "/ingest/a/x" tries "/ingest/a/x", "/ingest/a", "/ingest", "".
  for (auto cut = path.rfind('/'); cut != std::string::npos && cut > 0;
       cut = path.rfind('/', cut - 1)) {
    auto it = routes.find(path.substr(0, cut));
    if (it != routes.end() && it->second.opts.prefix) return &it->second;
  }
  return nullptr;
}

int HttpServer::Impl::onBody(lws* wsi, const char* data, std::size_t len) {
  auto it = txns.find(wsi);
  // lws delivers exactly Content-Length bytes, already checked against max_body.
  if (it != txns.end() && it->second->phase == Phase::Reading && len > 0)
    it->second->req.body.append(data, len);
  return 0;
}

int HttpServer::Impl::onBodyDone(lws* wsi) {
  auto it = txns.find(wsi);
  if (it != txns.end() && it->second->phase == Phase::Reading) dispatch(it->second);
  return 0;
}

void HttpServer::Impl::dispatch(const std::shared_ptr<Txn>& t) {
  t->phase = Phase::Dispatched;
  Responder respond = [hub = hub, t](ServerResponse r) {
    std::lock_guard lock(hub->mu);
    if (t->answered) return;  // the contract is once; later calls change nothing
    t->answered = true;
    if (t->orphaned || !hub->ctx) return;  // the client or the server is gone
    t->resp = std::move(r);
    hub->ready.push_back(t);
    lws_cancel_service(hub->ctx);  // under the lock: stop() cannot destroy ctx meanwhile
  };
  try {
    (*t->handler)(t->req, respond);
  } catch (...) {  // a handler must not throw; if one does, the client still gets an answer
    respond(ServerResponse{500, "text/plain; charset=utf-8", "internal error\n", {}});
  }
  t->req = ServerRequest{};  // the handler had it for the call only; free the body now
  lws_set_timeout(t->wsi, PENDING_TIMEOUT_HTTP_CONTENT, kResponseTimeoutSecs);
}

int HttpServer::Impl::answerNow(Txn& t, int status, std::string body,
                                std::map<std::string, std::string> h) {
  {
    std::lock_guard lock(hub->mu);
    t.answered = true;
    t.resp = ServerResponse{status, "text/plain; charset=utf-8", std::move(body), std::move(h)};
  }
  t.phase = Phase::Writing;
  lws_callback_on_writable(t.wsi);
  return 0;
}

void HttpServer::Impl::onWake() {
  std::vector<std::shared_ptr<Txn>> ready;
  {
    std::lock_guard lock(hub->mu);
    ready.swap(hub->ready);
  }
  for (auto& t : ready) {
    if (t->orphaned) continue;  // closed after it was answered
    t->phase = Phase::Writing;
    lws_callback_on_writable(t->wsi);
  }
  // Which stream woke us is not recorded: asking each (a handful) is cheaper than tracking it.
  for (auto& [wsi, _] : ws) lws_callback_on_writable(wsi);
}

int HttpServer::Impl::onWsHandshake(lws* wsi) {
  int n = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI);
  if (n <= 0) return 1;
  std::string uri(static_cast<std::size_t>(n) + 1, '\0');
  n = lws_hdr_copy(wsi, uri.data(), n + 1, WSI_TOKEN_GET_URI);
  uri.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  auto it = ws_routes.find(uri);
  if (it == ws_routes.end()) return 1;
  ServerRequest r = http_lws::readRequest(wsi, uri.data(), uri.size(), opts.custom_headers);
  auto wake = [hub = hub] {
    std::lock_guard lock(hub->mu);
    if (hub->ctx) lws_cancel_service(hub->ctx);
  };
  auto stream = it->second(r, std::move(wake));
  if (!stream) return 1;
  ws[wsi] = WsConn{std::move(stream), {}};
  return 0;
}

int HttpServer::Impl::onWsWritable(lws* wsi) {
  auto it = ws.find(wsi);
  if (it == ws.end()) return 0;
  auto msg = it->second.stream->next();
  if (!msg) return 0;
  // One message per callback: lws keeps what the socket did not take and calls back only once
  // it is sent, so a slow client's backlog stays in its stream's bounded buffer, not here.
  std::string& out = it->second.out;
  out.assign(LWS_PRE, '\0');
  out += *msg;
  auto* p = reinterpret_cast<unsigned char*>(out.data()) + LWS_PRE;
  if (lws_write(wsi, p, msg->size(), LWS_WRITE_TEXT) < static_cast<int>(msg->size())) return -1;
  lws_callback_on_writable(wsi);
  return 0;
}

void HttpServer::Impl::onClosed(lws* wsi) {
  auto it = txns.find(wsi);
  if (it == txns.end()) return;
  {
    std::lock_guard lock(hub->mu);
    it->second->orphaned = true;
  }
  txns.erase(it);
}

bool HttpServer::Impl::writeHeaders(Txn& t) {
  const ServerResponse& r = t.resp;
  std::size_t size = LWS_PRE + 1024 + r.content_type.size();
  for (const auto& [k, v] : r.headers) size += k.size() + v.size() + 4;
  std::vector<unsigned char> buf(size);
  unsigned char *start = buf.data() + LWS_PRE, *p = start, *end = buf.data() + buf.size();
  unsigned status = r.status >= 100 && r.status <= 599 ? static_cast<unsigned>(r.status) : 500;
  bool bad_type = r.content_type.find_first_of("\r\n") != std::string::npos;
  const char* type = r.content_type.empty() || bad_type ? nullptr : r.content_type.c_str();
  auto length = static_cast<lws_filepos_t>(r.body.size());
  if (t.close_after) {
    // Without a length lws marks the connection "close"; the real length is added after.
    if (lws_add_http_common_headers(t.wsi, status, type, LWS_ILLEGAL_HTTP_CONTENT_LEN, &p, end) ||
        lws_add_http_header_content_length(t.wsi, length, &p, end))
      return false;
  } else if (lws_add_http_common_headers(t.wsi, status, type, length, &p, end)) {
    return false;
  }
  for (const auto& [k, v] : r.headers) {
    if (!http_lws::sendableHeader(k, v)) continue;
    std::string name = k + ":";
    if (lws_add_http_header_by_name(t.wsi, reinterpret_cast<const unsigned char*>(name.c_str()),
                                    reinterpret_cast<const unsigned char*>(v.data()),
                                    static_cast<int>(v.size()), &p, end))
      return false;
  }
  return lws_finalize_write_http_header(t.wsi, start, &p, end) == 0;
}

int HttpServer::Impl::onWritable(lws* wsi) {
  auto it = txns.find(wsi);
  if (it == txns.end() || it->second->phase != Phase::Writing) return 0;
  Txn& t = *it->second;
  lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT, kResponseTimeoutSecs);
  // One lws_write per callback: lws buffers what the socket did not take and calls back only
  // once that is sent, so a large body never sits in lws's buffers all at once.
  if (!t.headers_sent) {
    if (!writeHeaders(t)) return -1;
    t.headers_sent = true;
    if (t.head || t.resp.body.empty()) return finish(wsi);
    t.out.reserve(LWS_PRE + t.resp.body.size());
    t.out.assign(LWS_PRE, '\0');
    t.out += t.resp.body;
    t.resp.body.clear();
    lws_callback_on_writable(wsi);
    return 0;
  }
  std::size_t total = t.out.size() - LWS_PRE;
  std::size_t n = std::min(kChunk, total - t.sent);
  bool last = t.sent + n == total;
  // The LWS_PRE bytes before this chunk are headroom or already-sent body: lws may use them.
  auto* chunk = reinterpret_cast<unsigned char*>(t.out.data()) + LWS_PRE + t.sent;
  if (lws_write(wsi, chunk, n, last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != static_cast<int>(n))
    return -1;
  t.sent += n;
  if (last) return finish(wsi);
  lws_callback_on_writable(wsi);
  return 0;
}

int HttpServer::Impl::finish(lws* wsi) {
  auto it = txns.find(wsi);
  bool close = it->second->close_after;
  txns.erase(it);
  if (close) return -1;  // lws sends what it still buffers, then closes
  // Keep-alive: lws reads (and drops) any unread body first, then waits for the next request.
  return lws_http_transaction_completed(wsi) ? -1 : 0;
}

HttpServer::HttpServer(HttpServerOptions opts) : impl_(std::make_unique<Impl>(std::move(opts))) {}

HttpServer::~HttpServer() { stop(); }

void HttpServer::route(const std::string& method, const std::string& path, ServerHandler handler,
                       RouteOptions opts) {
  if (impl_->ctx) throw std::logic_error("HttpServer::route: register routes before start()");
  if (path.empty() || path[0] != '/' || (path.size() > 1 && path.back() == '/'))
    throw std::logic_error("HttpServer::route: a path starts with '/' and does not end in one: " +
                           path);
  auto [it, fresh] = impl_->routes.try_emplace(path);
  PathRoute& r = it->second;
  if (fresh) {
    r.headers = impl_->opts.custom_headers;
    r.headers.insert(r.headers.end(), opts.headers.begin(), opts.headers.end());
    r.opts = std::move(opts);
  } else if (r.opts.prefix != opts.prefix || r.opts.max_body != opts.max_body ||
             r.opts.headers != opts.headers) {
    throw std::logic_error("HttpServer::route: " + path + " registered with other options");
  }
  r.handlers.emplace_back(method, std::move(handler));
}

void HttpServer::websocket(const std::string& path, WsOpen open) {
  if (impl_->ctx) throw std::logic_error("HttpServer::websocket: register before start()");
  if (!open || !impl_->ws_routes.emplace(path, std::move(open)).second)
    throw std::logic_error("HttpServer::websocket: no handler, or " + path + " registered twice");
}

void HttpServer::start() {
  Impl& d = *impl_;
  if (d.ctx) return;
  http_lws::ListenAddr addr = http_lws::parseListen(d.opts.listen);
  lws_set_log_level(LLL_ERR, nullptr);  // errors only, to stderr; the daemon logs the rest
  d.protocols[0] = {};
  d.protocols[0].name = "http";
  d.protocols[0].callback = &Impl::callback;
  d.protocols[0].tx_packet_size = kChunk;  // else lws sends 4 KiB per syscall and buffers the rest
  d.hub = std::make_shared<Hub>();
  d.txns.clear();
  d.stopping = false;

  lws_context_creation_info info{};
  info.options = LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
  info.user = &d;
  info.server_string = "sluice";
  d.ctx = lws_create_context(&info);
  if (!d.ctx) throw std::runtime_error("cannot create the HTTP server (libwebsockets context)");

  info.port = addr.port;
  info.iface = addr.host.empty() ? nullptr : addr.host.c_str();
  info.protocols = d.protocols;
  info.vhost_name = "sluice";
  info.options = LWS_SERVER_OPTION_FAIL_UPON_UNABLE_TO_BIND;
  if (addr.family == AF_INET) info.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
  // All interfaces on IPv6 must take IPv4 too, whatever net.ipv6.bindv6only says.
  if (addr.host.empty()) info.options |= LWS_SERVER_OPTION_IPV6_V6ONLY_MODIFY;
  // TLS goes here when needed: info.ssl_cert_filepath / info.ssl_private_key_filepath on the
  // vhost, and LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT on the context above.
  lws_vhost* vh = lws_create_vhost(d.ctx, &info);
  if (!vh) {
    lws_context_destroy(d.ctx);
    d.ctx = nullptr;
    throw std::runtime_error("cannot listen on " + d.opts.listen + ": " +
                             http_lws::bindError(addr));
  }
  d.port = static_cast<std::uint16_t>(lws_get_vhost_listen_port(vh));
  {
    std::lock_guard lock(d.hub->mu);
    d.hub->ctx = d.ctx;
  }
  d.thread = std::thread([&d] {
    while (!d.stopping.load() && lws_service(d.ctx, 0) >= 0) {
    }
  });
}

void HttpServer::stop() {
  Impl& d = *impl_;
  if (!d.ctx) return;
  d.stopping = true;
  lws_cancel_service(d.ctx);
  if (d.thread.joinable()) d.thread.join();
  {
    std::lock_guard lock(d.hub->mu);
    d.hub->ctx = nullptr;  // from now on a Responder only records that it was called
    d.hub->ready.clear();
  }
  lws_context_destroy(d.ctx);  // closes the connections: their Txns become orphaned
  d.ctx = nullptr;
  while (!d.txns.empty()) d.onClosed(d.txns.begin()->first);
  d.ws.clear();
}

std::uint16_t HttpServer::port() const { return impl_->port; }

std::optional<std::string> queryValue(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    auto eq = part.find('=');
    if (eq == std::string_view::npos || part.substr(0, eq) != name) continue;
    return formDecode(part.substr(eq + 1));
  }
  return std::nullopt;
}

std::optional<std::string_view> authorization(const ServerRequest& r, std::string_view scheme) {
  auto it = r.headers.find("authorization");
  if (it == r.headers.end()) return std::nullopt;
  auto trim = [](std::string_view v) {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    return v;
  };
  std::string_view v = trim(it->second);
  if (v.size() <= scheme.size() || v[scheme.size()] != ' ') return std::nullopt;
  for (std::size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(v[i])) != scheme[i]) return std::nullopt;
  return trim(v.substr(scheme.size() + 1));
}

}  // namespace sluice
