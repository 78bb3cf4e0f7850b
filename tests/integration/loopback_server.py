"""The lifecycle shared by the integration tests' fake HTTP servers (fake_s3, fake_dcache,
fake_onedata and receiver): ThreadingHTTPServer ports on 127.0.0.1 (port 0 by default), each
served by a daemon thread, with every live connection tracked so that stop() (and the fakes'
cut hooks) can close keep-alive connections a client still holds open.

A subclass sets ``self.host`` and ``self._want_port``, creates ``self._cond`` (a
threading.Condition; wait_until waits on it) and calls ``self._init_loopback()`` in its
__init__. Its start() serves one port with ``return self._serve_on(handler)``, or binds each
port with ``self._bind(port, handler)`` and then calls ``self._start_threads()``; a stop() of
its own ends with ``self._close_servers()``.
Request handlers (LoopbackHandler subclasses) find their fake as ``self.server.fake``.
"""
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class TrackingServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that records its open connections in its fake's ``_conns`` and
    stays quiet about the fake's ``quiet_errors`` (a client hanging up is normal here)."""
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, fake, address, handler):
        self.fake = fake
        super().__init__(address, handler)

    def process_request(self, request, client_address):
        with self.fake._cond:
            self.fake._conns.add(request)
        super().process_request(request, client_address)

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], self.fake.quiet_errors):
            super().handle_error(request, client_address)

    def shutdown_request(self, request):
        with self.fake._cond:
            self.fake._conns.discard(request)
        super().shutdown_request(request)


class RecordedRequest:
    """One request as received: method, raw_path, raw_query (str, latin-1 = raw bytes),
    headers [(name, value)], body, op, status, verdict ('ok' or the error), time (monotonic).
    Each fake's Recorded adds its own fields."""

    def __init__(self, method, raw_path, raw_query, headers, body):
        self.method, self.raw_path, self.raw_query = method, raw_path, raw_query
        self.headers, self.body = headers, body
        self.op = self.status = self.verdict = None
        self.time = time.monotonic()

    def header(self, name):
        return next((v for n, v in self.headers if n.lower() == name.lower()), None)

    def __repr__(self):
        return f"<{self.method} {self.raw_path}?{self.raw_query} → {self.status} {self.verdict}>"


class LoopbackHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 (keep-alive), silent, answering with _answer(status, headers, body)."""
    protocol_version = "HTTP/1.1"
    length_header = "Content-Length"   # as the real server spells it

    def log_message(self, *args):
        pass

    def _raw_target(self):
        """(raw path, raw query, [(name, value)] headers) as the client sent them."""
        parts = self.requestline.split(" ")
        # The request target as sent: http.server rewrites a leading '//' in self.path.
        target = parts[1] if len(parts) == 3 else self.path
        raw_path, _, raw_query = target.partition("?")
        return raw_path, raw_query, list(self.headers.items())

    no_length_statuses = ()            # e.g. (204, 304): answers without a length header

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _answer(self, status, headers, body):
        """Status line, headers and body in one write: split writes meet Nagle and delayed
        ACKs (~40 ms per answer on a keep-alive connection)."""
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        bodiless = status in self.no_length_statuses
        if not bodiless:
            self.send_header(self.length_header, str(len(body)))
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD" and not bodiless:
            self._headers_buffer.append(body)
        self.flush_headers()


def read_chunked(rfile):
    """A chunked request body (chunk extensions and trailers skipped)."""
    body = b""
    while True:
        size = int(rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                pass
            return body
        body += rfile.read(size)
        rfile.readline(8)


def read_body(handler):
    """The request body (Content-Length or chunked); ValueError when it cannot be read."""
    if "chunked" in (handler.headers.get("Transfer-Encoding") or "").lower():
        return read_chunked(handler.rfile)
    length = int(handler.headers.get("Content-Length") or 0)
    if length < 0:
        raise ValueError("negative Content-Length")
    body = handler.rfile.read(length) if length else b""
    if len(body) != length:
        raise ValueError("short body")
    return body


class LoopbackServer:
    poll_interval = 0.1        # serve_forever's poll interval
    wait_step = 0.1            # wait_until re-checks its predicate at least this often
    quiet_errors = (OSError,)  # handler exceptions not printed (ssl.SSLError is an OSError)

    def _init_loopback(self):
        self._servers, self._threads, self._conns = [], [], set()
        self._stopping = threading.Event()   # set by stop(): held requests and streams end

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    def stop(self):
        if not self._serving:
            return
        self._stopping.set()
        with self._cond:
            self._on_stop_locked()
            self._cond.notify_all()
        self._close_servers()

    def _on_stop_locked(self):
        """Called by stop(), under the lock, before the waiters are woken."""

    # -- start and stop ----------------------------------------------------------------------
    def _bind(self, port, handler):
        """Binds a TrackingServer on (self.host, port) and prepares (not starts) its thread."""
        srv = TrackingServer(self, (self.host, port), handler)
        self._servers.append(srv)
        self._threads.append(threading.Thread(
            target=srv.serve_forever, kwargs={"poll_interval": self.poll_interval}, daemon=True))
        return srv

    def _start_threads(self):
        for t in self._threads:
            t.start()

    def _serve_on(self, handler):
        """One port: binds self._want_port, sets self.port, serves. Returns self."""
        self.port = self._bind(self._want_port, handler).server_address[1]
        self._start_threads()
        return self

    @property
    def _serving(self):
        return bool(self._servers)

    def _close_servers(self):
        """Stops every accept loop (all at once: each takes up to a poll interval), closes the
        listening sockets, cuts the live connections and joins the serving threads."""
        if len(self._servers) == 1:
            self._servers[0].shutdown()
        else:
            stoppers = [threading.Thread(target=srv.shutdown) for srv in self._servers]
            for t in stoppers:
                t.start()
            for t in stoppers:
                t.join(10)
        for srv in self._servers:
            srv.server_close()
        self._cut_connections()
        for t in self._threads:
            t.join(10)
        self._servers, self._threads = [], []

    def _cut_connections(self):
        """Shuts down (both ways) every connection a handler still serves."""
        with self._cond:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- waiting -----------------------------------------------------------------------------
    def _poke(self):
        with self._cond:
            self._cond.notify_all()

    def _finish(self, rec, status, verdict):
        """Records how a request was answered and wakes the waiters."""
        with self._cond:
            rec.status, rec.verdict = status, verdict
            self._cond.notify_all()

    def _add_fault(self, kind, n, **fields):
        """Arms a fault ("fail" or "delay") for the next `n` requests it applies to."""
        with self._cond:
            self._faults.append({"kind": kind, "left": n, **fields})

    def clear_faults(self):
        with self._cond:
            self._faults.clear()

    def _take_faults_where(self, applies):
        """The first live "fail" and the first live "delay" fault in self._faults for which
        applies(fault) is true, one use taken from each (used-up faults are dropped):
        (fail or None, delay or None)."""
        with self._cond:
            fail = delay = None
            for f in self._faults:
                if f["left"] <= 0 or not applies(f):
                    continue
                if f["kind"] == "fail" and fail is None:
                    fail = f
                elif f["kind"] == "delay" and delay is None:
                    delay = f
            for f in (fail, delay):
                if f:
                    f["left"] -= 1
            self._faults = [f for f in self._faults if f["left"] > 0]
            return fail, delay

    def _before_check(self):
        """Called under the lock before each wait_until check (e.g. to expire state)."""

    def wait_until(self, predicate, timeout=10.0):
        """predicate() (under the lock), re-checked on every request and state change and at
        least every `wait_step` seconds; returns its last value."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                self._before_check()
                value = predicate()
                left = end - time.monotonic()
                if value or left <= 0:
                    return value
                self._cond.wait(min(left, self.wait_step))
