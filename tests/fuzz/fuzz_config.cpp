// Fuzzes the whole config path that `sluice check` and start-up run on a file: YAML syntax,
// every key of the core, of each registered source and sink type, durations, sizes, routes.
// parseConfig() must never throw and must answer either a config or at least one error.
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>

#include "daemon/config.hpp"
#include "tests/fuzz/check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string yaml(reinterpret_cast<const char*>(data), size);
  sluice::LoadResult r;
  try {
    r = sluice::parseConfig(yaml, "fuzz.yaml");
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, "parseConfig threw: %s", e.what());
  } catch (...) {
    FUZZ_CHECK(false, "parseConfig threw a non-std exception");
  }
  FUZZ_CHECK((r.config != nullptr) == r.errors.empty());
  for (const auto& e : r.errors) FUZZ_CHECK(!e.message.empty() && !e.str().empty());
  if (r.config) {
    FUZZ_CHECK(r.config->delivery.max_attempts >= 1);
    FUZZ_CHECK(r.config->delivery.timeout.count() > 0);
    for (const auto& s : r.config->sources) FUZZ_CHECK(sluice::validName(s->name));
    for (const auto& s : r.config->sinks) FUZZ_CHECK(sluice::validName(s->name));
  }
  return 0;
}
