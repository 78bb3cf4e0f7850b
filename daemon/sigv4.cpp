#include "daemon/sigv4.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <map>
#include <vector>

#include "daemon/crypto.hpp"

namespace sluice {
namespace {

// Headers that hops, proxies or curl itself may add or rewrite (botocore's list): signing
// them would break the signature in transit.
bool neverSigned(std::string_view name) {
  static constexpr std::string_view kSkip[] = {"authorization",
                                               "connection",
                                               "expect",
                                               "keep-alive",
                                               "proxy-authenticate",
                                               "proxy-authorization",
                                               "te",
                                               "trailer",
                                               "transfer-encoding",
                                               "upgrade",
                                               "user-agent",
                                               "x-amzn-trace-id"};
  return std::find(std::begin(kSkip), std::end(kSkip), name) != std::end(kSkip);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// Trimmed, with every run of blanks (also folded line breaks) as one space.
std::string canonicalValue(std::string_view v) {
  std::string out;
  bool blank = false;
  for (char c : v) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      blank = !out.empty();
      continue;
    }
    if (blank) out += ' ';
    blank = false;
    out += c;
  }
  return out;
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::string canonicalQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> params;
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (part.empty()) continue;
    auto eq = part.find('=');
    std::string name = formDecode(part.substr(0, eq));
    std::string value = eq == std::string_view::npos ? "" : formDecode(part.substr(eq + 1));
    params.emplace_back(uriEncode(name, false), uriEncode(value, false));
  }
  std::sort(params.begin(), params.end());  // by encoded name, then value
  std::string out;
  for (auto& [n, v] : params) out += (out.empty() ? "" : "&") + n + "=" + v;
  return out;
}

// RFC 3986 dot-segment removal, with empty segments (repeated slashes) dropped as well.
std::string normalizePath(std::string_view path) {
  std::vector<std::string_view> segs;
  std::size_t i = 0;
  while (i <= path.size()) {
    auto slash = path.find('/', i);
    std::string_view seg = path.substr(i, slash == std::string_view::npos ? path.npos : slash - i);
    if (seg == "..") {
      if (!segs.empty()) segs.pop_back();
    } else if (!seg.empty() && seg != ".") {
      segs.push_back(seg);
    }
    if (slash == std::string_view::npos) break;
    i = slash + 1;
  }
  std::string out;
  for (auto s : segs) out.append("/").append(s);
  if (out.empty()) return "/";
  if (!path.empty() && path.back() == '/') out += '/';
  return out;
}

std::string canonicalUri(std::string_view path, bool s3) {
  if (path.empty()) return "/";
  if (s3) return std::string(path);
  return uriEncode(normalizePath(path), true);
}

// The hash of what HttpClient will send of the file: `length` bytes (0: all) from `offset`.
std::string fileSha256Hex(const std::string& path, std::uint64_t offset, std::uint64_t length,
                          std::string* error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = "cannot read " + path + ": " + std::strerror(errno);
    return {};
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  std::vector<char> buf(1 << 16);
  ssize_t n = 0;
  std::uint64_t left = length ? length : UINT64_MAX;
  auto pos = static_cast<off_t>(offset);
  while (left > 0 &&
         (n = ::pread(fd, buf.data(), std::min<std::uint64_t>(buf.size(), left), pos)) > 0) {
    EVP_DigestUpdate(ctx, buf.data(), static_cast<std::size_t>(n));
    left -= static_cast<std::uint64_t>(n);
    pos += n;
  }
  if (n < 0) *error = "cannot read " + path + ": " + std::strerror(errno);
  ::close(fd);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  return hexEncode(std::string_view(reinterpret_cast<const char*>(md), len));
}

}  // namespace

