#include "sinks/lambda/lambda_config.hpp"

#include "daemon/registry.hpp"

namespace sluice::sinks::lambda {

std::unique_ptr<SinkSpec> parseLambdaSpec(MapReader& m) {
  auto spec = std::make_unique<LambdaSpec>();
  LambdaConfig& c = spec->config;
  const std::string function = m.requiredString("function");
  std::string why;
  if (auto f = parseFunctionRef(function, &why))
    c.function = *f;
  else if (!function.empty())
    m.error("function", "\"" + function + "\" " + why);
  c.qualifier = m.string("qualifier", "");
  if (!c.qualifier.empty() && !isQualifier(c.qualifier))
    m.error("qualifier", "must be $LATEST, a version number or an alias name");
  if (!c.qualifier.empty() && !c.function.qualifier.empty() && c.qualifier != c.function.qualifier)
    m.error("qualifier", "differs from the one in the function name (" + c.function.qualifier +
                             "): Lambda refuses such calls");
  if (c.qualifier == c.function.qualifier) c.qualifier.clear();  // the name carries it
  c.region = m.string("region", "");
  if (c.region.empty()) c.region = c.function.region;
  if (c.region.empty())
    m.error("region", "is required (or name the function by its full ARN, which holds it)");
  else if (!c.function.region.empty() && c.region != c.function.region)
    m.error("region", "differs from the region in the function's ARN (" + c.function.region + ")");
  c.endpoint = httpUrl(m, "endpoint", false, true);
  if (c.endpoint.empty() && !c.region.empty())
    c.endpoint = "https://lambda." + c.region + ".amazonaws.com";
  c.invocation = m.choice("invocation", {"event", "request-response"}, "event") == "event"
                     ? Invocation::Event
                     : Invocation::RequestResponse;
  c.format = parsePayloadFormat(m, PayloadFormat::S3,
                                {PayloadFormat::S3, PayloadFormat::Native,
                                 PayloadFormat::OneTrigger, PayloadFormat::CloudEvents});
  c.credentials = parseAwsCredentialsBlock(m);
  if (auto ca = m.pathValue("ca_file")) c.ca_file = ca->string();
  c.max_output = m.size("max_output", c.max_output);
  m.finish();
  return spec;
}

namespace {
const bool kRegistered = sluice::registerSink("lambda", &parseLambdaSpec);
}  // namespace

}  // namespace sluice::sinks::lambda
