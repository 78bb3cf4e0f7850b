#include "connectors/local/inotify_decoder.hpp"

#include <sys/inotify.h>

#include <cstddef>
#include <cstring>

namespace sluice::connectors::local {
namespace {

// memcpy, not a cast: `record` may be any bytes at any alignment.
template <typename T>
void field(const char* record, std::size_t offset, T& out) {
  static_assert(sizeof(T) == 4);
  std::memcpy(&out, record + offset, sizeof out);
}

}  // namespace

std::size_t decodeInotify(const char* buf, std::size_t n,
                          const std::function<void(const InotifyRecord&)>& each) {
  constexpr std::size_t kHeader = sizeof(struct inotify_event);
  std::size_t at = 0;
  while (n - at >= kHeader) {
    InotifyRecord r;
    std::uint32_t len = 0;
    field(buf + at, offsetof(struct inotify_event, wd), r.wd);
    field(buf + at, offsetof(struct inotify_event, mask), r.mask);
    field(buf + at, offsetof(struct inotify_event, cookie), r.cookie);
    field(buf + at, offsetof(struct inotify_event, len), len);
    if (len > n - at - kHeader) break;
    const char* name = buf + at + kHeader;
    r.name = {name, ::strnlen(name, len)};
    at += kHeader + len;
    each(r);
  }
  return at;
}

}  // namespace sluice::connectors::local
