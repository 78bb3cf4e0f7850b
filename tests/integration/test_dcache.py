"""End to end: the `type: dcache` source against the fake dCache frontend (fake_dcache.py),
delivered to a webhook receiver on 127.0.0.1.

    cd tests/integration && SLUICE_BIN=../../build/sluice python3 -m unittest -v test_dcache

sluice creates a channel (found again by its client-id), subscribes inotify on the watched
directories, follows the SSE stream from the committed Last-Event-ID and lists the tree
whenever the stream may have lost something. Every test asserts exact outcomes: each file
delivered exactly once (by path and id), and nothing more once a later sentinel file came
through the same stream.
"""
import shutil
import ssl
import subprocess
import tempfile
import unittest
from pathlib import Path

from fake_dcache import FakeDcache
from harness import SluiceTestCase, wait_until

TOKEN = "tok-1"
CREATED = "sluice.object.created"
REMOVED = "sluice.object.removed"
MOVED = "sluice.object.moved"
GAP = "sluice.object.gap"


class DcacheTestCase(SluiceTestCase):
    fake_kw = {}

    def setUp(self):
        super().setUp()
        kw = {"users": {"alice": "pw"}, "tokens": {TOKEN: "alice", "tok-2": "alice"}}
        kw.update(self.fake_kw)
        self.fake = FakeDcache(**kw).start()
        self.addCleanup(self.fake.stop, False)
        self.fake.mkdir("/data/in", parents=True)
        self.token_file = self.tmp / "dcache.token"
        self.token_file.write_text(TOKEN + "\n")
        self.token_file.chmod(0o600)

    def dc_config(self, **source):
        cfg, port = self.config()
        src = {"name": "dc", "type": "dcache", "url": self.fake.api_url,
               "webdav_url": self.fake.webdav_url, "paths": ["/data/in"],
               "auth": {"bearer_file": str(self.token_file)}, "once_quiet": "1s",
               "events": ["created", "removed"]}
        src.update(source)
        cfg["sources"] = [src]
        cfg["routes"] = [{"from": ["dc"], "to": ["hook"]}]
        return cfg, port

    def start(self, **source):
        cfg, port = self.dc_config(**source)
        s = self.sluice(cfg, port).start()
        wait_until(s.ready, 20, "readyz (stream open, tree listed)")
        return s

    def channel(self):
        urls = self.fake.channel_urls()
        self.assertEqual(len(urls), 1, urls)
        return urls[0]

    def wait_for(self, paths, timeout=30):
        self.wait_delivered(paths, timeout)

    def file_events(self, type_=None):
        return [e for e in self.receiver.events()
                if e["type"] != GAP and (type_ is None or e["type"] == type_)]

    def assert_once_each(self, paths, type_=CREATED):
        """One event (one id) per file. After a kill -9 a delivery not yet settled is sent
        again with the same id (at-least-once): a receiver deduplicates it by that id."""
        ids = {}
        for e in self.file_events(type_):
            ids.setdefault(e["path"], set()).add(e["id"])
        for p in paths:
            self.assertEqual(len(ids.get(p.encode(), ())), 1, (p, ids.get(p.encode())))

    def assert_no_duplicate_ids(self):
        """Without a crash, not even a repeated delivery."""
        ids = [e["id"] for e in self.receiver.events()]
        self.assertEqual(len(ids), len(set(ids)))

    def sentinel(self, name="zz-sentinel"):
        """A file written last: once it is delivered, everything before it was handled."""
        self.fake.write(f"/data/in/{name}", b"s", overwrite=True)
        self.wait_for([f"/data/in/{name}"])


