// S3Client against canned answers (the fake S3 in tests/integration checks signatures end to
// end); here: what is sent, and how answers and errors are read.
#include "daemon/s3_client.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <optional>

#include "daemon/xml.hpp"
#include "tests/unit/support/loop.hpp"
#include "tests/unit/support/temp_dir.hpp"
#include "tests/unit/support/test_http_server.hpp"

namespace sluice {
namespace {

using test::CannedResponse;
using test::RecordedRequest;

struct S3Fixture : ::testing::Test {
  boost::asio::io_context io;
  HttpClient http{io};
  ManualClock clock;
  test::TestHttpServer server;
  AwsCredentialSource src = [] {
    AwsCredentialSource s;
    s.fixed = AwsCredentials{"AK", "SK", ""};
    return s;
  }();
  AwsCredentialsProvider creds{io, nullptr, src, clock};
  test::TempDir dir;

  S3Client client(std::uint64_t threshold = 64 << 20, std::uint64_t part = 16 << 20) {
    S3Config c;
    c.endpoint = server.url("/");
    c.multipart_threshold = threshold;
    c.part_size = part;
    return S3Client(io, http, creds, clock, c);
  }
  template <typename T>
  T wait(std::optional<T>& v) {
    EXPECT_TRUE(test::runUntil(io, [&] { return v.has_value(); }));
    return v.value_or(T{});
  }
};

TEST_F(S3Fixture, ListingsAskForUrlEncodingAndDecodeKeysToBytes) {
  server.respondWith(CannedResponse{
      200,
      {{"Content-Type", "application/xml"}},
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult "
      "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name><EncodingType>url</"
      "EncodingType><IsTruncated>true</IsTruncated><NextContinuationToken>t+2/=</"
      "NextContinuationToken><Contents><Key>a+b%2F..%2F%0A%FF</Key><LastModified>2026-12-04T10:"
      "00:00.000Z</LastModified><ETag>&quot;abc&quot;</ETag><Size>42</Size></Contents></"
      "ListBucketResult>"});
  auto s3 = client();
  std::optional<S3ListPage> got;
  s3.list("bkt", "in/x y", "tok=1", 500, [&](S3ListPage p) { got = std::move(p); });
  S3ListPage page = wait(got);
  ASSERT_EQ(page.result.error, "");
  ASSERT_EQ(page.objects.size(), 1u);
  EXPECT_EQ(page.objects[0].key, "a b/../\n\xff");
  EXPECT_EQ(page.objects[0].etag, "abc");
  EXPECT_EQ(page.objects[0].size, 42);
  EXPECT_EQ(page.objects[0].last_modified_ms, 1796378400000);
  EXPECT_EQ(page.next_token, "t+2/=");
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].target,
            "/bkt?list-type=2&encoding-type=url&max-keys=500&prefix=in%2Fx%20y&continuation-"
            "token=tok%3D1");
  ASSERT_NE(reqs[0].header("authorization"), nullptr);
  EXPECT_NE(reqs[0].header("authorization")->find("/s3/aws4_request"), std::string::npos);
  ASSERT_NE(reqs[0].header("x-amz-content-sha256"), nullptr);
}

TEST_F(S3Fixture, ErrorsCarryS3sCodeAndWhetherToRetry) {
  server.respondWith(CannedResponse{
      404,
      {},
      "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>"});
  auto s3 = client();
  auto dest = dir.path() / "obj";
  std::optional<S3Result> got;
  s3.get("bkt", "a//b", dest, [&](S3Result r) { got = r; });
  S3Result r = wait(got);
  EXPECT_EQ(r.code, "NoSuchKey");
  EXPECT_EQ(r.status, 404);
  EXPECT_FALSE(r.transient);
  EXPECT_NE(r.error.find("The specified key does not exist."), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dest));  // the error body is not left as the object
  EXPECT_EQ(server.requests().at(0).target, "/bkt/a//b");  // not normalised

  server.respondWith(CannedResponse{503, {}, "<Error><Code>SlowDown</Code></Error>"});
  got.reset();
  s3.get("bkt", "k", dest, [&](S3Result r2) { got = r2; });
  EXPECT_TRUE(wait(got).transient);

  HttpResponse none;
  none.curl_code = 7;  // connection refused
  none.error = "refused";
  EXPECT_TRUE(S3Client::resultOf(none).transient);
}

