#include "daemon/runtime.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/file.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>
#include <cstdlib>

#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "daemon/dispatcher.hpp"
#include "daemon/health.hpp"
#include "daemon/http_client.hpp"
#include "daemon/http_server.hpp"
#include "daemon/ingress.hpp"
#include "daemon/intake.hpp"
#include "daemon/live_feed.hpp"
#include "daemon/metrics.hpp"
#include "daemon/notify_status.hpp"
#include "daemon/progress.hpp"
#include "daemon/object_store.hpp"
#include "daemon/queue_sqlite.hpp"
#include "daemon/router.hpp"
#include "daemon/status_api.hpp"
#include "daemon/status_pages.hpp"

namespace sluice {

void setSighupBlocked(bool blocked) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(blocked ? SIG_BLOCK : SIG_UNBLOCK, &set, nullptr);
}

int lockStateDir(const std::string& state_dir) {
  std::filesystem::create_directories(state_dir);
  std::string path = state_dir + "/lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    throw std::runtime_error("another sluice process uses " + state_dir + " (" + path +
                             " is locked)");
  }
  return fd;
}

struct Runtime::Parts {
  int lock_fd = -1;
  boost::asio::io_context io;
  Metrics metrics;
  Health health;
  // The status page's feed: outlives the intake and dispatcher that publish to it.
  std::unique_ptr<LiveFeedHub> live_hub;
  std::unique_ptr<StatusBoard> board;
  std::unique_ptr<SqliteQueue> queue;
  std::unique_ptr<Router> router;
  std::unique_ptr<HttpClient> http;
  ObjectStores stores;  // outlives the sinks (declared before them)
  std::vector<std::unique_ptr<Sink>> sinks;
  std::unique_ptr<Dispatcher> dispatcher;
  std::unique_ptr<QueueIntake> intake;
  std::unique_ptr<Ingress> ingress;  // outlives the server (reset first below)
  std::vector<std::unique_ptr<Connector>> connectors;
  std::vector<std::unique_ptr<ConnectorContext>> connector_contexts;
  std::vector<std::unique_ptr<SinkContext>> sink_contexts;
  std::unique_ptr<HttpServer> server;
  std::unique_ptr<StatsCache> stats;
  std::unique_ptr<StatusApi> status_api;
  ~Parts() {
    server.reset();  // no more scrapes or pushes into the parts below
    status_api.reset();  // its worker may be inside a queue admin call: done before the queue goes
    // Drain the writer first: its last callbacks still reach the intake and dispatcher (their
    // handlers are posted to a loop that no longer runs, so they are only destroyed).
    queue.reset();
    connectors.clear();
    dispatcher.reset();
    sinks.clear();
    http.reset();
    if (lock_fd >= 0) ::close(lock_fd);
  }
};

Runtime::Runtime(const Config& cfg, std::shared_ptr<spdlog::logger> log, const Clock& clock)
    : cfg_(cfg), log_(std::move(log)), clock_(clock), p_(std::make_unique<Parts>()) {}

Runtime::~Runtime() = default;

