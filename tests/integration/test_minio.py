"""End to end: the `type: minio` source against the fake MinIO (fake_s3.FakeS3, minio=True),
delivered to a webhook receiver on 127.0.0.1.

    cd tests/integration && SLUICE_BIN=../../build/sluice python3 -m unittest -v test_minio

Listen mode follows ListenBucketNotification (`ping: 1s`: the stream counts as open once the
fake's first `{"Records":null}` arrives) and reconciles the bucket with ListObjectsV2 on start,
after every reconnect and in `sluice once`; push mode takes MinIO webhook-target bodies on
`POST /ingest/m`. Every test asserts exact outcomes: each object delivered exactly once (by key,
by event id), and nothing more. No test sleeps blindly: a "nothing more" check ends with a
sentinel object delivered through the same path after everything else was committed.
"""
import base64
import hashlib
import os
import subprocess
import unittest
from concurrent.futures import ThreadPoolExecutor

from harness import SLUICE_BIN, SluiceTestCase, deadline, wait_until
from bucket_checks import CREATED, REMOVED, TOKEN, BucketChecks
from fake_s3 import FakeS3
from aws_sigv4 import error_code
from push_senders import go_query_escape, minio_webhook_body, post

ACCESS_KEY = "AKMINIOTEST"
SECRET_KEY = "minio-secret/key+1"
BUCKET = "images"

# Keys a MinIO accepts that break naive code: a space and '+' (form decoding), non-ASCII, a
# literal "%25" (double decoding), a newline (line framing), '?#&=' (query strings), XML/JSON
# specials, and an escaped slash.
HOSTILE_KEYS = [b"plain.txt", b"a b+c", "ünï/çødé ✓".encode(), b"100%25", b"new\nline",
                b"q?x#y&z=1", b"&<>\"'", b"dir/%2F/x y", b"tab\tkey"]


class MinioTestCase(BucketChecks, SluiceTestCase):
    bucket, secret_key, source = BUCKET, SECRET_KEY, "m"
    # /readyz is 200 only after the start-up reconciliation, which (listen mode) runs once the
    # stream is open: from here on every change reaches sluice by the stream.
    readiness = "sluice /readyz (stream open, bucket reconciled)"

    def setUp(self):
        super().setUp()
        self.setup_bucket(FakeS3(credentials={ACCESS_KEY: SECRET_KEY}, minio=True).start(),
                          "minio.secret")

    # -- config and daemon ---------------------------------------------------------------------
    def minio_config(self, mode="listen", credentials=True, token=True, **source):
        cfg, port = self.config()
        src = {"name": "m", "type": "minio", "endpoint": self.fake.url, "bucket": BUCKET,
               "prefix": "", "mode": mode, "region": "us-east-1", "ping": "1s",
               "push_quiet": "1s"}
        if credentials:
            src.update(access_key=ACCESS_KEY, secret_key_file=str(self.secret_file))
        src.update(source)
        cfg["sources"] = [src]
        cfg["routes"] = [{"from": ["m"], "to": ["hook"]}]
        if mode == "push" and token:
            cfg["http"]["ingress_token_file"] = str(self.token_file)
        return cfg, port

    def start(self, **kw):
        cfg, port = self.minio_config(**kw)
        s = self.sluice(cfg, port).start()
        self.wait_ready(s)
        return s

    def ingest_url(self, port):
        return f"http://127.0.0.1:{port}/ingest/m"

    def settle_by_stream(self, s, committed, key=None):
        """Puts a sentinel object and waits until it came through the listen stream and
        `committed` events (the sentinel included) are stored and delivered. Work in the
        source is committed in order, so whatever sluice had before the sentinel is done."""
        self.sentinels += 1
        key = self.put(key or b"zz-sentinel-%d" % self.sentinels)
        self.wait_keys([key])
        self.wait_quiet(s, committed)
        return key

    def events_by_key(self):
        return {k: ev for _, k, _, ev in self.deliveries()}

    def listen_requests(self):
        with self.fake._cond:
            return [r for r in self.fake.requests
                    if r.method == "GET" and "events=" in r.raw_query]

    def list_requests(self):
        with self.fake._cond:
            return [r for r in self.fake.requests if r.op == "ListObjectsV2"]


