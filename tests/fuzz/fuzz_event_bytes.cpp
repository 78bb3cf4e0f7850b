// Fuzzes the byte-level helpers behind the event's JSON form: raw file names (any bytes) become
// valid UTF-8 text plus, where that lost something, base64 of the exact bytes; RFC 3339 times.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "daemon/event.hpp"
#include "tests/fuzz/check.hpp"

namespace {

// RFC 3629, written apart from toUtf8Lossy() so that the two can disagree.
bool validUtf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      n = 2, cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 3, cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 4, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  bool exact = false;
  std::string text = sluice::toUtf8Lossy(in, &exact);
  FUZZ_CHECK(validUtf8(text));
  FUZZ_CHECK(exact == validUtf8(in));
  FUZZ_CHECK(exact == (text == in));
  bool again = false;
  FUZZ_CHECK(sluice::toUtf8Lossy(text, &again) == text && again);

  std::string b64 = sluice::base64Encode(in);
  FUZZ_CHECK(b64.size() % 4 == 0);
  auto raw = sluice::base64Decode(b64);
  FUZZ_CHECK(raw && *raw == in);
  if (auto dec = sluice::base64Decode(in)) FUZZ_CHECK(dec->size() <= in.size() / 4 * 3);

  if (auto t = sluice::parseTime(in)) {
    std::string formatted = sluice::formatTime(*t);
    auto back = sluice::parseTime(formatted);
    FUZZ_CHECK(back && *back == *t, "'%.*s' -> %lld -> '%s' does not parse back",
               static_cast<int>(in.size()), in.data(), static_cast<long long>(*t),
               formatted.c_str());
  }
  return 0;
}
