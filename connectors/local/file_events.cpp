#include "connectors/local/file_events.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace sluice::connectors::local {

FileVersion versionOf(const struct stat& st) {
  return {static_cast<std::uint64_t>(st.st_ino),
          static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
          static_cast<std::uint64_t>(st.st_size)};
}

Event EventBuilder::make(EventType type, const std::string& path,
                         const std::optional<struct stat>& st, const std::string& fp,
                         const std::string& mark, nlohmann::json native, std::int64_t now_ms,
                         const std::optional<std::string>& previous,
                         const std::optional<std::string>& note) const {
  Event ev;
  const std::string prev = previous.value_or("");
  ev.id = mark.empty() ? eventId({spec.name, prev, path, fp, toString(type)})
                       : eventId({spec.name, prev, path, fp, toString(type), mark});
  ev.source = source_uri;
  ev.type = type;
  ev.time_ms = now_ms;
  ev.storage = "local";
  ev.connector = spec.name;
  ev.path = path;
  ev.previous_path = previous;
  if (st) {
    ev.size = static_cast<std::int64_t>(st->st_size);
    ev.mtime_ms = static_cast<std::int64_t>(st->st_mtim.tv_sec) * 1000 + st->st_mtim.tv_nsec / 1'000'000;
  }
  ev.native = std::move(native);
  ev.note = note;
  return ev;
}

bool openForWriting(const std::string& path, struct stat& settled) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return false;
  bool writing = false;
  if (fcntl(fd, F_SETLEASE, F_RDLCK) == 0) {
    fstat(fd, &settled);
    fcntl(fd, F_SETLEASE, F_UNLCK);
    // A file is visible as soon as open(O_CREAT) has made it, before that open has write
    // access: the lease cannot see that writer, which then waits for the lease to go. So ask
    // once more: a writer there now, or a version changed since, means the file is written
    // after the watch was added and its IN_CLOSE_WRITE will announce it. A writer that has
    // still not reached its write access (not scheduled) is missed: the file is announced
    // empty, then again at its close.
    struct stat again {};
    if (fcntl(fd, F_SETLEASE, F_RDLCK) == 0) {
      fstat(fd, &again);
      fcntl(fd, F_SETLEASE, F_UNLCK);
      writing = !(versionOf(again) == versionOf(settled));
    } else {
      writing = errno == EAGAIN;
    }
  } else {
    writing = errno == EAGAIN;
    if (!writing) fstat(fd, &settled);  // no leases here: the freshest look there is
  }
  ::close(fd);
  return writing;
}

TreeWalk::TreeWalk(std::string root, bool recursive, std::vector<std::string> ignore)
    : recursive_(recursive), ignore_(std::move(ignore)), stack_{std::move(root)} {}

TreeWalk::~TreeWalk() {
  if (handle_) closedir(handle_);
}

TreeWalk::TreeWalk(TreeWalk&& o) noexcept
    : recursive_(o.recursive_),
      ignore_(std::move(o.ignore_)),
      stack_(std::move(o.stack_)),
      current_(std::move(o.current_)),
      handle_(std::exchange(o.handle_, nullptr)) {}

TreeWalk& TreeWalk::operator=(TreeWalk&& o) noexcept {
  if (this != &o) {
    if (handle_) closedir(handle_);
    recursive_ = o.recursive_;
    ignore_ = std::move(o.ignore_);
    stack_ = std::move(o.stack_);
    current_ = std::move(o.current_);
    handle_ = std::exchange(o.handle_, nullptr);
  }
  return *this;
}

bool TreeWalk::step(std::size_t max_files, const Visitor& v) {
  std::size_t files = 0;
  while (files < max_files) {
    if (!handle_) {
      if (stack_.empty()) return false;
      current_ = std::move(stack_.back());
      stack_.pop_back();
      v.dir(current_);
      handle_ = opendir(current_.c_str());
      if (!handle_) {
        v.error(current_, errno);
        continue;
      }
    }
    errno = 0;
    dirent* e = readdir(handle_);
    if (!e) {
      int err = errno;  // 0: the end; otherwise the listing is incomplete
      closedir(std::exchange(handle_, nullptr));
      if (err) v.error(current_, err);
      else v.listed(current_);
      continue;
    }
    std::string name = e->d_name;
    if (name == "." || name == ".." || ignored(ignore_, name)) continue;
    std::string p = current_ + "/" + name;
    struct stat st {};
    if (lstat(p.c_str(), &st) != 0) {  // vanished meanwhile: nothing to report
      if (!isGone(errno)) v.unexaminable(p, errno);
      continue;
    }
    if (S_ISREG(st.st_mode)) {
      v.file(p, st);
      ++files;
    } else if (S_ISDIR(st.st_mode) && recursive_) {
      stack_.push_back(std::move(p));
    }
  }
  return handle_ || !stack_.empty();
}

}  // namespace sluice::connectors::local
