"""End to end: a local (inotify) source delivered to a webhook receiver on 127.0.0.1.

Run: SLUICE_BIN=build/sluice python3 -m unittest discover -v -s tests/integration -p 'test_*.py'
"""
import base64
import json
import os
import shutil
import subprocess
import unittest
from pathlib import Path

from harness import SluiceTestCase, metric, wait_until, write_file, write_renamed

# The Standard Webhooks reference library, installed by `scripts/install-deps.sh test`.
VERIFY_DIR = Path(__file__).resolve().parent / "webhook_verify"
# Two 32-byte keys in the spec's form (the test's own, not secrets).
WHSEC = "whsec_" + base64.b64encode(bytes(range(32))).decode()
WRONG_WHSEC = "whsec_" + base64.b64encode(bytes(range(100, 132))).decode()


def verify_with_library(secret, headers, body):
    """(exit status, stderr) of webhook_verify/verify.js for one captured request."""
    node = shutil.which("node") or shutil.which("nodejs")
    if not node or not (VERIFY_DIR / "node_modules" / "standardwebhooks").is_dir():
        raise AssertionError("the Standard Webhooks verifier is not installed: run "
                             "scripts/install-deps.sh test (node + npm ci in "
                             f"{VERIFY_DIR})")
    request = {"secret": secret, "id": headers.get("webhook-id"),
               "timestamp": headers.get("webhook-timestamp"),
               "signature": headers.get("webhook-signature"),
               "body_b64": base64.b64encode(body).decode()}
    r = subprocess.run([node, str(VERIFY_DIR / "verify.js")], input=json.dumps(request),
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stderr


def deep_dir(root, total=4000, name_len=255):
    """Creates nested 200-byte directories under root so that root/.../<name_len bytes> is
    about `total` bytes long; returns the deepest directory."""
    d = os.fsencode(root)
    while len(d) + 201 + 1 + name_len <= total:
        d = d + b"/" + b"d" * 200
        os.mkdir(d)
    return d


class DeliveryTest(SluiceTestCase):
    def test_created_files_are_delivered_as_cloudevents(self):
        s = self.sluice().start()
        a = write_file(self.path("a.txt"), b"hello")
        b = write_renamed(self.path("b.dat"), b"x" * 1000)
        self.wait_delivered([a, b])
        self.wait_quiet(s, 2)
        self.assertEqual(len(self.receiver.accepted), 2, "one delivery per file")
        events = {ev["path"]: ev for ev in self.receiver.events()}
        for path, size in ((a, 5), (b, 1000)):
            ev = events[os.fsencode(path)]
            body = ev["body"]
            self.assertEqual(body["type"], "sluice.object.created")
            self.assertEqual(body["subject"], path)
            self.assertEqual(body["data"]["path"], path)
            self.assertEqual(body["data"]["size"], size)
            self.assertEqual(body["data"]["storage"], "local")
            self.assertTrue(body["source"].startswith("file://"), body["source"])
            self.assertEqual(body["specversion"], "1.0")
        ids = {ev["id"] for ev in events.values()}
        self.assertEqual(len(ids), 2)

    def test_new_subdirectories_and_ignored_files(self):
        s = self.sluice().start()
        write_file(self.path("scratch.tmp"))  # ignored by "*.tmp"
        os.mkdir(self.path("new"))
        f1 = write_file(self.path("new", "f1"), b"1")
        os.makedirs(self.path("new", "deeper", "deepest"))
        f2 = write_renamed(self.path("new", "deeper", "deepest", "f2"), b"22")
        self.wait_delivered([f1, f2])
        self.wait_quiet(s, 2)
        paths = set(self.receiver.delivered_paths())
        self.assertEqual(paths, {os.fsencode(f1), os.fsencode(f2)})
        last = {ev["path"]: ev["body"]["data"]["size"] for ev in self.receiver.events()}
        self.assertEqual(last, {os.fsencode(f1): 1, os.fsencode(f2): 2})

    def test_file_still_open_for_writing_in_a_new_directory_is_not_announced(self):
        s = self.sluice().start()
        outside = self.tmp / "staging"
        outside.mkdir()
        fd = os.open(outside / "big.h5", os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            os.write(fd, b"first half ")
            os.rename(outside, self.path("job"))  # the new directory's scan finds big.h5 open
            os.mkdir(self.path("job2"))  # processed after job/'s scan: a barrier
            sentinel = write_renamed(self.path("job2", "sentinel"), b"s")
            self.wait_delivered([sentinel])
            self.wait_quiet(s, 1)
            early = [ev["body"]["data"] for ev in self.receiver.events()
                     if ev["path"].endswith(b"big.h5")]
            self.assertEqual(early, [], "a file still open for writing was announced as created "
                                        "by the new-directory scan (a receiver gets a partial file)")
            os.write(fd, b"second half")
        finally:
            os.close(fd)
        big = self.path("job", "big.h5")
        self.wait_delivered([big])
        sizes = [ev["body"]["data"]["size"] for ev in self.receiver.events()
                 if ev["path"] == os.fsencode(big)]
        self.assertEqual(sizes, [22])

    def test_hostile_names(self):
        s = self.sluice().start()
        newline = write_file(self.path("line\nbreak.txt"), b"nl")
        bad = write_file(os.fsencode(self.inbox) + b"/bad-\xff\xfe-\xc3(.bin", b"bytes")
        deep = deep_dir(self.inbox)
        long_name = deep + b"/" + b"L" * 251 + b".dat"
        write_file(long_name, b"long")
        self.assertGreater(len(long_name), 3800)
        self.wait_delivered([newline, bad, long_name])
        events = {ev["path"]: ev for ev in self.receiver.events()}
        nl = events[os.fsencode(newline)]["body"]["data"]
        self.assertEqual(nl["path"], newline)
        self.assertNotIn("path_b64", nl)
        b = events[bad]["body"]
        self.assertEqual(base64.b64decode(b["data"]["path_b64"]), bad)
        self.assertIn("\ufffd", b["data"]["path"])
        self.assertIn("\ufffd", b["subject"])
        self.assertEqual(events[long_name]["body"]["data"]["size"], 4)
        self.wait_quiet(s, 3)


class FailureTest(SluiceTestCase):
    def assert_retried_not_dead(self, s):
        m = s.metrics()
        self.assertGreater(metric(m, "sluice_deliveries_retried_total", sink="hook"), 0)
        self.assertEqual(metric(m, "sluice_deliveries_dead_total", sink="hook"), 0)
        self.assertEqual(metric(m, "sluice_queue_dead", sink="hook"), 0)

    def test_500_for_the_first_requests_then_recovery(self):
        self.receiver.fail(500, count=6)
        s = self.sluice().start()
        files = [write_file(self.path(f"f{i}"), b"%d" % i) for i in range(4)]
        self.wait_delivered(files)
        self.wait_quiet(s, 4)
        self.assert_retried_not_dead(s)

    def test_500_for_a_time_window_then_recovery(self):
        self.receiver.fail(500, seconds=1.5)
        s = self.sluice().start()
        files = [write_renamed(self.path(f"w{i}"), b"w") for i in range(3)]
        self.wait_delivered(files)
        self.wait_quiet(s, 3)
        self.assert_retried_not_dead(s)

    def test_dropped_connections_and_slow_answers_are_retried(self):
        self.receiver.drop(count=3)
        self.receiver.set_delay(4, count=1)  # longer than the sink's 1s timeout
        s = self.sluice(sink={"timeout": "1s"}).start()
        files = [write_file(self.path(f"d{i}"), b"d") for i in range(3)]
        self.wait_delivered(files)
        self.wait_quiet(s, 3)
        self.assertEqual(s.metric("sluice_deliveries_dead_total", sink="hook"), 0)

    def test_503_retry_after_is_honoured(self):
        self.receiver.fail(503, count=1, retry_after=2)
        # backoff 100ms: only Retry-After can explain a 2s wait (it is capped at backoff.max)
        s = self.sluice(delivery={"backoff": {"initial": "100ms", "max": "5s"}}).start()
        f = write_file(self.path("later"), b"x")
        self.wait_delivered([f])
        reqs = self.receiver.snapshot()
        self.assertEqual([r.status for r in reqs[:2]], [503, 200])
        self.assertEqual(reqs[0].headers["x-sluice-event-id"], reqs[1].headers["x-sluice-event-id"])
        waited = reqs[1].time - reqs[0].time
        self.assertGreaterEqual(waited, 1.99, "the retry came before Retry-After: 2")
        self.assertLess(waited, 15)
        self.wait_quiet(s, 1)

    def test_retry_after_beyond_backoff_max_is_capped(self):
        self.receiver.fail(503, count=1, retry_after=3600)  # an hour: before, it waited an hour
        s = self.sluice().start()  # backoff.max 500ms
        f = write_file(self.path("capped"), b"x")
        self.wait_delivered([f], timeout=15)
        self.assertIn("retry in", s.log_text())

    def test_400_is_dead_lettered_and_replayed_with_the_same_id(self):
        self.receiver.fail(400, body=b"schema mismatch")
        s = self.sluice().start()
        f = write_file(self.path("rejected.json"), b"{}")
        wait_until(lambda: s.metric("sluice_deliveries_dead_total", sink="hook") == 1, 30,
                   "the delivery to be dead-lettered")
        self.assertEqual(len(self.receiver.requests), 1, "a 400 must not be retried")
        first_id = self.receiver.requests[0].headers["x-sluice-event-id"]
        dead = s.queue_json("dead")
        self.assertEqual(len(dead), 1, dead)
        self.assertEqual(dead[0]["event_id"], first_id)
        self.assertEqual(dead[0]["subject"], f)
        self.assertIn("400", dead[0]["error"])
        self.assertIn("schema mismatch", dead[0]["error"])
        text = s.queue("dead")
        self.assertIn("schema mismatch", text.stdout)
        self.receiver.clear_faults()
        r = s.queue("replay", "--all")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("replayed 1 delivery", r.stdout)
        # The running daemon must pick the replay up (and survive the CLI's write).
        self.receiver.wait_until(lambda: self.receiver.accepted or not s.alive(), 45)
        self.assertTrue(s.alive(), "sluice exited after `sluice queue replay`:\n" + s.log_tail(5))
        self.assertTrue(self.receiver.accepted,
                        "the running daemon did not deliver the replayed delivery within 45s")
        self.assertEqual(self.receiver.events()[0]["id"], first_id, "event ids are stable")
        self.wait_quiet(s, 1)
        self.assertEqual(s.queue_json("stats")["sinks"]["hook"]["dead"], 0)


class RestartTest(SluiceTestCase):
    def test_restart_keeps_pending_and_reconciles_files_created_while_down(self):
        s = self.sluice().start()
        before = [write_file(self.path(f"before{i}"), b"b") for i in range(2)]
        self.wait_delivered(before)
        self.wait_quiet(s, 2)

        self.receiver.fail(503)
        failing = [write_file(self.path(f"failing{i}"), b"f") for i in range(2)]
        ids_seen = lambda: len({r.headers.get("x-sluice-event-id")  # noqa: E731
                                for r in self.receiver.requests if r.status == 503}) >= 2
        self.assertTrue(self.receiver.wait_until(ids_seen, 30), "both were attempted")
        self.assertEqual(s.stop(), 0)
        self.assertEqual(s.pending(), 2)

        os.mkdir(self.path("sub"))
        down = [write_file(self.path("while-down"), b"w"),
                write_renamed(self.path("sub", "renamed-while-down"), b"r")]
        self.receiver.clear_faults()
        s.start()
        self.wait_delivered(failing + down)
        self.wait_quiet(s, 2)
        counts = self.receiver.delivered_paths()
        for p in before + down:
            self.assertEqual(counts[os.fsencode(p)], 1, f"{p} delivered {counts[os.fsencode(p)]}x")
        self.assertEqual(s.pending(), 0)

    def test_sigterm_releases_a_hanging_delivery(self):
        self.receiver.set_delay(120)
        s = self.sluice(delivery={"timeout": "3s"}).start()
        f = write_file(self.path("slow"), b"s")
        self.assertTrue(self.receiver.wait_until(lambda: self.receiver.inflight > 0, 30))
        self.assertEqual(s.stop(timeout=30), 0)
        self.assertEqual(s.pending(), 1, "the aborted delivery is pending again")
        self.receiver.clear_faults()
        s.start()
        self.wait_delivered([f])
        self.wait_quiet(s, 0)


class OnceTest(SluiceTestCase):
    def once(self, s, expect):
        r = s.once()
        self.assertEqual(r.returncode, expect,
                         f"{r.stderr}receiver got {len(self.receiver.requests)} requests; "
                         f"queue:\n{s.queue('list', '--state', 'any').stdout}")
        return r

    def test_once_with_the_receiver_up_delivers_and_exits_0(self):
        s = self.sluice()
        self.once(s, 0)  # nothing to do
        files = [write_file(self.path(f"o{i}"), b"o") for i in range(3)]
        r = self.once(s, 0)
        self.wait_delivered(files, timeout=5)
        self.assertEqual(len(self.receiver.accepted), 3)
        self.assertEqual(s.pending(), 0)
        self.assertRegex(r.stdout, r"^sluice once: 3 delivered, 0 retried, 0 dead-lettered in this "
                                   r"run \([0-9.]+ s(, \d+/s)?\); 0 deliveries still pending, 0 dead\n$")

    def test_once_exits_1_while_dead_letters_wait(self):
        self.receiver.fail(400)  # permanent: dead at the first attempt
        s = self.sluice()
        write_file(self.path("refused"), b"r")
        r = self.once(s, 1)
        self.assertIn("0 delivered, 0 retried, 1 dead-lettered in this run", r.stderr)
        self.assertIn("0 deliveries still pending, 1 dead", r.stderr)
        self.receiver.clear_faults()
        self.once(s, 1)  # still there: an operator replays or purges it
        s.queue("replay", "--all")
        r = self.once(s, 0)
        self.assertIn("1 delivered", r.stdout)

    def test_once_with_the_receiver_down_exits_1_and_reports_pending(self):
        self.receiver.stop()  # nothing listens any more
        s = self.sluice()
        files = [write_file(self.path(f"later{i}"), b"l") for i in range(2)]
        r = self.once(s, 1)
        self.assertIn("2 deliveries still pending", r.stderr)
        rows = s.queue_json("list", "--state", "any")
        self.assertEqual(sorted(row["subject"] for row in rows), sorted(files))
        for row in rows:
            self.assertEqual(row["state"], "pending")
            self.assertGreaterEqual(row["attempts"], 1, "once must have tried each delivery")


class FormatAndAuthTest(SluiceTestCase):
    def two_sinks(self, good, bad):
        cfg, port = self.config()
        base = cfg["sinks"][0]
        cfg["sinks"] = [{**base, "name": "good", **good}, {**base, "name": "bad", **bad}]
        cfg["routes"][0]["to"] = ["good", "bad"]
        return self.sluice(cfg, port)

    def test_cloudevents_binary(self):
        self.receiver.set_format("cloudevents-binary")
        s = self.sluice(sink={"format": "cloudevents-binary"}).start()
        f = write_file(self.path("bin file.txt"), b"abc")
        self.wait_delivered([f])
        req = self.receiver.accepted[0]
        h = req.headers
        self.assertEqual(h["ce-specversion"], "1.0")
        self.assertEqual(h["ce-type"], "sluice.object.created")
        self.assertEqual(h["ce-id"], h["x-sluice-event-id"])
        self.assertTrue(h["ce-source"].startswith("file://"))
        self.assertEqual(h["ce-subject"], f.replace(" ", "%20"))
        self.assertTrue(h["content-type"].startswith("application/json"))
        data = self.receiver.events()[0]["body"]
        self.assertEqual((data["path"], data["size"], data["storage"]), (f, 3, "local"))
        self.wait_quiet(s, 1)

    def test_native(self):
        self.receiver.set_format("native")
        s = self.sluice(sink={"format": "native"}).start()
        write_file(self.path("n.txt"), b"n")
        self.assertTrue(self.receiver.wait_until(lambda: self.receiver.accepted, 30))
        req = self.receiver.accepted[0]
        self.assertTrue(req.headers.get("x-sluice-event-id"))
        body = self.receiver.events()[0]["body"]
        self.assertEqual(body["name"], "n.txt")
        self.assertIn("IN_CLOSE_WRITE", body["mask"])
        self.wait_quiet(s, 1)

    def test_bearer_token(self):
        token_file = self.tmp / "token"
        token_file.write_text("right-token\n")
        self.receiver.require_bearer("right-token")
        s = self.two_sinks({"auth": {"bearer_file": str(token_file)}},
                           {"auth": {"bearer": "wrong-token"}}).start()
        f = write_file(self.path("secret.txt"), b"s")
        self.wait_delivered([f])
        wait_until(lambda: s.metric("sluice_deliveries_dead_total", sink="bad") == 1, 30,
                   "the wrong token's delivery to be dead (401 is permanent)")
        dead = s.queue_json("dead", "--sink", "bad")
        self.assertEqual(len(dead), 1)
        self.assertIn("401", dead[0]["error"])
        self.assertEqual(dead[0]["attempts"], 1, "401 must not be retried")
        wait_until(lambda: s.metric("sluice_deliveries_done_total", sink="good") == 1, 30,
                   "the right token's delivery to be done")

    def secret_file(self, name, secret):
        f = self.tmp / name
        f.write_text(secret + "\n")
        f.chmod(0o600)
        return str(f)

    def test_hmac_signature(self):
        self.receiver.require_hmac(WHSEC)
        s = self.two_sinks({"auth": {"hmac_secret_file": self.secret_file("good.key", WHSEC)}},
                           {"auth": {"hmac_secret": WRONG_WHSEC}}).start()
        f = write_file(self.path("signed.txt"), b"sig")
        self.wait_delivered([f])
        h = self.receiver.accepted[0].headers
        self.assertEqual(h["webhook-id"], h["x-sluice-event-id"])
        self.assertTrue(h["webhook-signature"].startswith("v1,"), h["webhook-signature"])
        wait_until(lambda: s.metric("sluice_deliveries_dead_total", sink="bad") == 1, 30,
                   "the wrong key's signature to be rejected")
        self.assertEqual(len(self.receiver.accepted), 1)

    def test_signature_verifies_with_the_standard_webhooks_library(self):
        self.receiver.set_format("cloudevents-binary")
        s = self.sluice(sink={"format": "cloudevents-binary",
                              "auth": {"hmac_secret_file": self.secret_file("k", WHSEC)}}).start()
        f = write_file(self.path("verify me.txt"), b"payload")
        self.wait_delivered([f])
        req = self.receiver.accepted[0]
        h = dict(req.headers)
        rc, err = verify_with_library(WHSEC, h, req.body)
        self.assertEqual(rc, 0, f"the reference library rejects sluice's signature: {err}")

        # What a signature must protect: each change makes the reference library reject it.
        tampered = {
            # (the name's blank is a \u0020 escape in the body: see config/README.md, formats)
            "body": (h, req.body.replace(b"verify", b"verifY")),
            "id": ({**h, "webhook-id": h["webhook-id"] + "0"}, req.body),
            "timestamp": ({**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) - 1)},
                          req.body),
        }
        self.assertNotEqual(tampered["body"][1], req.body, "the body names the file")
        for what, (headers, body) in tampered.items():
            rc, err = verify_with_library(WHSEC, headers, body)
            self.assertEqual(rc, 1, f"a tampered {what} was accepted (or the verifier failed: {err})")
        rc, err = verify_with_library(WRONG_WHSEC, h, req.body)
        self.assertEqual(rc, 1, f"another key verified the signature: {err}")
        self.wait_quiet(s, 1)


if __name__ == "__main__":
    unittest.main()
