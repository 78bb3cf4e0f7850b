// sluice_queue_bench: the durable queue's ingest rate next to the disk's own fsync'd-append
// rate, measured in the same process on the same directory, plus a fill mode that prepares a
// queue database with N pending deliveries (for the RSS measurement in bench/run.sh).
//
// Every figure is one JSON object per line on stdout (progress goes to stderr):
//   {"bench":"raw_append","batch":64,...}   write() N records of an event's stored size to a
//                                             file, then fdatasync(): the disk's ceiling for N
//   {"bench":"raw_overwrite",...}             the same into a pre-written file (no growth)
//   {"bench":"queue_ingest","mode":"wait",...}        SqliteQueue::append() of N events from
//                                                     one thread, waiting for each commit
//   {"bench":"queue_ingest","mode":"outstanding",...} the same with K appends in flight at once
//                                                     (the writer group-commits them)
//   {"bench":"fill",...}                               --mode fill: N pending deliveries
//
// Events are built exactly like the local connector builds them (EventBuilder, inotify-style
// native JSON, a stat with inode, size and mtime) and carry the source-index update the
// connector commits with each file (disable with --no-index), routed to one sink.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "connectors/local/file_events.hpp"
#include "connectors/local/local_config.hpp"
#include "daemon/clock.hpp"
#include "daemon/queue_sqlite.hpp"

namespace {

using sluice::Event;
using sluice::RoutedBatch;
using Steady = std::chrono::steady_clock;
namespace fs = std::filesystem;

struct Args {
  std::string mode = "all";  // all | raw | ingest | fill
  std::string dir;           // where the raw file and the bench databases go
  std::vector<std::size_t> batches{1, 64, 1024};
  double seconds = 2.0;      // per figure (at least 3 batches are always done)
  int outstanding = 8;       // appends in flight in the "outstanding" mode
  std::size_t fill = 1'000'000;
  std::string db;            // fill: the queue database to create
  std::string sink = "hook";
  std::string source = "inbox";
  std::string root = "/srv/inbox";  // the watched directory the fake events live under
  bool index = true;
  std::string run;           // a label copied into every line (e.g. the run number)
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "%s\nusage: sluice_queue_bench [--mode all|raw|ingest|fill] [--dir DIR]\n"
               "  [--batches 1,64,1024] [--seconds S] [--outstanding K] [--no-index]\n"
               "  [--run LABEL]   (all/raw/ingest: DIR is a scratch directory on the disk under test)\n"
               "  --mode fill --db STATE_DIR/queue.db [--fill N] [--sink hook] [--source inbox]\n",
               why);
  std::exit(2);
}

Args parseArgs(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) usage(("missing value for " + k).c_str());
      return argv[++i];
    };
    if (k == "--mode") a.mode = val();
    else if (k == "--dir") a.dir = val();
    else if (k == "--seconds") a.seconds = std::stod(val());
    else if (k == "--outstanding") a.outstanding = std::max(1, std::stoi(val()));
    else if (k == "--fill") a.fill = std::stoull(val());
    else if (k == "--db") a.db = val();
    else if (k == "--sink") a.sink = val();
    else if (k == "--source") a.source = val();
    else if (k == "--root") a.root = val();
    else if (k == "--no-index") a.index = false;
    else if (k == "--run") a.run = val();
    else if (k == "--batches") {
      a.batches.clear();
      std::string s = val();
      for (std::size_t p = 0; p < s.size();) {
        auto q = s.find(',', p);
        if (q == std::string::npos) q = s.size();
        a.batches.push_back(std::stoull(s.substr(p, q - p)));
        p = q + 1;
      }
    } else if (k == "-h" || k == "--help") usage("");
    else usage(("unknown argument " + k).c_str());
  }
  if (a.mode == "fill" && a.db.empty()) usage("--mode fill needs --db");
  if (a.mode != "fill" && a.dir.empty()) usage("--dir is required");
  return a;
}

std::string pad(std::uint64_t v, int width) {
  std::string s = std::to_string(v);
  return s.size() >= static_cast<std::size_t>(width) ? s
                                                     : std::string(width - s.size(), '0') + s;
}

std::string hostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "localhost";
  return buf;
}

// Bytes this process passed to write()-like calls so far (all threads): /proc/self/io wchar.
std::uint64_t writtenBytes() {
  std::ifstream in("/proc/self/io");
  std::string key;
  std::uint64_t v = 0;
  while (in >> key >> v)
    if (key == "wchar:") return v;
  return 0;
}

