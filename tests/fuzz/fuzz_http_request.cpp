// Fuzzes the embedded HTTP server's request handling: request line, path routing, query,
// headers (Content-Length, Transfer-Encoding, Expect, custom names), bodies and the body limits
// (the server's and a prefix route's own).
// That handling lives in libwebsockets callbacks (daemon/http_server.cpp), so the real
// HttpServer runs once on 127.0.0.1:0 and each input is sent as raw bytes over loopback; the
// handlers echo what they were given back into the response, so hostile header values also
// reach the response writer.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>

#include "daemon/http_server.hpp"
#include "daemon/http_server_lws.hpp"
#include "tests/fuzz/check.hpp"

namespace {

constexpr std::size_t kMaxBody = 1024;  // small, so that the 413 path is reachable

sluice::ServerResponse echo(const sluice::ServerRequest& r) {
  sluice::ServerResponse resp;
  resp.body = r.method + " " + r.path + "?" + r.query + " body=" + std::to_string(r.body.size());
  FUZZ_CHECK(r.body.size() <= kMaxBody);
  for (const auto& [k, v] : r.headers) {
    if (sluice::http_lws::sendableHeader(k, v))
      FUZZ_CHECK(k.find_first_of(":\r\n") == std::string::npos &&
                 v.find_first_of("\r\n") == std::string::npos);
    resp.headers["x-echo-" + k] = v;  // the writer must drop what could split the response
  }
  if (auto it = r.headers.find("x-status"); it != r.headers.end())
    resp.status = std::atoi(it->second.c_str());
  if (auto it = r.headers.find("x-type"); it != r.headers.end()) resp.content_type = it->second;
  return resp;
}

sluice::HttpServer* startServer() {
  sluice::HttpServerOptions opts;
  opts.listen = "127.0.0.1:0";
  opts.max_body = kMaxBody;
  opts.custom_headers = {"x-status", "x-type", "x-amz-id", "ce-id"};
  // Never destroyed: a server wedged by an input must not also hang the fuzzer's exit.
  static auto& server = *new sluice::HttpServer(opts);
  auto handler = [](const sluice::ServerRequest& r, sluice::Responder respond) {
    respond(echo(r));
  };
  server.route("GET", "/healthz", handler);
  server.route("POST", "/ingress", handler);
  server.route("PUT", "/ingress", handler);
  server.route("", "/any", handler);
  sluice::RouteOptions below;  // an ingress-like route: prefix, own body limit and headers
  below.prefix = true;
  below.max_body = kMaxBody / 2;
  below.headers = {"x-amz-sns-message-type", "ce-type"};
  server.route("POST", "/ingest/src", handler, below);
  server.route("GET", "/throws", [](const sluice::ServerRequest&, sluice::Responder) {
    throw std::runtime_error("a handler that throws still gets its client an answer");
  });
  server.start();
  return &server;
}

std::uint16_t port = 0;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  port = startServer()->port();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  FUZZ_CHECK(fd >= 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // Thousands of connections a second leave as many in TIME_WAIT for a minute: spread them over
  // 127.0.0.0/8 source addresses so that no 4-tuple is needed again while it waits.
  static std::uint32_t next = 0;
  sockaddr_in src{};
  src.sin_family = AF_INET;
  src.sin_addr.s_addr = htonl(0x7F000002u + (next++ % 0xFFFF00u));
  FUZZ_CHECK(::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) == 0, "bind: errno %d",
             errno);
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  if (rc < 0 && errno == EINTR) {  // libFuzzer's -timeout alarm; the connect goes on regardless
    pollfd p{fd, POLLOUT, 0};
    while (::poll(&p, 1, 5000) < 0 && errno == EINTR) {
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    rc = err ? -1 : 0;
    errno = err;
  }
  FUZZ_CHECK(rc == 0, "connect: errno %d", errno);
  for (std::size_t sent = 0; sent < size;) {
    ssize_t n = ::send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;  // libFuzzer's -timeout alarm
    if (n <= 0) break;                      // the server may close early (bad framing, 413)
    sent += static_cast<std::size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  std::string answer;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) answer.append(buf, static_cast<std::size_t>(n));
  int err = n < 0 ? errno : 0;
  ::close(fd);
  // The client has said all it will (half-close): the server must answer what it can and close.
  FUZZ_CHECK(n == 0 || err == ECONNRESET, "no close within 5 s (errno %d); answer so far: %s", err,
             answer.c_str());
  FUZZ_CHECK(answer.empty() || answer.rfind("HTTP/1.", 0) == 0, "answer: %s", answer.c_str());
  return 0;
}