class StreamTest(DcacheTestCase):
    def test_a_written_file_is_delivered_once(self):
        s = self.start()
        self.fake.write("/data/in/a.dat", chunks=[b"a", b"b", b"c"])
        self.fake.mkdir("/data/out")
        self.fake.write("/data/out/b.dat", b"not watched")
        self.wait_for(["/data/in/a.dat"])
        self.sentinel()
        self.assert_once_each(["/data/in/a.dat"])
        ev = next(e for e in self.file_events() if e["path"] == b"/data/in/a.dat")
        self.assertEqual(ev["type"], CREATED)
        self.assertEqual(ev["data"]["size"], 3)
        self.assertEqual(ev["data"]["version"], self.fake.node("/data/in/a.dat").pnfsid)
        self.assertEqual(ev["data"]["storage"], "dcache")
        self.assertNotIn(b"/data/out/b.dat", self.receiver.delivered_paths())
        # The stream asked for SSE, with the bearer token; the channel has sluice's client-id.
        streams = [r for r in self.fake.requests if r.op == "stream"]
        self.assertEqual(streams[0].header("accept"), "text/event-stream")
        self.assertEqual(streams[0].header("authorization"), "Bearer " + TOKEN)
        self.assertEqual(self.fake.channel(self.channel()).client_id, "sluice/dc")
        # A deletion is delivered as removed.
        self.fake.delete("/data/in/a.dat")
        wait_until(lambda: self.file_events(REMOVED), 20, "the removal")
        self.assertEqual([e["path"] for e in self.file_events(REMOVED)], [b"/data/in/a.dat"])
        self.assertEqual(s.metric("sluice_source_connected", source="dc"), 1)

    def test_cut_streams_lose_and_repeat_nothing(self):
        s = self.start()
        # Once an event id was read, every reconnect resumes with Last-Event-ID.
        self.fake.write("/data/in/first.dat", b"1")
        self.wait_for(["/data/in/first.dat"])
        paths = []
        for i, how in enumerate(["reset", "eof", "end", "reset", "eof", "end"]):
            self.fake.write(f"/data/in/f{i}.dat", b"x" * (i + 1))
            paths.append(f"/data/in/f{i}.dat")
            wait_until(lambda: self.fake.open_streams() == 1, 20, "a stream")
            self.fake.cut_streams(how)
        self.wait_for(paths)
        self.sentinel()
        self.assert_once_each(paths)
        self.assert_no_duplicate_ids()
        self.assertGreaterEqual(s.metric("sluice_source_reconnects_total", source="dc"), 6)
        # Every reconnect resumed from the last id seen: nothing needed a reconciliation.
        self.assertEqual(s.metric("sluice_source_gaps_total", source="dc"), 0)
        resumed = [r for r in self.fake.requests if r.op == "stream"][1:]
        self.assertTrue(all(r.header("last-event-id") for r in resumed))

    def test_malformed_sse_is_counted_and_the_stream_goes_on(self):
        s = self.start()
        ch = self.channel()
        self.fake.send_raw(ch, b"event: inotify\nid: x1\ndata: {\"event\": oops\n\n")
        self.fake.send_raw(ch, b"event: SYSTEM\ndata: [1,2\n\n")
        self.fake.write("/data/in/after.dat", b"abc")
        self.wait_for(["/data/in/after.dat"])
        wait_until(lambda: s.metric("sluice_source_bad_events_total", source="dc") >= 2, 10,
                   "the bad events counted")
        self.assertIn("unreadable", s.log_text())
        self.sentinel()
        self.assert_once_each(["/data/in/after.dat"])
        self.assertTrue(s.alive())

    def test_moves_pair_by_cookie_in_either_order(self):
        self.start(events=["created", "removed", "moved"])
        self.fake.write("/data/in/m1.dat", b"1")
        self.fake.write("/data/in/m2.dat", b"22")
        self.wait_for(["/data/in/m1.dat", "/data/in/m2.dat"])
        self.fake.rename("/data/in/m1.dat", "/data/in/n1.dat")
        self.fake.rename("/data/in/m2.dat", "/data/in/n2.dat", to_first=True)
        self.wait_for(["/data/in/n1.dat", "/data/in/n2.dat"])
        self.sentinel()
        moved = {e["path"]: e for e in self.file_events(MOVED)}
        self.assertEqual(set(moved), {b"/data/in/n1.dat", b"/data/in/n2.dat"})
        self.assertEqual(moved[b"/data/in/n2.dat"]["data"]["size"], 2)
        self.assertEqual(self.file_events(REMOVED), [])
        self.assert_once_each(["/data/in/m1.dat", "/data/in/m2.dat"])

    def test_recursive_lists_new_directories(self):
        # Files written into a new directory before sluice could subscribe to it are found by
        # listing it right after the subscription exists.
        s = self.start(recursive=True)
        self.fake.mkdir("/data/in/sub")
        self.fake.write("/data/in/sub/early.dat", b"e")
        self.wait_for(["/data/in/sub/early.dat"])
        wait_until(lambda: len(self.fake.subscription_urls(self.channel())) == 2, 10,
                   "a subscription on the new directory")
        self.fake.write("/data/in/sub/late.dat", b"l")
        self.fake.mkdir("/data/in/sub/deeper")
        self.fake.write("/data/in/sub/deeper/d.dat", b"d")
        self.wait_for(["/data/in/sub/late.dat", "/data/in/sub/deeper/d.dat"])
        self.sentinel()
        self.assert_once_each(["/data/in/sub/early.dat", "/data/in/sub/late.dat",
                               "/data/in/sub/deeper/d.dat"])
        self.assertTrue(any(r.op == "namespace" and "children=true" in r.raw_query
                            and r.raw_path.endswith("/data/in/sub") for r in self.fake.requests))
        self.assertGreaterEqual(s.metric("sluice_source_reconciliations_total", source="dc"), 1)

    def test_a_rotated_token_is_used_for_the_next_request(self):
        s = self.start()
        self.token_file.write_text("tok-2\n")
        self.fake.tokens.pop(TOKEN)
        self.fake.cut_streams()
        # Written while disconnected, before sluice ever read an event id: dCache replays
        # nothing to a stream without Last-Event-ID, so sluice lists the tree after it.
        self.fake.write("/data/in/new-token.dat", b"abc")
        self.wait_for(["/data/in/new-token.dat"])
        self.assertGreaterEqual(s.metric("sluice_source_reconciliations_total", source="dc"), 2)
        self.assertTrue(any(r.header("authorization") == "Bearer tok-2"
                            for r in self.fake.requests if r.op == "stream"))


