#pragma once
// The ObjectStore of sources whose objects live behind S3's API (MinIO, AWS S3, Ceph RGW):
// an event's `bucket` and `key` name the object, fetched with GetObject over the process's
// HttpClient, signed with the source's own credentials; put() uploads into the source's bucket.
#include <boost/asio/io_context.hpp>
#include <memory>

#include "daemon/aws_credentials.hpp"
#include "daemon/object_store.hpp"
#include "daemon/s3_client.hpp"

namespace sluice {

// Credentials that cannot be found make every fetch fail with the reason (the source itself
// reports it too), rather than making the store disappear. put() writes into `bucket` (empty:
// refused), with a multipart upload above the config's threshold.
std::unique_ptr<ObjectStore> makeS3ObjectStore(boost::asio::io_context& io, HttpClient& http,
                                               const Clock& clock,
                                               const AwsCredentialsConfig& credentials,
                                               S3Config config, std::string bucket);

}  // namespace sluice
