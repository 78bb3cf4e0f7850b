#pragma once
// The OSCAR sink's config (`type: oscar`): one OSCAR service invocation per event
// (COMPAT.md §3.2).
//
// Invariants:
//  - Reads only the sink's own keys and ends with finish(): an unknown key names its path.
//  - Exactly one credential: `token`/`token_file` (a service token or an OIDC access token,
//    sent as Bearer), or `username` + `password`/`password_file` (OSCAR's basic-auth user, with
//    which the service token is looked up). Secrets are never printed.
//  - `confirm: completion` only with `mode: async` (a sync call's answer is its completion).
#include <memory>
#include <string>

#include "daemon/config_reader.hpp"
#include "daemon/http_auth.hpp"
#include "daemon/payload_format.hpp"
#include "daemon/sink.hpp"

namespace sluice::sinks::oscar {

enum class Mode { Async, Sync };  // POST /job/{service} | POST /run/{service}
enum class Confirm { Accepted, Completion };

struct OscarConfig {
  std::string endpoint;  // without a trailing '/'
  std::string service;
  std::string owner;  // ?owner= (several same-named services visible to an OIDC user)
  Mode mode = Mode::Async;
  Confirm confirm = Confirm::Accepted;
  PayloadFormat format = PayloadFormat::S3;
  HttpAuthConfig auth;           // token / token_file, or username + password; ca_file, ca_path
  bool job_ids = true;           // async: send X-Delegated-Job-ID (a duplicate never runs twice)
  Duration poll_interval{5000};  // completion: how often the job list is read
  std::uint64_t max_output = 1 << 20;  // sync: bytes of the answer kept as the delivery's output
};

class OscarSpec final : public SinkSpec {
 public:
  OscarConfig config;
  bool carries(EventType t) const override { return formatCarries(config.format, t); }
  std::unique_ptr<Sink> create(SinkContext& ctx) const override;  // oscar_sink.cpp
};

std::unique_ptr<SinkSpec> parseOscarSpec(MapReader& m);

}  // namespace sluice::sinks::oscar
