// The supervisor sink's stage-out: after a job succeeded, the files it left in TMP_OUTPUT_DIR
// that an `outputs:` entry selects go to that entry's source store or local folder, one after
// the other. A failed upload is retried by the next delivery without running the job again:
// the effect log says the job succeeded and the files wait in output/.
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>

#include "daemon/object_store.hpp"
#include "sinks/supervisor/supervisor_sink.hpp"

namespace sluice::sinks::supervisor {
namespace {

namespace fs = std::filesystem;

// Regular files below `dir` (symbolic links are not followed: a job must not make sluice read
// what it could not read itself), with names relative to `dir`, sorted.
std::vector<std::pair<fs::path, std::string>> outputFiles(const fs::path& dir, std::string* why) {
  std::vector<std::pair<fs::path, std::string>> out;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    std::error_code st_ec;
    if (it->symlink_status(st_ec).type() != fs::file_type::regular) continue;
    out.emplace_back(it->path(), it->path().lexically_relative(dir).generic_string());
  }
  if (ec) *why = "cannot list " + dir.string() + ": " + ec.message();
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.second < b.second; });
  return out;
}

// Copies `src` to `folder`/`name` through a temporary name, so readers never see half a file.
std::string copyInto(const fs::path& src, const fs::path& folder, const std::string& name) {
  const fs::path dest = folder / name;
  const fs::path tmp = dest.parent_path() / ("." + dest.filename().string() + ".sluice-tmp");
  std::error_code ec;
  fs::create_directories(dest.parent_path(), ec);
  if (!ec) fs::copy_file(src, tmp, fs::copy_options::overwrite_existing, ec);
  if (!ec) fs::rename(tmp, dest, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    return "cannot copy to " + dest.string() + ": " + ec.message();
  }
  return "";
}

}  // namespace

void SupervisorSink::uploadOutputs(const std::string& id) {
  Running& run = running_.at(id);
  const fs::path dir = jobs_dir_ / run.folder / "output";
  std::error_code ec;
  if (!fs::is_directory(dir, ec))  // its folder was pruned (keep_jobs) before the upload
    return finish(id, Dead{"the outputs of job " + run.folder + " are gone (" + dir.string() +
                           " no longer exists)"});
  std::string why;
  auto todo = std::make_shared<std::vector<Upload>>();
  for (auto& [file, name] : outputFiles(dir, &why))
    for (std::size_t t = 0; t < config_.outputs.size(); ++t)
      if (config_.outputs[t].matches(name)) todo->push_back({file, name, t});
  if (!why.empty()) return finish(id, Retry{std::nullopt, why}, true);
  run.effect.uploaded.clear();
  uploadNext(id, todo, 0);
}

void SupervisorSink::uploadNext(const std::string& id, std::shared_ptr<std::vector<Upload>> todo,
                                std::size_t next) {
  auto it = running_.find(id);
  if (it == running_.end()) return;
  Running& run = it->second;
  if (aborted_) return finish(id, Retry{std::nullopt, "aborted at shutdown"}, true);
  if (next == todo->size()) {  // all there: the effect is complete
    run.effect.outputs_pending = false;
    std::string why;
    if (!effects_.record(id, run.effect, &why))
      log_->error("{}: event {}: {}; a redelivery would upload the outputs again", name_, id, why);
    log_->debug("{}: event {}: {} outputs uploaded", name_, id, todo->size());
    return finish(id, succeeded(run));
  }
  const Upload& up = (*todo)[next];
  const OutputTarget& target = config_.outputs[up.target];
  auto after = [this, id, todo, next,
                where = target.source.empty() ? (fs::path(target.path) / up.name).string()
                                              : target.source + ":" + target.path + up.name,
                alive = std::weak_ptr<int>(alive_)](std::string error) {
    if (!alive.lock()) return;
    auto it = running_.find(id);
    if (it == running_.end()) return;
    if (!error.empty()) {
      log_->warn("{}: event {}: upload of {} failed: {}", name_, id, where, error);
      return finish(id, Retry{std::nullopt, "upload of output " + where + " failed: " + error},
                    true);
    }
    it->second.effect.uploaded.push_back(where);
    uploadNext(id, todo, next + 1);
  };
  if (target.source.empty()) {  // a local folder: a plain copy, reported like a store's put
    std::string error = copyInto(up.file, target.path, up.name);
    boost::asio::post(io_, [after = std::move(after), error]() mutable { after(error); });
    return;
  }
  ObjectStore* store = stores_ ? stores_->find(target.source) : nullptr;
  if (!store)
    return finish(id, Dead{"outputs: source \"" + target.source + "\" has no object store"});
  store->put(up.file, target.path + up.name, std::move(after));
}

}  // namespace sluice::sinks::supervisor
