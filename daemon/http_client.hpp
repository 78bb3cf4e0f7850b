#pragma once
// The one HTTP client of the process: libcurl's multi interface driven by the Asio io_context
// (socket and timer callbacks), so every transfer — webhook POSTs now, streaming SSE/NDJSON
// sources later — shares one event loop and one connection cache (keep-alive, HTTP/2
// multiplexing where the server offers it).
//
// Threading: construct, send() and cancel() on the io_context thread only; `done` and
// `on_body` run on that thread too. Never throws after construction. TLS verification is on
// unless a request explicitly turns it off.
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

enum class HttpVersion { Auto, Http1_1, Http2 };  // Auto: HTTP/2 over TLS when offered, else 1.1

struct HttpRequest {
  std::string method = "POST";
  std::string url;
  HttpHeaders headers;
  std::string body;
  std::chrono::milliseconds timeout{30'000};  // whole transfer; 0 = none (streams)
  std::chrono::milliseconds connect_timeout{10'000};
  bool verify_tls = true;
  std::string ca_file;  // extra CA bundle; empty = system store
  std::string ca_path;  // a directory of hashed CA certificates (c_rehash), e.g.
                        // /etc/grid-security/certificates
  HttpVersion version = HttpVersion::Auto;
  std::optional<std::pair<std::string, std::string>> basic_auth;  // user, password
  // Streaming: when set, body chunks are passed here instead of being collected; return false
  // to abort the transfer.
  std::function<bool(std::string_view chunk)> on_body;
  // Called once with the status and headers of the final response (not of a 100 Continue),
  // before the first body chunk: a stream tells a 401 from data. Return false to abort.
  std::function<bool(long status, const HttpHeaders& headers)> on_response;
  // Long-lived streams: fail with a timeout (CURLE_OPERATION_TIMEDOUT) when nothing arrives
  // for this long (whole seconds; 0: off). A paused transfer is not idle.
  std::chrono::milliseconds idle_timeout{0};
  std::size_t max_response_body = 1 << 20;  // collected bytes kept, rest discarded
  // Large objects: the request body is read from this file instead of `body` (PUT uploads,
  // POST otherwise), and the response body is written to `download_file` (created 0600,
  // truncated) instead of being collected. A file that cannot be opened fails the transfer
  // (curl_code CURLE_READ_ERROR / CURLE_WRITE_ERROR, the reason in `error`).
  std::string upload_file;
  std::string download_file;
  // Only a part of upload_file (multipart uploads): upload_length bytes (0: to the end) from
  // byte upload_offset.
  std::uint64_t upload_offset = 0;
  std::uint64_t upload_length = 0;
  // TLS client authentication (X.509; a grid proxy holds both in one file: name it twice).
  std::string client_cert;
  std::string client_key;
};

// Keeps the start of an error body that arrives through on_body (what a stream's server said
// when it refused it), at most `cap` bytes.
inline void appendCapped(std::string& to, std::string_view chunk, std::size_t cap = 4096) {
  if (to.size() < cap) to.append(chunk.substr(0, cap - to.size()));
}

struct HttpResponse {
  long status = 0;      // 0 when no HTTP answer arrived
  HttpHeaders headers;  // names lower-cased
  std::string body;
  int curl_code = 0;  // CURLcode; 0 = transfer completed
  std::string error;  // curl's message when curl_code != 0
  bool cancelled = false;
  std::chrono::microseconds elapsed{0};
  const std::string* header(std::string_view lower_name) const;
};

class HttpClient {
 public:
  explicit HttpClient(boost::asio::io_context& io);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Starts a transfer. `done` is called exactly once (also when cancelled), never inline.
  std::uint64_t send(HttpRequest req, std::function<void(HttpResponse)> done);
  void cancel(std::uint64_t id);
  // Backpressure for streams: stop reading `id`'s response (the server's sends then block in
  // TCP flow control) until resume(). Nothing is lost and the transfer is not aborted.
  void pause(std::uint64_t id);
  void resume(std::uint64_t id);
  void cancelAll();
  std::size_t inFlight() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// True for curl errors that a later attempt may not hit (connection refused, timeouts, resets,
// TLS handshake failures, DNS); false for malformed URLs and unsupported protocols.
bool isTransientCurlError(int curl_code);

}  // namespace sluice
