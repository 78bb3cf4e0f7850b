#pragma once
// The webhook sink's config (`type: webhook`): one HTTP request per delivered event.
//
// Invariants:
//  - Parsing reads only the sink's own keys (the core has read name, type and the delivery
//    policy) and ends with finish(), so an unknown key is an error naming its path.
//  - No I/O except reading `*_file` secrets and checking that `ca_file` is readable; relative
//    paths resolve against the config file's directory.
//  - At most one auth kind; secrets live only in Secret values and are never printed.
//  - An HMAC secret is a Standard Webhooks secret (`whsec_` + base64) and is kept decoded, so
//    a malformed one fails `sluice check` rather than every delivery.
//  - User headers are plain tokens without CR/LF or ':' and never replace what sluice itself
//    must control (X-Sluice-*, Content-Length, Host, Transfer-Encoding, the auth headers).
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/config_reader.hpp"
#include "daemon/http_client.hpp"
#include "daemon/payload_format.hpp"
#include "daemon/sink.hpp"

namespace sluice::sinks::webhook {


enum class AuthKind { None, Bearer, Basic, Hmac };

struct WebhookAuth {
  AuthKind kind = AuthKind::None;
  Secret token;  // bearer
  std::string username;
  Secret password;  // basic
  Secret hmac_key;  // the decoded bytes of the `whsec_` secret (Standard Webhooks signatures)
};

struct WebhookConfig {
  std::string url;
  PayloadFormat format = PayloadFormat::CloudEvents;
  HttpHeaders headers;  // extra request headers, after sluice's own
  WebhookAuth auth;
  std::string ca_file;  // absolute
  bool tls_verify = true;
  HttpVersion http_version = HttpVersion::Auto;
  std::string method = "POST";  // POST | PUT
};

class WebhookSpec final : public SinkSpec {
 public:
  WebhookConfig config;
  bool carries(EventType t) const override { return formatCarries(config.format, t); }
  // Defined with the runtime (webhook_sink.cpp).
  std::unique_ptr<Sink> create(SinkContext& ctx) const override;
};

std::unique_ptr<SinkSpec> parseWebhookSpec(MapReader& m);

// The signing key of a Standard Webhooks secret: the bytes base64-encoded after `whsec_`.
// nullopt when `secret` is not `whsec_` + canonical, padded standard base64 of >= 1 byte.
std::optional<std::string> decodeWebhookSecret(std::string_view secret);

}  // namespace sluice::sinks::webhook
