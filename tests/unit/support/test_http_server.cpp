#include "tests/unit/support/test_http_server.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>

#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

namespace sluice::test {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r");
  auto e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::string serialize(const CannedResponse& r) {
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " Canned\r\n";
  for (auto& [k, v] : r.headers) out += k + ": " + v + "\r\n";
  if (r.close) out += "Connection: close\r\n";
  if (r.chunks.empty()) {
    out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n\r\n" + r.body;
    return out;
  }
  out += "Transfer-Encoding: chunked\r\n\r\n";
  char size[32];
  for (auto& c : r.chunks) {
    if (c.empty()) continue;  // an empty chunk would end the body
    std::snprintf(size, sizeof size, "%zx\r\n", c.size());
    out += size + c + "\r\n";
  }
  return out + "0\r\n\r\n";
}

}  // namespace

// One connection: read a request head, its body, answer, repeat while kept alive.
class TestHttpServer::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(TestHttpServer& server, tcp::socket socket, std::size_t number)
      : server_(server), socket_(std::move(socket)), number_(number) {}

  void readHead() {
    asio::async_read_until(
        socket_, buf_, "\r\n\r\n",
        [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
          if (!ec) self->onHead(n);
        });
  }

 private:
  void onHead(std::size_t n) {
    std::string head(asio::buffers_begin(buf_.data()), asio::buffers_begin(buf_.data()) + n);
    buf_.consume(n);
    req_ = RecordedRequest{};
    req_.connection = number_;
    auto eol = head.find("\r\n");
    auto line = head.substr(0, eol);
    auto sp1 = line.find(' '), sp2 = line.rfind(' ');
    if (sp1 == std::string::npos || sp2 == sp1) return;  // garbage: drop the connection
    req_.method = line.substr(0, sp1);
    req_.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    for (auto pos = eol + 2; pos < head.size();) {
      auto end = head.find("\r\n", pos);
      auto h = head.substr(pos, end - pos);
      pos = end + 2;
      auto colon = h.find(':');
      if (colon == std::string::npos) continue;
      req_.headers[lower(h.substr(0, colon))] = trim(h.substr(colon + 1));
    }
    std::size_t length = 0;
    if (auto* cl = req_.header("content-length")) length = std::strtoull(cl->c_str(), nullptr, 10);
    if (auto* ex = req_.header("expect"); ex && lower(*ex) == "100-continue")
      asio::write(socket_, asio::buffer(std::string("HTTP/1.1 100 Continue\r\n\r\n")));
    std::size_t have = std::min(length, buf_.size());
    auto missing = length - have;
    asio::async_read(
        socket_, buf_, asio::transfer_exactly(missing),
        [self = shared_from_this(), length](boost::system::error_code ec, std::size_t) {
          if (!ec) self->onBody(length);
        });
  }

  void onBody(std::size_t length) {
    req_.body.assign(asio::buffers_begin(buf_.data()), asio::buffers_begin(buf_.data()) + length);
    buf_.consume(length);
    auto answer = server_.handle(req_);
    if (!answer) {
      // Never answer: keep reading so the session lives until the client or the server ends it.
      readHead();
      return;
    }
    auto conn = req_.header("connection");
    close_ = answer->close || (conn && lower(*conn) == "close");
    out_ = serialize(*answer);
    asio::async_write(socket_, asio::buffer(out_),
                      [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                        if (ec) return;
                        if (self->close_) {
                          boost::system::error_code ignored;
                          self->socket_.shutdown(tcp::socket::shutdown_both, ignored);
                          return;
                        }
                        self->readHead();
                      });
  }

  TestHttpServer& server_;
  tcp::socket socket_;
  std::size_t number_;
  asio::streambuf buf_;
  RecordedRequest req_;
  std::string out_;
  bool close_ = false;
};

TestHttpServer::TestHttpServer()
    : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
  port_ = acceptor_.local_endpoint().port();
  handler_ = [](const RecordedRequest&) { return CannedResponse{200, {}, "ok"}; };
  accept();
  thread_ = std::thread([this] { io_.run(); });
}

TestHttpServer::~TestHttpServer() {
  io_.stop();
  thread_.join();
  // Sessions are owned by their pending handlers; io_'s destructor closes their sockets.
}

std::string TestHttpServer::url(const std::string& target) const {
  return "http://127.0.0.1:" + std::to_string(port_) + target;
}

void TestHttpServer::setHandler(Handler h) {
  std::lock_guard lock(mu_);
  handler_ = std::move(h);
}

void TestHttpServer::respondWith(CannedResponse r) {
  setHandler([r](const RecordedRequest&) { return r; });
}

std::vector<RecordedRequest> TestHttpServer::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

std::size_t TestHttpServer::requestCount() const {
  std::lock_guard lock(mu_);
  return requests_.size();
}

std::size_t TestHttpServer::connectionsAccepted() const {
  std::lock_guard lock(mu_);
  return connections_;
}

void TestHttpServer::accept() {
  acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (ec) return;
    std::size_t number;
    {
      std::lock_guard lock(mu_);
      number = ++connections_;
    }
    std::make_shared<Session>(*this, std::move(socket), number)->readHead();
    accept();
  });
}

std::optional<CannedResponse> TestHttpServer::handle(RecordedRequest& req) {
  Handler h;
  {
    std::lock_guard lock(mu_);
    requests_.push_back(req);
    h = handler_;
  }
  return h(req);  // outside the lock: a handler may call the accessors
}

std::uint16_t unusedPort() {
  asio::io_context io;
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.local_endpoint().port();  // closed when `a` goes out of scope
}

}  // namespace sluice::test
