#pragma once
// AWS Signature Version 4, once for everything that talks to AWS-style APIs (S3, MinIO, Ceph
// RGW, SQS, Lambda). PROTOCOLS.md §6; checked against the AWS conformance suite by the
// `sigv4_conformance` test (tests/conformance/).
//
// Two flavours of canonical URI: S3 signs the path exactly as sent (keys are opaque: no
// normalisation, encoded once, by whoever built the URL with uriEncode()); every other service
// normalises the path (dot segments, repeated slashes) and encodes it again.
#include <chrono>
#include <string>
#include <string_view>

#include "daemon/http_client.hpp"

namespace sluice {

struct AwsCredentials {
  std::string access_key;
  std::string secret_key;
  std::string session_token;  // temporary credentials; empty otherwise
};

struct SigV4Scope {
  std::string region;
  std::string service;  // "s3", "sqs", "lambda", ...
  bool s3 = false;      // S3 rules: path as sent, x-amz-content-sha256 header
  // S3 only: sign "UNSIGNED-PAYLOAD" instead of the body's hash (large uploads over TLS).
  bool unsigned_payload = false;
};

struct SigV4Parts {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;  // "host;x-amz-date"
  std::string authorization;   // the Authorization header value
};

// AWS's UriEncode: every byte but A-Z a-z 0-9 - . _ ~ as %XX (upper-case hex); '/' kept when
// `keep_slash` (object keys in paths).
std::string uriEncode(std::string_view bytes, bool keep_slash);
// application/x-www-form-urlencoded decoding ('+' a space, %XX a byte; a stray '%' stays): how
// servers read query components, and how S3 encodes keys in url-encoded listings and in
// notifications.
std::string formDecode(std::string_view s);
// RFC 9110 token: what a header name must be (and so never holds ';', ':' or blanks).
bool isHttpToken(std::string_view name);
// "20150830T123600Z"
std::string amzDate(std::chrono::system_clock::time_point t);

// The signature over a request as it goes on the wire: `path` and `query` as in the URL (the
// query is decoded and re-encoded canonically), `headers` as sent (they must include host and
// x-amz-date; the token header too when there is one; names must be HTTP tokens). Headers curl or
// proxies may change (user-agent, expect, connection, ...) are never signed.
SigV4Parts sigv4Sign(std::string_view method, std::string_view path, std::string_view query,
                     const HttpHeaders& headers, std::string_view payload_hash,
                     const AwsCredentials& creds, const SigV4Scope& scope,
                     std::string_view amz_date);

// Signs `req` in place for sending at `now`: sets Host (so that what is signed is what curl
// sends), X-Amz-Date, X-Amz-Security-Token, X-Amz-Content-Sha256 (S3) and Authorization.
// The payload hash covers `body`, or `upload_file` (read here). Returns "" or why it cannot sign
// (a URL it cannot read, an upload file it cannot read, a header name that is not a token).
std::string sigv4SignRequest(HttpRequest& req, const AwsCredentials& creds, const SigV4Scope& scope,
                             std::chrono::system_clock::time_point now);

}  // namespace sluice
