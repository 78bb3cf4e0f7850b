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
  if (spec->bucket.empty() && spec->mode != "sqs") m.error("bucket", "is required");
  spec->interval = m.duration("interval", spec->interval);
  spec->queue_url = m.string("queue_url", "");
  if (spec->mode == "sqs" && spec->queue_url.rfind("https://", 0) != 0 &&
      spec->queue_url.rfind("http://", 0) != 0)
    m.error("queue_url", "mode sqs needs the queue's URL (https://sqs.REGION.amazonaws.com/...)");
  spec->visibility = m.duration("visibility_timeout", spec->visibility);
  if (spec->visibility < Duration(10'000) || spec->visibility > Duration(43'200'000))
    m.error("visibility_timeout", "must be between 10s and 12h");
  spec->wait = m.duration("wait", spec->wait);
  if (spec->wait > Duration(20'000) || spec->wait < Duration(1000))
    m.error("wait", "SQS long-polls 1s to 20s");
  // The queue's own region signs its requests, when the config does not name one.
  const std::string sqs_host = ".amazonaws.com";
  if (spec->mode == "sqs" && !m.has("region") && spec->queue_url.rfind("https://sqs.", 0) == 0) {
    auto end = spec->queue_url.find(sqs_host);
    if (end != std::string::npos) spec->region = spec->queue_url.substr(12, end - 12);
  }
  m.finish();
  return spec;
}

const bool kRegistered = registerConnector("s3", &parseS3Spec);

}  // namespace
}  // namespace sluice::connectors::s3
