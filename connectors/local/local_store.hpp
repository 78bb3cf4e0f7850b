#pragma once
// The local source's ObjectStore: its objects are files on this machine, read in place; a copy
// for a job is a hard link, or a byte copy across file systems, never a symlink (a job must
// not be able to write through to the original).
#include <boost/asio/io_context.hpp>

#include "daemon/object_store.hpp"

namespace sluice::connectors::local {

class LocalStore final : public ObjectStore {
 public:
  // `root`: the source's folder, where put() writes (empty: put() is refused).
  explicit LocalStore(boost::asio::io_context& io, std::filesystem::path root = {})
      : io_(io), root_(std::move(root)) {}
  std::optional<std::string> localPath(const Event& ev) const override { return ev.path; }
  void fetch(const Event& ev, const std::filesystem::path& dest,
             std::function<void(std::string error)> done) override;
  void put(const std::filesystem::path& src, const std::string& name,
           std::function<void(std::string error)> done) override;

 private:
  boost::asio::io_context& io_;
  std::filesystem::path root_;
};

}  // namespace sluice::connectors::local
