// The memory floor of sluice's dependency set, for the idle-RSS figure: a program that loads
// the same shared libraries and runs the same library initialisation sluice runs at start
// (libcurl's global init, which initialises OpenSSL; an OpenSSL SHA-256; a libwebsockets
// context listening on loopback; an SQLite connection in WAL mode; a YAML parse; a spdlog
// logger; an HTTP server thread), then idles until SIGTERM. What sluice uses beyond this
// figure is its own memory. Usage: sluice_rss_floor DIR (for the SQLite file).
#include <curl/curl.h>
#include <libwebsockets.h>
#include <openssl/evp.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <systemd/sd-daemon.h>
#include <yaml-cpp/yaml.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: sluice_rss_floor DIR\n");
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURLM* multi = curl_multi_init();

  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest("x", 1, digest, &len, EVP_sha256(), nullptr);

  lws_set_log_level(LLL_ERR, nullptr);
  static const lws_protocols protocols[] = {{"http", lws_callback_http_dummy, 0, 0, 0, nullptr, 0},
                                            {nullptr, nullptr, 0, 0, 0, nullptr, 0}};
  lws_context_creation_info info;
  std::memset(&info, 0, sizeof info);
  info.port = 0;
  info.iface = "127.0.0.1";
  info.protocols = protocols;
  lws_context* lws = lws_create_context(&info);

  sqlite3* db = nullptr;
  sqlite3_open((std::string(argv[1]) + "/floor.db").c_str(), &db);
  sqlite3_exec(db, "PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS t(x)", nullptr, nullptr,
               nullptr);

  YAML::Node config = YAML::Load("state_dir: /var/lib/sluice\nsources: [{name: a}]\n");
  auto log = spdlog::stderr_logger_mt("floor");
  log->info("floor: {} sources", config["sources"].size());
  sd_notify(0, "READY=1");

  boost::asio::io_context io;
  boost::asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](auto, int) { io.stop(); });
  std::atomic<bool> stop{false};
  std::thread server([lws, &stop] {  // sluice serves HTTP from its own thread, as here
    while (!stop && lws_service(lws, 0) >= 0) {
    }
  });
  io.run();
  stop = true;
  lws_cancel_service(lws);
  server.join();
  lws_context_destroy(lws);
  sqlite3_close(db);
  curl_multi_cleanup(multi);
  curl_global_cleanup();
  return 0;
}