TEST_F(S3Fixture, BigFilesGoUpInPartsAndFailedUploadsAreAborted) {
  std::string content = "0123456789ab";  // 12 bytes: parts of 5, 5, 2
  std::ofstream(dir.path() / "big") << content;
  bool fail_part = false;
  server.setHandler([&](const RecordedRequest& r) -> std::optional<CannedResponse> {
    if (r.method == "POST" && r.target.find("?uploads") != std::string::npos)
      return CannedResponse{200,
                            {},
                            "<InitiateMultipartUploadResult><UploadId>u/1</UploadId></"
                            "InitiateMultipartUploadResult>"};
    if (r.method == "PUT") {
      if (fail_part && r.target.find("partNumber=2") != std::string::npos)
        return CannedResponse{500, {}, "<Error><Code>InternalError</Code></Error>"};
      return CannedResponse{200, {{"ETag", "\"e" + r.body + "\""}}, ""};
    }
    if (r.method == "POST") return CannedResponse{200, {}, "<CompleteMultipartUploadResult/>"};
    return CannedResponse{204, {}, ""};
  });
  auto s3 = client(10, 5);
  std::optional<S3Result> got;
  s3.put("bkt", "dir/big file", dir.path() / "big", [&](S3Result r) { got = r; });
  EXPECT_EQ(wait(got).error, "");
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 5u);
  EXPECT_EQ(reqs[0].target, "/bkt/dir/big%20file?uploads");
  EXPECT_EQ(reqs[1].target, "/bkt/dir/big%20file?partNumber=1&uploadId=u%2F1");
  EXPECT_EQ(reqs[1].body, "01234");
  EXPECT_EQ(reqs[2].body, "56789");
  EXPECT_EQ(reqs[3].body, "ab");
  EXPECT_EQ(
      reqs[4].body,
      "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Part><"
      "PartNumber>1</PartNumber><ETag>\"e01234\"</ETag></Part><Part><PartNumber>2</"
      "PartNumber><ETag>\"e56789\"</ETag></Part><Part><PartNumber>3</PartNumber><ETag>\"eab\"</"
      "ETag></Part></CompleteMultipartUpload>");
  // Each part is signed over its own bytes.
  EXPECT_NE(*reqs[2].header("x-amz-content-sha256"), *reqs[3].header("x-amz-content-sha256"));

  fail_part = true;
  got.reset();
  s3.put("bkt", "k", dir.path() / "big", [&](S3Result r) { got = r; });
  S3Result r = wait(got);
  EXPECT_EQ(r.code, "InternalError");
  ASSERT_TRUE(test::runUntil(io, [&] { return server.requests().back().method == "DELETE"; }));
  EXPECT_EQ(server.requests().back().target, "/bkt/k?uploadId=u%2F1");

  std::ofstream(dir.path() / "small") << "hi";
  got.reset();
  s3.put("bkt", "k", dir.path() / "small", [&](S3Result r2) { got = r2; });
  EXPECT_EQ(wait(got).error, "");
  EXPECT_EQ(server.requests().back().method, "PUT");
  EXPECT_EQ(server.requests().back().body, "hi");
}

TEST(Xml, RefusesDoctypesAndReportsErrors) {
  std::string why;
  EXPECT_FALSE(parseXml("<!DOCTYPE x [<!ENTITY a \"aaaa\">]><x>&a;</x>", &why));
  EXPECT_NE(why.find("DOCTYPE"), std::string::npos) << why;
  EXPECT_FALSE(parseXml("<a><b></a>", &why));
  EXPECT_NE(why.find("line 1"), std::string::npos) << why;
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "<a>";
  EXPECT_FALSE(parseXml(deep, &why));
  auto x = parseXml("<r xmlns=\"urn:x\"><k>1</k><k>&lt;2&gt;</k></r>", &why);
  ASSERT_TRUE(x);
  EXPECT_EQ(x->name, "r");
  ASSERT_EQ(x->all("k").size(), 2u);
  EXPECT_EQ(x->all("k")[1]->text, "<2>");
}

}  // namespace
}  // namespace sluice
