#pragma once
// A bucket behind S3's API, followed as a source: `type: minio` and `type: s3` share this (and
// BucketConnector); they differ in how changes arrive and in the ids (see s3_records.hpp).
//  - minio, `mode: listen`: MinIO's ListenBucketNotification stream (live, no replay).
//  - minio, `mode: push`: MinIO's webhook target posts to sluice's ingress.
//  - s3, `mode: scan`: ListObjectsV2 against the source index, at start and every `interval`.
//  - s3, `mode: push`: S3-compatible stores (Ceph RGW) post notifications to the ingress.
//  - s3, `mode: sqs`: S3 event notifications read from an SQS queue (long polling), deleted
//    only after their events are committed; SQS keeps what sluice has not read, so this mode
//    keeps no index and does not list the bucket.
// Whatever the mode, the bucket is reconciled with ListObjectsV2 against the source index on
// start, after every reconnect and in `sluice once` (when there are credentials), so changes
// while nothing was listening are delivered once.
#include <cstdint>
#include <string>
#include <vector>

#include "daemon/aws_credentials.hpp"
#include "daemon/config_reader.hpp"
#include "daemon/connector.hpp"
#include "daemon/s3_client.hpp"

namespace sluice::connectors::s3 {

struct BucketSpec final : ConnectorSpec {
  std::string storage;   // "minio" | "s3": the event's `storage`, and how ids are made
  std::string endpoint;  // http(s)://host:port, no trailing slash; "" = AWS (s3 only)
  std::string bucket;    // sqs: "" takes records of every bucket
  std::string prefix, suffix;
  std::string mode;  // listen | push (minio); scan | push (s3)
  std::string region = "us-east-1";
  std::string ca_file;
  bool path_style = true;
  AwsCredentialsConfig credentials;
  bool emit_created = true, emit_removed = false;
  Duration ping{10'000};        // listen: MinIO sends {"Records":null} this often
  Duration interval{300'000};   // scan: reconcile this often while running (0: at start only)
  Duration push_quiet{10'000};  // push, `sluice once`: done after this long without a push
  std::size_t max_push_body = 8 << 20;
  std::string queue_url;         // sqs
  Duration visibility{120'000};  // sqs: a received message stays hidden this long (extended)
  Duration wait{20'000};         // sqs: long-poll time (0..20 s)

  std::unique_ptr<Connector> create(ConnectorContext& ctx) const override;
  bool takesPushes() const override { return mode == "push"; }
  std::unique_ptr<ObjectStore> objectStore(boost::asio::io_context& io, HttpClient& http,
                                           const Clock& clock) const override;
  S3Config s3Config() const;
  // The endpoint as it appears in event sources and ids (AWS: its regional URL).
  std::string endpointUrl() const;
};

// The keys both types share; the caller reads its type's own (mode, ...) before finish().
void parseBucketKeys(MapReader& m, BucketSpec& spec);

}  // namespace sluice::connectors::s3
