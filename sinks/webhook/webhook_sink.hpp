#pragma once
// The webhook sink's runtime: one HTTP request per delivery on the process's shared HttpClient.
//
// Invariants:
//  - deliver() never throws and never calls `done` inline; an event that cannot be encoded is
//    Dead (retrying would encode it the same way).
//  - The answer is classified here, where it is understood: HTTP status (with Retry-After),
//    transient or permanent curl errors, and transfers cut short by abort() (Retry).
//  - abort() and the destructor cancel only this sink's transfers; their callbacks still run
//    (Retry "aborted at shutdown"), and they hold no reference to the sink itself.
//  - Secrets and request headers are never logged.
//  - With an HMAC secret every attempt is signed as Standard Webhooks specifies, at send time:
//    webhook-id (the event id, the same on every attempt), webhook-timestamp (the SinkContext
//    clock, in seconds) and webhook-signature over "<id>.<timestamp>.<body>". Other headers
//    (ce-* of binary mode, X-Sluice-*, configured ones) are not covered.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "daemon/http_client.hpp"
#include "daemon/sink.hpp"
#include "sinks/webhook/webhook_config.hpp"

namespace sluice::sinks::webhook {

// What one delivery sends, before auth and transport. Throws nlohmann::json::exception when
// the event cannot be encoded as JSON.
struct WebhookPayload {
  std::string body;
  HttpHeaders headers;  // sluice's own, then the configured ones (which replace same names)
};
WebhookPayload buildPayload(const WebhookConfig& c, const Event& ev, const DeliveryInfo& info);

// CloudEvents HTTP binding (3.1.3.2): space, '"', '%' and every byte outside U+0021..U+007E
// are percent-encoded in header values.
std::string percentEncodeHeaderValue(std::string_view value);

// The Standard Webhooks `webhook-signature` value: "v1," + base64 of the HMAC-SHA256 of
// "<id>.<timestamp_s>.<body>" under `key` (the decoded `whsec_` secret).
std::string standardWebhookSignature(std::string_view key, std::string_view id,
                                     std::int64_t timestamp_s, std::string_view body);

class WebhookSink final : public Sink {
 public:
  WebhookSink(std::string name, WebhookConfig config, DeliveryPolicy policy, SinkContext& ctx);
  ~WebhookSink() override;
  WebhookSink(const WebhookSink&) = delete;
  WebhookSink& operator=(const WebhookSink&) = delete;

  void deliver(const Event& ev, const DeliveryInfo& info, DeliveryCallback done) override;
  void abort() override;

 private:
  struct Shared;  // what a transfer's callback needs; outlives the sink if it must
  void cancelInFlight();

  std::string name_;
  WebhookConfig config_;
  boost::asio::io_context& io_;
  HttpClient& http_;
  std::shared_ptr<Shared> shared_;
};

}  // namespace sluice::sinks::webhook
