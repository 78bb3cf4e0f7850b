#include "sinks/supervisor/gpu_query.hpp"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <cstring>
#include <memory>

#include "daemon/event.hpp"

namespace sluice::sinks::supervisor {
namespace {

namespace fs = std::filesystem;

std::string firstLine(const fs::path& p) {
  std::string why;
  const std::string text = readRegularFile(p, 64 << 10, &why).value_or("");
  std::string line;
  for (char c : text) {
    if (c == '\n' || line.size() == 200) break;
    line += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? ' ' : c;
  }
  return toUtf8Lossy(line);
}

}  // namespace

void queryGpus(JobRunner& runner, const std::string& nvidia_smi, const fs::path& scratch_dir,
               Duration timeout, GpuQueryDone done) {
  const fs::path out = scratch_dir / ".gpu-query.out";
  const fs::path err = scratch_dir / ".gpu-query.err";
  JobSpec spec{.program = nvidia_smi,
               .argv = {"nvidia-smi"},
               .env = {"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C"},
               .cwd = scratch_dir,
               .stdout_path = out,
               .stderr_path = err,
               .timeout = timeout,
               .kill_grace = Duration(1000)};
  spec.argv.insert(spec.argv.end(), kGpuQueryArgs.begin(), kGpuQueryArgs.end());
  runner.start(spec, [out, err, done = std::move(done)](JobOutcome o) {
    std::optional<std::vector<GpuInfo>> gpus;
    std::string why;
    if (o.kind == JobOutcome::Kind::Exited && o.value == 0) {
      std::string text = readRegularFile(out, 1 << 20, &why).value_or("");
      if (why.empty()) gpus = parseGpuQuery(text, &why);
      if (!gpus) why = "nvidia-smi's answer: " + why;
    } else if (o.kind == JobOutcome::Kind::SpawnFailed) {
      why = std::string("cannot run nvidia-smi: ") + std::strerror(o.value);
    } else if (o.kind == JobOutcome::Kind::TimedOut) {
      why = "nvidia-smi did not answer in time";
    } else {
      why = "nvidia-smi failed (" +
            std::string(o.kind == JobOutcome::Kind::Exited ? "exit status " : "signal ") +
            std::to_string(o.value) + ")";
      auto line = firstLine(err);
      if (line.empty()) line = firstLine(out);  // it reports driver trouble on stdout
      if (!line.empty()) why += ": " + line;
    }
    std::error_code ec;
    fs::remove(out, ec);
    fs::remove(err, ec);
    done(std::move(gpus), std::move(why));
  });
}

std::optional<std::vector<GpuInfo>> queryGpusNow(const std::string& nvidia_smi,
                                                 const fs::path& scratch_dir, Duration timeout,
                                                 std::string* why) {
  boost::asio::io_context io;
  std::optional<std::vector<GpuInfo>> result;
  {
    JobRunner runner(io);
    queryGpus(runner, nvidia_smi, scratch_dir, timeout,
              [&](std::optional<std::vector<GpuInfo>> gpus, std::string w) {
                result = std::move(gpus);
                if (why) *why = std::move(w);
              });
    io.run();
  }
  return result;
}

}  // namespace sluice::sinks::supervisor
