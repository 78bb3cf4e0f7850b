// The live feed over HttpServer::websocket(): lws's handshake and framing, seen from a raw socket.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "daemon/http_server.hpp"
#include "daemon/live_feed.hpp"

namespace sluice {
namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr auto kDeadline = std::chrono::seconds(10);

class RawClient {
 public:
  explicit RawClient(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~RawClient() { ::close(fd_); }
  bool connected() const { return connected_; }
  void send(const std::string& s) { ASSERT_EQ(::write(fd_, s.data(), s.size()), static_cast<ssize_t>(s.size())); }
  // Reads until `n` bytes are buffered or the peer closes / the deadline passes.
  bool fill(std::size_t n) {
    auto end = SteadyClock::now() + kDeadline;
    while (buf_.size() < n) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - SteadyClock::now()).count();
      pollfd p{fd_, POLLIN, 0};
      if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
      char tmp[4096];
      ssize_t got = ::read(fd_, tmp, sizeof tmp);
      if (got <= 0) return false;
      buf_.append(tmp, static_cast<std::size_t>(got));
    }
    return true;
  }
  std::string head() {  // the handshake answer's header block
    auto end = SteadyClock::now() + kDeadline;
    while (buf_.find("\r\n\r\n") == std::string::npos && SteadyClock::now() < end)
      if (!fill(buf_.size() + 1)) break;
    auto at = buf_.find("\r\n\r\n");
    if (at == std::string::npos) return buf_;
    std::string h = buf_.substr(0, at);
    buf_.erase(0, at + 4);
    return h;
  }
  // One unmasked server frame: (opcode, payload); opcode -1 when none arrived.
  std::pair<int, std::string> frame() {
    if (!fill(2)) return {-1, ""};
    int op = buf_[0] & 0x0F;
    std::size_t len = static_cast<unsigned char>(buf_[1]) & 0x7F, hdr = 2;
    if (len == 126) {
      if (!fill(4)) return {-1, ""};
      len = (static_cast<unsigned char>(buf_[2]) << 8) | static_cast<unsigned char>(buf_[3]);
      hdr = 4;
    }
    if (!fill(hdr + len)) return {-1, ""};
    std::string payload = buf_.substr(hdr, len);
    buf_.erase(0, hdr + len);
    return {op, payload};
  }

 private:
  int fd_;
  bool connected_ = false;
  std::string buf_;
};

const std::string kUpgrade =
    "GET /live HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

TEST(LiveFeedWebSocket, HandshakeAndMessagesInOrder) {
  LiveFeedHub hub(LiveFeedHub::Options{});
  HttpServer server(HttpServerOptions{"127.0.0.1:0"});
  server.websocket("/live", [&hub](const ServerRequest& r, std::function<void()> wake)
                                -> std::unique_ptr<WsStream> {
    if (r.headers.count("origin")) return nullptr;
    struct S final : WsStream {
      std::shared_ptr<LiveSubscriber> sub;
      std::optional<std::string> next() override { return sub->next(); }
    };
    auto s = std::make_unique<S>();
    s->sub = hub.subscribe(std::move(wake));
    s->sub->push("hello");
    return s;
  });
  server.start();

  RawClient c(server.port());
  ASSERT_TRUE(c.connected());
  c.send(kUpgrade + "\r\n");
  std::string head = c.head();
  EXPECT_NE(head.find("101"), std::string::npos) << head;
  // RFC 6455 §1.3's example key and its answer.
  EXPECT_NE(head.find("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), std::string::npos) << head;
  EXPECT_EQ(c.frame(), std::make_pair(1, std::string("hello")));
  // Published from another thread after the client waits: the wake gets it out.
  hub.publish(std::string(300, 'x'));  // a 16-bit length
  hub.publish("{\"kind\":\"event\"}");
  EXPECT_EQ(c.frame(), std::make_pair(1, std::string(300, 'x')));
  EXPECT_EQ(c.frame(), std::make_pair(1, std::string("{\"kind\":\"event\"}")));

  RawClient refused(server.port());
  refused.send(kUpgrade + "Origin: https://evil.example\r\n\r\n");
  EXPECT_EQ(refused.head().find("101"), std::string::npos);

  RawClient plain(server.port());
  plain.send("GET /live HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(plain.head().find("426"), std::string::npos);
}

}  // namespace
}  // namespace sluice
