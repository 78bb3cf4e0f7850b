#pragma once
// How a remote source (dCache, Onedata) or a sink (OSCAR) proves who it is and checks whom it
// talks to: HTTP Basic, a token from a file that is read again whenever it changes (short-lived
// OIDC tokens, macaroons, Onedata access tokens), an X.509 client certificate and key (a grid
// proxy holds both in one file), and the CA file or directory to verify the server with. TLS
// verification is always on.
//
// Config (a source's `auth:` mapping, or the keys at the source's top level where CONFIG.md
// puts them): `username` + `password`/`password_file`; `bearer`/`bearer_file` (sent as
// "Authorization: Bearer T"); `token_file` (sent in the source's own token header, e.g.
// Onedata's X-Auth-Token); `cert` + `key`; and beside it `ca_file`, `ca_path`.
// Secrets are never logged; an unreadable token file is reported without its contents.
#include <memory>
#include <optional>
#include <string>

#include "daemon/config_reader.hpp"
#include "daemon/http_client.hpp"
#include "daemon/secret_file.hpp"

namespace sluice {

struct HttpAuthConfig {
  std::string username;
  std::optional<Secret> password;
  std::string token_file;  // re-read when it changes
  std::optional<Secret> token;
  std::string token_header = "Authorization";  // "Authorization" sends "Bearer <token>"
  std::string cert, key;
  std::string ca_file, ca_path;
  bool empty() const { return username.empty() && token_file.empty() && !token && cert.empty(); }
  // What it is, for logs ("bearer token from /etc/sluice/desy.token"); never the secret.
  std::string describe() const;
};

// Reads the credential keys from `m` (see above) into `c`; at most one kind may be given
// (client certificates may go with a token: dCache then ignores the certificate). `token_key`
// names the token key a source documents ("bearer" for dCache, "token" for Onedata).
void parseHttpAuth(MapReader& m, HttpAuthConfig& c, const std::string& token_key);
// ca_file / ca_path, which sit beside `auth:`.
void parseTlsTrust(MapReader& m, HttpAuthConfig& c);

class HttpAuth {
 public:
  explicit HttpAuth(HttpAuthConfig c);
  // Adds the credentials and trust settings to `req`. Returns "" or why the token cannot be
  // read now (the last good token is still added while a rotation briefly removes the file).
  std::string apply(HttpRequest& req);
  const HttpAuthConfig& config() const { return c_; }

 private:
  HttpAuthConfig c_;
  std::unique_ptr<SecretFile> token_file_;
};

}  // namespace sluice
