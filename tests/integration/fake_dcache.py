"""A fake dCache frontend (storage events over SSE, namespace listing) plus a WebDAV door, as
strict as the real one where sluice can get it wrong (PROTOCOLS.md §1, §8; COMPAT.md §3.5).

    with FakeDcache(users={"alice": "pw"}, tokens={"tok": "alice"}, clock=ManualClock()) as fake:
        fake.mkdir("/data")
        api = fake.client("alice", "pw")
        channel = api.create_channel().headers["location"]        # absolute URL
        sub = api.subscribe(channel, "/data").headers["location"]  # opaque URL
        stream = api.stream(channel)                               # Accept: text/event-stream
        fake.write("/data/f.dat", b"x")   # IN_CREATE, IN_OPEN, IN_MODIFY, IN_CLOSE_WRITE, IN_ATTRIB
        stream.next_event()               # SseEvent(type="inotify", id="0", data=...)
        fake.cut_streams(); fake.force_event_loss(channel); fake.fail_next(2, 503)

Faithful (dCache master read in EventResources, Channel, Registrar, Inotify*, WatchIdentity,
ErrorResponseProvider, ObjectMapperProvider, and the user guide):
- Resources under /api/v1/events: GET /events (the only anonymous one), eventTypes,
  channels (GET list of absolute URLs, `?client-id=` filter, empty value = channels created
  without one, truncation to 256 chars; POST → 201 + absolute `Location`, empty body, 22-char
  base64url id; 429 past `max_channels` per user), GET channel dispatched on `Accept`
  (text/event-stream → SSE, JSON → `{"timeout": s}`, anything else 406), PATCH timeout
  (1 … max, 204), DELETE (204, closes the stream), subscriptions (list, POST inotify → 201 or
  303 See Other when the same object is watched again on the channel, flags replaced or, with
  IN_MASK_ADD, united; GET returns the selector; DELETE 204). A client-id never reuses a
  channel: POST always creates one, `GET ?client-id=` finds them (Registrar.newChannel).
- Errors as dCache writes them: `{"errors":[{"message":…,"status":"NNN"}]}`; 400s carry the
  resource's text ("Unknown event type: x", "Missing JSON entity in POST request",
  "Bad selector: Missing path", "Bad selector: Unsupported flags: [IN_DONT_FOLLOW]",
  "Not found: …", "Failed condition: IN_ONLYDIR with REGULAR target", "Timeout shorter than
  minimum allowed"); other statuses carry the reason phrase ("Unauthorized", "Forbidden",
  "Not Found", and "Too Many Requests" for the 429 whose exception says "Too Many Channels").
  401 before 404; channels belong to the creating user (others get 403).
- JSON as Jackson writes it: REST bodies indented by the DefaultPrettyPrinter (`"k" : v`,
  `[ … ]`) except lists (compact), SSE data compact; strings escape only `"`, `\\` and control
  characters (`\\u00XX` in upper-case hex), never `/` or non-ASCII.
- SSE exactly as Jersey frames it: `event: T\\n`, `id: N\\n` (inotify only), `data: JSON\\n`, a
  blank line; chunked; no comments or keep-alives (dCache sends none). Per-channel ids from 0;
  inotify data `{"event":{"name","cookie","mask":[FLAG(,"IN_ISDIR")]},"subscription":URL}`
  (absent fields omitted); SYSTEM events without id: NEW_SUBSCRIPTION / SUBSCRIPTION_CLOSED
  (only sent while a stream is attached, never buffered), EVENT_LOSS, COMPETING_CLIENT (a
  second GET takes the channel over; the first stream gets it and ends), SHUTDOWN (stop()).
- Ring buffer (`backlog`, default 16383) kept while disconnected. `Last-Event-ID: n` (Guava
  Ints.tryParse: optional '-', digits, int32; else ignored) trims the buffer from its head up to
  event n, which stays, and replays the later ones with their ids; if n is not there the buffer
  ends up empty and only EVENT_LOSS is sent (events newer than the loss are lost too, as in
  Channel.acceptConnection). Without the header nothing is replayed.
- Disconnect GC: the timer starts at channel creation and at each disconnect, stops while a
  stream is attached; PATCH restarts a running timer with the new value. Expired or deleted
  channels answer 404 everywhere. Time is `clock` (e.g. ManualClock): no test needs to sleep.
- inotify: non-recursive watches keyed by the object (the PNFS-ID), following it through
  renames; subscription id = PNFS-ID bytes in base64url without padding (or the standard
  alphabet, `std_base64_ids=True`, as after dCache commit e7d2304abf, '/' then sent as %2F);
  flags and macros (IN_ALL_EVENTS, IN_CLOSE, IN_MOVE), IN_ONESHOT, IN_ONLYDIR; IN_DELETE_SELF
  closes the watch; a closed watch (DELETE, oneshot, self-delete) sends SUBSCRIPTION_CLOSED
  then an inotify IN_IGNORED (with an id). Upload order as the user guide shows: IN_CREATE,
  IN_OPEN, IN_MODIFY (one per chunk), IN_CLOSE_WRITE, IN_ATTRIB (`attrib_first=True` swaps
  the last two, which dCache does not order); renames send IN_MOVED_FROM and IN_MOVED_TO
  with one cookie (`to_first=True` swaps them) and IN_MOVE_SELF to a watch on the object.
- The `subscription` URL inside events is built from the base URI of the request that created
  the channel (Registrar keeps that request's UriInfo); `Location` headers and listings use
  the current request's Host.
- Channel expiry, DELETE and expire_channel() end an attached stream with the last chunk and no
  SYSTEM event (dCache has none for them); the next request on the channel gets 404.
- Namespace `GET /api/v1/namespace{path}[?children=true]`: `fileMimeType`, `children`
  (each with `fileName`), `fileType` (DIR/REGULAR), `pnfsId`, `nlink`, `mtime`,
  `creationTime`, `size`, in the user guide's key order; 404 `Not Found`.
- Auth: HTTP Basic (`users`), Bearer tokens (`tokens`) in `Authorization` or `?authz=`;
  anything else presented, or nothing on a protected resource, → 401.

Simplified: plain HTTP unless `ssl_context` is given (then both ports speak TLS); X.509 client
certificates map by subject CN only (`cert_users`; no DN, VOMS or proxy checks), Kerberos, macaroon caveats, user root/home mapping, ACLs and the metronome event
type are out of scope (eventTypes lists only "inotify"); `forbid(path)` stands in for
permission checks. The fake notices a hung-up SSE client within ~50 ms (dCache notices only
when it next writes); each event goes straight to the channel (the per-subscription queue of
1000 never fills; `queue_overflow()` injects its IN_Q_OVERFLOW). Jetty's idle timeout
(frontend.limits.idle-time, 300 s) is off unless `idle_timeout` is set. With IN_MASK_ADD the
fake delivers the union of the flags, as PROTOCOLS says (dCache's Inotify.accept() seems to
keep only the new flags active while it reports the union [inferred]). The WebDAV door (own
port) serves GET/HEAD of complete files with Range ignored (always 200, whole body) and PUT as
an upload; a directory answers a bare HTML list.
[inferred] SUBSCRIPTION_CLOSED before IN_IGNORED: dCache sends the first synchronously and
queues the second, so real order may vary.
[guess] Basic is accepted over plain HTTP (dCache's default refuses it; `basic_over_http=False`
ignores it). Invalid credentials answer 401 even on GET /events, with `WWW-Authenticate: Basic
realm="dCache"`. A non-JSON Content-Type with a body answers 415, unparsable JSON 400 "Bad
Request". Jackson's mapping messages after "Bad selector: Bad selector value: " are
paraphrased; a relative selector path is such a bad selector; a trailing '/' is dropped.
"Not found: Problem with path: No such file or directory: <path>". A selector is written back
as `{"flags":[…],"path":…}` (Jackson's field order, flags in AddWatchFlag order, omitted when
none were given). Namespace children come in creation order; dirs have nlink 2 + subdirs and
size 512; files get `fileMimeType` from the extension. A file is unreadable (WebDAV 404, size
0) between begin_upload() and close(); overwriting a file is a delete plus a new upload
(dCache files are immutable); a deleted directory's parent gets IN_DELETE before the
directory's own IN_DELETE_SELF. Cookies are 16 random bytes in standard base64 without padding
(the shape of the guide's "0r6/JbKH+oZ0D2ETnzGMQA"). WebDAV reads emit IN_OPEN, IN_ACCESS,
IN_CLOSE_NOWRITE only with `read_events=True`. Server header "dCache/9.2.0".
"""
import base64
import collections
import http.client
import json
import mimetypes
import random
import re
import select
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fake_sqs import ManualClock  # noqa: E402,F401  (re-exported: tests need one import)
from loopback_server import LoopbackHandler, LoopbackServer, RecordedRequest, read_chunked  # noqa: E402

