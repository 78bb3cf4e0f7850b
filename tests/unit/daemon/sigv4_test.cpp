// The signer's S3 flavour and request signing; the classic AWS suite (other services) runs as
// the separate `sigv4_conformance` test.
#include "daemon/sigv4.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "daemon/crypto.hpp"
#include "tests/unit/support/temp_dir.hpp"

namespace sluice {
namespace {

const AwsCredentials kDocKeys{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                              ""};
const std::string kEmpty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

std::string signatureOf(const std::string& authz) { return authz.substr(authz.rfind('=') + 1); }

// The examples of the S3 API reference ("Signature calculations for the Authorization header").
TEST(SigV4, S3DocumentationExamples) {
  SigV4Scope s3{"us-east-1", "s3", true, false};
  HttpHeaders get = {{"Host", "examplebucket.s3.amazonaws.com"},
                     {"Range", "bytes=0-9"},
                     {"x-amz-content-sha256", kEmpty},
                     {"x-amz-date", "20130524T000000Z"}};
  auto p = sigv4Sign("GET", "/test.txt", "", get, kEmpty, kDocKeys, s3, "20130524T000000Z");
  EXPECT_EQ(p.canonical_request,
            "GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
            "x-amz-content-sha256:" +
                kEmpty +
                "\nx-amz-date:20130524T000000Z\n\n"
                "host;range;x-amz-content-sha256;x-amz-date\n" +
                kEmpty);
  EXPECT_EQ(signatureOf(p.authorization),
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");

  HttpHeaders list = {{"Host", "examplebucket.s3.amazonaws.com"},
                      {"x-amz-content-sha256", kEmpty},
                      {"x-amz-date", "20130524T000000Z"}};
  p = sigv4Sign("GET", "/", "max-keys=2&prefix=J", list, kEmpty, kDocKeys, s3, "20130524T000000Z");
  EXPECT_EQ(signatureOf(p.authorization),
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(SigV4, S3KeysAreSignedExactlyAsSentOthersAreNormalisedAndEncodedAgain) {
  HttpHeaders h = {{"Host", "h"}, {"X-Amz-Date", "20150830T123600Z"}};
  AwsCredentials c{"AK", "SK", ""};
  const std::string key = "a/../b//c %\n\xff";
  const std::string wire = "/bucket/" + uriEncode(key, true);
  EXPECT_EQ(wire, "/bucket/a/../b//c%20%25%0A%FF");
  auto s3 = sigv4Sign("GET", wire, "", h, kEmpty, c, {"r", "s3", true, false}, "20150830T123600Z");
  EXPECT_EQ(s3.canonical_request.substr(0, s3.canonical_request.find('\n', 4)),
            "GET\n/bucket/a/../b//c%20%25%0A%FF");
  auto other =
      sigv4Sign("GET", wire, "", h, kEmpty, c, {"r", "lambda", false, false}, "20150830T123600Z");
  EXPECT_EQ(other.canonical_request.substr(0, other.canonical_request.find('\n', 4)),
            "GET\n/bucket/b/c%2520%2525%250A%25FF");
  // Lambda's function path: ':' is sent as %3A and so signed as %253A (PROTOCOLS.md §5).
  auto lambda = sigv4Sign("POST", "/2015-03-31/functions/f%3Alive/invocations", "", h, kEmpty, c,
                          {"r", "lambda", false, false}, "20150830T123600Z");
  EXPECT_NE(lambda.canonical_request.find("\n/2015-03-31/functions/f%253Alive/invocations\n"),
            std::string::npos);
}

TEST(SigV4, QueryIsDecodedThenEncodedCanonicallyAndSorted) {
  HttpHeaders h = {{"Host", "h"}, {"X-Amz-Date", "20150830T123600Z"}};
  auto p = sigv4Sign("GET", "/", "uploads&b=2&a=x+y&a=%2F&list-type=2&prefix=a%2Fb~", h, kEmpty,
                     AwsCredentials{"AK", "SK", ""}, {"r", "s3", true, false}, "20150830T123600Z");
  EXPECT_NE(p.canonical_request.find("\na=%2F&a=x%20y&b=2&list-type=2&prefix=a%2Fb~&uploads=\n"),
            std::string::npos)
      << p.canonical_request;
}

TEST(SigV4, SignRequestSetsTheHeadersItSigns) {
  HttpRequest req;
  req.method = "PUT";
  req.url = "http://127.0.0.1:9000/bucket/a%20b?x-id=PutObject";
  req.body = "hello";
  req.headers = {{"Content-Type", "text/plain"}, {"User-Agent", "sluice"}, {"X-Amz-Date", "old"}};
  AwsCredentials c{"AK", "SK", "TOKEN"};
  auto now = std::chrono::system_clock::from_time_t(1440938160);  // 2015-08-30T12:36:00Z
  ASSERT_EQ(sigv4SignRequest(req, c, {"us-east-1", "s3", true, false}, now), "");
  auto header = [&](const std::string& n) {
    std::string v;
    int count = 0;
    for (auto& [k, val] : req.headers)
      if (k == n) {
        v = val;
        ++count;
      }
    EXPECT_LE(count, 1) << n;
    return v;
  };
  EXPECT_EQ(header("Host"), "127.0.0.1:9000");
  EXPECT_EQ(header("X-Amz-Date"), "20150830T123600Z");
  EXPECT_EQ(header("X-Amz-Security-Token"), "TOKEN");
  EXPECT_EQ(header("X-Amz-Content-Sha256"), hexEncode(sha256("hello")));
  std::string authz = header("Authorization");
  EXPECT_NE(authz.find("Credential=AK/20150830/us-east-1/s3/aws4_request, SignedHeaders=content-"
                       "type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token, "),
            std::string::npos)
      << authz;  // user-agent is never signed
  // Signing again (a retry) replaces, never duplicates.
  ASSERT_EQ(sigv4SignRequest(req, c, {"us-east-1", "s3", true, true}, now + std::chrono::hours(1)),
            "");
  EXPECT_EQ(header("X-Amz-Content-Sha256"), "UNSIGNED-PAYLOAD");
  EXPECT_EQ(header("X-Amz-Date"), "20150830T133600Z");
}

TEST(SigV4, UploadsAreHashedFromTheFile) {
  test::TempDir dir;
  std::string path = (dir.path() / "up").string();
  std::ofstream(path) << std::string(200'000, 'z');
  HttpRequest req;
  req.method = "PUT";
  req.url = "https://s3.example.org/b/k";
  req.upload_file = path;
  ASSERT_EQ(sigv4SignRequest(req, {"AK", "SK", ""}, {"r", "s3", true, false},
                             std::chrono::system_clock::now()),
            "");
  bool found = false;
  for (auto& [k, v] : req.headers)
    if (k == "X-Amz-Content-Sha256") found = v == hexEncode(sha256(std::string(200'000, 'z')));
  EXPECT_TRUE(found);
  req.upload_file = path + ".missing";
  EXPECT_NE(sigv4SignRequest(req, {"AK", "SK", ""}, {"r", "s3", true, false},
                             std::chrono::system_clock::now()),
            "");
  req.upload_file.clear();
  req.headers = {{"Bad;Name", "v"}};
  EXPECT_NE(sigv4SignRequest(req, {"AK", "SK", ""}, {"r", "s3", true, true},
                             std::chrono::system_clock::now()),
            "");
  req.headers.clear();
  req.url = "no-scheme/b/k";
  EXPECT_NE(sigv4SignRequest(req, {"AK", "SK", ""}, {"r", "s3", true, true},
                             std::chrono::system_clock::now()),
            "");
}

}  // namespace
}  // namespace sluice
