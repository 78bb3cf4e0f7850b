#pragma once
// The Lambda sink's runtime: one signed Invoke per delivery (PROTOCOLS.md §5).
//
//  - Event: 202 is done (Lambda queued it). RequestResponse: 200 is done and the function's
//    result is kept with the delivery record (Done::output, at most max_output bytes), unless
//    X-Amz-Function-Error says the function failed: then Retry with its error, and the policy's
//    attempts decide when it is dead.
//  - A payload over Lambda's limit (1 MB Event, 6 MB RequestResponse) is dead before it is
//    sent; 413 likewise. 429 waits for Retry-After; 5xx and network errors retry; other 4xx
//    are dead with Lambda's error type and message.
//  - No Content-Type is sent with the payload (botocore sends none either).
//  - deliver() never throws and never calls back inline; abort() cancels this sink's transfers
//    (their callbacks report Retry) and callbacks never touch a destroyed sink.
#include <memory>
#include <set>
#include <string>

#include "daemon/aws_credentials.hpp"
#include "daemon/sink.hpp"
#include "sinks/lambda/lambda_config.hpp"

namespace sluice::sinks::lambda {

class LambdaSink final : public Sink {
 public:
  LambdaSink(std::string name, LambdaConfig config, DeliveryPolicy policy, SinkContext& ctx);
  ~LambdaSink() override;
  LambdaSink(const LambdaSink&) = delete;
  LambdaSink& operator=(const LambdaSink&) = delete;

  void deliver(const Event& ev, const DeliveryInfo& info, DeliveryCallback done) override;
  void abort() override;

 private:
  struct Shared;  // what a transfer's callback needs; outlives the sink if it must

  std::string name_;
  LambdaConfig config_;
  boost::asio::io_context& io_;
  HttpClient& http_;
  const Clock& clock_;
  std::unique_ptr<AwsCredentialsProvider> creds_;
  std::shared_ptr<Shared> shared_;
};

// What an answer of Lambda means for the delivery (see above).
DeliveryResult classifyInvokeResponse(const HttpResponse& r, Invocation invocation,
                                      const DeliveryPolicy& policy, std::int64_t now_ms);

}  // namespace sluice::sinks::lambda
