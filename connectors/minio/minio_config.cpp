// `type: minio` — a MinIO bucket, followed through ListenBucketNotification (`mode: listen`)
// or MinIO's webhook target posting to the ingress (`mode: push`); see connectors/s3/.
#include "connectors/s3/bucket_spec.hpp"
#include "daemon/registry.hpp"

namespace sluice::connectors::minio {
namespace {

std::unique_ptr<ConnectorSpec> parseMinioSpec(MapReader& m) {
  auto spec = std::make_unique<s3::BucketSpec>();
  spec->storage = "minio";
  s3::parseBucketKeys(m, *spec);
  if (spec->endpoint.empty()) m.error("endpoint", "is required (http://host:9000)");
  if (spec->bucket.empty()) m.error("bucket", "is required");
  spec->mode = m.choice("mode", {"listen", "push"}, "listen");
  spec->ping = m.duration("ping", spec->ping);
  if (spec->ping < Duration(1000)) m.error("ping", "must be at least 1s (MinIO counts seconds)");
  m.finish();
  return spec;
}

const bool kRegistered = registerConnector("minio", &parseMinioSpec);

}  // namespace
}  // namespace sluice::connectors::minio
