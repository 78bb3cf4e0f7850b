"""End to end: the `type: s3` source against the fake S3 + SQS (fake_s3.FakeS3), delivered to a
webhook receiver on 127.0.0.1.

    cd tests/integration && SLUICE_BIN=../../build/sluice python3 -m unittest -v test_s3

Scan mode lists the bucket (ListObjectsV2) against the source index at start and every
`interval`; sqs mode long-polls the queue S3 notifies (AWS JSON 1.0), deleting a message only
after its events are committed; push mode takes Ceph RGW notification bodies on
`POST /ingest/a`. Every test asserts exact outcomes: each object delivered exactly once (by key,
by event id), and nothing more. No test sleeps blindly: a "nothing more" check ends with a
barrier that comes through the same path after everything else was committed (a sentinel
object, further listings of the bucket, or an empty queue: SQS messages are deleted only after
their commit).
"""
import hashlib
import time
import unittest

from harness import SluiceTestCase, deadline
from bucket_checks import CREATED, REMOVED, TOKEN, BucketChecks
from fake_s3 import FakeS3, ManualClock
from push_senders import ceph_push_body, post
from s3_events import aws_record, eventbridge_event, go_json, s3_test_event, sns_envelope

ACCESS_KEY = "AKS3TEST"
SECRET_KEY = "s3-secret/key+1"
BUCKET = "photos"
QUEUE = "uploads"

# Keys S3 accepts that break naive code: a space and '+' (form decoding), non-ASCII, a literal
# "%25" (double decoding), a dot-dot segment (path normalisation) and a newline (framing).
HOSTILE_KEYS = [b"a b+c", "ünï/çødé".encode(), b"100%25", b"a/../b", b"new\nline"]


class S3TestCase(BucketChecks, SluiceTestCase):
    bucket, secret_key, source = BUCKET, SECRET_KEY, "a"
    # (wait_ready: /readyz is 200 after the start-up listing (scan, push) or the first
    # answered ReceiveMessage (sqs))
    manual_clock = False  # the fake's clock (SQS visibility) moved by hand

    def setUp(self):
        super().setUp()
        self.clock = ManualClock() if self.manual_clock else None
        kw = {"clock": self.clock} if self.clock else {}
        self.setup_bucket(FakeS3(credentials={ACCESS_KEY: SECRET_KEY}, **kw).start(),
                          "s3.secret")
        self.queue_url = None

    # -- config and daemon ---------------------------------------------------------------------
    def s3_config(self, mode="scan", **source):
        cfg, port = self.config()
        src = {"name": "a", "type": "s3", "endpoint": self.fake.url, "bucket": BUCKET,
               "prefix": "", "suffix": "", "mode": mode, "region": "us-east-1",
               "access_key": ACCESS_KEY, "secret_key_file": str(self.secret_file),
               "interval": "1s", "push_quiet": "1s"}
        if mode == "sqs":
            src.update(queue_url=self.queue_url, visibility_timeout="30s", wait="1s")
        src.update(source)
        src = {k: v for k, v in src.items() if v is not None}
        cfg["sources"] = [src]
        cfg["routes"] = [{"from": ["a"], "to": ["hook"]}]
        if mode == "push":
            cfg["http"]["ingress_token_file"] = str(self.token_file)
        return cfg, port

    def start(self, **kw):
        cfg, port = self.s3_config(**kw)
        s = self.sluice(cfg, port).start()
        self.wait_ready(s)
        return s

    def notify(self, **kw):
        """The bucket's notifications go to QUEUE in AWS's format (an s3:TestEvent first)."""
        self.fake.notify_to_queue(BUCKET, QUEUE, **kw)
        self.queue_url = self.fake.create_queue(QUEUE)
        return self.queue_url

    # -- objects ---------------------------------------------------------------------------------
    def delete(self, key):
        self.assertEqual(self.s3.delete_object(BUCKET, key).status, 204)

    # -- observation -----------------------------------------------------------------------------
    def events_by_key(self, type_=CREATED):
        return {k: ev for t, k, _, ev in self.deliveries() if t == type_}

    def requests(self, op):
        with self.fake._cond:
            return [r for r in self.fake.requests if r.op == op]

    def queue_left(self):
        return self.fake.sqs.messages(QUEUE)

    def wait_queue_empty(self, timeout=20):
        if not self.fake.wait_until(lambda: not self.queue_left(), deadline(timeout)):
            self.fail("messages left in the queue: " + repr(
                [(m.body[:200], m.receive_count) for m in self.queue_left()]) +
                "; SQS calls: " + repr([(r.op, r.status, r.verdict)
                                        for r in self.fake.requests if r.service == "sqs"
                                        and r.op != "ReceiveMessage"]))

    # -- scan barriers ----------------------------------------------------------------------------
    def wait_scans(self, n, since, timeout=20):
        """Until `n` listings started after `since` (monotonic) were answered 200. Passes run
        one after another, so once pass k+1 started, pass k was finished and its work queued."""
        def done():
            return len([r for r in self.requests("ListObjectsV2")
                        if r.time >= since and r.status == 200]) >= n
        if not self.fake.wait_until(done, deadline(timeout)):
            self.fail(f"fewer than {n} listings after the mark within {deadline(timeout)}s")

    def settle_by_scan(self, s, committed):
        """Puts a sentinel object, waits until a listing found it, lets two more passes run
        (either would announce again whatever it wrongly took for new) and waits until
        `committed` events are stored and delivered."""
        self.sentinels += 1
        key = self.put(b"zz-sentinel-%d" % self.sentinels)
        self.wait_keys([key])
        self.wait_scans(2, time.monotonic())
        self.wait_quiet(s, committed)
        return key


