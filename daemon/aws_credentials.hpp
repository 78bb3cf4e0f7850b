#pragma once
// Where AWS-style credentials come from, for every client that signs with SigV4 (S3, MinIO,
// SQS, Lambda). The chain, as the AWS SDKs walk it (first match wins):
//   1. the config: `access_key` + `secret_key`/`secret_key_file` (+ `session_token[_file]`);
//   2. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN;
//   3. the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, default ~/.aws/credentials),
//      then the shared config file (AWS_CONFIG_FILE, default ~/.aws/config), profile from
//      the config's `profile`, else AWS_PROFILE, else "default";
//   4. the container credentials endpoint (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI on
//      169.254.170.2, or AWS_CONTAINER_CREDENTIALS_FULL_URI; AWS_CONTAINER_AUTHORIZATION_TOKEN
//      or _TOKEN_FILE), fetched over the process's HttpClient and refreshed before it expires.
// A profile named in the config must exist (steps 1, 2 and 4 are then skipped). Profiles that
// assume roles or run processes (role_arn, credential_process, sso_*) are refused by name.
// EC2 instance metadata (IMDS) is not walked.
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/clock.hpp"
#include "daemon/config_reader.hpp"
#include "daemon/http_client.hpp"
#include "daemon/sigv4.hpp"

namespace sluice {

struct AwsCredentialsConfig {
  std::string access_key;
  std::optional<Secret> secret_key;
  std::optional<Secret> session_token;
  std::string profile;  // "": AWS_PROFILE or "default"
};

// Reads access_key, secret_key[_file], session_token[_file] and profile from `m` (the keys
// sit where the source or sink puts them: at its top level or in `credentials:`).
AwsCredentialsConfig parseAwsCredentials(MapReader& m);
// The same, from `credentials: {...}` when present, else from `m`'s top level (CONFIG.md shows
// both).
AwsCredentialsConfig parseAwsCredentialsBlock(MapReader& m);

using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
EnvLookup processEnv();

// Where a chain ends: fixed keys, or an endpoint to fetch them from.
struct AwsCredentialSource {
  std::string error;        // nothing found, or a profile that cannot be used
  std::string description;  // "environment", "profile x in /root/.aws/credentials", ...
  std::optional<AwsCredentials> fixed;
  std::string endpoint;             // container credentials URL
  std::string endpoint_token;       // Authorization header value for it
  std::string endpoint_token_file;  // or read from here at each fetch (rotated by the agent)
};
AwsCredentialSource resolveAwsCredentials(const AwsCredentialsConfig& cfg, const EnvLookup& env);

// "[section]" / "key = value" files as the AWS CLI writes them (comments: # and ;).
std::map<std::string, std::map<std::string, std::string>> parseAwsIni(const std::string& text);

// Hands out current credentials; for an endpoint, fetches them on first use and again from
// `refresh_before` ahead of their expiry. On the io thread only.
class AwsCredentialsProvider {
 public:
  using Callback = std::function<void(const AwsCredentials* creds, const std::string& error)>;
  AwsCredentialsProvider(boost::asio::io_context& io, HttpClient* http, AwsCredentialSource source,
                         const Clock& clock, std::int64_t refresh_before_ms = 10 * 60'000);
  // `cb` runs on the io thread, never inline: with credentials, or with why there are none.
  void get(Callback cb);
  const std::string& description() const { return source_.description; }

 private:
  void fetch();
  void finish(const std::string& error);
  boost::asio::io_context& io_;
  HttpClient* http_;
  AwsCredentialSource source_;
  const Clock& clock_;
  std::int64_t refresh_before_ms_;
  std::optional<AwsCredentials> current_;
  std::int64_t expires_ms_ = 0;  // 0: never
  std::int64_t retry_after_ms_ = 0;
  bool fetching_ = false;
  std::vector<Callback> waiting_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

 public:
  ~AwsCredentialsProvider() { *alive_ = false; }
};

// Signs `req` with the provider's current credentials for `scope` and sends it on `http`: the
// one way every AWS-style client (S3, SQS, Lambda) sends. `started` gets the transfer's id (for
// pause/resume/cancel). A request that cannot be signed ends in `done` with status 0 and the
// reason in `error`. On the io thread; `done` never runs inline.
void sendSigned(HttpClient& http, AwsCredentialsProvider& creds, const Clock& clock,
                SigV4Scope scope, HttpRequest req, std::function<void(HttpResponse)> done,
                std::function<void(std::uint64_t id)> started = {});

}  // namespace sluice
