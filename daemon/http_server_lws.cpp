// lws 4.1 specifics for HttpServer; see http_server_lws.hpp.
#include "daemon/http_server_lws.hpp"

#include <arpa/inet.h>
#include <libwebsockets.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string_view>
#include <system_error>
#include <utility>

namespace sluice::http_lws {
namespace {

std::string copyToken(lws* wsi, lws_token_indexes tok) {
  int n = lws_hdr_total_length(wsi, tok);  // counts the ',' lws puts between repeats
  if (n <= 0) return {};
  std::string v(static_cast<std::size_t>(n) + 1, '\0');
  int got = lws_hdr_copy(wsi, v.data(), n + 1, tok);
  v.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
  return v;
}

std::string methodOf(lws* wsi) {
  static constexpr std::pair<lws_token_indexes, const char*> kMethods[] = {
      {WSI_TOKEN_GET_URI, "GET"},       {WSI_TOKEN_POST_URI, "POST"},
      {WSI_TOKEN_PUT_URI, "PUT"},       {WSI_TOKEN_PATCH_URI, "PATCH"},
      {WSI_TOKEN_DELETE_URI, "DELETE"}, {WSI_TOKEN_OPTIONS_URI, "OPTIONS"},
      {WSI_TOKEN_HEAD_URI, "HEAD"}};
  for (auto [tok, name] : kMethods)
    if (lws_hdr_total_length(wsi, tok) > 0) return name;
  return {};
}

// lws has already split the query at '&' / ';', decoded %xx and '+', and turned an encoded '='
// in a name into '_'. Re-encoding each argument gives a query any standard parser reads back.
std::string queryOf(lws* wsi) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
  if (total <= 0) return {};
  std::string frag(static_cast<std::size_t>(total) + 1, '\0'), q;
  for (int i = 0;; ++i) {
    int n = lws_hdr_copy_fragment(wsi, frag.data(), total + 1, WSI_TOKEN_HTTP_URI_ARGS, i);
    if (n < 0) break;
    if (i > 0) q += '&';
    bool seen_eq = false;
    for (unsigned char c : std::string_view(frag.data(), static_cast<std::size_t>(n))) {
      bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.' || c == '_' || c == '~' || (c == '=' && !seen_eq);
      seen_eq = seen_eq || c == '=';
      if (keep) {
        q += static_cast<char>(c);
      } else {
        q += '%';
        q += kHex[c >> 4];
        q += kHex[c & 15];
      }
    }
  }
  return q;
}

// Every header lws knows (about 90, see lws_token_to_string) plus the custom ones asked for.
std::map<std::string, std::string> headersOf(lws* wsi, const std::vector<std::string>& custom) {
  std::map<std::string, std::string> h;
  for (int i = 0; i < WSI_TOKEN_COUNT; ++i) {
    auto tok = static_cast<lws_token_indexes>(i);
    auto* name = reinterpret_cast<const char*>(lws_token_to_string(tok));
    if (!name || name[0] == ':' || lws_hdr_total_length(wsi, tok) <= 0) continue;
    std::string_view n(name);  // methods, versions and h2 pseudo-headers don't end in ':'
    if (n.empty() || n.back() != ':') continue;
    h.emplace(std::string(n.substr(0, n.size() - 1)), copyToken(wsi, tok));
  }
  for (const auto& c : custom) {
    std::string key = lower(c) + ":";  // lws stores unknown names lower-cased, with the colon
    int klen = static_cast<int>(key.size());
    int n = lws_hdr_custom_length(wsi, key.c_str(), klen);
    if (n < 0) continue;
    std::string v(static_cast<std::size_t>(n) + 1, '\0');
    int got = lws_hdr_custom_copy(wsi, v.data(), n + 1, key.c_str(), klen);
    if (got < 0) continue;
    v.resize(static_cast<std::size_t>(got));
    h[key.substr(0, key.size() - 1)] = std::move(v);
  }
  return h;
}

}  // namespace

