// The dcache source's object store (stage-in and job outputs) against an in-process WebDAV
// stand-in: GET and PUT on webdav_url with the source's credentials, paths percent-encoded,
// names that would leave the tree refused before any request, and failures that say which.
#include <gtest/gtest.h>

#include <fstream>
#include <optional>

#include "connectors/dcache/dcache_events.hpp"
#include "connectors/dcache/dcache_spec.hpp"
#include "daemon/clock.hpp"
#include "daemon/http_client.hpp"
#include "tests/unit/support/loop.hpp"
#include "tests/unit/support/source_entry.hpp"
#include "tests/unit/support/temp_dir.hpp"
#include "tests/unit/support/test_http_server.hpp"

namespace sluice::connectors::dcache {
namespace {

using test::CannedResponse;

class DcacheStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto token = dir.path() / "dc.token";
    std::ofstream(token) << "macaroon-1\n";
    std::string error;
    spec = test::parseSourceEntry(
        "{name: dc, type: dcache, url: 'http://127.0.0.1:1/api/v1', "
        "webdav_url: '" +
            server.url("") + "', paths: [/data/in], " + "auth: {bearer_file: '" + token.string() +
            "'}}",
        &error);
    ASSERT_TRUE(spec) << error;
    store = spec->objectStore(io, http, clock);
    ASSERT_TRUE(store);
  }
  std::string wait(std::optional<std::string>& e) {
    EXPECT_TRUE(test::runUntil(io, [&] { return e.has_value(); }));
    return e.value_or("(no answer)");
  }

  test::TempDir dir;
  boost::asio::io_context io;
  test::TestHttpServer server;
  HttpClient http{io};
  SystemClock clock;
  std::unique_ptr<ConnectorSpec> spec;
  std::unique_ptr<ObjectStore> store;
};

TEST_F(DcacheStoreTest, FetchReadsTheFileThroughWebdavWithTheToken) {
  server.respondWith(CannedResponse{200, {}, "file bytes"});
  Event ev =
      fileEvent({"dc", "u"}, EventType::Created, "/data/in/a b#1.dat", {"0000AB", 1, 10}, "", 1);
  EXPECT_FALSE(store->localPath(ev));
  std::optional<std::string> e;
  store->fetch(ev, dir.path() / "copy", [&](std::string s) { e = std::move(s); });
  EXPECT_EQ(wait(e), "");
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "GET");
  EXPECT_EQ(reqs[0].target, "/data/in/a%20b%231.dat");
  EXPECT_EQ(*reqs[0].header("authorization"), "Bearer macaroon-1");
  EXPECT_EQ(std::filesystem::file_size(dir.path() / "copy"), 10u);
}

TEST_F(DcacheStoreTest, AFailedFetchNamesThePathAndTheStatus) {
  server.respondWith(CannedResponse{404, {}, "gone"});
  Event ev = fileEvent({"dc", "u"}, EventType::Created, "/data/in/x", {"0000AB", 1, 1}, "", 1);
  std::optional<std::string> e;
  store->fetch(ev, dir.path() / "x", [&](std::string s) { e = std::move(s); });
  const std::string why = wait(e);
  EXPECT_NE(why.find("/data/in/x"), std::string::npos) << why;
  EXPECT_NE(why.find("404"), std::string::npos) << why;
}

TEST_F(DcacheStoreTest, PutWritesBelowTheFirstPathAndRefusesEscapes) {
  server.respondWith(CannedResponse{201, {}, ""});
  const auto src = dir.path() / "out.txt";
  std::ofstream(src) << "result";
  std::optional<std::string> e;
  store->put(src, "results/out.txt", [&](std::string s) { e = std::move(s); });
  EXPECT_EQ(wait(e), "");
  auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(reqs[0].method, "PUT");
  EXPECT_EQ(reqs[0].target, "/data/in/results/out.txt");
  EXPECT_EQ(reqs[0].body, "result");
  for (const char* bad : {"../etc/passwd", "/data/../x", "a//b", "dir/", "/", "./x/./y"}) {
    e.reset();
    store->put(src, bad, [&](std::string s) { e = std::move(s); });
    EXPECT_NE(wait(e).find("refused"), std::string::npos) << bad;
  }
  EXPECT_EQ(server.requests().size(), 1u);
}

}  // namespace
}  // namespace sluice::connectors::dcache
