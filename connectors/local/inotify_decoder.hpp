#pragma once
// Decoding what read() returns from an inotify descriptor into records. Pure and defensive,
// so that it can be fuzzed: nothing at or past `n` is read, no alignment is assumed, and a
// record whose name would run past the end stops the decoding (the kernel never writes one;
// garbage might).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>

namespace sluice::connectors::local {

struct InotifyRecord {
  int wd = 0;
  std::uint32_t mask = 0;
  std::uint32_t cookie = 0;
  std::string_view name;  // up to its first NUL (the kernel pads names); empty: none
};

// Calls `each` for every whole record in buf[0, n), in order, and returns how many bytes those
// records span (less than n when the buffer ends inside a record).
std::size_t decodeInotify(const char* buf, std::size_t n,
                          const std::function<void(const InotifyRecord&)>& each);

}  // namespace sluice::connectors::local
