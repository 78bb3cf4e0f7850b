#pragma once
// A secret in a file that something else rotates (short-lived OIDC access tokens, macaroons,
// OSCAR tokens): read again whenever the file changes (inode, size or modification time), so a
// renewed token is used from the next request on, without a reload. While the file is briefly
// missing or empty in the middle of a rotation, the last good value stays in use and the
// failure is reported; the value itself never appears in an error.
#include <cstdint>
#include <filesystem>
#include <string>

namespace sluice {

class SecretFile {
 public:
  explicit SecretFile(std::filesystem::path path) : path_(std::move(path)) {}

  struct Value {
    std::string secret;    // the current value ("" only if it was never readable)
    std::string error;     // why the file could not be read now (then `secret` is the last good)
    bool changed = false;  // read anew by this call
  };
  // Checks the file (one stat; a read only when it changed). Trailing newlines are stripped.
  Value read();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::string secret_;
  bool have_ = false;
  std::uint64_t ino_ = 0, size_ = 0;
  std::int64_t mtime_ns_ = -1;
};

}  // namespace sluice
