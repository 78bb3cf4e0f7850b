#include "connectors/local/file_events.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sluice::connectors::local {

std::string fingerprint(const struct stat& st) {
  std::int64_t mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 +
                          st.st_mtim.tv_nsec;
  return std::to_string(st.st_ino) + ":" + std::to_string(mtime_ns) + ":" +
         std::to_string(st.st_size);
}

Event EventBuilder::make(EventType type, const std::string& path,
                         const std::optional<struct stat>& st, const std::string& fp,
                         nlohmann::json native, std::int64_t now_ms,
                         const std::optional<std::string>& previous,
                         const std::optional<std::string>& note) const {
  Event ev;
  ev.id = eventId({spec.name, previous.value_or(""), path, fp, toString(type)});
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

bool openForWriting(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return false;
  bool writing = false;
  if (fcntl(fd, F_SETLEASE, F_RDLCK) == 0) {
    fcntl(fd, F_SETLEASE, F_UNLCK);
  } else {
    writing = errno == EAGAIN;
  }
  ::close(fd);
  return writing;
}

void walk(const std::string& root, bool recursive, const std::vector<std::string>& ignore,
          const std::function<void(const std::string&, const struct stat&)>& file,
          const std::function<void(const std::string&)>& dir,
          const std::function<void(const std::string&, int)>& error) {
  std::vector<std::string> stack{root};
  while (!stack.empty()) {
    std::string d = std::move(stack.back());
    stack.pop_back();
    dir(d);
    DIR* h = opendir(d.c_str());
    if (!h) {
      error(d, errno);
      continue;
    }
    while (dirent* e = readdir(h)) {
      std::string name = e->d_name;
      if (name == "." || name == ".." || ignored(ignore, name)) continue;
      std::string p = d + "/" + name;
      struct stat st {};
      if (lstat(p.c_str(), &st) != 0) continue;  // vanished meanwhile: nothing to report
      if (S_ISREG(st.st_mode)) file(p, st);
      else if (S_ISDIR(st.st_mode) && recursive) stack.push_back(p);
    }
    closedir(h);
  }
}

}  // namespace sluice::connectors::local
