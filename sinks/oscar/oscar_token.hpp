#pragma once
// The bearer token an OSCAR sink invokes its service with (COMPAT.md §3.2): a service token or
// an OIDC access token from the config or a file (read again when the file changes), or the
// service token looked up with OSCAR's basic-auth user at `GET /system/services/{service}`.
//
// Invariants:
//  - Every token carries a generation; refresh(g) after a 401 with generation g gets a newer
//    token when there is one (the file changed, or a new lookup), and says `stale` when the
//    same token is all there is (then the caller stops: "token rejected").
//  - Concurrent lookups are coalesced: one request, every waiter answered from it.
//  - Callbacks run on the io thread, never inline; the token is never logged.
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/http_auth.hpp"
#include "daemon/http_client.hpp"
#include "daemon/secret_file.hpp"

namespace sluice::sinks::oscar {

struct TokenResult {
  std::string token;  // "" when there is none
  std::uint64_t generation = 0;
  std::string error;       // why there is none (or why the file cannot be read now)
  bool permanent = false;  // the lookup was refused (401/403/404): retrying cannot help
  bool stale = false;      // refresh(): nothing newer than the rejected token
};

class OscarToken {
 public:
  using Callback = std::function<void(const TokenResult&)>;
  // `lookup_url`: {endpoint}/system/services/{service}, used with username/password.
  OscarToken(boost::asio::io_context& io, HttpClient& http, HttpAuthConfig auth,
             std::string lookup_url);
  ~OscarToken();
  OscarToken(const OscarToken&) = delete;
  OscarToken& operator=(const OscarToken&) = delete;

  void get(Callback cb);
  void refresh(std::uint64_t rejected_generation, Callback cb);
  // Adds the TLS trust and client certificate settings every OSCAR request needs.
  void applyTls(HttpRequest& req) const;
  // Basic credentials for OSCAR's /system routes, when configured.
  bool hasBasic() const { return !auth_.username.empty(); }
  void applyBasic(HttpRequest& req) const;
  void cancel();  // at shutdown: a lookup in flight ends; its waiters get an error

 private:
  TokenResult fromConfig();
  void lookup(Callback cb);
  void finishLookup(const HttpResponse& r);

  boost::asio::io_context& io_;
  HttpClient& http_;
  HttpAuthConfig auth_;
  std::string lookup_url_;
  std::unique_ptr<SecretFile> file_;
  std::string last_;  // the token last handed out (file or lookup)
  std::uint64_t generation_ = 0;
  bool looked_up_ = false;
  std::optional<std::uint64_t> lookup_id_;
  std::vector<Callback> waiting_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace sluice::sinks::oscar
