#include "daemon/s3_store.hpp"

#include <boost/asio/post.hpp>

namespace sluice {
namespace {

class S3ObjectStore final : public ObjectStore {
 public:
  S3ObjectStore(boost::asio::io_context& io, HttpClient& http, const Clock& clock,
                const AwsCredentialsConfig& credentials, S3Config config, std::string bucket)
      : io_(io), bucket_(std::move(bucket)) {
    AwsCredentialSource source = resolveAwsCredentials(credentials, processEnv());
    if (!source.error.empty()) {
      error_ = "no credentials for " + config.endpoint + ": " + source.error;
      return;
    }
    creds_ = std::make_unique<AwsCredentialsProvider>(io, &http, std::move(source), clock);
    s3_ = std::make_unique<S3Client>(io, http, *creds_, clock, std::move(config));
  }

  std::optional<std::string> localPath(const Event&) const override { return std::nullopt; }

  void fetch(const Event& ev, const std::filesystem::path& dest,
             std::function<void(std::string)> done) override {
    std::string why = error_;
    if (why.empty() && (!ev.bucket || !ev.key))
      why = "event " + ev.id + " names no bucket and key to fetch";
    if (!why.empty()) {
      boost::asio::post(io_, [done = std::move(done), why = std::move(why)] { done(why); });
      return;
    }
    std::string what = "s3://" + *ev.bucket + "/" + toUtf8Lossy(*ev.key);
    s3_->get(*ev.bucket, *ev.key, dest,
             [done = std::move(done), what = std::move(what)](S3Result r) {
               done(r.error.empty() ? "" : "GET " + what + ": " + r.error);
             });
  }

  void put(const std::filesystem::path& src, const std::string& name,
           std::function<void(std::string)> done) override {
    std::string why = error_;
    if (why.empty() && bucket_.empty()) why = "this source names no bucket to write to";
    if (why.empty() && name.empty()) why = "an empty object key";
    if (!why.empty()) {
      boost::asio::post(io_, [done = std::move(done), why = std::move(why)] { done(why); });
      return;
    }
    std::string what = "s3://" + bucket_ + "/" + toUtf8Lossy(name);
    s3_->put(bucket_, name, src, [done = std::move(done), what = std::move(what)](S3Result r) {
      done(r.error.empty() ? "" : "PUT " + what + ": " + r.error);
    });
  }

 private:
  boost::asio::io_context& io_;
  std::string bucket_;
  std::string error_;
  std::unique_ptr<AwsCredentialsProvider> creds_;
  std::unique_ptr<S3Client> s3_;
};

}  // namespace

std::unique_ptr<ObjectStore> makeS3ObjectStore(boost::asio::io_context& io, HttpClient& http,
                                               const Clock& clock,
                                               const AwsCredentialsConfig& credentials,
                                               S3Config config, std::string bucket) {
  return std::make_unique<S3ObjectStore>(io, http, clock, credentials, std::move(config),
                                         std::move(bucket));
}

}  // namespace sluice
