#include "daemon/http_auth.hpp"

#include <unistd.h>

#include <filesystem>

namespace sluice {
namespace {

// A certificate, key or CA that cannot be read is a config error now, not a TLS failure at
// the first request (libcurl's message would not name the key).
void mustRead(MapReader& m, const std::string& key, const std::string& path, bool dir) {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(st))
    m.error(key, "cannot read " + path + ": no such file");
  else if (dir != std::filesystem::is_directory(st))
    m.error(key, path + (dir ? " is not a directory" : " is not a file"));
  else if (::access(path.c_str(), R_OK) != 0)
    m.error(key, "cannot read " + path + ": permission denied");
}

}  // namespace

std::string HttpAuthConfig::describe() const {
  std::string what;
  if (!username.empty()) what = "basic auth as " + username;
  if (!token_file.empty()) what = "token from " + token_file;
  if (token) what = "token from the config";
  if (!cert.empty()) what += std::string(what.empty() ? "" : ", ") + "client certificate " + cert;
  return what.empty() ? "no credentials" : what;
}

void parseHttpAuth(MapReader& m, HttpAuthConfig& c, const std::string& token_key) {
  c.username = m.string("username", "");
  c.password = m.secret("password");
  if (!c.username.empty() && !c.password) m.error("username", "needs password or password_file");
  if (c.username.empty() && c.password) m.error("password", "needs username");
  const std::string file_key = token_key + "_file";
  if (m.has(file_key)) {
    // Kept as a path: read at every request, so a renewed token is used without a reload.
    auto p = m.pathValue(file_key);
    if (p && p->empty()) m.error(file_key, "must not be empty");
    if (p && !p->empty()) {
      SecretFile probe(*p);
      auto v = probe.read();
      if (!v.error.empty()) m.error(file_key, v.error);  // it names the file
      c.token_file = p->string();
    }
  } else {
    c.token = m.secret(token_key);
  }
  if (!c.username.empty() && (!c.token_file.empty() || c.token))
    m.error(file_key, "give either username/password or " + token_key + ", not both");
  if (auto cert = m.pathValue("cert")) mustRead(m, "cert", c.cert = cert->string(), false);
  if (auto key = m.pathValue("key")) mustRead(m, "key", c.key = key->string(), false);
  if (c.cert.empty() && !c.key.empty()) m.error("key", "needs cert");
  if (!c.cert.empty() && c.key.empty()) c.key = c.cert;  // a grid proxy: both in one file
}

void parseTlsTrust(MapReader& m, HttpAuthConfig& c) {
  if (auto ca = m.pathValue("ca_file")) mustRead(m, "ca_file", c.ca_file = ca->string(), false);
  if (auto ca = m.pathValue("ca_path")) mustRead(m, "ca_path", c.ca_path = ca->string(), true);
}

HttpAuth::HttpAuth(HttpAuthConfig c) : c_(std::move(c)) {
  if (!c_.token_file.empty()) token_file_ = std::make_unique<SecretFile>(c_.token_file);
}

std::string HttpAuth::apply(HttpRequest& req) {
  req.verify_tls = true;
  req.ca_file = c_.ca_file;
  req.ca_path = c_.ca_path;
  req.client_cert = c_.cert;
  req.client_key = c_.key;
  if (!c_.username.empty())
    req.basic_auth = std::make_pair(c_.username, c_.password ? c_.password->reveal() : "");
  std::string token, error;
  if (c_.token) token = c_.token->reveal();
  if (token_file_) {
    auto v = token_file_->read();
    token = v.secret;
    if (!v.error.empty()) error = "token file " + c_.token_file + ": " + v.error;
  }
  if (!token.empty())
    req.headers.emplace_back(c_.token_header,
                             c_.token_header == "Authorization" ? "Bearer " + token : token);
  return error;
}

}  // namespace sluice
