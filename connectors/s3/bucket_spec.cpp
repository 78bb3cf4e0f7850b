#include "connectors/s3/bucket_spec.hpp"

#include "connectors/s3/bucket_connector.hpp"
#include "daemon/s3_store.hpp"

namespace sluice::connectors::s3 {

void parseBucketKeys(MapReader& m, BucketSpec& spec) {
  spec.endpoint = httpUrl(m, "endpoint", false, true);
  spec.bucket = m.string("bucket", "");
  spec.prefix = m.string("prefix", "");
  spec.suffix = m.string("suffix", "");
  spec.region = m.string("region", "us-east-1");
  if (auto ca = m.pathValue("ca_file")) spec.ca_file = ca->string();
  spec.credentials = parseAwsCredentialsBlock(m);
  if (m.has("events")) {
    spec.emit_created = false;
    for (auto& e : m.stringList("events")) {
      if (e == "created")
        spec.emit_created = true;
      else if (e == "removed")
        spec.emit_removed = true;
      else
        m.error("events", "unknown event \"" + e + "\" (buckets emit created, removed)");
    }
  }
  spec.push_quiet = m.duration("push_quiet", spec.push_quiet);
  spec.max_push_body = m.size("max_push_body", spec.max_push_body);
}

S3Config BucketSpec::s3Config() const {
  S3Config c;
  c.endpoint = endpointUrl();
  c.region = region;
  c.ca_file = ca_file;
  c.path_style = path_style;
  return c;
}

std::string BucketSpec::endpointUrl() const {
  return endpoint.empty() ? "https://s3." + region + ".amazonaws.com" : endpoint;
}

std::unique_ptr<Connector> BucketSpec::create(ConnectorContext& ctx) const {
  return std::make_unique<BucketConnector>(*this, ctx);
}

std::unique_ptr<ObjectStore> BucketSpec::objectStore(boost::asio::io_context& io, HttpClient& http,
                                                     const Clock& clock) const {
  return makeS3ObjectStore(io, http, clock, credentials, s3Config(), bucket);
}

}  // namespace sluice::connectors::s3
