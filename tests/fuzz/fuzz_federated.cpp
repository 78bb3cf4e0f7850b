// Fuzzes what the federated-storage sources read from the network: dCache's inotify and SYSTEM
// event data, namespace listings and error bodies (connectors/dcache/dcache_events.hpp), and
// one line of Onedata's changes stream (connectors/onedata/onedata_changes.hpp). Whatever
// arrives, parsing must not crash; what it accepts must be usable: an inotify name is one
// path segment, a listing child has an addressable name, a change line that parses has a
// file id, and one that fails says why.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "connectors/dcache/dcache_events.hpp"
#include "connectors/onedata/onedata_changes.hpp"
#include "tests/fuzz/check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace dc = sluice::connectors::dcache;
  namespace od = sluice::connectors::onedata;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string why;
  if (auto n = dc::parseInotify(in, &why)) {
    FUZZ_CHECK(!n->flag.empty() && !n->subscription.empty());
    FUZZ_CHECK(n->name.find('/') == std::string::npos && n->name != "." && n->name != "..");
    const std::string path = dc::childPath("/data", n->name);
    FUZZ_CHECK(n->name.empty() || dc::isUnder(path, "/data"));
  } else {
    FUZZ_CHECK(!why.empty());
  }
  if (auto s = dc::parseSystem(in)) FUZZ_CHECK(!s->type.empty());
  dc::Listing l = dc::parseListing(in);
  for (const auto& c : l.children) {
    FUZZ_CHECK(!c.name.empty() && c.name.find('/') == std::string::npos);
    FUZZ_CHECK(c.name != "." && c.name != "..");
  }
  (void)dc::errorMessage(in);
  od::ChangeLine c = od::parseChangeLine(in);
  if (c.error.empty()) FUZZ_CHECK(!c.file_id.empty());
  return 0;
}
