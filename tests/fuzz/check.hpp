#pragma once
// FUZZ_CHECK: an invariant of a fuzz target. Unlike assert() it stays on in release builds
// (the fuzz build is RelWithDebInfo, so NDEBUG is set) and aborts, which libFuzzer reports as
// a crash and saves the input.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#define FUZZ_CHECK(cond, ...)                                                           \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, "" __VA_ARGS__);                                             \
      std::fputc('\n', stderr);                                                         \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)

namespace sluice::fuzz {

// The targets that take several fields split their input at newlines: the next field, which is
// removed from `in` with its newline (the rest of the input when there is none).
inline std::string nextLine(std::string_view& in) {
  auto nl = in.find('\n');
  std::string part(in.substr(0, nl));
  in = nl == std::string_view::npos ? std::string_view{} : in.substr(nl + 1);
  return part;
}

}  // namespace sluice::fuzz
