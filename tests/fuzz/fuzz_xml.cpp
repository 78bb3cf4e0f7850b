// Fuzzes the XML element tree that S3-style answers are read with (listings, errors, multipart
// results; daemon/xml.hpp): whatever a server or a proxy in between sends, parsing never
// crashes, refuses with a reason, never nests deeper than its cap, and a DOCTYPE (the way to
// entity expansion) is always refused.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "daemon/xml.hpp"
#include "tests/fuzz/check.hpp"

namespace {

std::size_t depth(const sluice::XmlElement& e) {
  std::size_t d = 0;
  for (auto& c : e.children) d = std::max(d, depth(*c));
  return d + 1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string error;
  auto tree = sluice::parseXml(text, &error);
  if (!tree) {
    FUZZ_CHECK(!error.empty());
    return 0;
  }
  FUZZ_CHECK(depth(*tree) <= 64);
  FUZZ_CHECK(text.find("<!DOCTYPE") == std::string_view::npos);
  (void)tree->childText("Key");
  (void)tree->all("Contents");
  return 0;
}