class ListenTest(MinioTestCase):
    def test_live_objects_with_hostile_keys_are_delivered_once(self):
        s = self.start()
        self.assertEqual(self.fake.listen_streams(), 1)
        keys = [self.put(k) for k in HOSTILE_KEYS]
        # MinIO refuses keys that are not UTF-8 (and so does the fake): nothing to deliver.
        self.assertEqual(error_code(self.s3.put_object(BUCKET, b"\xff\xfe", b"x")),
                         "XMinioInvalidObjectName")
        self.wait_keys(keys)
        sentinel = self.settle_by_stream(s, len(keys) + 1)
        self.assert_exactly({(CREATED, k) for k in keys + [sentinel]}, s, len(keys) + 1)
        events = self.events_by_key()
        for k in keys:
            data = events[k]["data"]
            body = b"body of " + k
            with self.subTest(key=k):
                self.assertEqual(data["bucket"], BUCKET)
                self.assertEqual(data["size"], len(body))
                self.assertEqual(data["etag"], hashlib.md5(body).hexdigest())
                self.assertEqual(data["storage"], "minio")
                self.assertEqual(data["connector"], "m")
                self.assertNotIn("key_b64", data, "every key here is UTF-8")
                self.assertEqual(data["path"].encode(), b"/" + BUCKET.encode() + b"/" + k)
                self.assertNotIn("note", data, "a live object must come from the stream, "
                                               "not from a listing")
        self.assertEqual(events[b"new\nline"]["data"]["key"], "new\nline")
        self.assertEqual(len(self.listen_requests()), 1, "the stream was never reconnected")
        self.assertEqual(s.stop(), 0)

    def test_objects_from_before_the_start_are_delivered_once_and_not_again_after_restart(self):
        # The same hostile keys once through the start-up listing and once through the stream:
        # after a restart the listing must agree with both (same key bytes, same version).
        before = [self.put(b"old/" + k) for k in HOSTILE_KEYS]
        cfg, port = self.minio_config()
        s = self.sluice(cfg, port).start()
        self.wait_ready(s)
        self.wait_keys(before)
        for k in before:
            note = self.events_by_key()[k]["data"].get("note", "")
            self.assertIn("start-up", note, f"{k!r} should come from the start-up listing")
        live = [self.put(b"live/" + k) for k in HOSTILE_KEYS]
        self.wait_keys(live)
        n = len(before) + len(live) + 1
        first = self.settle_by_stream(s, n)
        self.assert_exactly({(CREATED, k) for k in before + live + [first]}, s, n)
        self.assertEqual(s.stop(), 0)

        while_down = self.put(b"new/while down")
        s.start()
        self.wait_ready(s)
        self.wait_keys([while_down])
        second = self.settle_by_stream(s, 2)  # this run: while_down and the sentinel only
        self.assert_exactly({(CREATED, k) for k in before + live + [first, while_down, second]},
                            s, 2)
        self.assertEqual(s.stop(), 0)

    def test_an_overwrite_is_a_new_version_delivered_once(self):
        s = self.start()
        key = self.put(b"report.csv", b"version 1")
        self.wait_keys([key])
        self.put(key, b"version 2, longer")
        etags = {hashlib.md5(b"version 1").hexdigest(),
                 hashlib.md5(b"version 2, longer").hexdigest()}
        self.assertTrue(self.receiver.wait_until(
            lambda: {ev["data"]["etag"] for _, _, _, ev in self.deliveries()} >= etags,
            deadline(30)), "the second version was not delivered")
        first = self.settle_by_stream(s, 3)
        self.assertEqual(s.stop(), 0)
        s.start()  # the listing finds version 2, which was delivered: nothing again
        self.wait_ready(s)
        second = self.settle_by_stream(s, 1)
        got = sorted((k, ev["data"]["etag"], ev["data"]["size"])
                     for _, k, _, ev in self.deliveries())
        self.assertEqual(got, sorted([
            (key, hashlib.md5(b"version 1").hexdigest(), 9),
            (key, hashlib.md5(b"version 2, longer").hexdigest(), 17),
            (first, hashlib.md5(b"body of " + first).hexdigest(), len(b"body of " + first)),
            (second, hashlib.md5(b"body of " + second).hexdigest(), len(b"body of " + second))]))
        ids = [i for _, _, i, _ in self.deliveries()]
        self.assertEqual(len(set(ids)), len(ids))
        self.assertEqual(s.stop(), 0)

    def test_prefix_and_suffix_filter_stream_and_listing(self):
        out = [self.put(k) for k in (b"in/b.png", b"out/c.jpg", b"in.jpg", b"xin/d.jpg")]
        old = self.put(b"in/a.jpg")
        s = self.start(prefix="in/", suffix=".jpg")
        self.wait_keys([old])
        for k in out:
            self.put(k, b"again")  # live changes outside the filter
        live = self.put(b"in/sub/live.jpg")
        self.wait_keys([live])
        sentinel = self.settle_by_stream(s, 3, key=b"in/zz-sentinel.jpg")
        self.assert_exactly({(CREATED, old), (CREATED, live), (CREATED, sentinel)}, s, 3)
        self.assertEqual(s.stop(), 0)

    def test_start_up_listing_over_several_pages(self):
        # More keys than one ListObjectsV2 page (1000) and than one commit batch (1000).
        keys = [b"bulk/%05d" % i for i in range(1005)]
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda k: self.s3.put_object(BUCKET, k, b"b").status, keys))
        self.assertEqual(set(statuses), {200})
        s = self.start()
        self.wait_keys(keys, timeout=60)
        sentinel = self.settle_by_stream(s, len(keys) + 1)
        self.assert_exactly({(CREATED, k) for k in keys + [sentinel]}, s, len(keys) + 1)
        self.assertGreaterEqual(len([r for r in self.list_requests() if r.status == 200]), 2)
        self.assertEqual(s.stop(), 0)

    def test_objects_written_while_the_stream_is_cut_are_delivered_once(self):
        s = self.start()
        live = self.put(b"live/1")
        self.wait_keys([live])
        # The stream stays open but misses these (MinIO has no replay) ...
        self.fake.pause_notifications()
        missed = [self.put(b"missed/%d" % i) for i in range(3)]
        # ... then it is cut (RST); these are written while sluice waits to reconnect (1 s).
        self.fake.cut_streams()
        self.fake.resume_notifications()
        cut = [self.put(b"cut/%d x" % i) for i in range(3)]
        self.wait_keys(missed + cut, timeout=30)
        listens = self.listen_requests()
        self.assertGreaterEqual(len(listens), 2, "no reconnect seen")
        # Wait until a listing started after the reconnect was answered, then settle.
        reconnect_at = listens[1].time
        self.assertTrue(self.fake.wait_until(
            lambda: any(r.time >= reconnect_at and r.status == 200
                        for r in self.list_requests()), deadline(15)),
            "no listing after the reconnect")
        n = 1 + len(missed) + len(cut) + 1
        sentinel = self.settle_by_stream(s, n)
        self.assert_exactly({(CREATED, k) for k in [live] + missed + cut + [sentinel]}, s, n)
        events = self.events_by_key()
        for k in missed:
            self.assertIn("reconnect", events[k]["data"].get("note", ""),
                          f"{k!r} can only have been found by the reconnect's listing")
        self.assertTrue(s.alive())
        self.assertEqual(s.stop(), 0)

    def test_removed_events(self):
        s = self.start(events=["created", "removed"])
        key = self.put(b"to be removed/a+b")
        self.wait_keys([key])
        created = self.events_by_key()[key]
        self.assertEqual(self.s3.delete_object(BUCKET, key).status, 204)
        self.wait_keys([key], REMOVED)
        sentinel = self.settle_by_stream(s, 3)
        self.assert_exactly({(CREATED, key), (REMOVED, key), (CREATED, sentinel)}, s, 3)
        removed = [ev for t, k, _, ev in self.deliveries() if t == REMOVED][0]
        self.assertEqual(removed["data"]["bucket"], BUCKET)
        self.assertEqual(removed["data"]["key"], key.decode())
        self.assertIsNone(removed["data"]["size"])
        # The removed version is the one that was announced.
        self.assertEqual(removed["data"]["etag"], created["data"]["etag"])
        self.assertNotEqual(removed["id"], created["id"])
        self.assertEqual(s.stop(), 0)

    def test_removed_while_down_is_found_by_the_start_up_listing(self):
        s = self.start(events=["created", "removed"])
        keep, gone = self.put(b"keep"), self.put(b"gone")
        self.wait_keys([keep, gone])
        first = self.settle_by_stream(s, 3)
        self.assertEqual(s.stop(), 0)
        self.assertEqual(self.s3.delete_object(BUCKET, gone).status, 204)
        s.start()
        self.wait_ready(s)
        self.wait_keys([gone], REMOVED)
        second = self.settle_by_stream(s, 2)
        self.assert_exactly({(CREATED, keep), (CREATED, gone), (CREATED, first),
                             (REMOVED, gone), (CREATED, second)}, s, 2)
        removed = [ev for t, k, _, ev in self.deliveries() if t == REMOVED][0]
        self.assertIn("missing from a listing", removed["data"].get("note", ""))
        self.assertEqual(s.stop(), 0)


