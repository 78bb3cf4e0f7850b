#pragma once
// Internal to HttpServer (daemon/http_server.cpp): where libwebsockets 4.1 needs translating —
// the listen address, a request read out of lws's header table, headers safe to send.
// readRequest()/wantsContinue() run on the server thread inside LWS_CALLBACK_HTTP, while lws
// still holds the headers; the rest is plain functions. Nothing here keeps state.
#include <string>
#include <vector>

#include "daemon/http_server.hpp"

struct lws;

namespace sluice::http_lws {

struct ListenAddr {
  std::string host;  // numeric address; empty = all interfaces
  int family = 0;    // AF_INET or AF_INET6: the socket lws must open
  int port = 0;
};

// "host:port", "[v6]:port", ":port"; host names are resolved here. Throws std::runtime_error.
ListenAddr parseListen(const std::string& listen);
// Why binding `a` fails, e.g. "Address already in use" (lws only says that it failed).
std::string bindError(const ListenAddr& a);

// Method, path, query, headers (custom ones by name) and peer; the body comes later.
ServerRequest readRequest(lws* wsi, const char* uri, std::size_t len,
                          const std::vector<std::string>& custom_headers);
// An HTTP/1.1 client waiting for "100 Continue" before it sends the body.
bool wantsContinue(lws* wsi, const ServerRequest& r);

std::string lower(std::string s);
// False for framing headers (the server owns them) and for anything that could split a response.
bool sendableHeader(const std::string& name, const std::string& value);

}  // namespace sluice::http_lws
