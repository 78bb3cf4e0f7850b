#include "sinks/webhook/webhook_config.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <string_view>

#include "daemon/event.hpp"
#include "daemon/registry.hpp"

namespace sluice::sinks::webhook {
namespace {

// What the Standard Webhooks specification recommends for a signing key.
constexpr std::size_t kMinKeyBytes = 24;
constexpr std::string_view kSecretPrefix = "whsec_";

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}



// Names sluice sets itself: a second copy from the config would confuse the receiver (two
// Content-Lengths) or defeat a guarantee (event id, attempt, signature).
bool reservedHeader(const std::string& lower_name, AuthKind auth) {
  return lower_name == "content-length" || lower_name == "transfer-encoding" ||
         lower_name == "host" || lower_name.starts_with("x-sluice-") ||
         (auth != AuthKind::None && lower_name == "authorization") ||
         (auth == AuthKind::Hmac && lower_name.starts_with("webhook-"));
}

void parseHeaders(MapReader& m, WebhookConfig& c) {
  auto headers = m.stringMap("headers");
  if (headers.empty()) return;
  MapReader sub = m.map("headers");  // only for key paths and lines in the errors below
  for (auto& [name, value] : headers) {
    bool bad_name = name.empty() || std::any_of(name.begin(), name.end(), [](unsigned char ch) {
                      return ch == ':' || ch <= 0x20 || ch == 0x7f;
                    });
    if (bad_name) {
      sub.error(name, "is not a valid header name (no ':', spaces or control characters)");
    } else if (value.find_first_of("\r\n", 0) != std::string::npos ||
               value.find('\0') != std::string::npos) {
      sub.error(name, "value must not contain CR, LF or NUL");
    } else if (reservedHeader(lower(name), c.auth.kind)) {
      const bool by_auth = lower(name) == "authorization" || lower(name).starts_with("webhook-");
      sub.error(name, by_auth ? "is set by auth; remove one of them"
                              : "is set by sluice and cannot be configured");
    } else {
      c.headers.emplace_back(name, value);
    }
  }
}

// The value is never quoted in a message: it is a secret even when malformed.
void parseHmacSecret(MapReader& a, const Secret& secret, WebhookConfig& c) {
  const std::string key = a.has("hmac_secret_file") ? "hmac_secret_file" : "hmac_secret";
  const std::string what = key == "hmac_secret" ? "the secret" : "the secret in the file";
  if (secret.empty()) {
    if (key == "hmac_secret") a.error(key, "must not be empty");  // the reader reports a file
    return;
  }
  auto decoded = decodeWebhookSecret(secret.reveal());
  if (!decoded) {
    a.error(key, what +
                     " must be a Standard Webhooks secret: whsec_ followed by base64 (make one "
                     "with: echo whsec_$(head -c 32 /dev/urandom | base64))");
    return;
  }
  if (decoded->size() < kMinKeyBytes)
    a.warning(key, "the key is only " + std::to_string(decoded->size()) +
                       " bytes; Standard Webhooks recommends 24 to 64 random bytes");
  c.auth.kind = AuthKind::Hmac;
  c.auth.hmac_key = Secret(std::move(*decoded));
}

void parseAuth(MapReader& m, WebhookConfig& c) {
  if (!m.has("auth")) {
    m.map("auth");  // a bare `auth:` is read, not reported as unknown
    return;
  }
  MapReader a = m.map("auth");
  const bool bearer = a.has("bearer") || a.has("bearer_file");
  const bool basic = a.has("username") || a.has("password") || a.has("password_file");
  const bool hmac = a.has("hmac_secret") || a.has("hmac_secret_file");
  const int kinds = int(bearer) + int(basic) + int(hmac);
  // Read every key first, so finish() reports only keys that are really unknown.
  auto token = a.secret("bearer");
  auto username = a.string("username");
  auto password = a.secret("password");
  auto hmac_secret = a.secret("hmac_secret");
  if (kinds > 1) {
    a.error("", "give exactly one of bearer, username + password, hmac_secret (not several)");
  } else if (kinds == 0) {
    a.error("", "must give one of bearer(_file), username + password(_file), hmac_secret(_file)");
  } else if (bearer && token) {
    if (token->empty()) a.error("bearer", "must not be empty");
    c.auth.kind = AuthKind::Bearer;
    c.auth.token = std::move(*token);
  } else if (basic) {
    if (!username || username->empty()) a.error("username", "is required with password");
    if (!password) a.error("password", "is required with username (or password_file)");
    if (username && password) {
      if (username->find(':') != std::string::npos)
        a.error("username", "must not contain ':' (Basic auth separates user and password by it)");
      c.auth.kind = AuthKind::Basic;
      c.auth.username = *username;
      c.auth.password = std::move(*password);
    }
  } else if (hmac && hmac_secret) {
    parseHmacSecret(a, *hmac_secret, c);
  }
  a.finish();
}

void parseTls(MapReader& m, WebhookConfig& c) {
  if (auto ca = m.pathValue("ca_file")) {
    std::error_code ec;
    if (ca->empty())
      m.error("ca_file", "must not be empty");
    else if (!std::filesystem::is_regular_file(*ca, ec) || !std::ifstream(*ca))
      m.error("ca_file", "cannot read CA file " + ca->string());
    else
      c.ca_file = ca->string();
  }
  c.tls_verify = m.boolean("tls_verify", true);
  auto v = m.choice("http_version", {"auto", "1.1", "2"}, "auto");
  c.http_version = v == "1.1" ? HttpVersion::Http1_1
                   : v == "2" ? HttpVersion::Http2
                              : HttpVersion::Auto;
}

}  // namespace

std::optional<std::string> decodeWebhookSecret(std::string_view secret) {
  if (!secret.starts_with(kSecretPrefix)) return std::nullopt;
  std::string_view b64 = secret.substr(kSecretPrefix.size());
  // base64Decode alone accepts surrounding blanks; the receivers' libraries may not.
  auto body = b64.substr(0, b64.find_last_not_of('=') + 1);
  const bool canonical =
      !b64.empty() && b64.size() % 4 == 0 && b64.size() - body.size() <= 2 &&
      std::all_of(body.begin(), body.end(), [](unsigned char ch) {
        return std::isalnum(ch) || ch == '+' || ch == '/';
      });
  if (!canonical) return std::nullopt;
  auto key = base64Decode(b64);
  if (!key || key->empty() || base64Encode(*key) != b64) return std::nullopt;
  return key;
}

std::unique_ptr<SinkSpec> parseWebhookSpec(MapReader& m) {
  auto spec = std::make_unique<WebhookSpec>();
  WebhookConfig c;
  c.url = httpUrl(m, "url", true, false);
  c.format = parsePayloadFormat(
      m, PayloadFormat::CloudEvents,
      {PayloadFormat::CloudEvents, PayloadFormat::CloudEventsBinary, PayloadFormat::S3,
       PayloadFormat::OneTrigger, PayloadFormat::Native});
  parseAuth(m, c);  // before headers: whether Authorization may be configured depends on it
  parseHeaders(m, c);
  parseTls(m, c);
  c.method = m.choice("method", {"POST", "PUT"}, "POST");
  m.finish();
  spec->config = std::move(c);
  return spec;
}

namespace {
const bool kRegistered = sluice::registerSink("webhook", &parseWebhookSpec);
}  // namespace

}  // namespace sluice::sinks::webhook
