// Fuzzes the SSE parser (daemon/sse_parser.hpp) that dCache's storage events arrive through:
// any bytes, cut at a fuzzed point. It must not crash, never hand out more data than its
// limits allow, never report an id holding NUL, and parse the same bytes the same way however
// they are cut.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/sse_parser.hpp"
#include "tests/fuzz/check.hpp"

namespace {

struct Run {
  std::vector<std::string> events;  // type, id and data, joined
  std::size_t errors = 0;
  std::string last_id;
};

Run parse(std::string_view in, std::size_t cut) {
  sluice::SseParser p(256, 1024);
  Run r;
  auto ev = [&](sluice::SseEvent&& e) {
    FUZZ_CHECK(e.data.size() <= 1024);
    FUZZ_CHECK(!e.id || e.id->find('\0') == std::string::npos);
    r.events.push_back(e.type + '\x01' + e.id.value_or("-") + '\x01' + e.data);
  };
  auto err = [&](std::string_view) { ++r.errors; };
  p.feed(in.substr(0, cut), ev, err);
  p.feed(in.substr(cut), ev, err);
  r.last_id = p.lastEventId();
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::size_t cut = size ? data[0] % size : 0;
  Run whole = parse(in, size);
  Run split = parse(in, cut);
  // A cut inside the opening BOM is the one place where chunking may differ (documented).
  if (cut > 3 || in.substr(0, 3) != "\xEF\xBB\xBF") {
    FUZZ_CHECK(whole.events == split.events);
    FUZZ_CHECK(whole.last_id == split.last_id);
  }
  return 0;
}
