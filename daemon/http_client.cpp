// libcurl multi interface on the Asio io_context.
//
// Invariants:
//  - One CURLM per client: its connection cache (keep-alive, HTTP/2 multiplexing) is shared by
//    every transfer. Only the io_context thread touches it.
//  - Every socket curl opens goes through openSocket()/closeSocket(), so each fd has exactly one
//    stream_descriptor, registered before curl uses it and released (never closed by Asio)
//    before curl closes it. Each registration gets a new generation: a wait that completes
//    after its fd number was closed and reused is recognised as stale and ignored.
//  - `done` is always posted, never called from send(), cancel() or a curl callback, so a
//    caller may send or cancel from inside `done` without re-entering libcurl.
//  - Completion handlers hold only a weak token to the client: after destruction they do
//    nothing.
#include "daemon/http_client.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>

namespace sluice {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

const std::string* HttpResponse::header(std::string_view lower_name) const {
  for (auto& [k, v] : headers)
    if (k == lower_name) return &v;
  return nullptr;
}

bool isTransientCurlError(int curl_code) {
  switch (curl_code) {
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_BAD_FUNCTION_ARGUMENT:
    case CURLE_NOT_BUILT_IN:
      return false;
    default:
      return true;
  }
}

struct HttpClient::Impl {
  struct Transfer {
    std::uint64_t id = 0;
    CURL* easy = nullptr;
    curl_slist* headers = nullptr;
    HttpRequest req;  // owns the body curl sends from (CURLOPT_POSTFIELDS is not copied)
    HttpResponse resp;
    std::function<void(HttpResponse)> done;
    Clock::time_point started;
    char errbuf[CURL_ERROR_SIZE] = {};
    bool responded = false;  // on_response was called
    bool paused = false;     // pause(): the next chunk pauses the transfer (curl keeps it)
    FILE* upload = nullptr;
    curl_off_t upload_left = 0;  // bytes of the upload (or of its part) still to send
    int download_fd = -1;
    ~Transfer() {
      if (upload) std::fclose(upload);
      if (download_fd >= 0) ::close(download_fd);
    }
  };

  struct Socket {
    std::unique_ptr<asio::posix::stream_descriptor> sd;
    std::uint64_t gen = 0;
    bool owned = false;  // opened by openSocket(): lives until closeSocket()
    int what = CURL_POLL_NONE;
    bool read_pending = false, write_pending = false;
  };

  asio::io_context& io;
  asio::steady_timer timer;
  CURLM* multi = nullptr;
  std::map<std::uint64_t, std::unique_ptr<Transfer>> transfers;
  std::map<curl_socket_t, Socket> sockets;
  std::uint64_t next_id = 0, next_gen = 0;
  int in_curl = 0;  // > 0 while inside curl_multi_socket_action (its callbacks may run)
  std::shared_ptr<int> alive = std::make_shared<int>(0);

