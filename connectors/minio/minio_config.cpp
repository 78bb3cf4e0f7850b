#include "connectors/minio/minio_config.hpp"

#include "daemon/registry.hpp"

namespace sluice::connectors::minio {
namespace {

std::unique_ptr<ConnectorSpec> parseMinioSpec(MapReader& m) {
  auto spec = std::make_unique<MinioSpec>();
  spec->endpoint = m.requiredString("endpoint");
  while (!spec->endpoint.empty() && spec->endpoint.back() == '/') spec->endpoint.pop_back();
  if (!spec->endpoint.empty() && spec->endpoint.rfind("http://", 0) != 0 &&
      spec->endpoint.rfind("https://", 0) != 0)
    m.error("endpoint", "must start with http:// or https://");
  spec->bucket = m.requiredString("bucket");
  spec->prefix = m.string("prefix", "");
  spec->suffix = m.string("suffix", "");
  spec->mode = m.choice("mode", {"listen", "push"}, "listen");
  spec->region = m.string("region", "us-east-1");
  if (auto ca = m.pathValue("ca_file")) spec->ca_file = ca->string();
  spec->credentials = parseAwsCredentials(m);
  if (m.has("events")) {
    spec->emit_created = false;
    for (auto& e : m.stringList("events")) {
      if (e == "created")
        spec->emit_created = true;
      else if (e == "removed")
        spec->emit_removed = true;
      else
        m.error("events", "unknown event \"" + e + "\" (minio sources emit created, removed)");
    }
  }
  spec->ping = m.duration("ping", spec->ping);
  if (spec->ping < Duration(1000)) m.error("ping", "must be at least 1s (MinIO counts seconds)");
  spec->push_quiet = m.duration("push_quiet", spec->push_quiet);
  spec->max_push_body = m.size("max_push_body", spec->max_push_body);
  m.finish();
  return spec;
}

const bool kRegistered = registerConnector("minio", &parseMinioSpec);

}  // namespace

bool MinioSpec::hasCredentials() const {
  return resolveAwsCredentials(credentials, processEnv()).error.empty();
}

}  // namespace sluice::connectors::minio
