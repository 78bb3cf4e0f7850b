#include "sinks/lambda/lambda_sink.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <utility>

#include "daemon/http_delivery.hpp"
#include "daemon/payload_format.hpp"

namespace sluice::sinks::lambda {
namespace {

constexpr std::chrono::milliseconds kMaxConnectTimeout{10'000};
constexpr std::size_t kKeptErrorBody = 4096;

// Lambda's error type: x-amzn-ErrorType up to its ':' (botocore's rule), else the body's.
std::string errorType(const HttpResponse& r) {
  if (const std::string* h = r.header("x-amzn-errortype")) return h->substr(0, h->find(':'));
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_object())
    for (const char* k : {"__type", "code", "Code", "Type"})
      if (j.contains(k) && j[k].is_string()) return j[k].get<std::string>();
  return "";
}

std::string errorMessage(const HttpResponse& r) {
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_object())
    for (const char* k : {"message", "Message", "errorMessage"})
      if (j.contains(k) && j[k].is_string()) return bodySnippet(j[k].get<std::string>());
  return bodySnippet(r.body);
}

}  // namespace

DeliveryResult classifyInvokeResponse(const HttpResponse& r, Invocation invocation,
                                      const DeliveryPolicy& policy, std::int64_t now_ms) {
  if (r.cancelled || r.curl_code != 0) return classifyHttpResponse(r, policy, now_ms);
  const long ok = invocation == Invocation::Event ? 202 : 200;
  if (r.status == ok) {
    if (const std::string* fe = r.header("x-amz-function-error"))
      return Retry{std::nullopt, withBody("function error (" + *fe + ")", r.body)};
    if (invocation == Invocation::Event) return Done{};
    return Done{r.body};
  }
  std::string what = "Lambda answered " + std::to_string(r.status);
  if (auto type = errorType(r); !type.empty()) what += " " + type;
  if (auto msg = errorMessage(r); !msg.empty()) what += ": " + msg;
  if (r.status >= 200 && r.status < 300)  // e.g. 204: not the answer of the asked type
    return Dead{what + " (expected " + std::to_string(ok) + ")"};
  auto res = classifyHttpResponse(r, policy, now_ms);
  if (auto* rt = std::get_if<Retry>(&res)) rt->reason = what;
  if (auto* d = std::get_if<Dead>(&res)) d->reason = what;
  return res;
}

struct LambdaSink::Shared {
  DeliveryPolicy policy;
  const Clock& clock;
  std::set<std::uint64_t> in_flight;
};

LambdaSink::LambdaSink(std::string name, LambdaConfig config, DeliveryPolicy policy,
                       SinkContext& ctx)
    : name_(std::move(name)),
      config_(std::move(config)),
      io_(ctx.io),
      http_(ctx.http),
      clock_(ctx.clock),
      shared_(std::make_shared<Shared>(Shared{std::move(policy), ctx.clock, {}})) {
  AwsCredentialSource source = resolveAwsCredentials(config_.credentials, processEnv());
  if (!source.error.empty())
    throw std::runtime_error("sink " + name_ + ": no AWS credentials: " + source.error);
  creds_ = std::make_unique<AwsCredentialsProvider>(io_, &http_, std::move(source), clock_);
  if (ctx.log)
    ctx.log->info("sink {}: invokes {} at {} ({} invocations), credentials from {}", name_,
                  config_.function.as_given, config_.endpoint,
                  config_.invocation == Invocation::Event ? "Event" : "RequestResponse",
                  creds_->description());
}

LambdaSink::~LambdaSink() { abort(); }

void LambdaSink::abort() {
  auto ids = shared_->in_flight;  // cancel() posts the callbacks; they erase from the set later
  for (auto id : ids) http_.cancel(id);
}

void LambdaSink::deliver(const Event& ev, const DeliveryInfo& info, DeliveryCallback done) {
  const bool event = config_.invocation == Invocation::Event;
  HttpRequest req;
  std::optional<DeliveryResult> now;
  try {
    req.body = encodePayload(config_.format, ev).body;
    const std::size_t limit = event ? kEventPayloadLimit : kRequestResponsePayloadLimit;
    if (req.body.size() > limit)
      now = Dead{"payload of " + std::to_string(req.body.size()) +
                 " bytes is over Lambda's limit of " + std::to_string(limit) + " bytes for " +
                 (event ? "Event" : "RequestResponse") + " invocations"};
  } catch (const std::exception& e) {
    now = Dead{std::string("cannot encode event: ") + e.what()};
  }
  if (now) {
    boost::asio::post(io_, [done = std::move(done), r = std::move(*now)] { done(r); });
    return;
  }
  req.method = "POST";
  req.url = config_.endpoint + invokePath(config_.function.as_given);
  if (!config_.qualifier.empty()) req.url += "?Qualifier=" + uriEncode(config_.qualifier, false);
  req.headers = {{"X-Amz-Invocation-Type", event ? "Event" : "RequestResponse"},
                 {"User-Agent", "sluice/" SLUICE_VERSION},
                 {"X-Sluice-Event-Id", ev.id},
                 {"X-Sluice-Attempt", std::to_string(info.attempt)}};
  req.timeout = shared_->policy.timeout;
  req.connect_timeout = std::min(shared_->policy.timeout, kMaxConnectTimeout);
  req.ca_file = config_.ca_file;
  req.max_response_body = event ? kKeptErrorBody : config_.max_output;
  auto id_slot = std::make_shared<std::uint64_t>(0);
  const Invocation invocation = config_.invocation;
  sendSigned(
      http_, *creds_, clock_, SigV4Scope{config_.region, "lambda"}, std::move(req),
      [shared = shared_, id_slot, invocation, done = std::move(done)](HttpResponse r) {
        shared->in_flight.erase(*id_slot);
        done(classifyInvokeResponse(r, invocation, shared->policy, shared->clock.nowMs()));
      },
      [shared = shared_, id_slot](std::uint64_t id) {
        *id_slot = id;
        shared->in_flight.insert(id);
      });
}

std::unique_ptr<Sink> LambdaSpec::create(SinkContext& ctx) const {
  return std::make_unique<LambdaSink>(name, config, policy, ctx);
}

}  // namespace sluice::sinks::lambda
