// Fuzzes the inotify record decoder (connectors/local/inotify_decoder.hpp): whatever bytes a
// read() might return, it stays inside the buffer, never crashes, and accounts for what it used.
#include <cstddef>
#include <cstdint>

#include "connectors/local/inotify_decoder.hpp"
#include "tests/fuzz/check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using sluice::connectors::local::InotifyRecord;
  const char* buf = reinterpret_cast<const char*>(data);
  std::size_t spanned = 0;
  std::size_t used =
      sluice::connectors::local::decodeInotify(buf, size, [&](const InotifyRecord& r) {
        FUZZ_CHECK(r.name.data() >= buf && r.name.data() + r.name.size() <= buf + size);
        volatile unsigned sum = 0;  // reads every byte of the name: ASan catches one past the end
        for (char c : r.name) sum = sum + static_cast<unsigned char>(c);
        spanned = static_cast<std::size_t>(r.name.data() - buf) + r.name.size();
      });
  FUZZ_CHECK(used <= size, "used %zu of %zu", used, size);
  FUZZ_CHECK(spanned <= used);
  return 0;
}