# -- scan ------------------------------------------------------------------------------------------
class ScanTest(S3TestCase):
    def test_existing_then_later_objects_once_and_nothing_again_after_restart(self):
        before = [self.put(b"old/" + k) for k in HOSTILE_KEYS]
        s = self.start()
        self.wait_keys(before)
        later = [self.put(b"new/" + k) for k in HOSTILE_KEYS]
        self.wait_keys(later)
        n = len(before) + len(later) + 1
        first = self.settle_by_scan(s, n)
        self.assert_exactly({(CREATED, k) for k in before + later + [first]}, s, n)
        events = self.events_by_key()
        for k in before + later:
            data = events[k]["data"]
            body = b"body of " + k
            with self.subTest(key=k):
                self.assertNotIn("key_b64", data, "every key here is UTF-8")
                self.assertEqual(data["key"].encode(), k)
                self.assertEqual(data["path"].encode(), b"/" + BUCKET.encode() + b"/" + k)
                self.assertEqual(data["bucket"], BUCKET)
                self.assertEqual(data["size"], len(body))
                self.assertEqual(data["etag"], hashlib.md5(body).hexdigest())
                self.assertEqual(data["storage"], "s3")
                self.assertEqual(data["connector"], "a")
                why = "start-up" if k in before else "interval"
                self.assertIn(why, data.get("note", ""), f"{k!r} should come from the {why} "
                                                         "listing")
        self.assertEqual(events[b"new/new\nline"]["data"]["key"], "new/new\nline")
        self.assertEqual(events[b"old/a/../b"]["data"]["key"], "old/a/../b")
        self.assertEqual(s.stop(), 0)

        # A restart lists the same objects again: all known, nothing new.
        s.start()
        self.wait_ready(s)
        second = self.settle_by_scan(s, 1)
        self.assert_exactly({(CREATED, k) for k in before + later + [first, second]}, s, 1)
        self.assertEqual(s.stop(), 0)

    def test_a_deleted_object_is_one_removed_event_at_the_next_scan(self):
        s = self.start(events=["created", "removed"])
        key = self.put(b"to be removed/a+b c")
        keep = self.put(b"keep")
        self.wait_keys([key, keep])
        created = self.events_by_key()[key]
        self.delete(key)
        self.wait_keys([key], REMOVED)
        sentinel = self.settle_by_scan(s, 4)
        self.assert_exactly({(CREATED, key), (CREATED, keep), (REMOVED, key),
                             (CREATED, sentinel)}, s, 4)
        removed = self.events_by_key(REMOVED)[key]
        self.assertEqual(removed["data"]["key"], "to be removed/a+b c")
        self.assertEqual(removed["data"]["bucket"], BUCKET)
        self.assertIsNone(removed["data"].get("size"))
        self.assertEqual(removed["data"]["etag"], created["data"]["etag"],
                         "the removed version is the one that was announced")
        self.assertNotEqual(removed["id"], created["id"])
        self.assertIn("missing from a listing", removed["data"].get("note", ""))
        self.assertEqual(s.stop(), 0)


