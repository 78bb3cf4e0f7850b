#!/usr/bin/env python3
"""A fake webhook receiver for sluice's integration tests, crash test and benchmarks.

As a module: ``Receiver().start()`` serves HTTP/1.1 with keep-alive on 127.0.0.1 (port 0 by
default) and records every request. Faults are set at runtime (fail, delay, drop, bearer, hmac)
and tests wait on ``wait_until`` (a condition variable notified on every request), never on sleep.
``require_hmac(secret)`` checks Standard Webhooks signatures (webhook-id, webhook-timestamp,
webhook-signature; secret ``whsec_<base64>``) and answers 401 to a bad or stale one.

As a script: ``python3 receiver.py --port-file F --record F.jsonl`` writes its port to F and one
JSON line per accepted delivery to F.jsonl. Faults can be set from outside with
``POST /_control/fail {"status": 503, "count": 5, "seconds": 2, "retry_after": "1"}``,
``/_control/delay {"seconds": 0.5}``, ``/_control/drop {"count": 3}`` and ``/_control/clear``.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import signal
import socket
import threading
import time
from typing import NamedTuple

from loopback_server import LoopbackHandler, LoopbackServer

FORMATS = ("cloudevents", "cloudevents-binary", "native", None)
WEBHOOK_TOLERANCE_S = 300  # what the Standard Webhooks libraries allow either way
CE_REQUIRED = ("specversion", "id", "source", "type")


class _Req(NamedTuple):
    method: str
    path: str
    headers: dict
    body: bytes


class Request(_Req):
    """(method, path, headers lower-case, body); also .time (monotonic) and .status (answered)."""


def _parse_json(body):
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def event_of(req):
    """What a delivery says, whatever its format: id, type, path (bytes or None), data, body."""
    h = req.headers
    body = _parse_json(req.body)
    ev = {"id": h.get("x-sluice-event-id"), "type": None, "subject": None, "data": None,
          "body": body, "path": None}
    if "ce-id" in h:  # binary mode: attributes in headers, data in the body
        ev.update(type=h.get("ce-type"), subject=h.get("ce-subject"), data=body)
    elif isinstance(body, dict) and "specversion" in body:
        ev.update(id=body.get("id"), type=body.get("type"), subject=body.get("subject"),
                  data=body.get("data"))
    data = ev["data"]
    if isinstance(data, dict):
        if isinstance(data.get("path_b64"), str):
            ev["path"] = base64.b64decode(data["path_b64"])
        elif isinstance(data.get("path"), str):
            ev["path"] = data["path"].encode("utf-8")
    return ev


def standard_webhook_problem(headers, body, secret, now=None):
    """Why a Standard Webhooks receiver would reject this request, or None when it is valid.
    `headers` lower-case; `secret` the ``whsec_<base64>`` string."""
    msg_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp")
    sigs = headers.get("webhook-signature")
    if not (msg_id and stamp and sigs):
        return "missing webhook-id, webhook-timestamp or webhook-signature"
    try:
        ts = int(stamp)
    except ValueError:
        return "webhook-timestamp is not an integer"
    now = time.time() if now is None else now
    if abs(now - ts) > WEBHOOK_TOLERANCE_S:
        return f"webhook-timestamp {ts} is outside the tolerance window"
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    want = "v1," + base64.b64encode(mac).decode()
    if not any(hmac.compare_digest(s, want) for s in sigs.split(" ")):
        return "no matching webhook-signature"
    return None


class Receiver(LoopbackServer):
    def __init__(self, port=0, host="127.0.0.1", fmt="cloudevents", record=None):
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}")
        self.host, self._want_port, self.format = host, port, fmt
        self.port = None
        self.requests = []   # every request, in arrival order
        self.accepted = []   # the requests answered 2xx
        self._cond = threading.Condition(threading.RLock())
        self._record = open(record, "a", encoding="utf-8") if record else None
        self._init_loopback()
        self.inflight = 0    # requests being handled now (e.g. held by a delay)
        self._wake = threading.Event()
        self.clear_faults()

    # -- lifecycle -------------------------------------------------------------------------
    def start(self):
        return self._serve_on(_handler_for(self))

    def stop(self):
        """Stops listening and cuts every open keep-alive connection: the receiver is down."""
        if not self._serving:
            return
        self._wake.set()
        self._close_servers()
        with self._cond:
            if self._record:
                self._record.close()
                self._record = None

    def url(self, path="/events"):
        return f"http://{self.host}:{self.port}{path}"

    # -- faults ----------------------------------------------------------------------------
    def fail(self, status, count=None, seconds=None, until=None, retry_after=None, body=b"fault"):
        """Answer `status` for the next `count` requests, for `seconds` (or until the monotonic
        deadline `until`), or, with neither, until clear_faults()."""
        with self._cond:
            if seconds is not None:
                until = time.monotonic() + seconds
            self._fail = {"status": int(status), "count": count, "until": until,
                          "retry_after": None if retry_after is None else str(retry_after),
                          "body": body if isinstance(body, bytes) else str(body).encode()}

    def set_delay(self, seconds, count=None):
        with self._cond:
            self._delay = {"seconds": float(seconds), "count": count}

    def drop(self, count=None):
        """Close the connection without answering, for the next `count` requests (None: all)."""
        with self._cond:
            self._drop = {"count": count}

    def require_bearer(self, token):
        with self._cond:
            self._bearer = token

    def require_hmac(self, secret):
        """Answer 401 unless the request carries a valid Standard Webhooks signature under
        `secret` (``whsec_<base64>``)."""
        with self._cond:
            self._hmac = secret

    def set_format(self, fmt):
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {FORMATS}")
        with self._cond:
            self.format = fmt

    def clear_faults(self):
        """Removes every fault; requests held by a delay are answered now."""
        with self._cond:
            self._wake.set()
            self._wake = threading.Event()
            self._fail = self._delay = self._drop = None
            self._bearer = self._hmac = None

    # -- observation -----------------------------------------------------------------------
    def events(self):
        with self._cond:
            return [event_of(r) for r in self.accepted]

    def delivered_paths(self):
        """{path bytes: number of accepted deliveries}"""
        out = {}
        for ev in self.events():
            if ev["path"] is not None:
                out[ev["path"]] = out.get(ev["path"], 0) + 1
        return out

    def snapshot(self):
        with self._cond:
            return list(self.requests)

    # -- request handling (handler threads) ----------------------------------------------
    def _take(self, name):
        """Consumes one use of fault `name`; returns it when it applies to this request."""
        f = getattr(self, "_" + name)
        if f is None:
            return None
        if f.get("until") is not None and time.monotonic() >= f["until"]:
            setattr(self, "_" + name, None)
            return None
        if f.get("count") is not None:
            if f["count"] <= 0:
                setattr(self, "_" + name, None)
                return None
            f["count"] -= 1
        return f

    def _verdict(self, req):
        """(status, extra headers, body) or None to drop the connection."""
        with self._cond:
            if self._take("drop"):
                return None
            delay = self._take("delay")
            fail = self._take("fail")
            bearer, secret, fmt, wake = self._bearer, self._hmac, self.format, self._wake
        if delay and wake.wait(delay["seconds"]):
            return None  # cut short by clear_faults() or stop(): the client gave up long ago
        if fail:
            extra = {"Retry-After": fail["retry_after"]} if fail["retry_after"] else {}
            return fail["status"], extra, fail["body"]
        h = req.headers
        if bearer is not None and h.get("authorization") != f"Bearer {bearer}":
            return 401, {"WWW-Authenticate": "Bearer"}, b"bad or missing bearer token"
        if secret is not None:
            problem = standard_webhook_problem(h, req.body, secret)
            if problem:
                return 401, {}, f"signature: {problem}".encode()
        problem = validate(req, fmt)
        if problem:
            return 400, {}, problem.encode()
        return 200, {}, b'{"ok":true}'

    def _record_request(self, req, status):
        req.status = status
        with self._cond:
            self.requests.append(req)
            if status is not None and 200 <= status < 300:
                self.accepted.append(req)
                if self._record:
                    ev = event_of(req)
                    line = {"t": time.time(), "id": ev["id"], "type": ev["type"],
                            "path_b64": base64.b64encode(ev["path"]).decode() if ev["path"] else None}
                    self._record.write(json.dumps(line) + "\n")
                    self._record.flush()
            self._cond.notify_all()

    def _control(self, action, body):
        args = _parse_json(body) or {}
        if action == "fail":
            self.fail(args.get("status", 503), args.get("count"), args.get("seconds"),
                      retry_after=args.get("retry_after"))
        elif action == "delay":
            self.set_delay(args.get("seconds", 0), args.get("count"))
        elif action == "drop":
            self.drop(args.get("count"))
        elif action == "clear":
            self.clear_faults()
        elif action != "stats":
            return 404, b"unknown control\n"
        with self._cond:
            stats = {"requests": len(self.requests), "accepted": len(self.accepted)}
        return 200, json.dumps(stats).encode()


def validate(req, fmt):
    """Returns why a real receiver would reject this delivery, or None."""
    if req.method not in ("POST", "PUT"):
        return f"method {req.method} not allowed"
    if fmt is None:
        return None
    h = req.headers
    body = _parse_json(req.body)
    if fmt == "cloudevents":
        ctype = h.get("content-type", "")
        if not ctype.startswith("application/cloudevents+json"):
            return f"structured CloudEvents need Content-Type application/cloudevents+json, got {ctype!r}"
        if not isinstance(body, dict):
            return "body is not a JSON object"
        missing = [k for k in CE_REQUIRED if not isinstance(body.get(k), str) or not body[k]]
        if missing:
            return "missing CloudEvents attributes: " + ", ".join(missing)
        if body["specversion"] != "1.0":
            return "specversion must be 1.0"
    elif fmt == "cloudevents-binary":
        missing = [k for k in CE_REQUIRED if not h.get("ce-" + k)]
        if missing:
            return "missing ce- headers: " + ", ".join(missing)
        if body is None:
            return "body (the event data) is not JSON"
    elif fmt == "native" and body is None:
        return "body is not JSON"
    return None


def _handler_for(rcv):
    class Handler(LoopbackHandler):
        server_version = "fake-receiver/1"

        def _answer(self, status, headers, body):
            ctype = "application/json" if body[:1] == b"{" else "text/plain"
            super()._answer(status, {**headers, "Content-Type": ctype}, body)

        def _handle(self):
            headers = {k.lower(): v for k, v in self.headers.items()}
            length = headers.get("content-length")
            if length is None:
                if self.command in ("POST", "PUT") or "transfer-encoding" in headers:
                    req = Request(self.command, self.path, headers, b"")
                    req.time = time.monotonic()
                    self.close_connection = True  # the body's end is unknown: do not reuse
                    rcv._record_request(req, 400)
                    return self._answer(400, {"Connection": "close"}, b"Content-Length required\n")
                body = b""
            else:
                try:
                    body = self.rfile.read(int(length))
                except ValueError:
                    self.close_connection = True
                    return self._answer(400, {"Connection": "close"}, b"bad Content-Length\n")
            if self.path.startswith("/_control/"):
                status, out = rcv._control(self.path[len("/_control/"):], body)
                return self._answer(status, {}, out)
            req = Request(self.command, self.path, headers, body)
            req.time = time.monotonic()
            with rcv._cond:
                rcv.inflight += 1
                rcv._cond.notify_all()
            try:
                verdict = rcv._verdict(req)
            finally:
                with rcv._cond:
                    rcv.inflight -= 1
            if verdict is None:
                rcv._record_request(req, None)
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return None
            status, extra, out = verdict
            rcv._record_request(req, status)
            return self._answer(status, extra, out)

        do_POST = do_PUT = do_GET = do_HEAD = do_DELETE = _handle

    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file", help="write the chosen port here once listening")
    ap.add_argument("--record", help="append one JSON line per accepted delivery")
    ap.add_argument("--format", default="cloudevents",
                    choices=["cloudevents", "cloudevents-binary", "native", "any"])
    a = ap.parse_args()
    rcv = Receiver(a.port, a.host, None if a.format == "any" else a.format, a.record).start()
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{rcv.port}\n")
        os.replace(tmp, a.port_file)
    print(f"listening on {a.host}:{rcv.port}", flush=True)
    done = threading.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: done.set())
    done.wait()
    rcv.stop()


if __name__ == "__main__":
    main()
