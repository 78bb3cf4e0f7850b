#include "daemon/secret_file.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "daemon/config_reader.hpp"

namespace sluice {

SecretFile::Value SecretFile::read() {
  Value v;
  struct stat st {};
  if (::stat(path_.c_str(), &st) != 0) {
    v.error = "cannot read " + path_.string() + ": " + std::strerror(errno);
    v.secret = secret_;
    return v;
  }
  const std::int64_t mtime_ns =
      static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  if (have_ && static_cast<std::uint64_t>(st.st_ino) == ino_ &&
      static_cast<std::uint64_t>(st.st_size) == size_ && mtime_ns == mtime_ns_) {
    v.secret = secret_;
    return v;
  }
  std::string why;
  auto text = readRegularFile(path_, 64 << 10, &why);
  while (text && !text->empty() && (text->back() == '\n' || text->back() == '\r')) text->pop_back();
  if (!text || text->empty()) {
    v.error = text ? path_.string() + " is empty" : "cannot read " + path_.string() + ": " + why;
    v.secret = secret_;
    return v;  // not remembered as seen: the next call looks again
  }
  secret_ = std::move(*text);
  have_ = true;
  ino_ = static_cast<std::uint64_t>(st.st_ino);
  size_ = static_cast<std::uint64_t>(st.st_size);
  mtime_ns_ = mtime_ns;
  v.secret = secret_;
  v.changed = true;
  return v;
}

}  // namespace sluice