// CPU time and time spent runnable but waiting for a CPU (/proc/self/task/*/schedstat), for
// the main thread (which builds the events) and the other threads (the queue's writer): tells
// CPU work, CPU contention and I/O waits apart.
struct Sched {
  double main_run_s = 0, main_queued_s = 0, other_run_s = 0, other_queued_s = 0;
};
Sched schedNow() {
  Sched s;
  const std::string self = std::to_string(::getpid());
  std::error_code ec;
  for (auto& t : fs::directory_iterator("/proc/self/task", ec)) {
    std::ifstream in(t.path() / "schedstat");
    double run_ns = 0, wait_ns = 0;
    if (!(in >> run_ns >> wait_ns)) continue;
    const bool main = t.path().filename() == self;
    (main ? s.main_run_s : s.other_run_s) += run_ns / 1e9;
    (main ? s.main_queued_s : s.other_queued_s) += wait_ns / 1e9;
  }
  return s;
}
// Threads that ended between the two samples drop out: callers keep the queue alive meanwhile.
nlohmann::json schedSince(const Sched& a) {
  Sched b = schedNow();
  return {{"main_cpu_s", b.main_run_s - a.main_run_s},
          {"main_runqueue_wait_s", b.main_queued_s - a.main_queued_s},
          {"writer_cpu_s", b.other_run_s - a.other_run_s},
          {"writer_runqueue_wait_s", b.other_queued_s - a.other_queued_s}};
}

double secondsSince(Steady::time_point t) {
  return std::chrono::duration<double>(Steady::now() - t).count();
}

// Builds events the way connectors/local does for IN_CLOSE_WRITE of a new regular file.
class EventGen {
 public:
  EventGen(const Args& a, const sluice::Clock& clock) : args_(a), clock_(clock) {
    spec_.name = a.source;
    spec_.type = "local";
    spec_.path = a.root;
  }

  RoutedBatch batch(std::size_t n) {
    RoutedBatch rb;
    rb.batch.source = args_.source;
    rb.batch.events.reserve(n);
    rb.sinks.reserve(n);
    const std::int64_t now = clock_.nowMs();
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint64_t k = ++count_;
      std::string name = "scan-" + pad(k, 9) + ".tif";
      std::string path = args_.root + "/run-" + pad(k / 10000 % 100, 2) + "/" + name;
      struct stat st {};
      st.st_mode = S_IFREG | 0644;
      st.st_ino = static_cast<ino_t>(4'000'000 + k);
      st.st_size = static_cast<off_t>(1'048'576 + (k * 7919) % 4'000'000);
      st.st_mtim.tv_sec = static_cast<time_t>(now / 1000);
      st.st_mtim.tv_nsec = static_cast<long>((now % 1000) * 1'000'000 + static_cast<long>(k % 1000));
      std::string fp = sluice::connectors::local::fingerprint(st);
      nlohmann::json native = {{"mask", nlohmann::json::array({"IN_CLOSE_WRITE"})},
                               {"cookie", 0},
                               {"name", name}};
      rb.batch.events.push_back(builder_.make(sluice::EventType::Created, path, st, fp, "",
                                              std::move(native), now));
      if (args_.index) rb.batch.index.push_back({path, fp});
      rb.sinks.push_back({args_.sink});
    }
    return rb;
  }

  // What the queue stores for one event (its JSON body), for sizing the raw records.
  std::size_t storedBytes() {
    RoutedBatch rb = batch(1);
    --count_;
    return sluice::toJson(rb.batch.events.front()).dump().size();
  }

 private:
  const Args& args_;
  const sluice::Clock& clock_;
  sluice::connectors::local::LocalSpec spec_;
  sluice::connectors::local::EventBuilder builder_{spec_, "file://" + hostName() + args_.root};
  std::uint64_t count_ = 0;
};

void emit(nlohmann::json j, const Args& a) {
  if (!a.run.empty()) j["run"] = a.run;
  std::printf("%s\n", j.dump().c_str());
  std::fflush(stdout);
}

