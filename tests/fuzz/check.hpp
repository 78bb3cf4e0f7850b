#pragma once
// FUZZ_CHECK: an invariant of a fuzz target. Unlike assert() it stays on in release builds
// (the fuzz build is RelWithDebInfo, so NDEBUG is set) and aborts, which libFuzzer reports as
// a crash and saves the input.
#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond, ...)                                                           \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, "" __VA_ARGS__);                                             \
      std::fputc('\n', stderr);                                                         \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)
