#include "connectors/local/local_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>

#include "connectors/local/local_config.hpp"

namespace sluice::connectors::local {
namespace {

// Copies `from` to a new file `to` (0600) through file descriptors, so that a symlink put in
// place of the original meanwhile is not followed.
std::string copyFile(const std::string& from, const std::string& to) {
  int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (in < 0) return "cannot open " + from + ": " + std::strerror(errno);
  int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (out < 0) {
    std::string why = "cannot create " + to + ": " + std::strerror(errno);
    ::close(in);
    return why;
  }
  std::string why;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(in, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      why = "cannot read " + from + ": " + std::strerror(errno);
      break;
    }
    if (n == 0) break;
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::write(out, buf + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        why = "cannot write " + to + ": " + std::strerror(errno);
        break;
      }
      done += w;
    }
    if (!why.empty()) break;
  }
  ::close(in);
  if (::close(out) != 0 && why.empty()) why = "cannot write " + to + ": " + std::strerror(errno);
  if (!why.empty()) ::unlink(to.c_str());
  return why;
}

}  // namespace

void LocalStore::fetch(const Event& ev, const std::filesystem::path& dest,
                       std::function<void(std::string)> done) {
  std::string why;
  // linkat without AT_SYMLINK_FOLLOW links a symlink itself, never its target: refuse those.
  struct stat st {};
  if (::lstat(ev.path.c_str(), &st) != 0)
    why = "cannot examine " + ev.path + ": " + std::strerror(errno);
  else if (!S_ISREG(st.st_mode))
    why = ev.path + " is not a regular file";
  else if (::link(ev.path.c_str(), dest.c_str()) != 0)
    why = errno == EXDEV || errno == EPERM || errno == EMLINK
              ? copyFile(ev.path, dest.string())
              : "cannot link " + ev.path + ": " + std::strerror(errno);
  boost::asio::post(io_, [done = std::move(done), why = std::move(why)] { done(why); });
}

// Where `name` goes below `root`, or why it may not: only plain segments, and no directory on
// the way may be a symlink (it could lead out of the folder).
static std::string placeBelow(const std::filesystem::path& root, const std::string& name,
                              std::filesystem::path* out) {
  if (root.empty()) return "this source has no folder to write to";
  if (name.empty() || name.front() == '/' || name.find('\0') != std::string::npos)
    return "\"" + toUtf8Lossy(name) + "\" is not a relative path";
  std::filesystem::path at = root;
  std::size_t start = 0;
  for (;;) {
    auto slash = name.find('/', start);
    std::string seg = name.substr(start, slash == std::string::npos ? slash : slash - start);
    if (seg.empty() || seg == "." || seg == "..")
      return "\"" + toUtf8Lossy(name) + "\" leaves the folder or has empty segments";
    at /= seg;
    if (slash == std::string::npos) break;
    struct stat st {};
    if (::lstat(at.c_str(), &st) == 0 && !S_ISDIR(st.st_mode))
      return at.string() + " is not a directory (a symlink is not followed)";
    if (::mkdir(at.c_str(), 0755) != 0 && errno != EEXIST)
      return "cannot create " + at.string() + ": " + std::strerror(errno);
    start = slash + 1;
  }
  *out = at;
  return "";
}

void LocalStore::put(const std::filesystem::path& src, const std::string& name,
                     std::function<void(std::string)> done) {
  std::filesystem::path dest;
  std::string why = placeBelow(root_, name, &dest);
  if (why.empty()) {
    // Written beside it under a hidden name, then renamed: a watcher sees one whole file.
    std::filesystem::path tmp = dest.parent_path() / ("." + dest.filename().string() + ".sluice-" +
                                                      std::to_string(::getpid()));
    ::unlink(tmp.c_str());
    why = copyFile(src.string(), tmp.string());
    if (why.empty() && ::chmod(tmp.c_str(), 0644) != 0)
      why = "cannot chmod " + tmp.string() + ": " + std::strerror(errno);
    if (why.empty() && ::rename(tmp.c_str(), dest.c_str()) != 0)
      why = "cannot rename " + tmp.string() + " to " + dest.string() + ": " + std::strerror(errno);
    if (!why.empty()) ::unlink(tmp.c_str());
  }
  boost::asio::post(io_, [done = std::move(done), why = std::move(why)] { done(why); });
}

std::unique_ptr<ObjectStore> LocalSpec::objectStore(boost::asio::io_context& io, HttpClient&,
                                                    const Clock&) const {
  return std::make_unique<LocalStore>(io, std::filesystem::absolute(path));
}

}  // namespace sluice::connectors::local