std::string formDecode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hexValue(s[i + 1]) >= 0 && hexValue(s[i + 2]) >= 0) {
      out += static_cast<char>(hexValue(s[i + 1]) * 16 + hexValue(s[i + 2]));
      i += 2;
    } else {
      out += s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

bool isHttpToken(std::string_view name) {
  if (name.empty()) return false;
  for (unsigned char c : name) {
    bool ok =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
        std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

std::string uriEncode(std::string_view bytes, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size());
  for (unsigned char c : bytes) {
    bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/');
    if (keep) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string amzDate(std::chrono::system_clock::time_point t) {
  std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

SigV4Parts sigv4Sign(std::string_view method, std::string_view path, std::string_view query,
                     const HttpHeaders& headers, std::string_view payload_hash,
                     const AwsCredentials& creds, const SigV4Scope& scope,
                     std::string_view amz_date) {
  std::map<std::string, std::string> canon;  // sorted by lower-case name
  for (const auto& [name, value] : headers) {
    std::string n = lower(name);
    if (neverSigned(n)) continue;
    auto [it, fresh] = canon.try_emplace(n, canonicalValue(value));
    if (!fresh) it->second += "," + canonicalValue(value);  // repeats: in the order sent
  }
  SigV4Parts p;
  std::string header_block;
  for (const auto& [n, v] : canon) {
    header_block += n + ":" + v + "\n";
    p.signed_headers += (p.signed_headers.empty() ? "" : ";") + n;
  }
  p.canonical_request = std::string(method) + "\n" + canonicalUri(path, scope.s3) + "\n" +
                        canonicalQuery(query) + "\n" + header_block + "\n" + p.signed_headers +
                        "\n" + std::string(payload_hash);
  const std::string date(amz_date.substr(0, 8));
  const std::string credential_scope =
      date + "/" + scope.region + "/" + scope.service + "/aws4_request";
  p.string_to_sign = "AWS4-HMAC-SHA256\n" + std::string(amz_date) + "\n" + credential_scope + "\n" +
                     hexEncode(sha256(p.canonical_request));
  std::string key = hmacSha256("AWS4" + creds.secret_key, date);
  key = hmacSha256(key, scope.region);
  key = hmacSha256(key, scope.service);
  key = hmacSha256(key, "aws4_request");
  p.authorization = "AWS4-HMAC-SHA256 Credential=" + creds.access_key + "/" + credential_scope +
                    ", SignedHeaders=" + p.signed_headers +
                    ", Signature=" + hexEncode(hmacSha256(key, p.string_to_sign));
  return p;
}

std::string sigv4SignRequest(HttpRequest& req, const AwsCredentials& creds, const SigV4Scope& scope,
                             std::chrono::system_clock::time_point now) {
  std::string_view url = req.url;
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return "not an absolute URL: " + req.url;
  std::string_view rest = url.substr(scheme_end + 3);
  auto auth_end = rest.find_first_of("/?#");
  std::string_view host = rest.substr(0, auth_end);
  if (auto at = host.rfind('@'); at != std::string_view::npos) host = host.substr(at + 1);
  if (host.empty()) return "no host in " + req.url;
  rest = auth_end == std::string_view::npos ? std::string_view{} : rest.substr(auth_end);
  if (auto hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
  auto q = rest.find('?');
  std::string_view path = rest.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view{} : rest.substr(q + 1);

  for (const auto& h : req.headers)
    if (!isHttpToken(h.first)) return "header name \"" + h.first + "\" is not an HTTP token";
  std::string payload;
  if (scope.s3 && scope.unsigned_payload) {
    payload = "UNSIGNED-PAYLOAD";
  } else if (!req.upload_file.empty()) {
    std::string error;
    payload = fileSha256Hex(req.upload_file, req.upload_offset, req.upload_length, &error);
    if (!error.empty()) return error;
  } else {
    payload = hexEncode(sha256(req.body));
  }
  // What this function sets replaces any earlier value (a re-signed retry).
  auto drop = [&req](std::string_view name) {
    std::erase_if(req.headers, [&](const auto& h) { return lower(h.first) == name; });
  };
  for (auto n :
       {"host", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256", "authorization"})
    drop(n);
  const std::string date = amzDate(now);
  req.headers.emplace_back("Host", std::string(host));
  req.headers.emplace_back("X-Amz-Date", date);
  if (!creds.session_token.empty())
    req.headers.emplace_back("X-Amz-Security-Token", creds.session_token);
  if (scope.s3) req.headers.emplace_back("X-Amz-Content-Sha256", payload);
  SigV4Parts p = sigv4Sign(req.method, path.empty() ? "/" : path, query, req.headers, payload,
                           creds, scope, date);
  req.headers.emplace_back("Authorization", p.authorization);
  return "";
}

}  // namespace sluice