EVENT_FLAGS = ("IN_ACCESS", "IN_ATTRIB", "IN_CLOSE_WRITE", "IN_CLOSE_NOWRITE", "IN_CREATE",
               "IN_DELETE", "IN_DELETE_SELF", "IN_MODIFY", "IN_MOVE_SELF", "IN_MOVED_FROM",
               "IN_MOVED_TO", "IN_OPEN")
# AddWatchFlag, in declaration order (EnumSet order when a selector is written back).
WATCH_FLAGS = EVENT_FLAGS + ("IN_ALL_EVENTS", "IN_CLOSE", "IN_MOVE", "IN_DONT_FOLLOW",
                             "IN_EXCL_UNLINK", "IN_MASK_ADD", "IN_ONESHOT", "IN_ONLYDIR")
MACROS = {"IN_ALL_EVENTS": EVENT_FLAGS, "IN_CLOSE": ("IN_CLOSE_WRITE", "IN_CLOSE_NOWRITE"),
          "IN_MOVE": ("IN_MOVED_FROM", "IN_MOVED_TO")}
UNSUPPORTED = ("IN_DONT_FOLLOW", "IN_EXCL_UNLINK")
REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 406: "Not Acceptable", 415: "Unsupported Media Type",
           429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable", 504: "Gateway Timeout"}
CORS = {"Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": "GET, POST, DELETE, PUT",
        "Access-Control-Allow-Headers": "Content-Type, Authorization, Suppress-WWW-Authenticate"}
ROOT_PNFSID = "0" * 36
INOTIFY_DESCRIPTION = "notification of namespace activity, modelled after inotify(7)"
_INT32 = re.compile(r"-?[0-9]+")


