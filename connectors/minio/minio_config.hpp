#pragma once
// `type: minio` — a MinIO bucket, followed through ListenBucketNotification (`mode: listen`) or
// through MinIO's webhook target posting to sluice's ingress (`mode: push`). Either way the
// bucket is reconciled with ListObjectsV2 against the source index on start, after every
// reconnect and in `sluice once`, so that changes while nothing was listening are delivered
// once (MinIO's stream has no replay).
#include <cstdint>
#include <string>
#include <vector>

#include "daemon/aws_credentials.hpp"
#include "daemon/config_reader.hpp"
#include "daemon/connector.hpp"

namespace sluice::connectors::minio {

struct MinioSpec final : ConnectorSpec {
  std::string endpoint;  // http(s)://host:port, no trailing slash
  std::string bucket;
  std::string prefix, suffix;
  std::string mode = "listen";  // listen | push
  std::string region = "us-east-1";
  std::string ca_file;
  AwsCredentialsConfig credentials;
  bool emit_created = true, emit_removed = false;
  Duration ping{10'000};        // listen: MinIO sends {"Records":null} this often
  Duration push_quiet{10'000};  // push, `sluice once`: done after this long without a push
  std::size_t max_push_body = 8 << 20;

  std::unique_ptr<Connector> create(ConnectorContext& ctx) const override;
  bool takesPushes() const override { return mode == "push"; }
  std::unique_ptr<ObjectStore> objectStore(boost::asio::io_context& io, HttpClient& http,
                                           const Clock& clock) const override;
  // Push mode may run without credentials (then nothing is reconciled).
  bool hasCredentials() const;
};

}  // namespace sluice::connectors::minio
