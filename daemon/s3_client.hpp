#pragma once
// S3's object API over the process's HttpClient, signed with SigV4: listings (ListObjectsV2),
// one object to or from a file (GetObject, PutObject, multipart above a threshold), and
// signing for requests other code sends itself (MinIO's listen stream). For AWS S3 and for
// S3-compatible stores (MinIO, Ceph RGW) through `endpoint` and path-style addressing.
//
// Keys are opaque bytes: they go on the wire as AWS's UriEncode makes them (every byte but
// the unreserved ones as %XX, '/' kept) and are neither normalised by sluice nor by curl, so
// "a/../b", "a//b", "%" or a newline name exactly that object. Listings ask for
// encoding-type=url so that keys XML cannot carry survive, and are decoded back to bytes.
//
// On the io thread only; every callback runs there, exactly once, never inline.
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "daemon/aws_credentials.hpp"
#include "daemon/clock.hpp"
#include "daemon/http_client.hpp"

namespace sluice {

struct S3Config {
  std::string endpoint;  // "" = AWS: https://s3.<region>.amazonaws.com
  std::string region = "us-east-1";
  bool path_style = true;  // false: https://<bucket>.s3.<region>.amazonaws.com (AWS only)
  std::string ca_file;
  std::uint64_t multipart_threshold = 64ULL << 20;  // files above: multipart upload
  std::uint64_t part_size = 16ULL << 20;            // S3's minimum is 5 MiB (but the last)
  std::chrono::milliseconds timeout{300'000};       // per request (a part, a page)
};

struct S3Object {
  std::string key;   // bytes
  std::string etag;  // without quotes
  std::int64_t size = 0;
  std::int64_t last_modified_ms = 0;
};

struct S3Result {
  std::string error;       // "": success
  long status = 0;         // HTTP status (0: no answer)
  std::string code;        // S3's error code ("NoSuchKey", "SignatureDoesNotMatch", ...)
  bool transient = false;  // worth retrying: network, 5xx, 429, SlowDown, expired token
};

struct S3ListPage {
  S3Result result;
  std::vector<S3Object> objects;
  std::string next_token;  // "" when this was the last page
};

class S3Client {
 public:
  S3Client(boost::asio::io_context& io, HttpClient& http, AwsCredentialsProvider& creds,
           const Clock& clock, S3Config config);

  std::string bucketUrl(const std::string& bucket) const;
  std::string objectUrl(const std::string& bucket, const std::string& key) const;

  void list(const std::string& bucket, const std::string& prefix, const std::string& token,
            int max_keys, std::function<void(S3ListPage)> done);
  // Downloads to `dest` (created 0600); on failure `dest` is removed.
  void get(const std::string& bucket, const std::string& key, const std::filesystem::path& dest,
           std::function<void(S3Result)> done);
  void put(const std::string& bucket, const std::string& key, const std::filesystem::path& src,
           std::function<void(S3Result)> done);
  // Signs `req` with the current credentials (S3 rules) and sends it; for streams.
  // `started` gets the HttpClient id (for pause/resume/cancel) once the request is sent; a
  // request that cannot be signed ends in `done` with status 0 and the reason in `error`.
  void send(HttpRequest req, std::function<void(HttpResponse)> done,
            std::function<void(std::uint64_t id)> started = {});

  // The result of a response: success for 2xx, else S3's <Error> code and message.
  static S3Result resultOf(const HttpResponse& r);

 private:
  struct Upload;  // one multipart upload in progress
  void putMultipart(const std::string& bucket, const std::string& key,
                    const std::filesystem::path& src, std::uint64_t size,
                    std::function<void(S3Result)> done);
  void uploadPart(std::shared_ptr<Upload> u);
  void completeUpload(std::shared_ptr<Upload> u);
  void finishUpload(std::shared_ptr<Upload> u, S3Result r);
  boost::asio::io_context& io_;
  HttpClient& http_;
  AwsCredentialsProvider& creds_;
  const Clock& clock_;
  S3Config config_;
};

}  // namespace sluice
