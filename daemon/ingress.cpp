#include "daemon/ingress.hpp"

#include <boost/asio/post.hpp>
#include <cctype>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "daemon/crypto.hpp"
#include "daemon/event.hpp"
#include "daemon/metrics.hpp"
#include "daemon/sigv4.hpp"

namespace sluice {
namespace {

// The one answer of a request. The last copy to go without having answered answers 503, so
// a request whose handler never ran (loop stopped) or dropped it still gets a reply.
class Answer {
 public:
  Answer(Responder respond, Metrics& metrics, std::string source)
      : respond_(std::move(respond)), metrics_(metrics), source_(std::move(source)) {}
  Answer(const Answer&) = delete;
  Answer& operator=(const Answer&) = delete;
  ~Answer() {
    if (!done_.exchange(true))
      send(ServerResponse{503,
                          "text/plain; charset=utf-8",
                          "not taken: sluice is stopping or could not store it; send it again\n",
                          {{"Retry-After", "5"}}});
  }
  void operator()(ServerResponse r) {
    if (!done_.exchange(true)) send(std::move(r));
  }

 private:
  void send(ServerResponse r) {
    metrics_
        .counter("sluice_ingress_requests_total", "Push ingress requests answered, by status",
                 {{"source", source_}, {"code", std::to_string(r.status)}})
        .inc();
    respond_(std::move(r));
  }
  Responder respond_;
  Metrics& metrics_;
  std::string source_;
  std::atomic<bool> done_{false};
};

}  // namespace

Ingress::Ingress(boost::asio::io_context& io, std::optional<std::string> token, Metrics& metrics)
    : io_(io), token_(std::move(token)), metrics_(metrics) {}

void Ingress::add(const std::string& source, IngressRoute route) {
  if (!token_ || token_->empty())
    throw std::runtime_error("source \"" + source +
                             "\" takes pushed events: set http.ingress_token_file");
  if (!route.handler) throw std::logic_error("Ingress::add: no handler for " + source);
  if (!routes_.emplace(source, std::move(route)).second)
    throw std::logic_error("Ingress::add: a second route for source " + source);
}

bool Ingress::authorized(const ServerRequest& r, const std::string& token) {
  bool ok = false;  // every form is checked, so the time does not tell which one was tried
  if (auto bearer = authorization(r, "bearer")) {
    ok |= constantTimeEqual(*bearer, token);
  } else if (auto basic = authorization(r, "basic")) {
    if (auto decoded = base64Decode(*basic)) {
      auto colon = decoded->find(':');
      if (colon != std::string::npos)
        ok |= constantTimeEqual(std::string_view(*decoded).substr(colon + 1), token);
    }
  }
  if (auto t = queryValue(r.query, "token")) ok |= constantTimeEqual(*t, token);
  return ok;
}

void Ingress::attach(HttpServer& server) {
  for (auto& [source, route] : routes_) {
    RouteOptions opts;
    opts.prefix = true;
    opts.max_body = route.max_body;
    opts.headers = route.headers;
    auto handler = route.handler;
    server.route(
        route.method, pathOf(source),
        [this, source = source, handler, stopping = stopping_](const ServerRequest& r,
                                                               Responder respond) {
          auto answer = std::make_shared<Answer>(std::move(respond), metrics_, source);
          if (!authorized(r, *token_)) {
            (*answer)(ServerResponse{401,
                                     "text/plain; charset=utf-8",
                                     "missing or wrong ingress token\n",
                                     {{"WWW-Authenticate", "Bearer realm=\"sluice\""}}});
            return;
          }
          if (stopping->load()) return;  // Answer's destructor: 503, the sender keeps it
          // The server clears its copy after this call returns: the handler gets its own.
          boost::asio::post(io_, [handler, req = r, answer]() mutable {
            handler(std::move(req), [answer](ServerResponse resp) { (*answer)(std::move(resp)); });
          });
        },
        opts);
  }
}

}  // namespace sluice
