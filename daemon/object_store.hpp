#pragma once
// How an event's object reaches whoever consumes it (a job's input), and how a file gets into
// a source's storage (a job's outputs), decided by the source that produced the event: a sink never
// asks which kind of source an event came from, it asks the source's ObjectStore.
//
// Contract:
//  - A source type provides its store through ConnectorSpec::objectStore(); the runtime keeps
//    one per configured source in ObjectStores, which outlives every sink.
//  - All calls on the io_context thread. Never throws. fetch() calls `done` exactly once, never
//    inline, with "" on success or the reason it failed (the caller decides retry or dead).
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "daemon/event.hpp"

namespace sluice {

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;
  // Where the object can be read in place on this machine (a local file), or nullopt when it
  // has to be fetched.
  virtual std::optional<std::string> localPath(const Event& ev) const = 0;
  // Puts a copy of the object at `dest` (a file that does not exist yet): a hard link or a
  // copy for local files, a download for remote stores. Never a symlink to the original.
  virtual void fetch(const Event& ev, const std::filesystem::path& dest,
                     std::function<void(std::string error)> done) = 0;
  // Stores a copy of the file `src` as `name` — an object key in the source's bucket, a path
  // below a local source's folder — replacing what is there; readers never see half an object.
  // A local name that would leave the folder (absolute, "..", ".", empty segments, a symlinked
  // directory) is refused. For a job's outputs; `done` as for fetch().
  virtual void put(const std::filesystem::path& src, const std::string& name,
                   std::function<void(std::string error)> done) = 0;
};

// The stores of the configured sources, by source name.
class ObjectStores {
 public:
  void add(const std::string& source, std::unique_ptr<ObjectStore> store) {
    stores_[source] = std::move(store);
  }
  ObjectStore* find(const std::string& source) const {
    auto it = stores_.find(source);
    return it == stores_.end() ? nullptr : it->second.get();
  }

 private:
  std::map<std::string, std::unique_ptr<ObjectStore>> stores_;
};

}  // namespace sluice