  explicit Impl(asio::io_context& c) : io(c), timer(c) {
    multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &Impl::onSocket);
    curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, this);
    curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &Impl::onTimer);
    curl_multi_setopt(multi, CURLMOPT_TIMERDATA, this);
    curl_multi_setopt(multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
    // curl's default cache (4 x the handles added at the moment) shrinks between lease rounds
    // and closes idle keep-alive connections; keep enough for every sink's concurrency.
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, 256L);
  }

  ~Impl() {
    for (auto& [id, t] : transfers) finish(*t, /*cancelled=*/true);
    transfers.clear();
    // Closes the cached connections through closeSocket(), so the sockets map must still exist.
    curl_multi_cleanup(multi);
    for (auto& [fd, s] : sockets) dropDescriptor(s);
    sockets.clear();
  }

  // --- sockets -----------------------------------------------------------------------------

  Socket* adopt(curl_socket_t fd, bool owned) {
    if (auto it = sockets.find(fd); it != sockets.end()) {
      // The number was closed behind our back (a resolver socketpair curl closes itself) and
      // reused: the old registration is stale.
      dropDescriptor(it->second);
      sockets.erase(it);
    }
    Socket s;
    try {
      s.sd = std::make_unique<asio::posix::stream_descriptor>(io, fd);
    } catch (const std::exception&) {
      return nullptr;
    }
    s.gen = ++next_gen;
    s.owned = owned;
    return &sockets.emplace(fd, std::move(s)).first->second;
  }

  static void dropDescriptor(Socket& s) {
    if (!s.sd) return;
    boost::system::error_code ec;
    s.sd->cancel(ec);
    s.sd->release();  // curl owns the fd and closes it
    s.sd.reset();
  }

  static curl_socket_t openSocket(void* clientp, curlsocktype purpose, curl_sockaddr* addr) {
    auto* self = static_cast<Impl*>(clientp);
    if (purpose != CURLSOCKTYPE_IPCXN) return CURL_SOCKET_BAD;
    int fd = ::socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
    if (fd < 0) return CURL_SOCKET_BAD;
    if (!self->adopt(fd, /*owned=*/true)) {
      ::close(fd);
      return CURL_SOCKET_BAD;
    }
    return fd;
  }

  static int closeSocket(void* clientp, curl_socket_t fd) {
    auto* self = static_cast<Impl*>(clientp);
    if (auto it = self->sockets.find(fd); it != self->sockets.end()) {
      dropDescriptor(it->second);  // release before close: Asio must never close curl's fd
      self->sockets.erase(it);
    }
    return ::close(fd);
  }

  static int onSocket(CURL*, curl_socket_t fd, int what, void* userp, void*) {
    auto* self = static_cast<Impl*>(userp);
    auto it = self->sockets.find(fd);
    if (what == CURL_POLL_REMOVE) {
      if (it == self->sockets.end()) return 0;
      if (it->second.owned) {
        it->second.what = CURL_POLL_NONE;  // idle in the cache; closeSocket() ends it
        boost::system::error_code ec;
        it->second.sd->cancel(ec);
      } else {
        dropDescriptor(it->second);  // not ours: curl may close it any moment now
        self->sockets.erase(it);
      }
      return 0;
    }
    Socket* s = it != self->sockets.end() ? &it->second : self->adopt(fd, /*owned=*/false);
    if (!s) return 0;
    s->what = what;
    self->arm(fd, *s);
    return 0;
  }

  void arm(curl_socket_t fd, Socket& s) {
    if ((s.what & CURL_POLL_IN) && !s.read_pending) armOne(fd, s, true);
    if ((s.what & CURL_POLL_OUT) && !s.write_pending) armOne(fd, s, false);
  }

  void armOne(curl_socket_t fd, Socket& s, bool read) {
    (read ? s.read_pending : s.write_pending) = true;
    auto handler = [this, token = std::weak_ptr<int>(alive), fd, gen = s.gen,
                    read](const boost::system::error_code& ec) {
      if (token.expired()) return;
      onReady(fd, gen, read, ec);
    };
    // Asio (1.74, epoll) re-arms the descriptor with EPOLL_CTL_MOD for every wait it queues,
    // so readiness that arrived while nothing waited is reported, not lost to edge triggering.
    s.sd->async_wait(read ? asio::posix::stream_descriptor::wait_read
                          : asio::posix::stream_descriptor::wait_write,
                     std::move(handler));
  }

  void onReady(curl_socket_t fd, std::uint64_t gen, bool read,
               const boost::system::error_code& ec) {
    auto it = sockets.find(fd);
    if (it == sockets.end() || it->second.gen != gen) return;  // stale: fd closed or reused
    (read ? it->second.read_pending : it->second.write_pending) = false;
    const int dir = read ? CURL_POLL_IN : CURL_POLL_OUT;
    if (ec != asio::error::operation_aborted && (it->second.what & dir)) {
      socketAction(fd, ec ? CURL_CSELECT_ERR : (read ? CURL_CSELECT_IN : CURL_CSELECT_OUT));
      it = sockets.find(fd);
      if (it == sockets.end() || it->second.gen != gen) return;
    }
    arm(fd, it->second);  // still wanted (or wanted again after a cancelled wait)
  }

  // --- timer ---------------------------------------------------------------------------------

  static int onTimer(CURLM*, long timeout_ms, void* userp) {
    auto* self = static_cast<Impl*>(userp);
    if (timeout_ms < 0) {
      self->timer.cancel();
      return 0;
    }
    self->timer.expires_after(std::chrono::milliseconds(timeout_ms));
    self->timer.async_wait(
        [self, token = std::weak_ptr<int>(self->alive)](const boost::system::error_code& ec) {
          if (ec || token.expired()) return;
          self->socketAction(CURL_SOCKET_TIMEOUT, 0);
        });
    return 0;
  }

  void socketAction(curl_socket_t fd, int mask) {
    int running = 0;
    ++in_curl;
    curl_multi_socket_action(multi, fd, mask, &running);
    --in_curl;
    collect();
  }

  // --- transfers -----------------------------------------------------------------------------

  void collect() {
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Transfer* t = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
      const CURLcode code = msg->data.result;
      if (!t) continue;
      if (code != CURLE_OK) {
        t->resp.curl_code = code;
        t->resp.error = t->errbuf[0] ? t->errbuf : curl_easy_strerror(code);
      }
      curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->resp.status);
      auto id = t->id;
      finish(*t, false);
      transfers.erase(id);
    }
  }

  // Detaches the easy handle and posts `done`; the caller erases the transfer.
  void finish(Transfer& t, bool cancelled) {
    curl_multi_remove_handle(multi, t.easy);
    curl_easy_cleanup(t.easy);
    curl_slist_free_all(t.headers);
    t.easy = nullptr;
    t.headers = nullptr;
    if (cancelled) {
      t.resp.cancelled = true;
      t.resp.curl_code = CURLE_ABORTED_BY_CALLBACK;
      t.resp.error = "cancelled";
    }
    postDone(t);
  }

  void postDone(Transfer& t) {
    t.resp.elapsed =
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t.started);
    asio::post(io, [done = std::move(t.done), resp = std::move(t.resp)]() mutable {
      if (done) done(std::move(resp));
    });
  }

  static size_t onHeader(char* data, size_t size, size_t n, void* userp) {
    auto* t = static_cast<Transfer*>(userp);
    std::string_view line(data, size * n);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
    if (line.empty()) {  // the end of a header block
      long status = 0;
      curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
      if (status >= 200 && !t->responded && t->req.on_response) {
        t->responded = true;
        try {
          if (!t->req.on_response(status, t->resp.headers)) return 0;  // aborts the transfer
        } catch (...) {
          return 0;  // an exception must not unwind through libcurl's C frames
        }
      }
      return size * n;
    }
    if (line.starts_with("HTTP/")) {
      t->resp.headers.clear();  // a new header block (100 Continue, proxy CONNECT): keep the last
      return size * n;
    }
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return size * n;
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    auto value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    t->resp.headers.emplace_back(std::move(name), std::string(value));
    return size * n;
  }

  static size_t onBody(char* data, size_t size, size_t n, void* userp) {
    auto* t = static_cast<Transfer*>(userp);
    const size_t len = size * n;
    // A pause requested before the transfer reached its body (curl forgets an early
    // curl_easy_pause when it sets the transfer up) takes effect here.
    if (t->paused) return CURL_WRITEFUNC_PAUSE;
    if (t->download_fd >= 0) {
      for (size_t done = 0; done < len;) {
        ssize_t w = ::write(t->download_fd, data + done, len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return 0;  // disk full, I/O error: the transfer fails (CURLE_WRITE_ERROR)
        done += static_cast<size_t>(w);
      }
      return len;
    }
    if (t->req.on_body) {
      try {
        // Returning less than len makes curl fail the transfer with CURLE_WRITE_ERROR.
        return t->req.on_body(std::string_view(data, len)) ? len : 0;
      } catch (...) {
        return 0;  // an exception must not unwind through libcurl's C frames
      }
    }
    auto room = t->req.max_response_body - std::min(t->req.max_response_body, t->resp.body.size());
    t->resp.body.append(data, std::min(room, len));
    return len;  // the rest is discarded on purpose, not an error
  }

  std::uint64_t send(HttpRequest req, std::function<void(HttpResponse)> done) {
    auto t = std::make_unique<Transfer>();
    t->id = ++next_id;
    t->req = std::move(req);
    t->done = std::move(done);
    t->started = Clock::now();
    t->easy = curl_easy_init();
    CURLMcode mc = CURLM_OK;
    const bool ready = t->easy && configure(*t);
    if (ready && in_curl > 0) {
      // Called from inside a curl callback (e.g. on_response starting the next request):
      // libcurl refuses curl_multi_add_handle there, so the transfer starts once it returned.
      auto id = t->id;
      transfers.emplace(id, std::move(t));
      asio::post(io, [this, token = std::weak_ptr<int>(alive), id] {
        if (!token.expired()) addLater(id);
      });
      return id;
    }
    if (ready && (mc = curl_multi_add_handle(multi, t->easy)) == CURLM_OK) {
      auto id = t->id;
      transfers.emplace(id, std::move(t));
      return id;
    }
    // Not started: report it like any other failure, through a posted `done`.
    if (t->resp.curl_code == 0) {  // openFiles() says why itself
      t->resp.curl_code = t->easy ? CURLE_FAILED_INIT : CURLE_OUT_OF_MEMORY;
      t->resp.error = mc != CURLM_OK ? curl_multi_strerror(mc) : "cannot set up the transfer";
    }
    if (t->easy) curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
    postDone(*t);
    return t->id;
  }

  void addLater(std::uint64_t id) {
    auto it = transfers.find(id);
    if (it == transfers.end()) return;  // cancelled meanwhile
    Transfer& t = *it->second;
    if (CURLMcode mc = curl_multi_add_handle(multi, t.easy); mc != CURLM_OK) {
      t.resp.curl_code = CURLE_FAILED_INIT;
      t.resp.error = curl_multi_strerror(mc);
      finish(t, /*cancelled=*/false);
      transfers.erase(it);
    }
  }

  static size_t onRead(char* buf, size_t size, size_t n, void* userp) {
    auto* t = static_cast<Transfer*>(userp);
    size_t want = std::min<size_t>(size * n, static_cast<size_t>(t->upload_left));
    size_t got = want ? std::fread(buf, 1, want, t->upload) : 0;
    t->upload_left -= static_cast<curl_off_t>(got);
    return got == 0 && std::ferror(t->upload) ? CURL_READFUNC_ABORT : got;
  }

  // Opens the files of an upload / download; false (with the reason) when one cannot be.
  static bool openFiles(Transfer& t, curl_off_t* upload_size) {
    const HttpRequest& r = t.req;
    if (!r.upload_file.empty()) {
      t.upload = std::fopen(r.upload_file.c_str(), "rbe");
      struct stat st {};
      if (!t.upload || ::fstat(::fileno(t.upload), &st) != 0) {
        t.resp.curl_code = CURLE_READ_ERROR;
        t.resp.error = "cannot read " + r.upload_file + ": " + std::strerror(errno);
        return false;
      }
      // A part (multipart uploads): from upload_offset, upload_length bytes (0: to the end).
      auto total = static_cast<std::uint64_t>(st.st_size);
      std::uint64_t offset = std::min(r.upload_offset, total);
      std::uint64_t length = total - offset;
      if (r.upload_length) length = std::min(length, r.upload_length);
      if (::fseeko(t.upload, static_cast<off_t>(offset), SEEK_SET) != 0) {
        t.resp.curl_code = CURLE_READ_ERROR;
        t.resp.error = "cannot seek in " + r.upload_file + ": " + std::strerror(errno);
        return false;
      }
      *upload_size = static_cast<curl_off_t>(length);
      t.upload_left = *upload_size;
    }
    if (!r.download_file.empty()) {
      t.download_fd =
          ::open(r.download_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (t.download_fd < 0) {
        t.resp.curl_code = CURLE_WRITE_ERROR;
        t.resp.error = "cannot write " + r.download_file + ": " + std::strerror(errno);
        return false;
      }
    }
    return true;
  }

  bool configure(Transfer& t) {
    CURL* e = t.easy;
    const HttpRequest& r = t.req;
    bool ok = true;
    auto set = [&](CURLoption o, auto v) { ok = ok && curl_easy_setopt(e, o, v) == CURLE_OK; };
    set(CURLOPT_PRIVATE, static_cast<void*>(&t));
    set(CURLOPT_ERRORBUFFER, t.errbuf);
    set(CURLOPT_NOSIGNAL, 1L);
    set(CURLOPT_URL, r.url.c_str());
    // Object keys are opaque: "a/../b" or "a//b" is a key, sent exactly as given (and signed so).
    set(CURLOPT_PATH_AS_IS, 1L);
    set(CURLOPT_PROTOCOLS_STR, "http,https");
    set(CURLOPT_OPENSOCKETFUNCTION, &Impl::openSocket);
    set(CURLOPT_OPENSOCKETDATA, static_cast<void*>(this));
    set(CURLOPT_CLOSESOCKETFUNCTION, &Impl::closeSocket);
    set(CURLOPT_CLOSESOCKETDATA, static_cast<void*>(this));
    set(CURLOPT_HEADERFUNCTION, &Impl::onHeader);
    set(CURLOPT_HEADERDATA, static_cast<void*>(&t));
    set(CURLOPT_WRITEFUNCTION, &Impl::onBody);
    set(CURLOPT_WRITEDATA, static_cast<void*>(&t));
    set(CURLOPT_TIMEOUT_MS, static_cast<long>(r.timeout.count()));
    set(CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(r.connect_timeout.count()));
    set(CURLOPT_TCP_KEEPALIVE, 1L);
    set(CURLOPT_SSL_VERIFYPEER, r.verify_tls ? 1L : 0L);
    set(CURLOPT_SSL_VERIFYHOST, r.verify_tls ? 2L : 0L);
    if (!r.ca_file.empty()) set(CURLOPT_CAINFO, r.ca_file.c_str());
    if (!r.ca_path.empty()) set(CURLOPT_CAPATH, r.ca_path.c_str());
    set(CURLOPT_HTTP_VERSION,
        static_cast<long>(r.version == HttpVersion::Http1_1 ? CURL_HTTP_VERSION_1_1
                          : r.version == HttpVersion::Http2 ? CURL_HTTP_VERSION_2_0
                                                            : CURL_HTTP_VERSION_2TLS));
    // Wait for a connection still being set up rather than opening another one when it may
    // turn out to speak HTTP/2 (decided by ALPN for https): concurrent requests then share one
    // connection. Plain HTTP/1.1 never multiplexes, so it need not wait.
    const bool tls = strncasecmp(r.url.c_str(), "https:", 6) == 0;
    if (r.version == HttpVersion::Http2 || (r.version == HttpVersion::Auto && tls))
      set(CURLOPT_PIPEWAIT, 1L);
    if (r.basic_auth) {
      set(CURLOPT_HTTPAUTH, static_cast<long>(CURLAUTH_BASIC));
      set(CURLOPT_USERNAME, r.basic_auth->first.c_str());
      set(CURLOPT_PASSWORD, r.basic_auth->second.c_str());
    }

    if (!r.client_cert.empty()) set(CURLOPT_SSLCERT, r.client_cert.c_str());
    if (!r.client_key.empty()) set(CURLOPT_SSLKEY, r.client_key.c_str());
    if (r.idle_timeout.count() > 0) {
      set(CURLOPT_LOW_SPEED_LIMIT, 1L);
      set(CURLOPT_LOW_SPEED_TIME, std::max(1L, static_cast<long>(r.idle_timeout.count() / 1000)));
    }

    curl_off_t size = 0;
    if (!openFiles(t, &size)) return false;
    if (!r.upload_file.empty()) {
      set(CURLOPT_READFUNCTION, &Impl::onRead);
      set(CURLOPT_READDATA, static_cast<void*>(&t));
      if (r.method == "PUT") {
        set(CURLOPT_UPLOAD, 1L);
        set(CURLOPT_INFILESIZE_LARGE, size);
      } else {
        set(CURLOPT_POST, 1L);
        set(CURLOPT_POSTFIELDSIZE_LARGE, size);
        if (r.method != "POST") set(CURLOPT_CUSTOMREQUEST, r.method.c_str());
      }
    } else if (r.method == "GET") {
      set(CURLOPT_HTTPGET, 1L);
    } else if (r.method == "HEAD") {
      set(CURLOPT_NOBODY, 1L);
    } else {
      // Every other method sends the (possibly empty) body with a Content-Length; a custom
      // method name on top of POSTFIELDS is libcurl's documented way to PUT from memory.
      set(CURLOPT_POSTFIELDS, r.body.c_str());
      set(CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
      if (r.method != "POST") set(CURLOPT_CUSTOMREQUEST, r.method.c_str());
    }

    bool has_content_type = false;
    for (auto& [name, value] : r.headers) {
      std::string line = name + (value.empty() ? ";" : ": " + value);  // "Name;" sends it empty
      if (curl_slist* n = curl_slist_append(t.headers, line.c_str()))
        t.headers = n;
      else
        return false;
      has_content_type = has_content_type || strcasecmp(name.c_str(), "content-type") == 0;
    }
    // curl would invent "application/x-www-form-urlencoded" for a body without a type, and
    // "Expect: 100-continue" (a stall of up to a second) for large bodies: send neither.
    for (const char* drop : {has_content_type ? nullptr : "Content-Type:", "Expect:"}) {
      if (!drop) continue;
      if (curl_slist* n = curl_slist_append(t.headers, drop))
        t.headers = n;
      else
        return false;
    }
    set(CURLOPT_HTTPHEADER, t.headers);
    return ok;
  }

  void pause(std::uint64_t id, bool paused) {
    auto it = transfers.find(id);
    if (it == transfers.end()) return;
    it->second->paused = paused;
    // Resuming may hand buffered data to on_body at once, from inside this call.
    ++in_curl;
    curl_easy_pause(it->second->easy, paused ? CURLPAUSE_RECV : CURLPAUSE_CONT);
    --in_curl;
  }

  void cancel(std::uint64_t id) {
    auto it = transfers.find(id);
    if (it == transfers.end()) return;
    if (in_curl > 0) {
      // Called from inside a curl callback (on_body): removing the handle there is not
      // allowed, so finish it once curl has returned.
      asio::post(io, [this, token = std::weak_ptr<int>(alive), id] {
        if (!token.expired()) cancel(id);
      });
      return;
    }
    finish(*it->second, /*cancelled=*/true);
    transfers.erase(it);
  }
};

HttpClient::HttpClient(asio::io_context& io) {
  // curl_global_init is not thread-safe and must precede every other libcurl call; it is
  // process-wide state by libcurl's design, not ours. Doing it once here (rather than in main)
  // keeps every HttpClient usable on its own, including in tests. It is never undone:
  // curl_global_cleanup at exit would race other threads for no benefit.
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  impl_ = std::make_unique<Impl>(io);
}

HttpClient::~HttpClient() = default;

std::uint64_t HttpClient::send(HttpRequest req, std::function<void(HttpResponse)> done) {
  return impl_->send(std::move(req), std::move(done));
}

void HttpClient::cancel(std::uint64_t id) { impl_->cancel(id); }

void HttpClient::pause(std::uint64_t id) { impl_->pause(id, true); }

void HttpClient::resume(std::uint64_t id) { impl_->pause(id, false); }

void HttpClient::cancelAll() {
  std::vector<std::uint64_t> ids;
  for (auto& [id, t] : impl_->transfers) ids.push_back(id);
  for (auto id : ids) impl_->cancel(id);
}

std::size_t HttpClient::inFlight() const { return impl_->transfers.size(); }

}  // namespace sluice