// (a) N records written, then one fdatasync(): the disk's durable-write ceiling for N.
// "append": write() with O_APPEND to a growing file (each sync also commits the new size and
// blocks to the file system journal) -- the baseline. "overwrite": pwrite() into a file
// written and synced once beforehand, wrapping at 16 MiB -- what a recycled log (SQLite's WAL
// after its first checkpoint) pays: the data alone.
void rawWrite(const Args& a, std::size_t n, std::size_t record_bytes, bool append) {
  constexpr off_t kRegion = 16 << 20;
  const std::string path = a.dir + (append ? "/raw-append.bin" : "/raw-overwrite.bin");
  int flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (append ? O_APPEND : 0);
  int fd = ::open(path.c_str(), flags, 0644);
  if (fd < 0) throw std::runtime_error("open " + path + ": " + std::strerror(errno));
  auto fail = [&](const char* what) {
    int err = errno;
    ::close(fd);
    throw std::runtime_error(std::string(what) + " " + path + ": " + std::strerror(err));
  };
  if (!append) {
    std::string zeros(1 << 20, '\0');
    for (off_t done = 0; done < kRegion; done += static_cast<off_t>(zeros.size()))
      if (::write(fd, zeros.data(), zeros.size()) != static_cast<ssize_t>(zeros.size())) fail("write");
    if (::fsync(fd) != 0) fail("fsync");
  }
  std::string rec(record_bytes, 'x');
  rec.back() = '\n';
  std::uint64_t records = 0, syncs = 0;
  off_t pos = 0;
  const Sched sched0 = schedNow();
  auto start = Steady::now();
  while (syncs < 3 || secondsSince(start) < a.seconds) {
    for (std::size_t i = 0; i < n; ++i) {
      ssize_t w;
      if (append) {
        w = ::write(fd, rec.data(), rec.size());
      } else {
        if (pos + static_cast<off_t>(rec.size()) > kRegion) pos = 0;
        w = ::pwrite(fd, rec.data(), rec.size(), pos);
        pos += static_cast<off_t>(rec.size());
      }
      if (w != static_cast<ssize_t>(rec.size())) fail("write");
    }
    if (::fdatasync(fd) != 0) fail("fdatasync");
    records += n;
    ++syncs;
  }
  double secs = secondsSince(start);
  const auto sched = schedSince(sched0);
  ::close(fd);
  ::unlink(path.c_str());
  emit({{"bench", append ? "raw_append" : "raw_overwrite"}, {"batch", n},
        {"record_bytes", record_bytes}, {"sched", sched}, {"events", records}, {"syncs", syncs},
        {"seconds", secs}, {"events_per_s", static_cast<double>(records) / secs},
        {"ms_per_sync", secs * 1000.0 / static_cast<double>(syncs)}},
       a);
}

std::unique_ptr<sluice::SqliteQueue> freshQueue(const std::string& path, const sluice::Clock& clock) {
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path + suffix);
  sluice::QueueOptions qo;
  qo.path = path;
  return sluice::openSqliteQueue(qo, clock);
}

void removeDb(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path + suffix);
}

sluice::CommitResult appendAndWait(sluice::SqliteQueue& q, RoutedBatch rb) {
  std::promise<sluice::CommitResult> p;
  auto f = p.get_future();
  q.append(std::move(rb), [&p](sluice::CommitResult r) { p.set_value(std::move(r)); });
  return f.get();
}

void check(const sluice::CommitResult& r, std::size_t want) {
  if (!r.ok) throw std::runtime_error("commit failed: " + r.error);
  if (r.committed != want)
    throw std::runtime_error("committed " + std::to_string(r.committed) + " of " +
                             std::to_string(want) + " events");
}

// (b1) one caller: build a batch, append it, wait for its commit (only the wait is timed).
void ingestWait(const Args& a, std::size_t n, EventGen& gen, const sluice::Clock& clock) {
  const std::string path = a.dir + "/ingest-wait.db";
  auto q = freshQueue(path, clock);
  check(appendAndWait(*q, gen.batch(n)), n);  // warm-up: schema pages, names, statements
  const auto commits0 = q->commits();
  const auto bytes0 = writtenBytes();
  const Sched sched0 = schedNow();
  double waited = 0;
  std::uint64_t events = 0, batches = 0;
  auto start = Steady::now();
  while (batches < 3 || secondsSince(start) < a.seconds) {
    RoutedBatch rb = gen.batch(n);
    auto t0 = Steady::now();
    auto r = appendAndWait(*q, std::move(rb));
    waited += secondsSince(t0);
    check(r, n);
    events += n;
    ++batches;
  }
  const auto bytes = writtenBytes() - bytes0;
  const auto commits = q->commits() - commits0;
  const auto sched = schedSince(sched0);
  q.reset();
  removeDb(path);
  emit({{"bench", "queue_ingest"}, {"mode", "wait"}, {"batch", n}, {"outstanding", 1},
        {"wall_s", secondsSince(start)}, {"sched", sched},
        {"index_updates", a.index}, {"events", events}, {"commits", commits},
        {"seconds", waited}, {"events_per_s", static_cast<double>(events) / waited},
        {"ms_per_commit", waited * 1000.0 / static_cast<double>(commits)},
        {"bytes_written_per_event", static_cast<double>(bytes) / static_cast<double>(events)}},
       a);
}

