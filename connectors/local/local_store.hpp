#pragma once
// The local source's ObjectStore: its objects are files on this machine, read in place; a copy
// for a job is a hard link, or a byte copy across file systems, never a symlink (a job must
// not be able to write through to the original).
#include <boost/asio/io_context.hpp>

#include "daemon/object_store.hpp"

namespace sluice::connectors::local {

class LocalStore final : public ObjectStore {
 public:
  explicit LocalStore(boost::asio::io_context& io) : io_(io) {}
  std::optional<std::string> localPath(const Event& ev) const override { return ev.path; }
  void fetch(const Event& ev, const std::filesystem::path& dest,
             std::function<void(std::string error)> done) override;

 private:
  boost::asio::io_context& io_;
};

}  // namespace sluice::connectors::local
