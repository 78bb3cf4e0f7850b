#include "connectors/local/inotify_decoder.hpp"

#include <gtest/gtest.h>
#include <sys/inotify.h>

#include <cstring>
#include <string>
#include <vector>

namespace sluice::connectors::local {
namespace {

// One record as the kernel writes it: the header, then `len` bytes of NUL-padded name.
std::string record(int wd, std::uint32_t mask, std::uint32_t cookie, const std::string& name,
                   std::uint32_t len) {
  struct inotify_event ie {};
  ie.wd = wd;
  ie.mask = mask;
  ie.cookie = cookie;
  ie.len = len;
  std::string out(reinterpret_cast<const char*>(&ie), sizeof ie);
  std::string padded = name;
  padded.resize(len, '\0');
  return out + padded;
}

struct Decoded {
  std::vector<InotifyRecord> records;
  std::vector<std::string> names;  // copies: the views point into the buffer
  std::size_t used = 0;
};

Decoded decode(const std::string& buf) {
  Decoded d;
  d.used = decodeInotify(buf.data(), buf.size(), [&](const InotifyRecord& r) {
    d.records.push_back(r);
    d.names.emplace_back(r.name);
  });
  return d;
}

TEST(InotifyDecoder, DecodesWholeRecordsAndTheirNames) {
  std::string buf = record(1, IN_CLOSE_WRITE, 0, "a.txt", 16) + record(2, IN_MOVED_FROM, 7, "", 0) +
                    record(3, IN_MOVED_TO | IN_ISDIR, 7, "sixteen-chars-ab", 16);  // no NUL
  auto d = decode(buf);
  EXPECT_EQ(d.used, buf.size());
  ASSERT_EQ(d.records.size(), 3u);
  EXPECT_EQ(d.records[0].wd, 1);
  EXPECT_EQ(d.records[0].mask, std::uint32_t{IN_CLOSE_WRITE});
  EXPECT_EQ(d.names, (std::vector<std::string>{"a.txt", "", "sixteen-chars-ab"}));
  EXPECT_EQ(d.records[2].cookie, 7u);
}

TEST(InotifyDecoder, ATruncatedBufferStopsAtTheLastWholeRecord) {
  std::string whole = record(1, IN_CLOSE_WRITE, 0, "a", 16);
  std::string next = record(2, IN_DELETE, 0, "b", 32);
  for (std::size_t cut = 1; cut < next.size(); ++cut) {
    auto d = decode(whole + next.substr(0, cut));
    EXPECT_EQ(d.used, whole.size()) << cut;
    EXPECT_EQ(d.names, std::vector<std::string>{"a"}) << cut;
  }
  // A length that runs far past the end (garbage, or a huge len) decodes nothing more.
  auto d = decode(whole + record(3, IN_DELETE, 0, "c", 16).substr(0, 12) +
                  std::string("\xff\xff\xff\xff", 4));
  EXPECT_EQ(d.records.size(), 1u);
  EXPECT_EQ(decode("").used, 0u);
  EXPECT_EQ(decode(std::string(15, '\0')).records.size(), 0u);
}

TEST(InotifyDecoder, NeedsNoAlignment) {
  std::string buf = " " + record(5, IN_DELETE, 0, "x", 16) + record(6, IN_DELETE, 0, "y", 16);
  auto d = decodeInotify(buf.data() + 1, buf.size() - 1, [](const InotifyRecord&) {});
  EXPECT_EQ(d, buf.size() - 1);
}

}  // namespace
}  // namespace sluice::connectors::local