class ScanOnceTest(S3TestCase):
    def test_once_lists_delivers_and_exits_and_a_second_once_delivers_nothing(self):
        cfg, port = self.s3_config(interval="5m")
        s = self.sluice(cfg, port)
        keys = [self.put(k) for k in (b"o/1", b"o/2 two+", b"o/100%25", "o/ü".encode())]
        r = s.once(timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.wait_keys(keys, timeout=5)  # delivered before `once` exited
        self.assert_exactly({(CREATED, k) for k in keys})
        self.assertEqual(s.pending(), 0)

        r = s.once(timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(len(self.receiver.accepted), len(keys), "a second once delivered again")
        self.assertEqual(s.pending(), 0)

        later = self.put(b"o/later")
        r = s.once(timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.wait_keys([later], timeout=5)
        self.assert_exactly({(CREATED, k) for k in keys + [later]})
        self.assertEqual(s.pending(), 0)
        self.assertEqual(len([r for r in self.requests("ListObjectsV2") if r.status == 200]), 3,
                         "each once lists the bucket once")


# -- sqs -------------------------------------------------------------------------------------------
class SqsTest(S3TestCase):
    def test_notifications_are_delivered_once_and_deleted(self):
        self.notify(prefix=b"up/")  # the TestEvent is the first message
        s = self.start(mode="sqs")
        keys = [self.put(b"up/" + k) for k in
                (b"a b+c", b"100%25", "ünï/çødé ✓".encode(), b"q?x#y&z=1", b"tilde~*")]
        self.wait_keys(keys)

        # S3 -> SNS -> SQS without raw delivery: the S3 JSON is the envelope's Message.
        sns_key = b"sns/a b+c%41"
        sns_body = b"sns body"
        record = aws_record(BUCKET, sns_key, "ObjectCreated:Put", size=len(sns_body),
                            etag=hashlib.md5(sns_body).hexdigest(), sequencer="0055AED6DCD90281E5",
                            event_time=time.time())
        self.fake.enqueue_raw(QUEUE, sns_envelope(go_json({"Records": [record]})))
        # EventBridge's shape of the same kind of change.
        eb_key = "eb/x y+z ü.jpg".encode()
        self.fake.enqueue_raw(QUEUE, eventbridge_event(BUCKET, eb_key, size=5, etag="e" * 32,
                                                       sequencer="0A"))
        # Another bucket's record: not this source's (skipped, deleted).
        other = aws_record("other-bucket", b"up/elsewhere", "ObjectCreated:Put", size=1,
                           etag="f" * 32, sequencer="0B", event_time=time.time())
        self.fake.enqueue_raw(QUEUE, go_json({"Records": [other]}))
        # A second TestEvent (sent again whenever the configuration changes).
        self.fake.enqueue_raw(QUEUE, s3_test_event(BUCKET))
        # Garbage: deleted, parked in the dead-letter queue, never sent to the sink.
        garbage = self.fake.enqueue_raw(QUEUE, "this is not JSON {")
        self.wait_keys([sns_key, eb_key])

        # Deleted only after their commit: an empty queue means everything was committed.
        self.wait_queue_empty()
        n = len(keys) + 3  # the puts, SNS, EventBridge and the parked garbage
        self.wait_quiet(s, n)
        self.assert_exactly({(CREATED, k) for k in keys + [sns_key, eb_key]}, s, n)
        self.assertEqual(garbage.receive_count, 1)
        self.assertTrue(garbage.deleted)
        events = self.events_by_key()
        for k in keys:
            body = b"body of " + k
            with self.subTest(key=k):
                data = events[k]["data"]
                self.assertEqual(data["key"].encode(), k)
                self.assertEqual(data["bucket"], BUCKET)
                self.assertEqual(data["size"], len(body))
                self.assertEqual(data["etag"], hashlib.md5(body).hexdigest())
                self.assertEqual(data["storage"], "s3")
        self.assertEqual(events[sns_key]["data"]["size"], len(sns_body))
        self.assertEqual(events[eb_key]["data"]["key"], "eb/x y+z ü.jpg")
        self.assertEqual(events[eb_key]["data"]["size"], 5)

        dead = s.queue_json("dead")
        self.assertEqual(len(dead), 1, dead)
        self.assertEqual(dead[0]["sink"], "hook")
        self.assertIn("cannot use", dead[0]["error"])
        self.assertIn("JSON", dead[0]["error"])
        self.assertEqual(self.requests("ListObjectsV2"), [], "sqs mode does not list the bucket")
        bad = [r for r in self.fake.requests
               if r.service == "sqs" and r.status not in (None, 200)]  # None: polling now
        self.assertEqual(bad, [], "every SQS call is well-formed and signed")
        self.assertEqual(s.stop(), 0)

    def test_once_receives_until_empty_deletes_and_exits(self):
        self.notify()
        cfg, port = self.s3_config(mode="sqs")
        s = self.sluice(cfg, port)
        keys = [self.put(k) for k in (b"o/1", b"o/2 two+", b"o/100%25")]
        r = s.once(timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.wait_keys(keys, timeout=5)  # delivered before `once` exited
        self.assert_exactly({(CREATED, k) for k in keys})
        self.assertEqual(self.queue_left(), [], "once waits for its deletes")
        self.assertEqual(s.pending(), 0)

        later = self.put(b"o/later")
        r = s.once(timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.wait_keys([later], timeout=5)
        self.assert_exactly({(CREATED, k) for k in keys + [later]})
        self.assertEqual(self.queue_left(), [])

        r = s.once(timeout=60)  # an empty queue: nothing
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(len(self.receiver.accepted), len(keys) + 1)
        self.assertEqual(self.requests("ListObjectsV2"), [], "sqs mode does not list the bucket")


class SqsCrashTest(S3TestCase):
    manual_clock = True

    def test_crash_before_the_delete_redelivers_and_is_stored_once(self):
        self.notify(test_event=False)
        s = self.start(mode="sqs", visibility_timeout="10s")
        # Every delete fails from here on: committed and delivered, but still in the queue.
        self.fake.fail_next(1000, 500, service="sqs", op="DeleteMessageBatch")
        key = self.put(b"crash/a b+c")
        self.wait_keys([key])
        self.assertTrue(self.fake.wait_until(
            lambda: any(r.status == 500 for r in self.requests("DeleteMessageBatch")),
            deadline(10)), "no DeleteMessageBatch after the commit")
        [msg] = self.queue_left()
        self.assertEqual(msg.receive_count, 1)
        first_id = self.events_by_key()[key]["id"]
        # The webhook delivery recorded as done (else the sink itself sends it again after a
        # kill: at least once, same id), so that only SQS's redelivery is left to test.
        self.wait_quiet(s, 1)
        s.kill()  # kill -9: the message was committed but never deleted

        self.fake.clear_faults()
        s.start()
        self.wait_ready(s)
        # In flight still (hidden for 10 s from the first receive): visible again once the
        # visibility timeout ran out.
        self.assertIn(msg, self.queue_left())
        self.clock.advance(11)
        self.wait_queue_empty()
        self.assertTrue(msg.deleted)
        self.assertEqual(msg.receive_count, 2, "redelivered once by SQS")
        sentinel = self.put(b"crash/zz-sentinel")
        self.wait_keys([sentinel])
        self.wait_queue_empty()
        self.wait_quiet(s, 1)
        self.assert_exactly({(CREATED, key), (CREATED, sentinel)}, s, 1)
        self.assertEqual(self.events_by_key()[key]["id"], first_id)
        self.assertEqual(s.metric("sluice_events_deduplicated_total", source="a"), 1,
                         "the redelivered message is the same event")
        self.assertEqual(s.stop(), 0)


# -- push (Ceph RGW) -------------------------------------------------------------------------------
class PushTest(S3TestCase):
    def ingest_url(self, port):
        return f"http://127.0.0.1:{port}/ingest/a"

    def rgw_body(self, key):
        obj = self.fake.object(BUCKET, key)
        return ceph_push_body(BUCKET, key, size=len(obj.data), etag=obj.etag)

    def test_rgw_pushes(self):
        cfg, port = self.s3_config(mode="push")
        s = self.sluice(cfg, port).start()
        self.wait_ready(s)
        url = self.ingest_url(port)

        key = self.put(b"a+b%25 c")  # RGW sends it raw: kept as is, not form-decoded
        body = self.rgw_body(key)
        self.assertIn(b'"key":"a+b%25 c"', body)
        for i in range(3):  # RGW re-sends after a lost answer: each copy 2xx, stored once
            a = post(url, body, TOKEN, "query")
            self.assertTrue(200 <= a.status < 300, f"copy {i + 1}: {a}")
        self.wait_keys([key])
        data = self.events_by_key()[key]["data"]
        self.assertEqual(data["key"], "a+b%25 c")
        self.assertEqual(data["size"], len(b"body of " + key))
        self.assertEqual(data["etag"], self.fake.object(BUCKET, key).etag)
        self.assertEqual(data["storage"], "s3")

        denied = self.put(b"denied")  # wrong or missing token: 401, nothing stored
        for how, tok in (("query", "wrong"), ("none", None)):
            a = post(url, self.rgw_body(denied), tok, how)
            self.assertEqual(a.status, 401, f"{how}: {a}")

        garbage = b"this is not JSON {"
        a = post(url, garbage, TOKEN, "query")
        self.assertTrue(200 <= a.status < 300, a)

        # Barrier: a last push, committed after everything above.
        last = self.put(b"last one")
        self.assertEqual(post(url, self.rgw_body(last), TOKEN, "query").status, 200)
        self.wait_keys([last])
        self.wait_quiet(s, 3)  # key, the garbage (dead), last
        self.assert_exactly({(CREATED, key), (CREATED, last)}, s, 3)
        dead = s.queue_json("dead")
        self.assertEqual(len(dead), 1, dead)
        self.assertEqual(dead[0]["sink"], "hook")
        self.assertIn("cannot use", dead[0]["error"])
        self.assertEqual(s.metric("sluice_ingress_requests_total", code="401"), 2)
        self.assertEqual(s.stop(), 0)


# -- config errors ---------------------------------------------------------------------------------
class ConfigErrorTest(S3TestCase):
    def check_refused(self, key, **source):
        cfg, port = self.s3_config(**source)
        r = self.sluice(cfg, port).check()
        out = r.stdout + r.stderr
        self.assertNotEqual(r.returncode, 0, out)
        self.assertIn(f"sources[0].{key}", out)

    def test_sqs_without_queue_url(self):
        self.check_refused("queue_url", mode="sqs")

    def test_scan_without_bucket(self):
        self.check_refused("bucket", mode="scan", bucket=None)

    def test_sqs_wait_above_20s(self):
        self.notify()
        self.check_refused("wait", mode="sqs", wait="30s")


if __name__ == "__main__":
    unittest.main()
