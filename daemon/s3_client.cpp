#include "daemon/s3_client.hpp"

#include <sys/stat.h>

#include <boost/asio/post.hpp>
#include <fstream>
#include <memory>
#include <sstream>

#include "daemon/event.hpp"
#include "daemon/sigv4.hpp"
#include "daemon/xml.hpp"

namespace sluice {
namespace {

constexpr std::size_t kErrorPeek = 8192;  // of a failed download's body, for S3's <Error>

std::string stripQuotes(std::string s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

std::string peekFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::string s(kErrorPeek, '\0');
  in.read(s.data(), static_cast<std::streamsize>(s.size()));
  s.resize(static_cast<std::size_t>(in.gcount()));
  return s;
}

bool transientCode(const std::string& code) {
  return code == "SlowDown" || code == "RequestTimeout" || code == "InternalError" ||
         code == "ServiceUnavailable" || code == "ExpiredToken" || code == "RequestTimeTooSkewed";
}

}  // namespace

S3Client::S3Client(boost::asio::io_context& io, HttpClient& http, AwsCredentialsProvider& creds,
                   const Clock& clock, S3Config config)
    : io_(io), http_(http), creds_(creds), clock_(clock), config_(std::move(config)) {
  if (config_.endpoint.empty()) {
    config_.endpoint = "https://s3." + config_.region + ".amazonaws.com";
  }
  while (!config_.endpoint.empty() && config_.endpoint.back() == '/') config_.endpoint.pop_back();
}

std::string S3Client::bucketUrl(const std::string& bucket) const {
  if (config_.path_style) return config_.endpoint + "/" + uriEncode(bucket, false);
  auto scheme = config_.endpoint.find("://");
  return config_.endpoint.substr(0, scheme + 3) + bucket + "." +
         config_.endpoint.substr(scheme + 3);
}

std::string S3Client::objectUrl(const std::string& bucket, const std::string& key) const {
  std::string base = bucketUrl(bucket);
  return base + "/" + uriEncode(key, true);
}

S3Result S3Client::resultOf(const HttpResponse& r) {
  S3Result out;
  out.status = r.status;
  if (r.status >= 200 && r.status < 300 && r.curl_code == 0) return out;
  if (r.status == 0) {
    out.error = r.error.empty() ? "no answer" : r.error;
    out.transient = r.cancelled ? false : isTransientCurlError(r.curl_code) || r.curl_code == 0;
    return out;
  }
  std::string why;
  if (auto xml = parseXml(r.body, &why); xml && xml->name == "Error") {
    out.code = xml->childText("Code");
    out.error = "S3 " + std::to_string(r.status) + " " + out.code;
    if (auto msg = xml->childText("Message"); !msg.empty()) out.error += ": " + msg;
  } else {
    out.error = "S3 answered " + std::to_string(r.status);
  }
  out.transient = r.status >= 500 || r.status == 429 || r.status == 408 || transientCode(out.code);
  return out;
}

void S3Client::send(HttpRequest req, std::function<void(HttpResponse)> done,
                    std::function<void(std::uint64_t)> started) {
  if (!config_.ca_file.empty()) req.ca_file = config_.ca_file;
  sendSigned(http_, creds_, clock_, {config_.region, "s3", true, false}, std::move(req),
             std::move(done), std::move(started));
}

void S3Client::list(const std::string& bucket, const std::string& prefix, const std::string& token,
                    int max_keys, std::function<void(S3ListPage)> done) {
  HttpRequest req;
  req.method = "GET";
  req.url = bucketUrl(bucket) +
            "?list-type=2&encoding-type=url&max-keys=" + std::to_string(max_keys) +
            "&prefix=" + uriEncode(prefix, false);
  if (!token.empty()) req.url += "&continuation-token=" + uriEncode(token, false);
  req.timeout = config_.timeout;
  req.max_response_body = 16 << 20;
  send(std::move(req), [done = std::move(done)](HttpResponse r) {
    S3ListPage page;
    page.result = resultOf(r);
    if (!page.result.error.empty()) return done(std::move(page));
    std::string why;
    auto xml = parseXml(r.body, &why);
    if (!xml || xml->name != "ListBucketResult") {
      page.result.error = "ListObjectsV2: " + (xml ? "unexpected <" + xml->name + ">" : why);
      page.result.transient = true;  // a truncated answer; a proxy's error page
      return done(std::move(page));
    }
    const bool url_encoded = xml->childText("EncodingType") == "url";
    for (const XmlElement* c : xml->all("Contents")) {
      S3Object o;
      o.key = url_encoded ? formDecode(c->childText("Key")) : c->childText("Key");
      o.etag = stripQuotes(c->childText("ETag"));
      try {
        o.size = std::stoll(c->childText("Size"));
      } catch (const std::exception&) {
        o.size = -1;
      }
      o.last_modified_ms = parseTime(c->childText("LastModified")).value_or(0);
      page.objects.push_back(std::move(o));
    }
    if (xml->childText("IsTruncated") == "true") {
      page.next_token = xml->childText("NextContinuationToken");
      if (page.next_token.empty()) {
        page.result.error = "ListObjectsV2: truncated without NextContinuationToken";
        page.result.transient = true;
      }
    }
    done(std::move(page));
  });
}

void S3Client::get(const std::string& bucket, const std::string& key,
                   const std::filesystem::path& dest, std::function<void(S3Result)> done) {
  HttpRequest req;
  req.method = "GET";
  req.url = objectUrl(bucket, key);
  req.download_file = dest.string();
  req.timeout = std::chrono::milliseconds(0);  // large objects: only the idle limit applies
  req.idle_timeout = std::chrono::milliseconds(60'000);
  send(std::move(req), [dest, done = std::move(done)](HttpResponse r) {
    if (r.status >= 300 || r.curl_code != 0) {
      if (r.status >= 300) r.body = peekFile(dest);  // S3's <Error> went to the file
      std::error_code ec;
      std::filesystem::remove(dest, ec);
    }
    done(resultOf(r));
  });
}

void S3Client::put(const std::string& bucket, const std::string& key,
                   const std::filesystem::path& src, std::function<void(S3Result)> done) {
  struct stat st {};
  if (::stat(src.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    boost::asio::post(io_, [done = std::move(done), src] {
      done(S3Result{"cannot upload " + src.string() + ": not a readable file", 0, "", false});
    });
    return;
  }
  auto size = static_cast<std::uint64_t>(st.st_size);
  if (size > config_.multipart_threshold)
    return putMultipart(bucket, key, src, size, std::move(done));
  HttpRequest req;
  req.method = "PUT";
  req.url = objectUrl(bucket, key);
  req.upload_file = src.string();
  req.timeout = std::chrono::milliseconds(0);
  req.idle_timeout = std::chrono::milliseconds(60'000);
  send(std::move(req), [done = std::move(done)](HttpResponse r) { done(resultOf(r)); });
}

struct S3Client::Upload {
  std::string url, id;
  std::filesystem::path src;
  std::uint64_t size = 0, part_size = 0;
  std::vector<std::string> etags;  // of the parts sent, in order
  std::function<void(S3Result)> done;
};

void S3Client::putMultipart(const std::string& bucket, const std::string& key,
                            const std::filesystem::path& src, std::uint64_t size,
                            std::function<void(S3Result)> done) {
  auto up = std::make_shared<Upload>();
  up->url = objectUrl(bucket, key);
  up->src = src;
  up->size = size;
  // S3 allows at most 10,000 parts: grow the part for huge files.
  up->part_size = std::max<std::uint64_t>(config_.part_size, (size + 9'999) / 10'000);
  up->done = std::move(done);
  HttpRequest create;
  create.method = "POST";
  create.url = up->url + "?uploads";
  create.timeout = config_.timeout;
  send(std::move(create), [this, up](HttpResponse r) {
    S3Result res = resultOf(r);
    std::string why;
    if (res.error.empty()) {
      auto x = parseXml(r.body, &why);
      if (x && x->name == "InitiateMultipartUploadResult") up->id = x->childText("UploadId");
      if (up->id.empty()) res.error = "CreateMultipartUpload: no UploadId in the answer";
    }
    if (!res.error.empty()) return finishUpload(up, std::move(res));
    uploadPart(up);
  });
}

void S3Client::uploadPart(std::shared_ptr<Upload> u) {
  std::uint64_t offset = u->etags.size() * u->part_size;
  if (offset >= u->size) return completeUpload(u);
  HttpRequest req;
  req.method = "PUT";
  req.url = u->url + "?partNumber=" + std::to_string(u->etags.size() + 1) +
            "&uploadId=" + uriEncode(u->id, false);
  req.upload_file = u->src.string();
  req.upload_offset = offset;
  req.upload_length = std::min(u->part_size, u->size - offset);
  req.timeout = std::chrono::milliseconds(0);
  req.idle_timeout = std::chrono::milliseconds(60'000);
  send(std::move(req), [this, u](HttpResponse r) {
    S3Result res = resultOf(r);
    const std::string* etag = r.header("etag");
    if (res.error.empty() && !etag) res.error = "UploadPart: no ETag in the answer";
    if (!res.error.empty()) return finishUpload(u, std::move(res));
    u->etags.push_back(stripQuotes(*etag));
    uploadPart(u);
  });
}

void S3Client::completeUpload(std::shared_ptr<Upload> u) {
  std::ostringstream xml;
  xml << "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
  for (std::size_t i = 0; i < u->etags.size(); ++i)
    xml << "<Part><PartNumber>" << i + 1 << "</PartNumber><ETag>\"" << u->etags[i]
        << "\"</ETag></Part>";
  xml << "</CompleteMultipartUpload>";
  HttpRequest req;
  req.method = "POST";
  req.url = u->url + "?uploadId=" + uriEncode(u->id, false);
  req.body = xml.str();
  req.headers = {{"Content-Type", "application/xml"}};
  req.timeout = config_.timeout;
  send(std::move(req), [this, u](HttpResponse r) {
    S3Result res = resultOf(r);
    std::string why;
    // S3 may answer 200 and still fail: the error is then the body.
    if (res.error.empty())
      if (auto x = parseXml(r.body, &why); x && x->name == "Error") {
        r.status = 500;
        res = resultOf(r);
      }
    finishUpload(u, std::move(res));
  });
}

// On failure the parts are aborted (best effort) so that they stop taking space.
void S3Client::finishUpload(std::shared_ptr<Upload> u, S3Result r) {
  if (!r.error.empty() && !u->id.empty()) {
    HttpRequest abort;
    abort.method = "DELETE";
    abort.url = u->url + "?uploadId=" + uriEncode(u->id, false);
    send(std::move(abort), [](HttpResponse) {});
  }
  u->done(std::move(r));
}

}  // namespace sluice
