"""What test_s3 and test_minio share: the delivered event types, the ingress token, reading a
delivered key, and BucketChecks, the setup, object and delivery helpers of a SluiceTestCase that
watches one bucket of a fake_s3.FakeS3 and delivers to the harness's webhook receiver."""
import base64

from harness import deadline, wait_until

CREATED = "sluice.object.created"
REMOVED = "sluice.object.removed"
TOKEN = "ingress-token-1"


def key_of(ev):
    """The delivered key as raw bytes (data.key_b64 when it is not UTF-8)."""
    data = ev["data"]
    if "key_b64" in data:
        return base64.b64decode(data["key_b64"])
    return data["key"].encode("utf-8")


def write_secret(path, text):
    """`text` and a newline in `path`, mode 0600 (as sluice wants its key and token files)."""
    path.write_text(text + "\n")
    path.chmod(0o600)


class BucketChecks:
    """Mixed into a SluiceTestCase. A subclass sets `bucket`, `secret_key`, `source` (the
    source's name in the config) and `readiness` (what wait_ready says it waited for)."""
    bucket = secret_key = source = None
    readiness = "sluice /readyz"

    def setup_bucket(self, fake, secret_name):
        """Serves `fake` for the test, creates the bucket and writes the secret key file
        (self.secret_file, named `secret_name`) and the ingress token file (self.token_file)."""
        self.fake = fake
        self.addCleanup(self.fake.stop)
        self.s3 = self.fake.s3_client()
        self.assertEqual(self.s3.create_bucket(self.bucket).status, 200)
        self.secret_file = self.tmp / secret_name
        write_secret(self.secret_file, self.secret_key)
        self.token_file = self.tmp / "ingress.token"
        write_secret(self.token_file, TOKEN)
        self.sentinels = 0

    def wait_ready(self, s):
        def ready():
            if not s.alive():
                raise AssertionError(f"sluice exited:\n{s.log_tail()}")
            return s.ready()
        wait_until(ready, 30, self.readiness)

    # -- objects ---------------------------------------------------------------------------------
    def put(self, key, data=None):
        data = (b"body of " + key) if data is None else data
        r = self.s3.put_object(self.bucket, key, data)
        self.assertEqual(r.status, 200, f"put {key!r}: {r}")
        return key

    # -- observation -----------------------------------------------------------------------------
    def deliveries(self):
        """[(type, key bytes, id, event)] of every accepted delivery, in arrival order."""
        return [(ev["type"], key_of(ev), ev["id"], ev) for ev in self.receiver.events()]

    def wait_keys(self, keys, type_=CREATED, timeout=30):
        want = {(type_, k) for k in keys}
        missing = lambda: want - {(t, k) for t, k, _, _ in self.deliveries()}  # noqa: E731
        # (parses every delivery only once enough of them arrived: cheap for 1000s of keys)
        done = lambda: len(self.receiver.accepted) >= len(want) and not missing()  # noqa: E731
        if not self.receiver.wait_until(done, deadline(timeout)):
            self.fail(f"not delivered within {deadline(timeout)}s: {sorted(missing())}; delivered: "
                      f"{[(t, k) for t, k, _, _ in self.deliveries()]}")

    def assert_exactly(self, expected, s=None, committed=None):
        """Every delivery is one of `expected` ({(type, key)}), each exactly once, all with
        distinct ids; and (with s) exactly `committed` events were committed by this run."""
        got = [(t, k) for t, k, _, _ in self.deliveries()]
        counts = {}
        for item in got:
            counts[item] = counts.get(item, 0) + 1
        dupes = {item: n for item, n in counts.items() if n > 1}
        self.assertEqual(dupes, {}, f"delivered more than once: {dupes}")
        self.assertEqual(set(got), set(expected),
                         f"unexpected: {set(got) - set(expected)}; "
                         f"missing: {set(expected) - set(got)}")
        ids = [i for _, _, i, _ in self.deliveries()]
        self.assertEqual(len(set(ids)), len(ids), "event ids are not distinct")
        if s is not None and committed is not None:
            self.assertEqual(s.metric("sluice_events_committed_total", source=self.source),
                             committed)