class OnceTest(MinioTestCase):
    def test_once_catches_up_by_listing_only(self):
        cfg, port = self.minio_config()
        s = self.sluice(cfg, port)
        keys = [self.put(k) for k in (b"o/1", b"o/2 two", b"o/100%25")]
        r = s.once(timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.wait_keys(keys, timeout=5)  # delivered before `once` exited
        self.assert_exactly({(CREATED, k) for k in keys})
        for k in keys:
            self.assertIn("catch-up", self.events_by_key()[k]["data"].get("note", ""))

        r = s.once(timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(self.receiver.accepted), len(keys), "a second once delivered again")

        later = self.put(b"o/later")
        r = s.once(timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.wait_keys([later], timeout=5)
        self.assert_exactly({(CREATED, k) for k in keys + [later]})
        self.assertEqual(self.listen_requests(), [], "once must not open a listen stream")
        self.assertGreaterEqual(len(self.list_requests()), 3, "each once lists the bucket")
        self.assertEqual(s.pending(), 0)


class PushTest(MinioTestCase):
    def body_for(self, key, event="s3:ObjectCreated:Put"):
        """MinIO's webhook body for an object in the fake (its real size, ETag, sequencer)."""
        obj = self.fake.object(BUCKET, key)
        if obj is None or not event.startswith("s3:ObjectCreated"):
            return minio_webhook_body(BUCKET, key, event)
        return minio_webhook_body(BUCKET, key, event, size=len(obj.data), etag=obj.etag,
                                  sequencer="%X" % obj.seq_ns, event_time=obj.mtime)

    def test_push(self):
        cfg, port = self.minio_config(mode="push")
        s = self.sluice(cfg, port).start()
        self.wait_ready(s)
        url = self.ingest_url(port)
        self.assertEqual(self.listen_requests(), [], "push mode must not listen")

        k1 = self.put(b"photos/a b+c.jpg")
        body1 = self.body_for(k1)
        self.assertIn(go_query_escape(k1).encode(), body1)  # the record key is QueryEscape'd
        a = post(url, body1, TOKEN, "bearer")
        self.assertEqual(a.status, 200, a)
        self.wait_keys([k1])
        ev = self.events_by_key()[k1]
        self.assertEqual(ev["data"]["key"], "photos/a b+c.jpg")
        self.assertEqual(ev["data"]["size"], len(b"body of " + k1))
        self.assertEqual(ev["data"]["etag"], self.fake.object(BUCKET, k1).etag)

        # The same body again (MinIO's queue_dir re-sends after a lost answer): one delivery.
        a = post(url, body1, "minio:" + TOKEN, "basic")
        self.assertEqual(a.status, 200, a)

        # Wrong or missing token: 401, nothing stored.
        k_denied = self.put(b"denied")
        for how, tok in (("bearer", "wrong"), ("query", "wrong"), ("none", None),
                         ("basic", "minio:wrong")):
            a = post(url, self.body_for(k_denied), tok, how)
            self.assertEqual(a.status, 401, f"{how}: {a}")

        # Not a key MinIO could hold, but a push body can carry any bytes: they survive.
        k_bytes = b"bin/\xff\xfe"
        a = post(url, minio_webhook_body(BUCKET, k_bytes, size=3, etag="abc"), TOKEN, "query")
        self.assertEqual(a.status, 200, a)

        # A body sluice cannot read: 2xx (else MinIO's queue_dir would retry it forever and
        # block the rest), parked in the dead-letter queue, never sent to the sink.
        garbage = b"this is not JSON {"
        a = post(url, garbage, TOKEN, "bearer")
        self.assertTrue(200 <= a.status < 300, a)

        # Barrier: a last push, committed after everything above.
        k_last = self.put(b"last one")
        self.assertEqual(post(url, self.body_for(k_last), TOKEN, "bearer").status, 200)
        self.wait_keys([k_last, k_bytes])
        self.wait_quiet(s, 4)  # k1, k_bytes, the garbage (dead), k_last
        self.assert_exactly({(CREATED, k1), (CREATED, k_bytes), (CREATED, k_last)}, s, 4)
        data = self.events_by_key()[k_bytes]["data"]
        self.assertEqual(base64.b64decode(data["key_b64"]), k_bytes)
        self.assertIn("\ufffd", data["key"])

        dead = s.queue_json("dead")
        self.assertEqual(len(dead), 1, dead)
        self.assertEqual(dead[0]["sink"], "hook")
        self.assertIn("not a JSON object", dead[0]["error"])
        self.assertIn("cannot use", dead[0]["error"])
        text = s.queue("dead")
        self.assertEqual(text.returncode, 0, text.stderr)
        self.assertIn("not a JSON object", text.stdout)
        self.assertEqual(s.metric("sluice_ingress_requests_total", code="401"), 4)
        self.assertEqual(s.stop(), 0)

    def test_once_in_push_mode_serves_the_ingress_until_quiet(self):
        # push_quiet 3s: time enough to see the ingress come up and push before `once` ends.
        cfg, port = self.minio_config(mode="push", push_quiet="3s")
        s = self.sluice(cfg, port)
        before = self.put(b"listed/before")  # reconciled by the catch-up listing
        proc = subprocess.Popen([SLUICE_BIN, "once", "-c", str(s.config_path)], cwd=s.dir,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        self.addCleanup(lambda: proc.poll() is None and (proc.kill(), proc.wait()))
        pushed = self.put(b"pushed/during once")
        body = self.body_for(pushed)

        def push():
            if proc.poll() is not None:
                raise AssertionError(f"once exited ({proc.returncode}) before the push: "
                                     f"{proc.stdout.read().decode(errors='replace')}")
            try:
                a = post(self.ingest_url(port), body, TOKEN, "bearer", timeout=5)
            except OSError:
                return None  # not listening yet
            return None if a.status == 503 else a  # not taking pushes yet: MinIO retries
        a = wait_until(push, 10, "sluice once's ingress")
        self.assertEqual(a.status, 200, a)
        try:
            out, _ = proc.communicate(timeout=deadline(30))
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            self.fail("sluice once did not end after push_quiet: " + out.decode(errors="replace"))
        self.assertEqual(proc.returncode, 0, out.decode(errors="replace"))
        self.wait_keys([before, pushed], timeout=5)
        self.assert_exactly({(CREATED, before), (CREATED, pushed)})
        self.assertEqual(s.pending(), 0)


class ConfigErrorTest(MinioTestCase):
    def test_push_without_an_ingress_token_is_refused_by_check(self):
        cfg, port = self.minio_config(mode="push", token=False)
        s = self.sluice(cfg, port)
        r = s.check()
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        out = r.stdout + r.stderr
        self.assertIn("sources[0]", out)
        self.assertIn("ingress_token_file", out)

    def test_listen_without_credentials_fails_at_start(self):
        cfg, port = self.minio_config(credentials=False)
        s = self.sluice(cfg, port)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["HOME"] = str(self.tmp)  # no ~/.aws/credentials
        r = s.cli("run", env=env, timeout=30)
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 1, out)
        self.assertIn("source m: no credentials", out)
        self.assertIn(self.fake.url, out)
        self.assertEqual(self.listen_requests(), [])
        self.assertEqual(len(self.receiver.requests), 0)


if __name__ == "__main__":
    unittest.main()