class GapTest(DcacheTestCase):
    def test_channel_expired_while_down_is_reconciled(self):
        s = self.start()
        self.fake.write("/data/in/before.dat", b"b")
        self.fake.write("/data/in/doomed.dat", b"d")
        self.wait_for(["/data/in/before.dat", "/data/in/doomed.dat"])
        s.kill()
        old = self.channel()
        self.fake.write("/data/in/while-down.dat", b"w")
        self.fake.delete("/data/in/doomed.dat")
        self.fake.expire_channel(old)
        s.start()
        self.wait_for(["/data/in/while-down.dat"])
        wait_until(lambda: self.file_events(REMOVED), 20, "the removal found by listing")
        self.sentinel()
        self.assert_once_each(["/data/in/before.dat", "/data/in/while-down.dat"])
        self.assertEqual([e["path"] for e in self.file_events(REMOVED)], [b"/data/in/doomed.dat"])
        self.assertNotEqual(self.channel(), old)
        self.assertGreaterEqual(s.metric("sluice_source_gaps_total", source="dc"), 1)
        self.assertEqual(s.metric("sluice_source_reconciliation_found_total", source="dc",
                                  kind="created"), 1)
        gaps = [e for e in self.receiver.events() if e["type"] == GAP]
        self.assertTrue(gaps and "gone" in gaps[0]["data"]["note"], gaps)

    def test_restart_resumes_from_the_last_event_id(self):
        s = self.start()
        self.fake.write("/data/in/one.dat", b"1")
        self.wait_for(["/data/in/one.dat"])
        s.kill()
        ch = self.channel()
        for i in range(3):
            self.fake.write(f"/data/in/down{i}.dat", b"d")
        s.start()
        paths = [f"/data/in/down{i}.dat" for i in range(3)]
        self.wait_for(paths)
        self.sentinel()
        self.assert_once_each(["/data/in/one.dat"] + paths)
        self.assertEqual(self.channel(), ch)  # the same channel, buffered meanwhile
        self.assertEqual(s.metric("sluice_source_gaps_total", source="dc"), 0)

    def test_event_loss_is_reconciled(self):
        s = self.start()
        self.fake.write("/data/in/seen.dat", b"s")
        self.wait_for(["/data/in/seen.dat"])
        s.kill()
        ch = self.channel()
        for i in range(3):
            self.fake.write(f"/data/in/lost{i}.dat", b"l")
        self.fake.force_event_loss(ch)
        s.start()
        paths = [f"/data/in/lost{i}.dat" for i in range(3)]
        self.wait_for(paths)
        self.sentinel()
        self.assert_once_each(["/data/in/seen.dat"] + paths)
        self.assertGreaterEqual(s.metric("sluice_source_gaps_total", source="dc"), 1)
        self.assertIn("EVENT_LOSS", s.log_text())

    def test_queue_overflow_is_reconciled(self):
        s = self.start()
        self.fake.write("/data/in/x.dat", b"x")
        self.wait_for(["/data/in/x.dat"])
        self.fake.queue_overflow()
        wait_until(lambda: s.metric("sluice_source_gaps_total", source="dc") >= 1, 10, "the gap")
        self.sentinel()
        self.assert_once_each(["/data/in/x.dat"])
        self.assertIn("IN_Q_OVERFLOW", s.log_text())
        self.assert_no_duplicate_ids()

    def test_a_competing_client_makes_sluice_leave_the_channel(self):
        s = self.start()
        self.fake.write("/data/in/mine.dat", b"m")
        self.wait_for(["/data/in/mine.dat"])
        old = self.channel()
        thief = self.fake.client().stream(old)  # the same user opens sluice's channel
        self.addCleanup(thief.close)
        wait_until(lambda: len(self.fake.channel_urls()) == 2, 20, "a channel of sluice's own")
        self.assertIn("COMPETING_CLIENT", s.log_text())
        self.fake.write("/data/in/after.dat", b"a")
        self.wait_for(["/data/in/after.dat"])
        self.sentinel()
        self.assert_once_each(["/data/in/mine.dat", "/data/in/after.dat"])
        self.assertGreaterEqual(s.metric("sluice_source_gaps_total", source="dc"), 1)
        self.assertTrue(self.fake.connected(old))  # left to the other client
        self.assert_no_duplicate_ids()

    def test_a_crash_between_events_loses_nothing(self):
        s = self.start()
        paths = []
        for round_ in range(3):
            for i in range(5):
                p = f"/data/in/r{round_}-{i}.dat"
                self.fake.write(p, b"z" * i)
                paths.append(p)
            s.kill()
            s.start()
        self.wait_for(paths)
        self.sentinel()
        self.assert_once_each(paths)