void Runtime::build(bool daemon) {
  auto& p = *p_;
  const std::string state = cfg_.state_dir.string();
  p.lock_fd = lockStateDir(state);
  // The local source probes files with read leases; a lease break in that instant raises
  // SIGIO, whose default action ends the process. Nothing in sluice uses SIGIO: the runtime
  // owns signal dispositions, no plugin changes them.
  std::signal(SIGIO, SIG_IGN);
  QueueOptions qo;
  qo.path = state + "/queue.db";
  qo.dedup_horizon = cfg_.dedup_horizon;
  qo.max_bytes = cfg_.queue_max_size;
  p.queue = openSqliteQueue(qo, clock_);
  p.health.set("queue", HealthState::Ok);
  // Not ready until the sources have their watches and start-up scans done (see run()).
  p.health.set("startup", HealthState::Failed, "starting: watches and start-up scans in progress");
  p.router = std::make_unique<Router>(cfg_.routes);
  p.http = std::make_unique<HttpClient>(p.io);
  if (daemon && !cfg_.http.listen.empty()) {  // the status page and its live feed
    p.live_hub = std::make_unique<LiveFeedHub>(LiveFeedHub::Options{});
    p.board = std::make_unique<StatusBoard>(clock_, *p.live_hub);
  }
  p.dispatcher = std::make_unique<Dispatcher>(p.io, *p.queue, p.metrics, p.health, clock_, log_,
                                              p.board.get());
  // Job results of supervisor sinks follow the routes from the sink's name.
  p.dispatcher->routeEmitted([router = p.router.get()](const std::string& source, const Event& ev) {
    return router->sinksFor(source, ev);
  });
  for (auto& spec : cfg_.sources)
    if (auto store = spec->objectStore(p.io, *p.http, clock_)) p.stores.add(spec->name, std::move(store));
  for (auto& spec : cfg_.sinks) {
    p.sink_contexts.push_back(std::make_unique<SinkContext>(
        SinkContext{p.io, *p.http, p.metrics, p.health, clock_, cfg_.state_dir, log_, &p.stores}));
    p.sinks.push_back(spec->create(*p.sink_contexts.back()));
    p.dispatcher->add(spec->name, *p.sinks.back(), spec->policy);
  }
  p.intake = std::make_unique<QueueIntake>(
      p.io, *p.queue, *p.router, p.metrics, p.health, log_,
      [d = p.dispatcher.get()](const std::set<std::string>& sinks) {
        for (auto& s : sinks) d->wake(s);
      },
      p.board.get());
  std::optional<std::string> token;
  if (cfg_.http.ingress_token) token = cfg_.http.ingress_token->reveal();
  p.ingress = std::make_unique<Ingress>(p.io, std::move(token), p.metrics);
  for (auto& spec : cfg_.sources) {
    p.connector_contexts.push_back(std::make_unique<ConnectorContext>(
        ConnectorContext{p.io, *p.intake, p.metrics, p.health, clock_, log_, cfg_.dedup_horizon,
                         p.http.get(), p.ingress.get()}));
    p.connectors.push_back(spec->create(*p.connector_contexts.back()));
  }
  std::vector<std::string> sink_names;
  for (auto& spec : cfg_.sinks) sink_names.push_back(spec->name);
  p.stats = std::make_unique<StatsCache>(*p.queue, clock_, sink_names);
  addQueueMetrics(p.metrics, *p.stats, clock_, cfg_.queue_max_size);
  checkStranded(true);
  // Listening before any connector starts; `once` serves too when storage pushes to a source.
  if (!cfg_.http.listen.empty() && (daemon || !p.ingress->empty())) {
    p.server = std::make_unique<HttpServer>(HttpServerOptions{cfg_.http.listen});
    addStatusRoutes(*p.server, p.metrics, p.health, *p.stats);
    if (p.board) {
      StatusApiOptions so;
      for (auto& spec : cfg_.sources) so.sources.emplace_back(spec->name, spec->type);
      if (cfg_.http.admin_token) so.admin_token = cfg_.http.admin_token->reveal();
      p.status_api = std::make_unique<StatusApi>(
          std::move(so), *p.board, *p.live_hub, *p.stats, p.health, *p.queue,
          [&io = p.io, d = p.dispatcher.get()](const std::string& sink) {
            boost::asio::post(io, [d, sink] { d->wake(sink); });  // replayed: deliver now
          });
      p.status_api->attach(*p.server);
    }
    p.ingress->attach(*p.server);
    p.server->start();
    log_->info("http: listening on {}", cfg_.http.listen);
  }
}

void Runtime::checkStranded(bool log_all) {
  auto& p = *p_;
  std::string detail;
  for (auto& ss : p.queue->stats().sinks) {
    if (cfg_.hasSink(ss.sink) || (ss.pending == 0 && ss.dead == 0)) continue;
    std::string what = "sink \"" + ss.sink + "\" is not in the config but has " +
                       std::to_string(ss.pending) + " pending and " + std::to_string(ss.dead) +
                       " dead deliveries";
    if (log_all || stranded_.insert(ss.sink).second)
      log_->warn("queue: {}: nothing will deliver them. Move them to a configured sink with "
                 "`sluice queue move --from {} --to NAME`, or dead-letter them with `sluice "
                 "queue dead-letter --sink {}`", what, ss.sink, ss.sink);
    if (ss.pending > 0) detail += (detail.empty() ? "" : "; ") + what;
  }
  if (detail.empty())
    p.health.set("queue:stranded", HealthState::Ok);
  else
    p.health.set("queue:stranded", HealthState::Degraded,
                 detail + " (sluice queue move --from OLD --to NEW, or sluice queue dead-letter --sink OLD)");
}

