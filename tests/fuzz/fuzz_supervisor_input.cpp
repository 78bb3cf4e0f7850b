// Fuzzes what the supervisor sink reads from outside: nvidia-smi's answer (parseGpuQuery) and
// object keys it turns into a staged file name (stageName). The first line of the input is the
// key; the rest is the query's answer. Neither may crash; a staged name is always one path
// component inside TMP_INPUT_DIR, without control characters, at most 200 bytes; parsed GPUs
// have non-negative indices and memory, and UUIDs without separators.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "sinks/supervisor/gpu_pool.hpp"
#include "sinks/supervisor/stage.hpp"
#include "tests/fuzz/check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto nl = in.find('\n');
  std::string_view key = in.substr(0, nl);
  std::string_view query = nl == std::string_view::npos ? std::string_view{} : in.substr(nl + 1);

  const std::string name = sluice::sinks::supervisor::stageName(key);
  FUZZ_CHECK(!name.empty() && name.size() <= 200);
  FUZZ_CHECK(name != "." && name != "..");
  for (unsigned char c : name) FUZZ_CHECK(c >= 0x20 && c != 0x7f && c != '/' && c != '\\');
  const std::filesystem::path input = "/jobs/s/e-1/input";
  FUZZ_CHECK((input / name).lexically_normal().parent_path() == input);

  std::string why;
  auto gpus = sluice::sinks::supervisor::parseGpuQuery(query, &why);
  FUZZ_CHECK(gpus || !why.empty());
  if (gpus)
    for (auto& g : *gpus) {
      FUZZ_CHECK(g.index >= 0 && g.memory_total_mib >= 0 && g.memory_used_mib >= 0);
      FUZZ_CHECK(g.uuid.find_first_of(",\n") == std::string::npos);
    }
  return 0;
}
