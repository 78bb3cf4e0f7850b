// `type: s3` — an AWS S3 bucket (or an S3-compatible store through `endpoint`), followed by
// listing it (`mode: scan`), through S3 notifications in an SQS queue (`mode: sqs`) or through
// notifications pushed to the ingress (`mode: push`, Ceph RGW and other S3-compatible stores).
#include "connectors/s3/bucket_spec.hpp"
#include "daemon/registry.hpp"

namespace sluice::connectors::s3 {
namespace {

std::unique_ptr<ConnectorSpec> parseS3Spec(MapReader& m) {
  auto spec = std::make_unique<BucketSpec>();
  spec->storage = "s3";
  parseBucketKeys(m, *spec);
  // AWS: virtual-hosted addressing; an S3-compatible endpoint: path style unless told.
  spec->path_style = m.boolean("path_style", !spec->endpoint.empty());
  if (spec->endpoint.empty() && spec->path_style)
    spec->endpoint = "https://s3." + spec->region + ".amazonaws.com";
  spec->mode = m.choice("mode", {"scan", "push", "sqs"}, "scan");
  if (spec->mode == "sqs")
    m.error("mode",
            "sqs is not in this version yet (it is being built): use scan, or push "
            "for stores that send notifications");
  spec->interval = m.duration("interval", spec->interval);
  m.finish();
  return spec;
}

const bool kRegistered = registerConnector("s3", &parseS3Spec);

}  // namespace
}  // namespace sluice::connectors::s3
