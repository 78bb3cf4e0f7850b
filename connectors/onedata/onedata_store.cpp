// How jobs read a onedata source's files: `GET {provider}/api/v3/oneprovider/data/{fileId}/
// content` with the source's token, streamed to the destination file. The file id is the
// event's etag (the version the event names).
#include <boost/asio/post.hpp>
#include <system_error>

#include "connectors/onedata/onedata_spec.hpp"
#include "daemon/http_auth.hpp"
#include "daemon/http_client.hpp"

namespace sluice::connectors::onedata {
namespace {

class OnedataStore final : public ObjectStore {
 public:
  OnedataStore(boost::asio::io_context& io, HttpClient& http, const OnedataSpec& spec)
      : io_(io), http_(http), auth_(spec.auth), api_(spec.apiUrl()) {}

  std::optional<std::string> localPath(const Event&) const override { return std::nullopt; }

  void fetch(const Event& ev, const std::filesystem::path& dest,
             std::function<void(std::string error)> done) override {
    if (!ev.etag || ev.etag->empty())
      return boost::asio::post(
          io_, [done = std::move(done)] { done("the event names no Onedata file id (etag)"); });
    HttpRequest req;
    req.method = "GET";
    req.url = api_ + "/data/" + *ev.etag + "/content";
    auth_.apply(req);
    req.download_file = dest.string();
    req.timeout = std::chrono::milliseconds(0);  // big files: only a stall fails the transfer
    req.idle_timeout = std::chrono::milliseconds(60'000);
    http_.send(std::move(req), [dest, id = *ev.etag, done = std::move(done)](HttpResponse r) {
      std::string error;
      if (r.curl_code != 0)
        error = "downloading Onedata file " + id + ": " + r.error;
      else if (r.status != 200)
        error = "downloading Onedata file " + id + ": HTTP " + std::to_string(r.status);
      if (!error.empty()) {
        std::error_code ec;
        std::filesystem::remove(dest, ec);  // never leave half a file for a job
      }
      done(error);
    });
  }

  // The REST API sluice targets (and the fake Oneprovider the tests use) has no write calls
  // sluice uses yet (Onedata writes go through CDMI or `PUT /data/{id}/content` of a file made
  // first); job outputs cannot go back to a onedata source for now.
  void put(const std::filesystem::path&, const std::string&,
           std::function<void(std::string error)> done) override {
    boost::asio::post(
        io_, [done = std::move(done)] { done("uploads to Onedata are not supported yet"); });
  }

 private:
  boost::asio::io_context& io_;
  HttpClient& http_;
  HttpAuth auth_;
  std::string api_;
};

}  // namespace

std::unique_ptr<ObjectStore> OnedataSpec::objectStore(boost::asio::io_context& io, HttpClient& http,
                                                      const Clock&) const {
  return std::make_unique<OnedataStore>(io, http, *this);
}

}  // namespace sluice::connectors::onedata