std::vector<std::string> Runtime::preflight(const Config& next) const {
  std::vector<std::string> problems;
  for (auto& spec : next.sources)
    if (auto why = spec->preflight(); !why.empty()) problems.push_back(why);
  if (next.state_dir != cfg_.state_dir) {
    try {
      ::close(lockStateDir(next.state_dir.string()));
    } catch (const std::exception& e) {
      problems.push_back(std::string("state_dir: ") + e.what());
    }
  }
  if (!next.http.listen.empty() && next.http.listen != cfg_.http.listen) {
    try {  // bind it for a moment: a port in use must not cost the running daemon
      HttpServer probe(HttpServerOptions{next.http.listen});
      probe.start();
    } catch (const std::exception& e) {
      problems.push_back(std::string("http.listen: ") + e.what());
    }
  }
  return problems;
}

int Runtime::run() {
  build(true);
  auto& p = *p_;
  for (auto& c : p.connectors) c->start();
  p.dispatcher->start();
  p.health.set("startup", HealthState::Ok);

  boost::asio::signal_set signals(p.io, SIGTERM, SIGINT, SIGHUP);
  setSighupBlocked(false);  // held pending since start-up (see cliMain): handled from now on
  bool stopping = false;
  std::function<void()> wait_signal;
  wait_signal = [&] {
    signals.async_wait([&](boost::system::error_code ec, int sig) {
      if (ec) return;
      if (stopping) {
        if (sig != SIGHUP && reload_) {  // `systemctl stop` during a reload's drain: exit
          reload_ = false;
          log_->info("signal {}: exiting after the drain instead of restarting", sig);
          sd_notify(0, "STOPPING=1");
        }
        wait_signal();
        return;
      }
      if (sig == SIGHUP) {
        auto next = loadConfig(cfg_.file);
        std::vector<std::string> problems;
        for (auto& e : next.errors) problems.push_back(e.str());
        if (next.config) problems = preflight(*next.config);
        if (!problems.empty()) {
          log_->error("SIGHUP: {} cannot be applied ({} problem(s)); going on with the running "
                      "config", cfg_.file, problems.size());
          for (auto& e : problems) log_->error("  {}", e);
          wait_signal();
          return;
        }
        reload_ = true;
        // Another SIGHUP from now until the new process listens stays pending (the mask
        // survives execv) instead of killing the process with the default action.
        setSighupBlocked(true);
        log_->info("SIGHUP: {} is valid; stopping intake and restarting in place to apply it",
                   cfg_.file);
        sd_notify(0, "RELOADING=1");
      } else {
        log_->info("signal {}: stopping intake, finishing in-flight deliveries", sig);
        sd_notify(0, "STOPPING=1");
      }
      stopping = true;
      // Not ready from the moment intake stops: a load balancer must not send pushes here.
      p.health.set("shutdown", HealthState::Failed,
                   reload_ ? "reloading: intake stopped, finishing in-flight deliveries"
                           : "stopping: intake stopped, finishing in-flight deliveries");
      wait_signal();
      p.ingress->stop();  // pushes from now on get 503: the sender keeps them
      for (auto& c : p.connectors) c->stop();
      p.dispatcher->stop(
          [&] {
            signals.cancel();
            p.io.stop();
          },
          reload_);
    });
  };
  wait_signal();

  // systemd: READY once the queue is open and the server listens; watchdog and status pings.
  boost::asio::steady_timer ping(p.io);
  std::uint64_t watchdog_usec = 0;
  bool watchdog = sd_watchdog_enabled(0, &watchdog_usec) > 0;
  auto interval = watchdog ? std::chrono::microseconds(watchdog_usec / 2) : std::chrono::microseconds(10'000'000);
  std::vector<std::string> source_names;
  for (auto& spec : cfg_.sources) source_names.push_back(spec->name);
  std::function<void()> tick = [&] {
    std::string status = notifyStatus(p.stats->get(), p.health.snapshot(), source_names);
    checkStranded(false);  // `sluice queue move` may have resolved them meanwhile
    sd_notify(0, (watchdog ? "WATCHDOG=1\n" + status : status).c_str());
    ping.expires_after(interval);
    ping.async_wait([&](boost::system::error_code ec) {
      if (!ec) tick();
    });
  };
  // The status page's queue depth chart: one sample every 10 s, the last hour kept.
  boost::asio::steady_timer depth(p.io);
  std::function<void()> sample = [&] {
    if (!p.board) return;
    p.board->sample(p.stats->get());
    depth.expires_after(std::chrono::seconds(10));
    depth.async_wait([&](boost::system::error_code ec) {
      if (!ec) sample();
    });
  };
  sd_notify(0, "READY=1");
  tick();
  // Fault injection for the watchdog test: SIGUSR2 blocks this loop for 5 s, so the test can
  // see that the pings stop with it. Only when asked for in the environment.
  boost::asio::signal_set stall(p.io);
  const char* fault = std::getenv("SLUICE_FAULT_INJECTION");
  std::function<void()> wait_stall = [&] {
    stall.async_wait([&](boost::system::error_code ec, int) {
      if (ec) return;
      log_->warn("SLUICE_FAULT_INJECTION: stalling the event loop for 5 s");
      std::this_thread::sleep_for(std::chrono::seconds(5));
      wait_stall();
    });
  };
  if (fault && std::string(fault) == "stall-on-sigusr2") {
    stall.add(SIGUSR2);
    wait_stall();
  }
  sample();
  p.dispatcher->logSummaryEvery(std::chrono::seconds(60));
  log_->info("sluice {} running: {} sources, {} sinks, state in {}", SLUICE_VERSION,
             cfg_.sources.size(), cfg_.sinks.size(), cfg_.state_dir.string());
  p.io.run();
  log_->info("stopped");
  return 0;
}