// (b2) K appends in flight at once (several sources, or one that does not wait): the writer
// takes everything queued into one transaction, so one fsync covers several batches.
void ingestOutstanding(const Args& a, std::size_t n, EventGen& gen, const sluice::Clock& clock) {
  const std::string path = a.dir + "/ingest-outstanding.db";
  auto q = freshQueue(path, clock);
  check(appendAndWait(*q, gen.batch(n)), n);
  const auto commits0 = q->commits();
  const auto bytes0 = writtenBytes();
  std::mutex mu;
  std::condition_variable cv;
  int inflight = 0;
  std::uint64_t events = 0, submitted = 0;
  std::string error;
  const Sched sched0 = schedNow();
  auto start = Steady::now();
  while (submitted < 3 * static_cast<std::uint64_t>(a.outstanding) ||
         secondsSince(start) < a.seconds) {
    RoutedBatch rb = gen.batch(n);
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return inflight < a.outstanding; });
      if (!error.empty()) break;
      ++inflight;
    }
    ++submitted;
    q->append(std::move(rb), [&, n](sluice::CommitResult r) {
      std::lock_guard lock(mu);
      --inflight;
      if (!r.ok || r.committed != n) error = r.ok ? "short commit" : r.error;
      events += r.committed;
      cv.notify_all();
    });
  }
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return inflight == 0; });
  }
  const double secs = secondsSince(start);
  if (!error.empty()) throw std::runtime_error("commit failed: " + error);
  const auto bytes = writtenBytes() - bytes0;
  const auto commits = q->commits() - commits0;
  const auto sched = schedSince(sched0);
  q.reset();
  removeDb(path);
  emit({{"bench", "queue_ingest"}, {"mode", "outstanding"}, {"batch", n}, {"sched", sched},
        {"outstanding", a.outstanding}, {"index_updates", a.index}, {"events", events},
        {"commits", commits}, {"seconds", secs},
        {"events_per_s", static_cast<double>(events) / secs},
        {"events_per_commit", static_cast<double>(events) / static_cast<double>(commits)},
        {"ms_per_commit", secs * 1000.0 / static_cast<double>(commits)},
        {"bytes_written_per_event", static_cast<double>(bytes) / static_cast<double>(events)}},
       a);
}

// (c) N pending deliveries for one sink, written through SqliteQueue::append like sluice does.
void fill(const Args& a, const sluice::Clock& clock) {
  Args fa = a;
  fa.index = false;  // the backlog alone: no source index (that would be a tree of N files)
  EventGen gen(fa, clock);
  fs::create_directories(fs::path(a.db).parent_path().empty() ? fs::path(".")
                                                              : fs::path(a.db).parent_path());
  auto q = freshQueue(a.db, clock);
  constexpr std::size_t kBatch = 5000;
  constexpr int kInflight = 2;
  std::mutex mu;
  std::condition_variable cv;
  int inflight = 0;
  std::uint64_t done = 0, next_report = 100'000;
  std::string error;
  auto start = Steady::now();
  for (std::size_t sent = 0; sent < a.fill;) {
    const std::size_t n = std::min(kBatch, a.fill - sent);
    RoutedBatch rb = gen.batch(n);
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return inflight < kInflight; });
      if (!error.empty()) break;
      ++inflight;
    }
    sent += n;
    q->append(std::move(rb), [&, n](sluice::CommitResult r) {
      std::lock_guard lock(mu);
      --inflight;
      if (!r.ok || r.committed != n) error = r.ok ? "short commit (duplicate ids?)" : r.error;
      done += r.committed;
      if (done >= next_report) {
        std::fprintf(stderr, "fill: %llu pending\n", static_cast<unsigned long long>(done));
        next_report += 100'000;
      }
      cv.notify_all();
    });
  }
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return inflight == 0; });
  }
  if (!error.empty()) throw std::runtime_error("fill: commit failed: " + error);
  const double secs = secondsSince(start);
  auto stats = q->stats();
  std::int64_t pending = 0;
  for (auto& s : stats.sinks)
    if (s.sink == a.sink) pending = s.pending;
  q.reset();  // closes the connection: SQLite checkpoints and removes the WAL
  std::uint64_t bytes = 0;
  for (const char* suffix : {"", "-wal"})
    if (fs::exists(a.db + suffix)) bytes += fs::file_size(a.db + suffix);
  emit({{"bench", "fill"}, {"sink", a.sink}, {"pending", pending}, {"seconds", secs},
        {"events_per_s", static_cast<double>(done) / secs}, {"db_bytes", bytes}},
       a);
}

}  // namespace

int main(int argc, char** argv) {
  Args a = parseArgs(argc, argv);
  sluice::SystemClock clock;
  try {
    if (a.mode == "fill") {
      fill(a, clock);
      return 0;
    }
    fs::create_directories(a.dir);
    EventGen gen(a, clock);
    const std::size_t record = gen.storedBytes();
    // Interleaved per batch size, so each queue figure sits next to its baseline in time too.
    for (std::size_t n : a.batches) {
      if (a.mode == "all" || a.mode == "raw") {
        rawWrite(a, n, record, /*append=*/true);
        rawWrite(a, n, record, /*append=*/false);
      }
      if (a.mode == "all" || a.mode == "ingest") {
        ingestWait(a, n, gen, clock);
        ingestOutstanding(a, n, gen, clock);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sluice_queue_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
