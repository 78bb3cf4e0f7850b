// Fuzzes the records the local source keeps in the queue's source index (one entry per path:
// fingerprint and removal mark, connectors/local/file_index.hpp). They are read back at every
// start; a torn, foreign or hostile value must decode to "changed" or "no mark", never crash,
// and whatever decodes must encode back to an entry that decodes the same.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "connectors/local/file_index.hpp"
#include "tests/fuzz/check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace local = sluice::connectors::local;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  local::DecodedEntry e = local::decodeEntry(text);
  std::string again = local::encodeEntry(e.file ? &*e.file : nullptr, e.mark ? &*e.mark : nullptr);
  local::DecodedEntry e2 = local::decodeEntry(again);
  FUZZ_CHECK(e2.file == e.file, "entry '%.*s' re-encoded as '%s'", static_cast<int>(size),
             text.data(), again.c_str());
  FUZZ_CHECK(e2.mark == e.mark);
  if (auto v = local::parseFingerprint(text))
    FUZZ_CHECK(local::parseFingerprint(local::toFingerprint(*v)) == v);
  if (e.mark) FUZZ_CHECK(local::toMark(local::markId(*e.mark), e.mark->time_ms) == e.mark);
  return 0;
}
