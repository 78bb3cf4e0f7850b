#pragma once
// Push ingress: sources that storage pushes events to (MinIO's webhook target, Ceph RGW and
// other S3-compatible notifications) take `POST /ingest/{source}` (and any path below it) on
// the embedded HTTP server.
//
// What every push route shares lives here, once:
//  - the token (http.ingress_token_file), presented as "Authorization: Bearer T", as Basic
//    auth with password T, or as ?token=T (Ceph RGW cannot set headers); compared in constant
//    time; a request without it gets 401 and never reaches the source;
//  - 503 with Retry-After once intake stops (shutdown, reload), so senders keep the event;
//  - an answer for every request: a handler that drops its Responder without calling it
//    (a stopped source, a bug) answers 503, so the sender retries instead of waiting;
//  - a per-route body limit (413 beyond it, unread) and per-route header names.
// Handlers run on the io thread, like every connector callback; they answer through the
// Responder (from any thread) once the batch is durably committed: persist, then acknowledge.
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/http_server.hpp"

namespace sluice {

class Metrics;

struct IngressRoute {
  std::string method = "POST";
  std::size_t max_body = 1 << 20;
  // Non-standard request headers the handler reads (lws 4.1 finds headers it does not know
  // only by name, so a route names them: "x-amz-sns-message-type", "ce-id", ...).
  std::vector<std::string> headers;
  std::function<void(ServerRequest, Responder)> handler;  // on the io thread
};

class Ingress {
 public:
  // `token`: the ingress token; without one no route can be added.
  Ingress(boost::asio::io_context& io, std::optional<std::string> token, Metrics& metrics);
  Ingress(const Ingress&) = delete;
  Ingress& operator=(const Ingress&) = delete;

  static std::string pathOf(const std::string& source) { return "/ingest/" + source; }
  // From a connector's create(). Throws std::runtime_error without a token, std::logic_error
  // for a second route of one source.
  void add(const std::string& source, IngressRoute route);
  bool empty() const { return routes_.empty(); }
  // Registers the routes on `server`, before it starts.
  void attach(HttpServer& server);
  // Intake stopped: from now on every request is answered 503. Thread-safe.
  void stop() { stopping_->store(true); }

  // Whether `r` presents `token` in one of the accepted forms (exposed for tests).
  static bool authorized(const ServerRequest& r, const std::string& token);

 private:
  boost::asio::io_context& io_;
  std::optional<std::string> token_;
  Metrics& metrics_;
  std::shared_ptr<std::atomic<bool>> stopping_ = std::make_shared<std::atomic<bool>>(false);
  std::map<std::string, IngressRoute> routes_;  // by source
};

}  // namespace sluice
