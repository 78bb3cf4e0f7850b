#pragma once
// A small in-process HTTP/1.1 server for tests (Asio, its own io_context thread).
//
// Binds 127.0.0.1 port 0, records every request (method, target, lower-cased headers, body),
// answers each with what the handler returns (nullopt: never answer, keep the connection open),
// keeps connections alive unless told otherwise and counts accepted TCP connections so a test
// can prove connection reuse. Request bodies need a Content-Length (chunked uploads are not
// supported). The handler runs on the server thread; every accessor is thread-safe.
// Tests drive their client loop with runUntil() (tests/unit/support/loop.hpp), never sleeps.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace sluice::test {

struct RecordedRequest {
  std::string method;
  std::string target;                          // path and query, as sent
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
  std::size_t connection = 0;  // 1-based number of the connection it came on
  const std::string* header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? nullptr : &it->second;
  }
};

struct CannedResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // When not empty, the body is sent with Transfer-Encoding: chunked, one chunk per element.
  std::vector<std::string> chunks;
  bool close = false;  // close the connection after answering
};

class TestHttpServer {
 public:
  using Handler = std::function<std::optional<CannedResponse>(const RecordedRequest&)>;

  TestHttpServer();  // answers 200 "ok" until setHandler()/respondWith()
  ~TestHttpServer();
  TestHttpServer(const TestHttpServer&) = delete;
  TestHttpServer& operator=(const TestHttpServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url(const std::string& target = "/") const;

  void setHandler(Handler h);
  void respondWith(CannedResponse r);  // the same answer for every request

  std::vector<RecordedRequest> requests() const;
  std::size_t requestCount() const;
  std::size_t connectionsAccepted() const;

 private:
  class Session;
  void accept();
  std::optional<CannedResponse> handle(RecordedRequest& req);

  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  mutable std::mutex mu_;
  Handler handler_;
  std::vector<RecordedRequest> requests_;
  std::size_t connections_ = 0;
  std::thread thread_;
};

// A port on 127.0.0.1 that nothing listens on (bound, then closed): connecting is refused.
std::uint16_t unusedPort();

}  // namespace sluice::test
