// Fuzzes the config's value grammars: durations ("1h30m", "500ms") and sizes ("64KiB", "10MB").
// A value either parses to what it says or is refused; it never wraps around.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "daemon/config_reader.hpp"
#include "tests/fuzz/check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);

  if (auto d = sluice::parseDuration(in)) FUZZ_CHECK(d->count() >= 0);

  if (auto s = sluice::parseSize(in)) {
    std::uint64_t n = 0;  // the leading number, which the unit can only multiply
    for (std::size_t i = 0; i < in.size() && in[i] >= '0' && in[i] <= '9'; ++i)
      n = n * 10 + static_cast<std::uint64_t>(in[i] - '0');
    FUZZ_CHECK(*s >= n, "'%.*s' parsed as %llu", static_cast<int>(in.size()), in.data(),
               static_cast<unsigned long long>(*s));
    if (n > 0) {
      std::uint64_t mult = *s / n;
      FUZZ_CHECK(
          *s % n == 0 && (mult == 1 || mult == 1000 || mult == 1'000'000 || mult == 1'000'000'000 ||
                          mult == 1ULL << 10 || mult == 1ULL << 20 || mult == 1ULL << 30),
          "'%.*s' parsed as %llu", static_cast<int>(in.size()), in.data(),
          static_cast<unsigned long long>(*s));
    }
  }
  return 0;
}
