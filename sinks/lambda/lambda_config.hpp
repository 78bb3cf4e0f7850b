#pragma once
// The Lambda sink's config (`type: lambda`): one Invoke per event (PROTOCOLS.md §5).
//
// Invariants:
//  - Reads only the sink's own keys and ends with finish(): an unknown key names its path.
//  - The function is checked here (name, name:qualifier, partial or full ARN); a qualifier in
//    the name and a different `qualifier:` are an error, as Lambda would refuse every call.
//  - `region` comes from the key, else from a full ARN; the endpoint defaults to
//    https://lambda.<region>.amazonaws.com. Credentials follow the AWS chain
//    (daemon/aws_credentials.hpp); secrets are never printed.
#include <memory>
#include <string>

#include "daemon/aws_credentials.hpp"
#include "daemon/config_reader.hpp"
#include "daemon/payload_format.hpp"
#include "daemon/sink.hpp"
#include "sinks/lambda/lambda_function.hpp"

namespace sluice::sinks::lambda {

enum class Invocation { Event, RequestResponse };

// Lambda's payload limits (the model's documentation since 2025-10-28).
constexpr std::size_t kEventPayloadLimit = 1'048'576;            // 1 MB
constexpr std::size_t kRequestResponsePayloadLimit = 6'291'456;  // 6 MB

struct LambdaConfig {
  FunctionRef function;
  std::string qualifier;  // ?Qualifier= ("" when none, or when the name carries it)
  std::string region;
  std::string endpoint;  // without a trailing '/'
  Invocation invocation = Invocation::Event;
  PayloadFormat format = PayloadFormat::S3;
  AwsCredentialsConfig credentials;
  std::string ca_file;
  std::uint64_t max_output = 1 << 20;  // RequestResponse: bytes of the result kept
};

class LambdaSpec final : public SinkSpec {
 public:
  LambdaConfig config;
  bool carries(EventType t) const override { return formatCarries(config.format, t); }
  std::unique_ptr<Sink> create(SinkContext& ctx) const override;  // lambda_sink.cpp
};

std::unique_ptr<SinkSpec> parseLambdaSpec(MapReader& m);

}  // namespace sluice::sinks::lambda
