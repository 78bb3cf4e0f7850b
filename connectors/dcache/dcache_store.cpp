// dCache objects for jobs: read and written through the WebDAV door (`webdav_url`), with the
// source's credentials.
#include <boost/asio/post.hpp>

#include "connectors/dcache/dcache_events.hpp"
#include "connectors/dcache/dcache_spec.hpp"
#include "daemon/http_client.hpp"
#include "daemon/object_store.hpp"

namespace sluice::connectors::dcache {
namespace {

class DcacheStore final : public ObjectStore {
 public:
  DcacheStore(boost::asio::io_context& io, HttpClient& http, const DcacheSpec& spec)
      : io_(io), http_(http), spec_(spec), auth_(spec.auth) {}

  std::optional<std::string> localPath(const Event&) const override { return std::nullopt; }

  void fetch(const Event& ev, const std::filesystem::path& dest,
             std::function<void(std::string)> done) override {
    if (spec_.webdav_url.empty()) return later(done, "source " + spec_.name + " has no webdav_url");
    HttpRequest req;
    req.method = "GET";
    req.url = pathUrl(spec_.webdav_url, ev.path);
    req.timeout = std::chrono::milliseconds(0);
    req.idle_timeout = std::chrono::milliseconds(120'000);
    req.download_file = dest.string();
    send(std::move(req), {200}, "WebDAV GET " + ev.path, std::move(done));
  }

  // `name`: an absolute dCache path, or one relative to the first watched path.
  void put(const std::filesystem::path& src, const std::string& name,
           std::function<void(std::string)> done) override {
    if (spec_.webdav_url.empty()) return later(done, "source " + spec_.name + " has no webdav_url");
    std::string path = name.empty() || name[0] == '/' ? name : childPath(spec_.paths[0], name);
    if (path.size() < 2 || path.find("//") != std::string::npos ||
        path.find("/../") != std::string::npos || path.ends_with("/..") ||
        path.find("/./") != std::string::npos || path.back() == '/')
      return later(done, "refused to write \"" + name + "\": not a plain dCache file path");
    HttpRequest req;
    req.method = "PUT";
    req.url = pathUrl(spec_.webdav_url, path);
    req.timeout = std::chrono::milliseconds(0);
    req.idle_timeout = std::chrono::milliseconds(120'000);
    req.upload_file = src.string();
    send(std::move(req), {200, 201, 204}, "WebDAV PUT " + path, std::move(done));
  }

 private:
  void later(std::function<void(std::string)>& done, std::string error) {
    boost::asio::post(io_, [done = std::move(done), error = std::move(error)] { done(error); });
  }
  void send(HttpRequest req, std::vector<long> ok, std::string what,
            std::function<void(std::string)> done) {
    auth_.apply(req);
    http_.send(std::move(req), [ok = std::move(ok), what = std::move(what),
                                done = std::move(done)](HttpResponse r) {
      for (long s : ok)
        if (r.status == s && r.curl_code == 0) return done("");
      done(what + " failed: " + (r.status ? "HTTP " + std::to_string(r.status) : r.error));
    });
  }

  boost::asio::io_context& io_;
  HttpClient& http_;
  const DcacheSpec& spec_;
  HttpAuth auth_;
};

}  // namespace

std::unique_ptr<ObjectStore> DcacheSpec::objectStore(boost::asio::io_context& io, HttpClient& http,
                                                     const Clock&) const {
  return std::make_unique<DcacheStore>(io, http, *this);
}

}  // namespace sluice::connectors::dcache