class AuthTest(DcacheTestCase):
    def test_a_wrong_token_is_a_clear_error_not_a_crash(self):
        self.token_file.write_text("wrong\n")
        cfg, port = self.dc_config()
        s = self.sluice(cfg, port).start()

        def named():
            status, body = s.get("/readyz")
            return status == 503 and "401" in body and "dc" in body
        wait_until(named, 20, "/readyz naming the 401")
        self.assertTrue(s.alive())
        self.assertNotIn("wrong", s.log_text())

    def test_basic_auth_with_a_password_file(self):
        pw = self.tmp / "dcache.pw"
        pw.write_text("pw\n")
        self.start(auth={"username": "alice", "password_file": str(pw)})
        self.fake.write("/data/in/basic.dat", b"b")
        self.wait_for(["/data/in/basic.dat"])
        self.assertTrue(all((r.header("authorization") or "").startswith("Basic ")
                            for r in self.fake.requests if r.service == "api"))


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@unittest.skipUnless(shutil.which("openssl"), "no openssl to make test certificates")
class TlsTest(DcacheTestCase):
    """HTTPS with verification on: the frontend's certificate checked against `ca_file`, and
    sluice logging in with an X.509 client certificate (a grid user's, signed by a site CA)."""

    def setUp(self):
        self.pki = Path(tempfile.mkdtemp(prefix="sluice-pki-"))
        self.addCleanup(shutil.rmtree, self.pki)
        d = self.pki
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
                "-out", "server.pem", "-days", "1", "-subj", "/CN=127.0.0.1",
                "-addext", "subjectAltName=IP:127.0.0.1", cwd=d)
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
                "-out", "ca.pem", "-days", "1", "-subj", "/CN=Test Site CA", cwd=d)
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "user.key", "-out",
                "user.csr", "-subj", "/O=Grid/CN=alice-robot", cwd=d)
        openssl("x509", "-req", "-in", "user.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", "user.pem", "-days", "1", cwd=d)
        for f in d.glob("*.key"):
            f.chmod(0o600)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(d / "server.pem", d / "server.key")
        ctx.load_verify_locations(d / "ca.pem")
        ctx.verify_mode = ssl.CERT_OPTIONAL
        self.fake_kw = {"ssl_context": ctx, "cert_users": {"alice-robot": "alice"}}
        super().setUp()

    def test_a_client_certificate_logs_in_over_verified_tls(self):
        d = self.pki
        s = self.start(auth={"cert": str(d / "user.pem"), "key": str(d / "user.key")},
                       ca_file=str(d / "server.pem"),
                       webdav_url=self.fake.webdav_url)
        self.assertTrue(self.fake.api_url.startswith("https://"))
        self.fake.write("/data/in/tls.dat", b"t")
        self.wait_for(["/data/in/tls.dat"])
        api = [r for r in self.fake.requests if r.service == "api"]
        self.assertTrue(api and all(r.user == "alice" for r in api), api)
        self.assertTrue(all(r.header("authorization") is None for r in api))
        self.assertIn("client certificate", s.log_text())

    def test_an_unverifiable_frontend_is_refused(self):
        d = self.pki
        cfg, port = self.dc_config(auth={"cert": str(d / "user.pem"), "key": str(d / "user.key")})
        s = self.sluice(cfg, port).start()

        def refused():
            status, body = s.get("/readyz")
            return status == 503 and "certificate" in body.lower()
        wait_until(refused, 20, "/readyz naming the certificate problem")
        self.assertFalse([r for r in self.fake.requests if r.service == "api"])


class OnceTest(DcacheTestCase):
    def test_sluice_once_delivers_what_was_written(self):
        cfg, port = self.dc_config()
        s = self.sluice(cfg, port)
        for i in range(3):
            self.fake.write(f"/data/in/o{i}.dat", b"abc")
        r = s.once()
        self.assertEqual(r.returncode, 0, r.stderr)
        paths = [f"/data/in/o{i}.dat" for i in range(3)]
        self.wait_for(paths)
        # Written between runs: buffered by dCache for the channel, read by the next run.
        self.fake.write("/data/in/between.dat", b"b")
        r = s.once()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.wait_for(["/data/in/between.dat"])
        r = s.once()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_once_each(paths + ["/data/in/between.dat"])
        self.assertEqual(len(self.fake.channel_urls()), 1)

    def test_sluice_once_fails_when_dcache_is_unreachable(self):
        cfg, port = self.dc_config(url="http://127.0.0.1:1/api/v1")
        r = self.sluice(cfg, port).once(timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("dc", r.stderr + r.stdout)


if __name__ == "__main__":
    unittest.main()
