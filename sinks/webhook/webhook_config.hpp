#pragma once
// The webhook sink's config (`type: webhook`): one HTTP request per delivered event.
//
// Invariants:
//  - Parsing reads only the sink's own keys (the core has read name, type and the delivery
//    policy) and ends with finish(), so an unknown key is an error naming its path.
//  - No I/O except reading `*_file` secrets and checking that `ca_file` is readable.
//  - At most one auth kind; secrets live only in Secret values and are never printed.
//  - User headers are plain tokens without CR/LF or ':' and never replace what sluice itself
//    must control (X-Sluice-*, Content-Length, Host, Transfer-Encoding, the auth header).
#include <memory>
#include <optional>
#include <string>

#include "daemon/config_reader.hpp"
#include "daemon/http_client.hpp"
#include "daemon/sink.hpp"

namespace sluice::sinks::webhook {

// s3 and onetrigger are product formats whose payload builders are not here yet; the parser
// names them in its error instead of calling them unknown.
enum class Format { CloudEvents, CloudEventsBinary, Native };

enum class AuthKind { None, Bearer, Basic, Hmac };

struct WebhookAuth {
  AuthKind kind = AuthKind::None;
  Secret token;  // bearer
  std::string username;
  Secret password;  // basic
  Secret hmac_secret;
};

struct WebhookConfig {
  std::string url;
  Format format = Format::CloudEvents;
  HttpHeaders headers;  // extra request headers, after sluice's own
  WebhookAuth auth;
  std::string ca_file;
  bool tls_verify = true;
  HttpVersion http_version = HttpVersion::Auto;
  std::string method = "POST";  // POST | PUT
};

class WebhookSpec final : public SinkSpec {
 public:
  WebhookConfig config;
  // Defined with the runtime (webhook_sink.cpp).
  std::unique_ptr<Sink> create(SinkContext& ctx) const override;
};

std::unique_ptr<SinkSpec> parseWebhookSpec(MapReader& m);

}  // namespace sluice::sinks::webhook
