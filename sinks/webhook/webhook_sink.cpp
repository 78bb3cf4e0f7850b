#include "sinks/webhook/webhook_sink.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <utility>

#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include "daemon/crypto.hpp"
#include "daemon/http_delivery.hpp"

namespace sluice::sinks::webhook {
namespace {

constexpr std::size_t kKeptResponseBody = 4096;  // enough for an error message in a reason
constexpr std::chrono::milliseconds kMaxConnectTimeout{10'000};

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// Appends a configured header, replacing a default of the same name (e.g. Content-Type) rather
// than sending both.
void putHeader(HttpHeaders& headers, const std::string& name, const std::string& value) {
  auto key = lower(name);
  std::erase_if(headers, [&](const auto& h) { return lower(h.first) == key; });
  headers.emplace_back(name, value);
}

}  // namespace

std::string percentEncodeHeaderValue(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (unsigned char c : value) {
    if (c > 0x20 && c < 0x7f && c != '"' && c != '%') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string standardWebhookSignature(std::string_view key, std::string_view id,
                                     std::int64_t timestamp_s, std::string_view body) {
  std::string signed_content;
  signed_content.reserve(id.size() + 24 + body.size());
  signed_content.append(id).append(".").append(std::to_string(timestamp_s)).append(".");
  signed_content.append(body);
  return "v1," + base64Encode(hmacSha256(key, signed_content));
}

WebhookPayload buildPayload(const WebhookConfig& c, const Event& ev, const DeliveryInfo& info) {
  WebhookPayload p;
  Payload body = encodePayload(c.format, ev);
  p.body = std::move(body.body);
  const std::string& content_type = body.content_type;
  p.headers = {{"Content-Type", content_type},
               {"User-Agent", "sluice/" SLUICE_VERSION},
               {"X-Sluice-Event-Id", ev.id},
               {"X-Sluice-Attempt", std::to_string(info.attempt)}};
  if (c.format == PayloadFormat::CloudEventsBinary) {
    // Binary mode: the attributes travel as ce-* headers, datacontenttype as Content-Type.
    p.headers.emplace_back("ce-specversion", "1.0");
    p.headers.emplace_back("ce-id", percentEncodeHeaderValue(ev.id));
    p.headers.emplace_back("ce-source", percentEncodeHeaderValue(ev.source));
    p.headers.emplace_back("ce-type", percentEncodeHeaderValue(ev.typeUri()));
    p.headers.emplace_back("ce-subject", percentEncodeHeaderValue(ev.subject()));
    p.headers.emplace_back("ce-time", percentEncodeHeaderValue(formatTime(ev.time_ms)));
  }
  for (auto& [name, value] : c.headers) putHeader(p.headers, name, value);
  return p;
}

struct WebhookSink::Shared {
  DeliveryPolicy policy;
  const Clock& clock;
  std::set<std::uint64_t> in_flight;  // this sink's transfers on the shared client
};

WebhookSink::WebhookSink(std::string name, WebhookConfig config, DeliveryPolicy policy,
                         SinkContext& ctx)
    : name_(std::move(name)),
      config_(std::move(config)),
      io_(ctx.io),
      http_(ctx.http),
      shared_(std::make_shared<Shared>(Shared{std::move(policy), ctx.clock, {}})) {
  if (!ctx.log) return;
  if (!config_.tls_verify)
    ctx.log->warn("sink {}: tls_verify is off: the receiver's certificate is not checked", name_);
  if (config_.auth.kind != AuthKind::None && lower(config_.url).starts_with("http://"))
    ctx.log->warn("sink {}: credentials are sent over plain http://", name_);
}

WebhookSink::~WebhookSink() { cancelInFlight(); }

void WebhookSink::abort() { cancelInFlight(); }

void WebhookSink::cancelInFlight() {
  auto ids = shared_->in_flight;  // cancel() posts the callbacks; they erase from the set later
  for (auto id : ids) http_.cancel(id);
}

void WebhookSink::deliver(const Event& ev, const DeliveryInfo& info, DeliveryCallback done) {
  HttpRequest req;
  try {
    WebhookPayload p = buildPayload(config_, ev, info);
    req.body = std::move(p.body);
    req.headers = std::move(p.headers);
    switch (config_.auth.kind) {
      case AuthKind::None:
        break;
      case AuthKind::Bearer:
        req.headers.emplace_back("Authorization", "Bearer " + config_.auth.token.reveal());
        break;
      case AuthKind::Basic:
        req.basic_auth = std::make_pair(config_.auth.username, config_.auth.password.reveal());
        break;
      case AuthKind::Hmac: {
        // Over the exact bytes sent, so the receiver can verify before parsing; the id and a
        // fresh timestamp are signed with them, so a captured request cannot be replayed
        // beyond the receiver's tolerance window nor passed off as another event.
        const std::int64_t now_s = shared_->clock.nowMs() / 1000;
        req.headers.emplace_back("webhook-id", ev.id);
        req.headers.emplace_back("webhook-timestamp", std::to_string(now_s));
        req.headers.emplace_back(
            "webhook-signature",
            standardWebhookSignature(config_.auth.hmac_key.reveal(), ev.id, now_s, req.body));
        break;
      }
    }
  } catch (const std::exception& e) {
    boost::asio::post(io_, [done = std::move(done), why = std::string(e.what())] {
      done(Dead{"cannot encode event: " + why});
    });
    return;
  }
  req.method = config_.method;
  req.url = config_.url;
  req.timeout = shared_->policy.timeout;
  req.connect_timeout = std::min(shared_->policy.timeout, kMaxConnectTimeout);
  req.verify_tls = config_.tls_verify;
  req.ca_file = config_.ca_file;
  req.version = config_.http_version;
  req.max_response_body = kKeptResponseBody;

  // send() never calls back inline, so the id is recorded before the callback can need it.
  auto id_slot = std::make_shared<std::uint64_t>(0);
  auto id = http_.send(std::move(req),
                       [shared = shared_, id_slot, done = std::move(done)](HttpResponse r) {
                         shared->in_flight.erase(*id_slot);
                         done(classifyHttpResponse(r, shared->policy, shared->clock.nowMs()));
                       });
  *id_slot = id;
  shared_->in_flight.insert(id);
}

std::unique_ptr<Sink> WebhookSpec::create(SinkContext& ctx) const {
  return std::make_unique<WebhookSink>(name, config, policy, ctx);
}

}  // namespace sluice::sinks::webhook