int Runtime::once() {
  build(false);
  auto& p = *p_;
  std::size_t waiting = p.connectors.size();
  std::vector<std::string> errors;
  bool drained = false;
  // The queue answers from its writer thread: without this guard run() would return whenever
  // the loop is momentarily empty while a commit or lease is still on its way.
  auto work = boost::asio::make_work_guard(p.io);
  // On a terminal: "delivering N of M (rate)" while it works; M = what was due when delivery began.
  ProgressLine progress("delivering", stderr, isatty(2) == 1, clock_);
  boost::asio::steady_timer progress_timer(p.io);
  std::int64_t due_at_start = 0;
  std::function<void()> show = [&] {
    auto t = p.dispatcher->totals();
    progress.update(t.done + t.dead, static_cast<std::size_t>(std::max<std::int64_t>(
                                         due_at_start, static_cast<std::int64_t>(t.done + t.dead))));
    progress_timer.expires_after(std::chrono::milliseconds(200));
    progress_timer.async_wait([&](boost::system::error_code ec) {
      if (!ec) show();
    });
  };
  auto deliver = [&] {
    for (auto& ss : p.queue->stats().sinks) due_at_start += ss.pending;
    if (isatty(2) == 1) show();
    p.dispatcher->start();
    p.dispatcher->whenDrained([&] {
      drained = true;
      work.reset();
      p.io.stop();
    });
  };
  for (std::size_t i = 0; i < p.connectors.size(); ++i) {
    p.connectors[i]->catchUp([&, i](std::string error) {
      if (!error.empty()) errors.push_back(cfg_.sources[i]->name + ": " + error);
      if (--waiting == 0) deliver();
    });
  }
  if (p.connectors.empty()) deliver();
  p.io.run();
  auto totals = p.dispatcher->totals();
  const std::string took = progress.finish(totals.done);
  auto s = p.queue->stats();
  std::int64_t pending = 0, dead = 0;
  for (auto& ss : s.sinks) {
    pending += ss.pending;
    dead += ss.dead;
    const bool configured = cfg_.hasSink(ss.sink);
    if (ss.pending || ss.dead)
      std::fprintf(stderr, "sink %s: %lld pending, %lld dead%s\n", ss.sink.c_str(),
                   static_cast<long long>(ss.pending), static_cast<long long>(ss.dead),
                   configured || !ss.pending
                       ? ""
                       : " (not in the config: nothing delivers them; see `sluice queue move` "
                         "and `sluice queue dead-letter`)");
  }
  for (auto& e : errors) std::fprintf(stderr, "source %s\n", e.c_str());
  // One summary line: stdout when all is done, stderr (with exit status 1) when deliveries
  // remain pending or dead, or a source could not catch up.
  const bool ok = drained && pending == 0 && dead == 0 && errors.empty();
  std::fprintf(ok ? stdout : stderr,
               "sluice once: %llu delivered, %llu retried, %llu dead-lettered in this run (%s); "
               "%lld deliveries still pending, %lld dead%s\n",
               static_cast<unsigned long long>(totals.done),
               static_cast<unsigned long long>(totals.retried),
               static_cast<unsigned long long>(totals.dead), took.c_str(),
               static_cast<long long>(pending), static_cast<long long>(dead),
               errors.empty() ? "" : "; a source did not catch up");
  return ok ? 0 : 1;
}

}  // namespace sluice
