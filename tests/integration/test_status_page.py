"""The status page (GET /), its JSON API (/api/status, /api/dead, POST /api/dead/replay) and the
live feed (WebSocket /live), end to end against `sluice run`; the page itself in headless
Chromium driven by playwright-core (tests/browser/status_page.js)."""
import base64
import hashlib
import json
import os
import shutil
import socket
import struct
import subprocess
import time
import unittest
import urllib.error
import urllib.request
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when run by file path
from harness import REPO, SluiceTestCase, deadline, wait_until, write_file  # noqa: E402

TOKEN = "admin-Token-0123456789"
BROWSER_DIR = REPO / "tests" / "browser"
CHROMIUM = os.environ.get("SLUICE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def http(port, method, path, body=None, token=None, timeout=10):
    """(status, headers, body bytes) of one request; HTTP errors are answers, not exceptions."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=deadline(timeout)) as r:
            return r.status, r.headers, r.read()  # headers: case-insensitive lookups
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def api(port, path):
    status, _, body = http(port, "GET", path)
    assert status == 200, f"GET {path}: {status} {body[:200]!r}"
    return json.loads(body)


class WebSocket:
    """A minimal RFC 6455 client on a raw socket: the handshake, then server→client frames."""

    def __init__(self, port, path="/live", origin=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=deadline(10))
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
                 "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        if origin:
            lines.append(f"Origin: {origin}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                self.sock.close()
                raise ConnectionError(f"closed during the handshake; got {self.buf!r}")
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.status_line, *header_lines = head.decode("latin-1").split("\r\n")
        self.headers = {k.strip().lower(): v.strip()
                        for k, _, v in (h.partition(":") for h in header_lines)}
        want = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.accept_ok = self.headers.get("sec-websocket-accept") == want

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the server closed the feed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def message(self, timeout):
        """The next text message (unfragmented, as the server sends them), or None on timeout."""
        self.sock.settimeout(timeout)
        try:
            b0, b1 = self._read(2)
        except socket.timeout:
            return None
        self.sock.settimeout(deadline(10))
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", self._read(8))[0]
        assert not b1 & 0x80, "a server must not mask its frames"
        payload = self._read(n)
        opcode = b0 & 0x0F
        assert b0 & 0x80, "unexpected fragment"
        if opcode == 0x8:
            raise ConnectionError("close frame")
        if opcode in (0x9, 0xA):  # ping / pong: not a message
            return self.message(timeout)
        assert opcode == 0x1, f"opcode {opcode}"
        return json.loads(payload.decode("utf-8"))

    def wait_for(self, predicate, timeout=10, what="a feed message"):
        end = time.monotonic() + deadline(timeout)
        seen = []
        while time.monotonic() < end:
            m = self.message(max(0.01, end - time.monotonic()))
            if m is None:
                continue
            seen.append(m)
            if predicate(m):
                return m
        raise AssertionError(f"no {what} within {deadline(timeout)}s; saw {seen[-5:]}")

    def close(self):
        self.sock.close()


class StatusPageTest(SluiceTestCase):
    def start(self, admin_token=True, **kw):
        http_cfg = {}
        if admin_token:
            token_file = self.tmp / "admin.token"
            token_file.write_text(TOKEN + "\n")
            token_file.chmod(0o600)
            http_cfg["admin_token_file"] = str(token_file)
        cfg, port = self.config(**kw)
        cfg["http"].update(http_cfg)
        s = self.sluice(cfg, port).start()
        self.port = port
        return s

    def make_dead_letter(self, name):
        """A file whose delivery the receiver refuses with 400 (permanent): a dead letter."""
        self.receiver.fail(400)
        write_file(self.path(name))
        row = wait_until(lambda: next((r for r in api(self.port, "/api/dead?sink=hook")["dead"]
                                       if r["subject"].endswith(name)), None),
                         20, f"{name} in /api/dead")
        self.receiver.clear_faults()
        return row

    def test_status_api_shape(self):
        self.start()
        s = api(self.port, "/api/status")
        self.assertEqual([x["name"] for x in s["sources"]], ["inbox"])
        self.assertEqual(s["sources"][0]["type"], "local")
        self.assertEqual(s["sources"][0]["state"], "ok")
        self.assertEqual([x["name"] for x in s["sinks"]], ["hook"])
        self.assertEqual(s["history"]["columns"], ["time_ms", "pending", "in_flight", "dead"])
        self.assertGreaterEqual(len(s["history"]["samples"]), 1)  # sampled at start
        for key in ("events", "bytes", "pending", "in_flight", "dead"):
            self.assertIn(key, s["queue"])
        write_file(self.path("a.txt"))
        self.wait_delivered([self.path("a.txt")])

        def seen():
            st = api(self.port, "/api/status")
            last = st["sources"][0]["last_event"]
            return st if last and last["subject"].endswith("/a.txt") and st["sinks"][0]["done"] >= 1 \
                else None
        st = wait_until(seen, 10, "the event and its delivery in /api/status")
        self.assertEqual(st["sources"][0]["events"], 1)
        self.assertEqual(st["sinks"][0]["last"]["outcome"], "done")

    def test_page_is_served_self_contained_without_secrets(self):
        self.start()
        status, headers, body = http(self.port, "GET", "/")
        self.assertEqual(status, 200)
        page = body.decode()
        self.assertIn("/static/app.js", page)
        self.assertNotIn("http://", page.replace("http://www.w3.org", ""))  # no CDN
        self.assertNotIn(TOKEN, page)
        self.assertIn("script-src 'self'", headers["Content-Security-Policy"])
        status, headers, js = http(self.port, "GET", "/static/app.js")
        self.assertEqual(status, 200)
        self.assertIn("javascript", headers["Content-Type"])
        self.assertNotIn(b"innerHTML", js)  # data goes in as text only
        self.assertEqual(http(self.port, "GET", "/static/nope.js")[0], 404)
        self.assertEqual(http(self.port, "GET", "/live")[0], 426)

    def test_dead_list_and_replay_need_the_admin_token(self):
        self.start()
        row = self.make_dead_letter("bad.txt")
        self.assertEqual(row["sink"], "hook")
        self.assertEqual(row["attempts"], 1)
        self.assertIn("400", row["last_error"])
        self.assertGreater(row["first_seen_ms"], 0)
        self.assertGreater(row["seq"], 0)
        self.assertEqual(api(self.port, "/api/dead?sink=other")["dead"], [])
        self.assertEqual(len(api(self.port, "/api/dead?limit=1")["dead"]), 1)
        self.assertEqual(http(self.port, "GET", "/api/dead?limit=x")[0], 400)

        sel = {"sink": "hook", "event_id": row["event_id"]}
        status, headers, _ = http(self.port, "POST", "/api/dead/replay", sel)
        self.assertEqual(status, 401)
        self.assertIn("Bearer", headers.get("WWW-Authenticate", ""))
        self.assertEqual(http(self.port, "POST", "/api/dead/replay", sel, token="wrong")[0], 401)
        self.assertEqual(http(self.port, "POST", "/api/dead/replay", {"sink": "hook", "event_id": "nope"},
                              token=TOKEN)[0], 404)
        self.assertEqual(http(self.port, "POST", "/api/dead/replay", {"event_id": "x"}, token=TOKEN)[0], 400)
        self.assertFalse(self.receiver.delivered_paths())  # nothing re-delivered by the refusals
        status, _, body = http(self.port, "POST", "/api/dead/replay", sel, token=TOKEN)
        self.assertEqual((status, json.loads(body)), (200, {"replayed": 1}))
        # Woken at once, not at the dispatcher's next poll.
        self.wait_delivered([self.path("bad.txt")], timeout=5)
        wait_until(lambda: api(self.port, "/api/dead")["dead"] == [], 10, "an empty dead-letter list")

    def test_replay_is_off_without_an_admin_token_file(self):
        self.start(admin_token=False)
        row = self.make_dead_letter("bad.txt")
        status, _, body = http(self.port, "POST", "/api/dead/replay",
                               {"sink": "hook", "event_id": row["event_id"]}, token="anything")
        self.assertEqual(status, 403)
        self.assertIn("admin_token_file", json.loads(body)["error"])

    def test_live_feed_websocket(self):
        self.start()
        ws = WebSocket(self.port)
        self.addCleanup(ws.close)
        self.assertTrue(ws.status_line.startswith("HTTP/1.1 101"), ws.status_line)
        self.assertTrue(ws.accept_ok, ws.headers)
        self.assertEqual(ws.message(deadline(5))["kind"], "hello")
        write_file(self.path("live.txt"))
        ev = ws.wait_for(lambda m: m["kind"] == "event" and m["subject"].endswith("/live.txt"),
                         what="the event of live.txt")
        self.assertEqual((ev["source"], ev["type"], ev["sinks"]), ("inbox", "created", ["hook"]))
        d = ws.wait_for(lambda m: m["kind"] == "delivery" and m["event_id"] == ev["id"],
                        what="the delivery of live.txt")
        self.assertEqual((d["sink"], d["outcome"], d["attempt"]), ("hook", "done", 1))

        # Another site's page in the operator's browser must not read the feed.
        with self.assertRaises((ConnectionError, OSError, AssertionError)):
            evil = WebSocket(self.port, origin="https://evil.example")
            self.addCleanup(evil.close)
            self.assertTrue(evil.status_line.startswith("HTTP/1.1 101"))
            evil.message(deadline(2))

    def test_page_in_headless_chromium(self):
        node = shutil.which("node")
        if not node:
            self.skipTest("node is not installed (apt-get install nodejs)")
        if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
            self.skipTest("playwright-core is not installed: (cd tests/browser && npm ci)")
        if not os.access(CHROMIUM, os.X_OK):
            self.skipTest(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
        self.start()
        dead = self.make_dead_letter("refused.txt")
        shot = self.tmp / "status-page.png"
        args = {"url": f"http://127.0.0.1:{self.port}/", "inbox": str(self.inbox), "token": TOKEN,
                "dead_event_id": dead["event_id"], "screenshot": str(shot), "chromium": CHROMIUM}
        r = subprocess.run([node, str(BROWSER_DIR / "status_page.js"), json.dumps(args)],
                           capture_output=True, text=True, timeout=deadline(120), cwd=BROWSER_DIR)
        if r.returncode == 2:
            self.skipTest(f"Chromium cannot start on this machine: {r.stdout[:300]} {r.stderr[-300:]}")
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        out = json.loads(r.stdout)
        print(f"\nstatus page screenshot: {out.get('screenshot')}"
              f" (kept only with SLUICE_KEEP_TMP=1); new file on the page after"
              f" {out.get('event_latency_ms')} ms", flush=True)
        self.assertNotIn("error", out, out)
        self.assertEqual(out["status"], 200)
        self.assertEqual(out["console_errors"], [])
        self.assertEqual(out["page_errors"], [])
        self.assertLess(out["event_latency_ms"], 1000 * max(1.0, float(os.environ.get(
            "SLUICE_TIMEOUT_SCALE", "1"))), "the new file's event took too long to show")
        self.assertIn("connected", out["sources_text"])
        # The hostile name is on the page as text, and nothing in it ran or became an element.
        self.assertIn('<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">',
                      out["hostile_text"])
        self.assertIsNone(out["pwned"])
        self.assertEqual(out["injected_elements"], 0)
        # Replay: refused without and with a wrong token, then done and really re-delivered.
        self.assertIn("refused", out["without_token_msg"])
        self.assertIn("refused", out["wrong_token_msg"])
        self.assertEqual(out["with_token_msg"], "replayed 1")
        for msg in out["refusal_console"]:  # Chromium logs the refused requests themselves
            self.assertIn("401", msg)
        self.assertTrue(out["replayed_delivery_seen"])
        self.wait_delivered([self.path("refused.txt")], timeout=5)
        self.assertFalse(out["page_contains_token"])
        self.assertTrue(shot.is_file() and shot.stat().st_size > 10_000, "no screenshot")


if __name__ == "__main__":
    unittest.main()