# -- JSON as Jackson writes it --------------------------------------------------------------------
_SHORT = {8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r"}


def jackson_str(s):
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif o < 0x20:
            out.append(_SHORT.get(o) or "\\u%04X" % o)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _scalar(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return jackson_str(str(v))


def compact_json(v):
    """Jackson's default ObjectMapper output (keys in insertion order)."""
    if isinstance(v, dict):
        return "{" + ",".join(jackson_str(k) + ":" + compact_json(x) for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(compact_json(x) for x in v) + "]"
    return _scalar(v)


def pretty_json(v, level=0):
    """Jackson's DefaultPrettyPrinter (INDENT_OUTPUT): objects one key a line, indented two
    spaces per object level, arrays inline as `[ a, b ]`, empty ones `{ }` and `[ ]`."""
    if isinstance(v, dict):
        if not v:
            return "{ }"
        pad = "  " * (level + 1)
        inner = ",\n".join(pad + jackson_str(k) + " : " + pretty_json(x, level + 1)
                           for k, x in v.items())
        return "{\n" + inner + "\n" + "  " * level + "}"
    if isinstance(v, (list, tuple)):
        if not v:
            return "[ ]"
        return "[ " + ", ".join(pretty_json(x, level) for x in v) + " ]"
    return _scalar(v)


def error_body(status, message=None):
    return compact_json({"errors": [{"message": message or REASONS.get(status, "Error"),
                                     "status": str(status)}]}).encode()


def _b64(raw, url=True):
    enc = base64.urlsafe_b64encode(raw) if url else base64.b64encode(raw)
    return enc.rstrip(b"=").decode()


# -- state ---------------------------------------------------------------------------------------
class Recorded(RecordedRequest):
    """One request as received (loopback_server.RecordedRequest), also service ('api'/'webdav')
    and user; verdict 'ok' or the error message."""

    def __init__(self, method, raw_path, raw_query, headers, body, service):
        super().__init__(method, raw_path, raw_query, headers, body)
        self.service, self.user = service, None
        self.peer_cn = None   # the subject CN of a verified client certificate


class Reply(Exception):
    """An error answer raised from anywhere inside a request."""

    def __init__(self, status, message=None, headers=None):
        super().__init__(message or REASONS.get(status, str(status)))
        self.status, self.message, self.headers = status, message, headers or {}


class Node:
    def __init__(self, name, kind, parent, pnfsid, now_ms):
        self.name, self.kind, self.parent, self.pnfsid = name, kind, parent, pnfsid
        self.children = {} if kind == "DIR" else None
        self.data = b""
        self.complete = True
        self.ctime = self.mtime = now_ms

    @property
    def is_dir(self):
        return self.kind == "DIR"

    def path(self):
        parts, n = [], self
        while n.parent is not None:
            parts.append(n.name)
            n = n.parent
        return "/" + "/".join(reversed(parts))


class Watch:
    """One inotify subscription: a channel's watch on one object."""

    def __init__(self, channel, node, sid, path, supplied, flags):
        self.channel, self.node, self.sid, self.path = channel, node, sid, path
        self.supplied, self.flags = supplied, flags  # as given (or None) / expanded set
        self.closed = False

    def selector(self):
        """As Jackson writes InotifySelector back: `flags` (when given) then `path`."""
        sel = {}
        if self.supplied is not None:
            sel["flags"] = [f for f in WATCH_FLAGS if f in self.supplied]
        sel["path"] = self.path
        return sel


class Sink:
    """An attached SSE connection: frames to write and how it is to end."""

    def __init__(self, now):
        self.frames = collections.deque()
        self.state = None   # None, "end" (last chunk, FIN), "eof" (FIN mid-body), "reset" (RST)
        self.last_write = now
        self.attached = True


class Channel:
    def __init__(self, cid, uid, client_id, base, timeout, backlog, now):
        self.id, self.uid, self.client_id, self.base = cid, uid, client_id, base
        self.timeout = timeout
        self.ring = collections.deque(maxlen=backlog)   # (id, type, data) — EvictingQueue
        self.next_id = 0
        self.subs = {}           # sid → Watch, in creation order
        self.sink = None
        self.close_at = now + timeout   # GC timer from creation (Channel constructor)
        self.closed = False

    def url(self, base=None):
        return f"{base or self.base}/events/channels/{self.id}"


class Upload:
    """An upload in progress (begin_upload): write() chunks, then close()."""

    def __init__(self, fake, node):
        self.fake, self.node = fake, node

    def write(self, chunk):
        with self.fake._cond:
            self.node.data += chunk
            self.node.mtime = self.fake._now_ms()
            self.fake._file_event(self.node, "IN_MODIFY")
        return self

    def close(self, attrib_first=False):
        with self.fake._cond:
            self.node.complete = True
            order = ("IN_ATTRIB", "IN_CLOSE_WRITE") if attrib_first else ("IN_CLOSE_WRITE",
                                                                        "IN_ATTRIB")
            for flag in order:
                self.fake._file_event(self.node, flag)


# -- the server ----------------------------------------------------------------------------------
class FakeDcache(LoopbackServer):
    poll_interval = wait_step = 0.05

    def __init__(self, users=None, tokens=None, clock=time.time, host="127.0.0.1", port=0,
                 webdav_port=0, max_channels=128, disconnect_timeout=300,
                 max_disconnect_timeout=86400, backlog=16383, std_base64_ids=False,
                 basic_over_http=True, read_events=False, idle_timeout=None,
                 ssl_context=None, server_version="dCache/9.2.0", rng=None, cert_users=None):
        """`users`: {name: password}; `tokens`: {token: user name} or an iterable of tokens
        (each then belongs to the user "bearer"). `cert_users`: {client certificate subject CN:
        user name} -- X.509 login as gPlazma maps a DN (the `ssl_context` must ask for client
        certificates: verify_mode CERT_OPTIONAL or CERT_REQUIRED, with their CA). `clock`: seconds, drives channel GC, the
        optional Jetty-like `idle_timeout` of SSE streams and file times."""
        self.users = dict(users if users is not None else {"alice": "secret"})
        if tokens is None:
            tokens = {}
        self.tokens = dict(tokens) if isinstance(tokens, dict) else {t: "bearer" for t in tokens}
        names = list(self.users) + [u for u in self.tokens.values() if u not in self.users]
        self.uids = {name: 1000 + i for i, name in enumerate(names)}
        self.clock, self.host = clock, host
        self._want_ports = (port, webdav_port)
        self.port = self.webdav_port = None
        self.max_channels, self.disconnect_timeout = max_channels, disconnect_timeout
        self.max_disconnect_timeout, self.backlog = max_disconnect_timeout, backlog
        self.std_base64_ids, self.basic_over_http = std_base64_ids, basic_over_http
        self.read_events, self.idle_timeout = read_events, idle_timeout
        self.ssl_context, self.server_version = ssl_context, server_version
        self.cert_users = dict(cert_users or {})
        self._rng = rng or random.SystemRandom()
        self.requests = []
        self.channels_by_id = {}        # every live channel, creation order
        self._cond = threading.Condition(threading.RLock())
        self._faults = []
        self._forbidden = set()
        self.root = Node("", "DIR", None, ROOT_PNFSID, self._now_ms())
        self._nodes = {ROOT_PNFSID: self.root}
        self._init_loopback()
        if isinstance(clock, ManualClock):
            clock.subscribe(self._poke)

    # -- lifecycle ---------------------------------------------------------------------------
    @property
    def scheme(self):
        return "https" if self.ssl_context else "http"

    @property
    def url(self):
        """The frontend's root, e.g. http://127.0.0.1:PORT (the API is under /api/v1)."""
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def api_url(self):
        return self.url + "/api/v1"

    @property
    def webdav_url(self):
        return f"{self.scheme}://{self.host}:{self.webdav_port}"

    def start(self):
        for role, want in zip(("api", "webdav"), self._want_ports):
            srv = self._bind(want, _Handler)
            srv.role = role
            if self.ssl_context:
                srv.socket = self.ssl_context.wrap_socket(srv.socket, server_side=True,
                                                          do_handshake_on_connect=False)
        self.port = self._servers[0].server_address[1]
        self.webdav_port = self._servers[1].server_address[1]
        self._start_threads()
        return self

    def stop(self, notify=True):
        """Stops both ports. With `notify`, attached streams first get SYSTEM SHUTDOWN (as
        Registrar.beforeStop sends) and up to 2 s to write it."""
        if not self._servers:
            return
        if notify:
            with self._cond:
                told = [ch.sink for ch in self.channels_by_id.values()
                        if ch.sink and ch.sink.state is None]
                for sink in told:
                    sink.frames.append(_system_frame({"type": "SHUTDOWN"}))
                    sink.state = "end"
                self._cond.notify_all()
            self.wait_until(lambda: not any(s in self._all_sinks() for s in told), 2)
        with self._cond:
            for ch in self.channels_by_id.values():
                if ch.sink:
                    ch.sink.state = "reset"
            self._stopping.set()
            self._cond.notify_all()
        self._close_servers()

    def _poke(self):
        with self._cond:
            self._expire_locked()
            self._cond.notify_all()

    def _before_check(self):
        self._expire_locked()

    def _now_ms(self):
        return int(self.clock() * 1000)

    # -- clients and inspection --------------------------------------------------------------
    def client(self, user=None, password=None, token=None, anonymous=False, **kw):
        """A DcacheClient on the API port (kw: timeout, ssl_context, host_header); with no
        credentials given, the first user's."""
        if user is None and token is None and self.users and not anonymous:
            user, password = next(iter(self.users.items()))
        return DcacheClient(self.api_url, user, password, token, **kw)

    def webdav_client(self, user=None, password=None, token=None, anonymous=False, **kw):
        if user is None and token is None and self.users and not anonymous:
            user, password = next(iter(self.users.items()))
        return DcacheClient(self.webdav_url, user, password, token, **kw)

    def channel(self, ref):
        """The live Channel for a URL or id, else None."""
        with self._cond:
            self._expire_locked()
            return self.channels_by_id.get(_channel_id(ref))

    def channel_urls(self):
        with self._cond:
            self._expire_locked()
            return [ch.url() for ch in self.channels_by_id.values()]

    def connected(self, ref):
        """Whether a stream is attached to the channel (and not being cut)."""
        with self._cond:
            ch = self.channels_by_id.get(_channel_id(ref))
            return bool(ch and ch.sink and ch.sink.attached)

    def open_streams(self):
        with self._cond:
            return sum(1 for ch in self.channels_by_id.values() if ch.sink)

    def buffered_ids(self, ref):
        """The event ids in the channel's ring buffer, oldest first."""
        with self._cond:
            ch = self.channels_by_id.get(_channel_id(ref))
            return [e[0] for e in ch.ring] if ch else []

    def subscription_urls(self, ref):
        with self._cond:
            ch = self.channels_by_id.get(_channel_id(ref))
            return [self._sub_url(ch, w) for w in ch.subs.values()] if ch else []

    # -- the file system the tests drive -----------------------------------------------------
    def new_pnfsid(self):
        return "0000" + "".join("%02X" % self._rng.randrange(256) for _ in range(16))

    def mkdir(self, path, parents=False, exist_ok=False, pnfsid=None):
        with self._cond:
            node = self._lookup(path)
            if node is not None:
                if exist_ok and node.is_dir:
                    return node
                raise FileExistsError(path)
            parent, name = self._parent_of(path, create=parents)
            node = Node(name, "DIR", parent, pnfsid or self.new_pnfsid(), self._now_ms())
            self._link(parent, node)
            self._child_event(parent, "IN_CREATE", name, True)
            return node

    def makedirs(self, path):
        return self.mkdir(path, parents=True, exist_ok=True)

    def begin_upload(self, path, overwrite=False, pnfsid=None):
        """IN_CREATE and IN_OPEN now; the file stays unreadable until Upload.close()."""
        with self._cond:
            old = self._lookup(path)
            if old is not None:
                if old.is_dir or not overwrite:
                    raise FileExistsError(path)
                self.delete(path)
            parent, name = self._parent_of(path)
            node = Node(name, "REGULAR", parent, pnfsid or self.new_pnfsid(), self._now_ms())
            node.complete = False
            self._link(parent, node)
            self._child_event(parent, "IN_CREATE", name, False)
            self._file_event(node, "IN_OPEN")
            return Upload(self, node)

    def write(self, path, data=b"", chunks=None, attrib_first=False, overwrite=False,
              pnfsid=None):
        """A whole upload: IN_CREATE, IN_OPEN, one IN_MODIFY per chunk (none for an empty
        file), IN_CLOSE_WRITE, IN_ATTRIB (or IN_ATTRIB first with `attrib_first`)."""
        with self._cond:
            up = self.begin_upload(path, overwrite=overwrite, pnfsid=pnfsid)
            for chunk in (chunks if chunks is not None else ([data] if data else [])):
                up.write(chunk)
            up.close(attrib_first=attrib_first)
            return up.node

    def attrib(self, path):
        """IN_ATTRIB (a metadata change, e.g. chmod or a checksum set)."""
        with self._cond:
            self._file_event(self._must(path), "IN_ATTRIB")

    def rename(self, src, dst, to_first=False):
        """IN_MOVED_FROM in the old parent and IN_MOVED_TO in the new one with one cookie (in
        this order unless `to_first`), then IN_MOVE_SELF on the object. Returns the cookie."""
        with self._cond:
            node = self._must(src)
            if node.parent is None:
                raise PermissionError("cannot move /")
            new_parent, new_name = self._parent_of(dst)
            p = new_parent
            while p is not None:
                if p is node:
                    raise OSError(f"cannot move {src} into itself")
                p = p.parent
            victim = new_parent.children.get(new_name)
            if victim is node:
                return None
            if victim is not None:
                if victim.is_dir or node.is_dir:
                    raise FileExistsError(dst)
                self._unlink(victim)
                self._self_event(victim, "IN_DELETE_SELF")
                self._close_watches_on(victim)
            old_parent, old_name = node.parent, node.name
            del old_parent.children[old_name]
            node.name, node.parent = new_name, new_parent
            new_parent.children[new_name] = node
            cookie = _b64(bytes(self._rng.randrange(256) for _ in range(16)), url=False)
            halves = [(old_parent, "IN_MOVED_FROM", old_name), (new_parent, "IN_MOVED_TO",
                                                               new_name)]
            for parent, flag, name in (reversed(halves) if to_first else halves):
                self._child_event(parent, flag, name, node.is_dir, cookie)
            self._self_event(node, "IN_MOVE_SELF")
            return cookie

    def delete(self, path, recursive=False):
        """IN_DELETE in the parent, then IN_DELETE_SELF on the object, whose watches close.
        A directory must be empty unless `recursive` (children go first, depth first)."""
        with self._cond:
            node = self._must(path)
            if node.parent is None:
                raise PermissionError("cannot delete /")
            if node.is_dir and node.children:
                if not recursive:
                    raise OSError(f"directory not empty: {path}")
                for child in list(node.children.values()):
                    self.delete(child.path(), recursive=True)
            parent = node.parent
            self._unlink(node)
            self._child_event(parent, "IN_DELETE", node.name, node.is_dir)
            self._self_event(node, "IN_DELETE_SELF")
            self._close_watches_on(node)

    def read(self, path):
        with self._cond:
            return self._must(path).data

    def exists(self, path):
        with self._cond:
            return self._lookup(path) is not None

    def listdir(self, path="/"):
        with self._cond:
            return list(self._must(path).children)

    def node(self, path):
        with self._cond:
            return self._lookup(path)

    def forbid(self, path):
        """Subscriptions on `path` answer 400 "Permission denied: Not allowed.", namespace and
        WebDAV requests 403."""
        with self._cond:
            self._forbidden.add(_norm(path))

    # -- test hooks ---------------------------------------------------------------------------
    def fail_next(self, n, status=503, message=None, service=None, op=None):
        """The next `n` requests (of `service`, 'api' or 'webdav', or any; of operation `op`
        such as 'stream', 'create_channel', 'subscribe', 'namespace', 'webdav_get') answer
        `status` in dCache's error shape, before authentication."""
        self._add_fault("fail", n, status=status, message=message, service=service, op=op)

    def delay_next(self, n, seconds, service=None, op=None):
        self._add_fault("delay", n, seconds=seconds, service=service, op=op)

    def cut_streams(self, how="reset", timeout=5.0):
        """Ends every attached SSE connection: "reset" (TCP RST), "eof" (FIN in the middle of
        the chunked body) or "end" (a clean last chunk). The channels stay; their GC timers
        start. Returns once the streams are gone; returns how many were cut."""
        with self._cond:
            cut = [ch.sink for ch in self.channels_by_id.values() if ch.sink]
            for s in cut:
                s.state, s.attached = how, False
            self._cond.notify_all()
        if not self.wait_until(lambda: all(s not in self._all_sinks() for s in cut), timeout):
            raise AssertionError("SSE streams did not close")
        return len(cut)

    def expire_channel(self, ref):
        """As if the disconnect timer had run out now: the channel and its subscriptions go,
        an attached stream ends, every later request on it answers 404."""
        with self._cond:
            ch = self.channels_by_id.get(_channel_id(ref))
            if ch is None:
                raise KeyError(ref)
            self._close_channel_locked(ch)

    def force_event_loss(self, ref, keep=0, cut=False):
        """Evicts all but the newest `keep` events from the channel's ring buffer, as if the
        backlog had overflowed: a reconnect whose Last-Event-ID is gone gets EVENT_LOSS (and,
        as in dCache, nothing else replayed). With `cut`, the channel's stream is also reset
        so the client reconnects at once."""
        with self._cond:
            ch = self.channels_by_id[_channel_id(ref)]
            while len(ch.ring) > keep:
                ch.ring.popleft()
        if cut:
            self.cut_streams()

    def queue_overflow(self, sub_url=None):
        """An in-band `{"mask":["IN_Q_OVERFLOW"]}` on one subscription (URL) or, with None, on
        every watch (dCache's SYSTEM OVERFLOW from the namespace)."""
        with self._cond:
            for ch in list(self.channels_by_id.values()):
                for w in list(ch.subs.values()):
                    if sub_url is None or self._sub_url(ch, w) == sub_url:
                        self._send_inotify(w, {"mask": ["IN_Q_OVERFLOW"]})

    def emit(self, path, flag, name=None, is_dir=False, cookie=None):
        """Any inotify event on the watches of the object at `path` (a child event with `name`,
        a self event without), whatever its plausibility; the watch's flags still filter."""
        with self._cond:
            node = self._must(path)
            if name is None:
                self._self_event(node, flag)
            else:
                self._child_event(node, flag, name, is_dir, cookie)

    def send_raw(self, ref, data):
        """Raw bytes on the channel's attached stream (comments, CRLF framing, garbage)."""
        with self._cond:
            ch = self.channels_by_id[_channel_id(ref)]
            if ch.sink:
                ch.sink.frames.append(data)
                self._cond.notify_all()

    # -- events (called under the lock) ---------------------------------------------------------
    def _all_sinks(self):
        return [ch.sink for ch in self.channels_by_id.values() if ch.sink]

    def _watches_on(self, node):
        return [w for ch in list(self.channels_by_id.values()) for w in list(ch.subs.values())
                if w.node is node and not w.closed]

    def _child_event(self, parent, flag, name, is_dir, cookie=None):
        mask = [flag, "IN_ISDIR"] if is_dir else [flag]
        payload = {"name": name, "cookie": cookie, "mask": mask}
        for w in self._watches_on(parent):
            self._deliver(w, flag, payload)

    def _self_event(self, node, flag):
        payload = {"mask": [flag, "IN_ISDIR"] if node.is_dir else [flag]}
        for w in self._watches_on(node):
            self._deliver(w, flag, payload)

    def _file_event(self, node, flag):
        self._child_event(node.parent, flag, node.name, node.is_dir)
        self._self_event(node, flag)

    def _deliver(self, w, flag, payload):
        if w.closed or flag not in w.flags:
            return
        self._send_inotify(w, payload)
        if "IN_ONESHOT" in w.flags:
            self._close_watch(w)

    def _send_inotify(self, w, payload):
        ch = w.channel
        if ch.closed:
            return
        eid = ch.next_id
        ch.next_id += 1
        body = {k: v for k, v in payload.items() if v is not None}
        data = compact_json({"event": body, "subscription": self._sub_url(ch, w)})
        ch.ring.append((eid, "inotify", data))
        if ch.sink and ch.sink.state is None:
            ch.sink.frames.append(_event_frame("inotify", eid, data))
        self._cond.notify_all()

    def _system(self, ch, obj):
        if ch.sink and ch.sink.state is None:   # SYSTEM events are never buffered
            ch.sink.frames.append(_system_frame(obj))
            self._cond.notify_all()

    def _close_watch(self, w):
        if w.closed:
            return
        w.closed = True
        ch = w.channel
        ch.subs.pop(w.sid, None)
        self._system(ch, {"type": "SUBSCRIPTION_CLOSED", "subscription": self._sub_url(ch, w)})
        self._send_inotify(w, {"mask": ["IN_IGNORED"]})

    def _close_watches_on(self, node):
        for w in self._watches_on(node):
            self._close_watch(w)

    def _close_channel_locked(self, ch):
        ch.closed = True
        self.channels_by_id.pop(ch.id, None)
        for w in ch.subs.values():
            w.closed = True
        ch.subs.clear()
        ch.ring.clear()
        ch.close_at = None
        if ch.sink and ch.sink.state is None:
            ch.sink.state = "end"   # Jersey's sink.close(): the last chunk
        self._cond.notify_all()

    def _expire_locked(self):
        now = self.clock()
        for ch in list(self.channels_by_id.values()):
            if ch.close_at is not None and now >= ch.close_at:
                self._close_channel_locked(ch)

    def _sub_url(self, ch, w, base=None):
        safe = "-_" if not self.std_base64_ids else "+"
        return (f"{base or ch.base}/events/channels/{ch.id}/subscriptions/inotify/"
                f"{urllib.parse.quote(w.sid, safe=safe)}")

    # -- file system internals ----------------------------------------------------------------
    def _lookup(self, path):
        path = _norm(path)
        node = self.root
        if path == "/":
            return node
        for part in path[1:].split("/"):
            if not node.is_dir or part not in node.children:
                return None
            node = node.children[part]
        return node

    def _must(self, path):
        node = self._lookup(path)
        if node is None:
            raise FileNotFoundError(path)
        return node

    def _parent_of(self, path, create=False):
        path = _norm(path)
        if path == "/":
            raise FileExistsError("/")
        head, _, name = path.rpartition("/")
        if not name or "\0" in name:
            raise ValueError(f"bad name in {path!r}")
        parent = self._lookup(head or "/")
        if parent is None and create:
            parent = self.mkdir(head, parents=True)
        if parent is None:
            raise FileNotFoundError(head)
        if not parent.is_dir:
            raise NotADirectoryError(head)
        return parent, name

    def _link(self, parent, node):
        parent.children[node.name] = node
        parent.mtime = node.ctime
        self._nodes[node.pnfsid] = node

    def _unlink(self, node):
        node.parent.children.pop(node.name, None)
        self._nodes.pop(node.pnfsid, None)

    def _allowed(self, path):
        path = _norm(path)
        return not any(path == f or path.startswith(f.rstrip("/") + "/")
                       for f in self._forbidden)

    # -- request entry (handler threads) -----------------------------------------------------
    def _take_faults(self, service, op):
        return self._take_faults_where(
            lambda f: f["service"] in (None, service) and f["op"] in (None, op))

    def _error(self, rec, status, message=None, headers=None):
        body = error_body(status, message)
        hdrs = dict(CORS) if rec.service == "api" else {}
        hdrs["Content-Type"] = "application/json"
        if status == 401:
            hdrs["WWW-Authenticate"] = 'Basic realm="dCache"'
        hdrs.update(headers or {})
        self._finish(rec, status, message or REASONS.get(status, str(status)))
        return status, hdrs, body

    def _ok(self, rec, status=200, body=b"", headers=None, content_type=None):
        hdrs = dict(CORS) if rec.service == "api" else {}
        if content_type:
            hdrs["Content-Type"] = content_type
        hdrs.update(headers or {})
        self._finish(rec, status, "ok")
        return status, hdrs, body

    def _json(self, rec, value, pretty=True, status=200):
        text = pretty_json(value) if pretty else compact_json(value)
        return self._ok(rec, status, text.encode(), content_type="application/json")

    def _authenticate(self, rec, query):
        """The user name, None for anonymous; Reply(401) for credentials that do not work."""
        authz = rec.header("authorization")
        if authz:
            scheme, _, cred = authz.strip().partition(" ")
            scheme = scheme.lower()
            if scheme == "basic":
                if not self.basic_over_http and not self.ssl_context:
                    return None
                try:
                    user, _, pw = base64.b64decode(cred.strip(), validate=True).decode(
                        "utf-8").partition(":")
                except (ValueError, UnicodeDecodeError):
                    raise Reply(401)
                if user in self.users and self.users[user] == pw:
                    return user
                raise Reply(401)
            if scheme == "bearer" and cred.strip() in self.tokens:
                return self.tokens[cred.strip()]
            raise Reply(401)
        token = query.get("authz")
        if token is not None:
            if token in self.tokens:
                return self.tokens[token]
            raise Reply(401)
        if rec.peer_cn is not None:   # a verified client certificate, and nothing else
            if rec.peer_cn in self.cert_users:
                return self.cert_users[rec.peer_cn]
            raise Reply(401)
        return None

    def _dispatch(self, h, rec):
        with self._cond:
            self.requests.append(rec)
            self._expire_locked()
            self._cond.notify_all()
        query = dict(urllib.parse.parse_qsl(rec.raw_query, keep_blank_values=True))
        rec.op = self._op_of(rec, query)
        fail, delay = self._take_faults(rec.service, rec.op)
        if delay and self._stopping.wait(delay["seconds"]):
            return None
        if fail:
            return self._error(rec, fail["status"], fail["message"])
        try:
            rec.user = self._authenticate(rec, query)
            if rec.service == "webdav":
                return self._webdav(h, rec)
            return self._api(h, rec, query)
        except Reply as r:
            return self._error(rec, r.status, r.message, r.headers)

    def _op_of(self, rec, query):
        if rec.service == "webdav":
            return "webdav_" + rec.method.lower()
        segs = _segments(rec.raw_path)
        m = rec.method
        if segs[:2] == ["api", "v1"] and segs[2:3] == ["namespace"]:
            return "namespace"
        rest = segs[3:] if segs[:3] == ["api", "v1", "events"] else None
        if rest is None:
            return None
        table = {(0, "GET"): "service", (1, "GET"): "list_channels",
                 (1, "POST"): "create_channel", (3, "GET"): "list_subscriptions",
                 (4, "POST"): "subscribe", (5, "GET"): "get_subscription",
                 (5, "DELETE"): "unsubscribe"}
        if rest[:1] == ["eventTypes"]:
            return "event_types"
        if len(rest) == 2 and rest[0] == "channels":
            if m == "GET":
                return "stream" if _wants_sse(rec.header("accept")) else "channel_metadata"
            return {"PATCH": "modify_channel", "DELETE": "delete_channel"}.get(m)
        return table.get((len(rest), m))

    # -- /api/v1 -------------------------------------------------------------------------------
    def _base(self, rec):
        host = rec.header("host") or f"{self.host}:{self.port}"
        return f"{self.scheme}://{host}/api/v1"

    def _need_user(self, rec):
        if rec.user is None:
            raise Reply(401)

    def _channel_for(self, rec, cid):
        self._need_user(rec)
        ch = self.channels_by_id.get(cid)
        if ch is None:
            raise Reply(404)
        if ch.uid != self.uids[rec.user]:
            raise Reply(403)
        return ch

    def _api(self, h, rec, query):
        segs = _segments(rec.raw_path)
        if segs[:2] != ["api", "v1"] or len(segs) < 3:
            raise Reply(404)
        if segs[2] == "namespace":
            return self._namespace(rec, segs[3:], query)
        if segs[2] != "events":
            raise Reply(404)
        rest, m = segs[3:], rec.method
        if not rest:
            if m != "GET":
                raise Reply(405)
            return self._json(rec, {"channels": {
                "lifetimeWhenDisconnected": {"maximum": self.max_disconnect_timeout,
                                             "minimum": 1,
                                             "default": self.disconnect_timeout},
                "maximumPerUser": self.max_channels}})
        if rest[0] == "eventTypes":
            return self._event_types(rec, rest[1:])
        if rest[0] != "channels":
            raise Reply(404)
        if len(rest) == 1:
            if m == "GET":
                return self._list_channels(rec, query)
            if m == "POST":
                return self._create_channel(rec)
            raise Reply(405)
        with self._cond:
            ch = self._channel_for(rec, rest[1])
            if len(rest) == 2:
                if m == "GET":
                    if _wants_sse(rec.header("accept")):
                        sink = self._accept_connection(rec, ch)
                    else:
                        if not _accepts_json(rec.header("accept")):
                            raise Reply(406)
                        return self._json(rec, {"timeout": int(ch.timeout)})
                elif m == "PATCH":
                    return self._modify_channel(rec, ch)
                elif m == "DELETE":
                    self._close_channel_locked(ch)
                    return self._ok(rec, 204)
                else:
                    raise Reply(405)
            elif rest[2] != "subscriptions":
                raise Reply(404)
            elif len(rest) == 3:
                if m != "GET":
                    raise Reply(405)
                base = self._base(rec)
                return self._json(rec, [self._sub_url(ch, w, base) for w in ch.subs.values()],
                                  pretty=False)
            elif len(rest) == 4:
                if m != "POST":
                    raise Reply(405)
                return self._subscribe(rec, ch, rest[3])
            elif len(rest) == 5:
                w = ch.subs.get(rest[4]) if rest[3] == "inotify" else None
                if m == "GET":
                    if w is None:
                        raise Reply(404)
                    return self._json(rec, w.selector())
                if m == "DELETE":
                    if w is None:
                        raise Reply(404)
                    self._close_watch(w)
                    return self._ok(rec, 204)
                raise Reply(405)
            else:
                raise Reply(404)
        # The SSE GET, outside the lock: stream until the sink ends.
        self._finish(rec, 200, "ok")
        self._stream(h, rec, ch, sink)
        return None

    def _event_types(self, rec, rest):
        self._need_user(rec)
        if rec.method != "GET":
            raise Reply(405)
        if not rest:
            return self._json(rec, ["inotify"], pretty=False)
        if rest[0] != "inotify" or len(rest) > 2:
            raise Reply(404)
        if len(rest) == 1:
            return self._json(rec, {"description": INOTIFY_DESCRIPTION})
        if rest[1] == "selector":
            return self._json(rec, {
                "$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                "properties": {"path": {"type": "string", "pattern": "^/(.*[^/])?$"},
                               "flags": {"type": "array",
                                         "items": {"enum": list(WATCH_FLAGS)}}},
                "required": ["path"], "additionalProperties": False})
        if rest[1] == "event":
            return self._json(rec, {
                "$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
                "properties": {"name": {"type": "string"}, "cookie": {"type": "string"},
                               "mask": {"type": "array", "items": {"type": "string"}}},
                "required": ["mask"]})
        raise Reply(404)

    def _json_body(self, rec, required_message=None):
        """The request's JSON entity, or None when it has none."""
        if not rec.body:
            if required_message:
                raise Reply(400, required_message)
            return None
        ctype = (rec.header("content-type") or "").split(";")[0].strip().lower()
        if ctype != "application/json" and not ctype.endswith("+json"):
            raise Reply(415)
        try:
            return json.loads(rec.body)
        except ValueError:
            raise Reply(400)

    def _list_channels(self, rec, query):
        self._need_user(rec)
        uid, base = self.uids[rec.user], self._base(rec)
        with self._cond:
            chans = [ch for ch in self.channels_by_id.values() if ch.uid == uid]
            if "client-id" in query:
                want = _canon_client_id(query["client-id"])
                chans = [ch for ch in chans if ch.client_id == want]
            return self._json(rec, [ch.url(base) for ch in chans], pretty=False)

    def _create_channel(self, rec):
        self._need_user(rec)
        meta = self._json_body(rec)
        client_id = None
        if meta is not None:
            if not isinstance(meta, dict) or set(meta) - {"client-id"}:
                raise Reply(400)
            cid_value = meta.get("client-id")
            if isinstance(cid_value, (int, float)) and not isinstance(cid_value, bool):
                cid_value = str(cid_value)   # Jackson coerces scalars to String
            elif cid_value is not None and not isinstance(cid_value, str):
                raise Reply(400)
            client_id = _canon_client_id(cid_value)
        uid, base = self.uids[rec.user], self._base(rec)
        with self._cond:
            if sum(1 for ch in self.channels_by_id.values() if ch.uid == uid) \
                    >= self.max_channels:
                raise Reply(429)
            cid = _b64(bytes(self._rng.randrange(256) for _ in range(16)))
            ch = Channel(cid, uid, client_id, base, self.disconnect_timeout, self.backlog,
                         self.clock())
            self.channels_by_id[cid] = ch
            return self._ok(rec, 201, headers={"Location": ch.url(base)})

    def _modify_channel(self, rec, ch):
        mod = self._json_body(rec, "Missing JSON entity in PATCH request")
        t = mod.get("timeout") if isinstance(mod, dict) else None
        if isinstance(t, bool) or not isinstance(t, int):
            raise Reply(400)
        if t < 1:
            raise Reply(400, "Timeout shorter than minimum allowed")
        if t > self.max_disconnect_timeout:
            raise Reply(400, "Timeout longer than maximum allowed")
        ch.timeout = t
        if ch.close_at is not None:        # rescheduleClose(): only a running timer
            ch.close_at = self.clock() + t
        return self._ok(rec, 204)

    def _subscribe(self, rec, ch, event_type):
        selector = self._json_body(rec, "Missing JSON entity in POST request")
        if event_type != "inotify":
            raise Reply(400, f"Unknown event type: {event_type}")
        path, supplied, flags = _parse_selector(selector)
        if not self._allowed(path):
            raise Reply(400, "Permission denied: Not allowed.")
        node = self._lookup(path)
        if node is None:
            raise Reply(400, "Not found: Problem with path: No such file or directory: "
                             + path)
        if not node.is_dir and "IN_ONLYDIR" in flags:
            raise Reply(400, "Failed condition: IN_ONLYDIR with REGULAR target")
        sid = _b64(bytes.fromhex(node.pnfsid), url=not self.std_base64_ids)
        base = self._base(rec)
        w = ch.subs.get(sid)
        if w is not None:                       # one watch per object per channel: merge
            if "IN_MASK_ADD" in flags:
                merged = (flags | w.flags) - {"IN_MASK_ADD"}
                w.flags, w.supplied = merged, set(merged)
            else:
                w.flags, w.supplied = flags, supplied
            w.path = selector["path"]
            return self._ok(rec, 303, headers={"Location": self._sub_url(ch, w, base)})
        w = Watch(ch, node, sid, selector["path"], supplied, flags)
        ch.subs[sid] = w
        self._system(ch, {"type": "NEW_SUBSCRIPTION", "subscription": self._sub_url(ch, w)})
        return self._ok(rec, 201, headers={"Location": self._sub_url(ch, w, base)})

    def _namespace(self, rec, parts, query):
        self._need_user(rec)
        if rec.method != "GET":
            raise Reply(405)
        path = "/" + "/".join(parts)
        with self._cond:
            node = self._lookup(path)
            if node is None:
                raise Reply(404)
            if not self._allowed(path):
                raise Reply(403)
            children = query.get("children", "").lower() == "true"
            return self._json(rec, self._attributes(node, children))

    def _attributes(self, node, children=False, name=False):
        """JsonFileAttributes in the user guide's key order."""
        out = {"fileName": node.name} if name else {}
        if node.is_dir:
            out["fileMimeType"] = "application/vnd.dcache.folder"
            if children:
                out["children"] = [self._attributes(c, name=True)
                                   for c in node.children.values()]
        else:
            out["fileMimeType"] = (mimetypes.guess_type(node.name)[0] or
                                   "application/octet-stream")
        out["fileType"] = node.kind
        out["pnfsId"] = node.pnfsid
        out["nlink"] = (2 + sum(1 for c in node.children.values() if c.is_dir)
                        if node.is_dir else 1)
        out["mtime"], out["creationTime"] = node.mtime, node.ctime
        out["size"] = 512 if node.is_dir else (len(node.data) if node.complete else 0)
        return out

    # -- SSE -----------------------------------------------------------------------------------
    def _accept_connection(self, rec, ch):
        """Channel.acceptConnection, under the lock: kick out a competing stream, stop the GC
        timer, attach, then replay or signal loss per Last-Event-ID."""
        if ch.sink and ch.sink.state is None:
            ch.sink.frames.append(_system_frame({"type": "COMPETING_CLIENT"}))
            ch.sink.state = "end"
            ch.sink.attached = False
        ch.close_at = None
        sink = Sink(self.clock())
        ch.sink = sink
        last = (rec.header("last-event-id") or "").strip(" \t")
        if last and _INT32.fullmatch(last) and -2 ** 31 <= int(last) < 2 ** 31:
            n = int(last)
            while ch.ring and ch.ring[0][0] != n:
                ch.ring.popleft()
            if not ch.ring:
                sink.frames.append(_system_frame({"type": "EVENT_LOSS"}))
            else:
                for eid, etype, data in list(ch.ring)[1:]:
                    sink.frames.append(_event_frame(etype, eid, data))
        self._cond.notify_all()
        return sink

    def _stream(self, h, rec, ch, sink):
        try:
            h.send_response(200)
            for k, v in CORS.items():
                h.send_header(k, v)
            h.send_header("Content-Type", "text/event-stream")
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            while True:
                with self._cond:
                    if not sink.frames and sink.state is None and not self._stopping.is_set():
                        self._cond.wait(0.05)
                    if self._stopping.is_set() and sink.state is None:
                        sink.state = "reset"
                    if (sink.state is None and self.idle_timeout is not None
                            and self.clock() - sink.last_write >= self.idle_timeout):
                        sink.state = "eof"   # Jetty's idle timeout closes the connection
                    state = sink.state
                    frames = [] if state in ("reset", "eof") else list(sink.frames)
                    sink.frames.clear()
                for frame in frames:
                    h.wfile.write(b"%x\r\n%s\r\n" % (len(frame), frame))
                    sink.last_write = self.clock()
                if state == "end":
                    h.wfile.write(b"0\r\n\r\n")
                    _close(h)
                    return
                if state in ("reset", "eof"):
                    _reset(h) if state == "reset" else _close(h)
                    return
                if _peer_gone(h.connection):
                    return
        except OSError:
            return
        finally:
            h.close_connection = True
            with self._cond:
                sink.attached = False
                if ch.sink is sink:            # sinkClosed(): the GC timer starts now
                    ch.sink = None
                    if not ch.closed:
                        ch.close_at = self.clock() + ch.timeout
                self._cond.notify_all()

    # -- WebDAV ----------------------------------------------------------------------------------
    def _webdav(self, h, rec):
        if rec.user is None:
            raise Reply(401)
        path = urllib.parse.unquote(rec.raw_path) or "/"
        path = path.rstrip("/") or "/"
        with self._cond:
            if not self._allowed(path):
                raise Reply(403)
            if rec.method in ("GET", "HEAD"):
                node = self._lookup(path)
                if node is None or not node.complete:
                    raise Reply(404)
                if node.is_dir:
                    items = "".join(f"<li>{_html(n)}</li>" for n in node.children)
                    return self._ok(rec, 200, f"<html><ul>{items}</ul></html>".encode(),
                                    content_type="text/html")
                if self.read_events and rec.method == "GET":
                    for flag in ("IN_OPEN", "IN_ACCESS", "IN_CLOSE_NOWRITE"):
                        self._file_event(node, flag)
                ctype = mimetypes.guess_type(node.name)[0] or "application/octet-stream"
                return self._ok(rec, 200, node.data, content_type=ctype, headers={
                    "ETag": f'"{node.pnfsid}"',
                    "Last-Modified": time.strftime("%a, %d %b %Y %H:%M:%S GMT",
                                                   time.gmtime(node.mtime / 1000))})
            if rec.method == "PUT":
                old = self._lookup(path)
                if old is not None and old.is_dir:
                    raise Reply(405)
                try:
                    self.write(path, rec.body, overwrite=True)
                except (FileNotFoundError, NotADirectoryError):
                    raise Reply(409)
                except ValueError:
                    raise Reply(400)
                return self._ok(rec, 204 if old else 201)
            raise Reply(405)


# -- helpers ---------------------------------------------------------------------------------------
def _event_frame(etype, eid, data):
    return f"event: {etype}\nid: {eid}\ndata: {data}\n\n".encode("utf-8")


def _system_frame(obj):
    return f"event: SYSTEM\ndata: {compact_json(obj)}\n\n".encode("utf-8")


def _channel_id(ref):
    return ref.rstrip("/").rsplit("/", 1)[-1] if "/" in ref else ref


def _canon_client_id(value):
    if value is None or value == "":
        return None
    return value[:256]


def _norm(path):
    if not path.startswith("/"):
        raise ValueError(f"not an absolute path: {path!r}")
    return path.rstrip("/") or "/"


def _segments(raw_path):
    """Path segments, %-decoded one by one (so an encoded '/' stays inside its segment); one
    trailing '/' is ignored, as Jersey matches it."""
    parts = raw_path.split("/")[1:]
    if parts and parts[-1] == "":
        parts.pop()
    return [urllib.parse.unquote(p) for p in parts]


def _media_ranges(accept):
    for item in (accept or "").split(","):
        fields = [f.strip() for f in item.split(";")]
        q = 1.0
        for f in fields[1:]:
            if f.lower().startswith("q="):
                try:
                    q = float(f[2:])
                except ValueError:
                    q = 0.0
        if fields[0]:
            yield fields[0].lower(), q


def _wants_sse(accept):
    return any(t == "text/event-stream" and q > 0 for t, q in _media_ranges(accept))


def _accepts_json(accept):
    if not accept or not accept.strip():
        return True
    return any(t in ("application/json", "application/*", "*/*") and q > 0
               for t, q in _media_ranges(accept))


def _parse_selector(sel):
    """(path, supplied flag set or None, expanded flag set) or Reply(400) as InotifySelector
    and its Jackson mapping would answer."""
    bad = "Bad selector: Bad selector value: "
    if not isinstance(sel, dict):
        raise Reply(400, bad + "Cannot deserialize value of type `InotifySelector` from "
                    + type(sel).__name__)
    for key in sel:
        if key not in ("path", "flags"):
            raise Reply(400, bad + f'Unrecognized field "{key}" (class InotifySelector), '
                        'not marked as ignorable (2 known properties: "flags", "path"])')
    path = sel.get("path")
    if path is None:
        raise Reply(400, "Bad selector: Missing path")
    if not isinstance(path, str):
        raise Reply(400, bad + "Cannot deserialize value of type `java.lang.String`")
    if not path.startswith("/"):
        raise Reply(400, bad + f"path is not absolute: {path}")
    supplied = None
    flags = set(EVENT_FLAGS)
    if "flags" in sel:
        raw = sel["flags"]
        if not isinstance(raw, list):
            raise Reply(400, bad + "Cannot deserialize value of type `EnumSet<AddWatchFlag>`")
        for f in raw:
            if f not in WATCH_FLAGS:
                raise Reply(400, bad + "Cannot deserialize value of type `AddWatchFlag` from "
                            f'String "{f}": not one of the values accepted for Enum class: '
                            f"[{', '.join(WATCH_FLAGS)}]")
        supplied = set(raw)
        flags = set()
        for f in raw:
            flags.update(MACROS.get(f, (f,)))
        unsupported = [f for f in WATCH_FLAGS if f in flags and f in UNSUPPORTED]
        if unsupported:
            raise Reply(400, f"Bad selector: Unsupported flags: [{', '.join(unsupported)}]")
    return _norm(path), supplied, flags


def _html(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _peer_gone(sock):
    """Whether the client hung up (readable with nothing to read)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    if not readable:
        return False
    try:
        if isinstance(sock, ssl.SSLSocket):
            if sock.pending():
                return False
            sock.setblocking(False)
            try:
                return sock.recv(1) == b""
            finally:
                sock.setblocking(True)
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
        return False
    except OSError:
        return True


def _close(h):
    h.close_connection = True
    try:
        h.connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _reset(h):
    """Drops a connection with a TCP RST, as a crashed or cut-off server would."""
    h.close_connection = True
    try:
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        h.rfile.close()
        h.connection.close()
    except OSError:
        pass


class _Handler(LoopbackHandler):
    def version_string(self):
        return self.server.fake.server_version

    def setup(self):
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()

    def _handle(self):
        fake = self.server.fake
        raw_path, raw_query, headers = self._raw_target()
        try:
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                body = read_chunked(self.rfile)
            else:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length) if length else b""
        except ValueError:
            self.close_connection = True
            return self._answer(400, {"Connection": "close"}, b"bad request body\n")
        rec = Recorded(self.command, raw_path, raw_query, headers, body, self.server.role)
        if isinstance(self.connection, ssl.SSLSocket):
            subject = dict(x[0] for x in (self.connection.getpeercert() or {}).get("subject", ()))
            rec.peer_cn = subject.get("commonName")
        reply = fake._dispatch(self, rec)
        if reply is None:
            self.close_connection = True
            return None
        return self._answer(*reply)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _handle


# -- a small client for tests ----------------------------------------------------------------
class Response:
    def __init__(self, status, reason, headers, body):
        self.status, self.reason, self.body = status, reason, body
        self.headers = {k.lower(): v for k, v in headers}

    def json(self):
        return json.loads(self.body)

    def error_message(self):
        return self.json()["errors"][0]["message"]

    def __repr__(self):
        return f"<{self.status} {self.reason} {self.body[:200]!r}>"


class SseEvent:
    def __init__(self):
        self.type, self.id, self.data_lines, self.raw = "message", None, [], b""

    @property
    def data(self):
        return "\n".join(self.data_lines)

    def json(self):
        return json.loads(self.data)

    def __repr__(self):
        return f"<SseEvent {self.type} id={self.id} {self.data[:160]}>"


class SseStream:
    """The body of an SSE GET: raw lines, or parsed events. EOF and resets read as None."""

    def __init__(self, conn, response):
        self.conn, self.response = conn, response
        self.status = response.status
        self.headers = {k.lower(): v for k, v in response.getheaders()}
        self.error = None

    def readline(self):
        try:
            return self.response.readline()
        except (OSError, ValueError, AttributeError, http.client.HTTPException) as e:
            self.error = e
            return b""

    def next_event(self):
        """The next dispatched event (one with a data line), or None at the end."""
        ev = SseEvent()
        while True:
            line = self.readline()
            if not line:
                return None
            ev.raw += line
            text = line.decode("utf-8").rstrip("\r\n")
            if text == "":
                if ev.data_lines:
                    return ev
                ev = SseEvent()
                continue
            if text.startswith(":"):
                continue
            field, _, value = text.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                ev.type = value
            elif field == "id":
                ev.id = value
            elif field == "data":
                ev.data_lines.append(value)

    def close(self):
        try:
            self.conn.sock and self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.conn.close()


class DcacheClient:
    """HTTP/1.1 to the fake with Basic or Bearer auth. Absolute URLs (Location headers) are
    accepted: their path is sent to the fake, whatever host they name."""

    def __init__(self, base_url, user=None, password=None, token=None, timeout=10,
                 ssl_context=None, host_header=None):
        u = urllib.parse.urlsplit(base_url)
        self.scheme, self.host, self.port = u.scheme, u.hostname, u.port
        self.prefix = u.path.rstrip("/")
        self.user, self.password, self.token = user, password, token
        self.timeout, self.ssl_context, self.host_header = timeout, ssl_context, host_header

    def _conn(self, timeout=None):
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout or
                                               self.timeout, context=self.ssl_context)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout or self.timeout)

    def _target(self, url):
        if "://" in url:
            u = urllib.parse.urlsplit(url)
            return u.path + ("?" + u.query if u.query else "")
        return self.prefix + url if url.startswith("/") else self.prefix + "/" + url

    def _headers(self, headers, auth):
        hdrs = {}
        if self.host_header:
            hdrs["Host"] = self.host_header
        if auth and self.token is not None:
            hdrs["Authorization"] = f"Bearer {self.token}"
        elif auth and self.user is not None:
            cred = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            hdrs["Authorization"] = f"Basic {cred}"
        hdrs.update(headers or {})
        return hdrs

    def request(self, method, url, body=None, headers=None, json_body=None, auth=True):
        hdrs = self._headers(headers, auth)
        if json_body is not None:
            body = json.dumps(json_body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        conn = self._conn()
        try:
            conn.request(method, self._target(url), body=body, headers=hdrs)
            r = conn.getresponse()
            return Response(r.status, r.reason, r.getheaders(), r.read())
        finally:
            conn.close()

    def create_channel(self, client_id=None, **kw):
        body = None if client_id is None else {"client-id": client_id}
        return self.request("POST", "/events/channels", json_body=body, **kw)

    def subscribe(self, channel_url, path, flags=None, **kw):
        sel = {"path": path}
        if flags is not None:
            sel["flags"] = list(flags)
        return self.request("POST", channel_url + "/subscriptions/inotify", json_body=sel, **kw)

    def stream(self, channel_url, last_event_id=None, accept="text/event-stream", timeout=None,
               headers=None):
        hdrs = self._headers(headers, True)
        hdrs["Accept"] = accept
        hdrs["Cache-Control"] = "no-cache"
        if last_event_id is not None:
            hdrs["Last-Event-ID"] = str(last_event_id)
        conn = self._conn(timeout)
        conn.request("GET", self._target(channel_url), headers=hdrs)
        return SseStream(conn, conn.getresponse())