ListenAddr parseListen(const std::string& listen) {
  std::string host;
  std::string_view port;
  if (!listen.empty() && listen[0] == '[') {
    auto end = listen.find(']');
    if (end == std::string::npos || end + 1 >= listen.size() || listen[end + 1] != ':')
      throw std::runtime_error("listen: expected [address]:port, got '" + listen + "'");
    host = listen.substr(1, end - 1);
    port = std::string_view(listen).substr(end + 2);
  } else {
    auto colon = listen.rfind(':');
    if (colon == std::string::npos)
      throw std::runtime_error("listen: expected host:port, got '" + listen + "'");
    host = listen.substr(0, colon);
    if (host.find(':') != std::string::npos)
      throw std::runtime_error("listen: put an IPv6 address in brackets, like [::1]:8787");
    port = std::string_view(listen).substr(colon + 1);
  }
  ListenAddr a;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), a.port);
  if (port.empty() || ec != std::errc() || p != port.data() + port.size() || a.port < 0 ||
      a.port > 65535)
    throw std::runtime_error("listen: bad port in '" + listen + "'");
  if (host.empty()) {  // all interfaces: dual-stack where the host has IPv6 at all
    int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
    a.family = fd >= 0 ? AF_INET6 : AF_INET;
    if (fd >= 0) ::close(fd);
    return a;
  }
  // lws takes only numeric addresses or interface names, and binds an IPv4 literal given to its
  // IPv6 socket to all interfaces; so resolve here and pick the socket family ourselves.
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res); rc != 0)
    throw std::runtime_error("listen: cannot resolve '" + host + "': " + ::gai_strerror(rc));
  const addrinfo* pick = res;  // prefer IPv4: "localhost" should mean what clients try first
  for (const addrinfo* ai = res; ai; ai = ai->ai_next)
    if (ai->ai_family == AF_INET) {
      pick = ai;
      break;
    }
  char buf[INET6_ADDRSTRLEN] = {};
  const void* src =
      pick->ai_family == AF_INET6
          ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(pick->ai_addr)->sin6_addr)
          : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(pick->ai_addr)->sin_addr);
  ::inet_ntop(pick->ai_family, src, buf, sizeof buf);
  a.family = pick->ai_family;
  a.host = buf;
  ::freeaddrinfo(res);
  return a;
}

// lws reports a failed listener only as a missing vhost; repeat the bind to learn why.
std::string bindError(const ListenAddr& a) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (a.family == AF_INET6) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(static_cast<std::uint16_t>(a.port));
    if (!a.host.empty()) ::inet_pton(AF_INET6, a.host.c_str(), &s6->sin6_addr);
    len = sizeof *s6;
  } else {
    auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(static_cast<std::uint16_t>(a.port));
    if (!a.host.empty()) ::inet_pton(AF_INET, a.host.c_str(), &s4->sin_addr);
    len = sizeof *s4;
  }
  int fd = ::socket(a.family, SOCK_STREAM, 0);
  if (fd < 0) return std::system_category().message(errno);
  int one = 1;  // as lws does, so TIME_WAIT leftovers don't count as "in use"
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&ss), len);
  int err = errno;
  ::close(fd);
  return rc == 0 ? "libwebsockets could not set up the listener"
                 : std::system_category().message(err);
}

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

ServerRequest readRequest(lws* wsi, const char* uri, std::size_t len,
                          const std::vector<std::string>& custom_headers) {
  ServerRequest r;
  r.method = methodOf(wsi);
  r.path.assign(uri ? uri : "", uri ? len : 0);
  r.query = queryOf(wsi);
  r.headers = headersOf(wsi, custom_headers);
  char peer[128] = {};
  if (const char* p = lws_get_peer_simple(wsi, peer, sizeof peer)) r.peer = p;
  // On a dual-stack socket IPv4 clients appear as ::ffff:a.b.c.d; report them as IPv4.
  if (r.peer.rfind("::ffff:", 0) == 0 && r.peer.find('.') != std::string::npos) r.peer.erase(0, 7);
  return r;
}

bool wantsContinue(lws* wsi, const ServerRequest& r) {
  auto expect = r.headers.find("expect");
  return expect != r.headers.end() && lower(expect->second) == "100-continue" &&
         copyToken(wsi, WSI_TOKEN_HTTP) == "HTTP/1.1";  // never to HTTP/1.0 or h2 streams
}

bool sendableHeader(const std::string& name, const std::string& value) {
  std::string n = lower(name);
  return !n.empty() && n.find_first_of(": \r\n") == std::string::npos &&
         value.find_first_of("\r\n") == std::string::npos && n != "content-length" &&
         n != "content-type" && n != "connection" && n != "transfer-encoding";
}

}  // namespace sluice::http_lws
