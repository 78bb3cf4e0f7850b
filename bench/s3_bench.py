#!/usr/bin/env python3
"""The object-store section of bench/run.sh (`BENCH_ONLY=s3`): `type: s3` intake through
`sluice once`, each figure next to a baseline measured against the same fake in the same run.

    s3_bench.py sqs  --sluice BIN --dir DIR --hook URL --messages N [--run R]
    s3_bench.py scan --sluice BIN --dir DIR --hook URL --access-log LOG --objects N [--run R]
    s3_bench.py push --sluice BIN --dir DIR --hook URL --baseline-url URL --seconds S
                     --connections C [--run R]

Each prints JSON lines (bench s3_sqs, s3_scan, s3_push) for bench/report.py. This process hosts
tests/integration/fake_s3.FakeS3 (S3 and SQS, SigV4 checked on every request) in its own
threads; sluice and the baseline clients are separate processes, so that a Python client does
not share the fake's interpreter lock.

Why `sluice once`: it catches every source up (reads SQS until the queue answers empty, lists
the bucket, takes pushes until `push_quiet` passes) and commits what it found *before* it starts
delivering anything. So the window measured here is intake alone -- fake → sluice → durable
queue (fsync'd commit; for SQS, the messages' deletes after it) -- and the webhook sink (the
bench nginx) is not yet busy in it. Each timed window starts at sluice's first request to the
fake (process start-up and opening the queue are not in it) and ends:
- sqs: when the fake's queue has no message left (every one deleted, which sluice does only
  after the commit that stores its events);
- scan, all new: when the first delivery reaches nginx ($msec in its access log): `once` starts
  its sinks only after the last page's events are committed (a few ms of lease and POST are in
  the figure); then sluice is stopped (SIGTERM) and its pending deliveries are dead-lettered,
  so that the second pass has nothing to deliver;
- scan, nothing changed: when `sluice once` exits 0 (same state dir, same bucket);
- push: wrk's own window (`-d`), every request answered only after its commit.
Baselines: N messages of the same shape received (10 per call, long poll 1 s) and deleted (batches of
10) by aws_sigv4.SqsClient, one call at a time (new connection each, as that client does); the
same bucket paged with aws_sigv4.S3Client's ListObjectsV2 (max-keys 1000, encoding-type=url);
the same wrk load against nginx `return 204;`.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "integration"))
import fake_s3  # noqa: E402
from aws_sigv4 import S3Client, SqsClient, parse_list  # noqa: E402
from fake_s3 import FakeS3, aws_record, go_json  # noqa: E402
from push_senders import ceph_push_body  # noqa: E402
from s3_ops import Obj  # noqa: E402

ACCESS_KEY = "AKIDBENCH"
SECRET_KEY = "bench-secret"
REGION = "us-east-1"
BUCKET = "bench"
TOKEN = "bench-ingress-token"
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Wall clock − monotonic clock, for comparing the fake's request times with nginx's $msec.
WALL_OFFSET = time.time() - time.monotonic()
# The fake writes an answer's headers and its body with two send()s. With Nagle's algorithm on,
# the body waits until the client ACKs the headers, and a client on a kept-alive connection
# (sluice; not aws_sigv4's clients, which open one connection per request) delays that ACK by
# up to 40 ms: every ReceiveMessage took ~45 ms. Real S3/SQS do not do that, so the bench
# turns Nagle off on the fake's connections (socketserver's own switch).
fake_s3._Handler.disable_nagle_algorithm = True


def log(msg):
    print(f"[s3_bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def die(msg):
    log("FAILED: " + msg)
    sys.exit(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_s(pid):
    """utime + stime of a live process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def emit(row):
    print(json.dumps(row), flush=True)


# -- sluice ------------------------------------------------------------------------------------
class Sluice:
    """`sluice once` on DIR/sluice.yaml; its log in DIR/sluice-NAME.log."""

    def __init__(self, binary, d, name):
        self.binary, self.dir, self.name = binary, Path(d), name
        self.cfg = self.dir / "sluice.yaml"
        self.log = self.dir / f"sluice-{name}.log"
        self.proc = None
        self.rusage = None
        self.rc = None

    def start(self):
        with open(self.log, "wb") as err:
            self.proc = subprocess.Popen([self.binary, "once", "-c", str(self.cfg)],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=err)
        return self

    def alive(self):
        return self.proc.poll() is None

    def wait(self, timeout):
        """Reaps the process (rusage: its CPU in all); None when it did not end in time."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            pid, status, ru = os.wait4(self.proc.pid, os.WNOHANG)
            if pid:
                self.rc = os.waitstatus_to_exitcode(status)
                self.proc.returncode = self.rc
                self.rusage = ru.ru_utime + ru.ru_stime
                return self.rc
            time.sleep(0.005)
        return None

    def stop(self):
        if self.proc and self.rc is None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            if self.wait(60) is None:
                self.proc.kill()
                self.wait(10)

    def tail(self, n=30):
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def cli(self, *args):
        r = subprocess.run([self.binary, *args, "-c", str(self.cfg)], capture_output=True,
                           text=True)
        return r

    def committed(self):
        """Events ever committed to this state dir: the ids kept for deduplication (the events
        themselves leave the queue once delivered)."""
        r = self.cli("queue", "stats", "--json")
        if r.returncode != 0:
            die(f"sluice queue stats: {r.stderr}")
        return json.loads(r.stdout)["dedup_entries"]


def write_config(d, source, hook, http=None):
    """A config for one `type: s3` source named `source["name"]` routed to a webhook sink
    `hook` (format cloudevents-binary, so nginx logs each event's subject)."""
    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    http = http or {"listen": ""}
    lines = [f"state_dir: {d / 'state'}", "log: {level: info, format: text}", "http:"]
    lines += [f"  {k}: {v}" for k, v in http.items()]
    lines += ["sources:", f"  - name: {source['name']}"]
    lines += [f"    {k}: {v}" for k, v in source.items() if k != "name"]
    lines += ["sinks:", "  - name: hook", "    type: webhook", f"    url: {hook}",
              "    format: cloudevents-binary", "    shutdown_grace: 5s",
              "routes:", f"  - from: [{source['name']}]", "    to: [hook]"]
    (d / "sluice.yaml").write_text("\n".join(lines) + "\n")


def s3_source(fake, name, mode, **extra):
    src = {"name": name, "type": "s3", "mode": mode, "endpoint": fake.url, "region": REGION,
           "access_key": ACCESS_KEY, "secret_key": SECRET_KEY}
    src.update(extra)
    return src


def first_request(fake, since, op, after_t=0.0):
    """Arrival time (monotonic) of the first request of `op` after index `since`."""
    with fake._cond:
        for rec in fake.requests[since:]:
            if rec.op == op and rec.time >= after_t:
                return rec.time
    return None


def count_ops(fake, since):
    out = {}
    with fake._cond:
        for rec in fake.requests[since:]:
            out[rec.op] = out.get(rec.op, 0) + 1
    return out


def child(args, what, timeout):
    """Runs a baseline client (this script, another subcommand) as its own process."""
    r = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        die(f"{what}: {r.stderr.strip()[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


# -- SQS -----------------------------------------------------------------------------------------
def fill_queue(fake, queue, n, tag):
    """n AWS-shaped S3 → SQS notification bodies, one record each, distinct keys and ETags."""
    now = time.time()
    template = go_json({"Records": [aws_record(
        BUCKET, f"{tag}/KEYSLOT.dat", "ObjectCreated:Put", size=48213, etag="ETAGSLOT",
        sequencer="SEQSLOT", event_time=now, region=REGION, principal=f"AWS:{ACCESS_KEY}",
        request_id="C3D13FE58DE4C810", host_id="FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/"
        "JRWeUWerMUE5JgHvANOjpD", config_id="sluice-bench")]})
    fake.create_queue(queue, visibility_timeout=60)
    for i in range(n):
        body = (template.replace("KEYSLOT", "%08d" % i)
                .replace("ETAGSLOT", hashlib.md5(b"%d" % i).hexdigest())
                .replace("SEQSLOT", "%018X" % (0x5F000000 + i)))
        fake.enqueue_raw(queue, body)


def queue_left(fake, queue):
    return len(fake.sqs.queues[queue].messages)


def wait_empty(fake, queue, proc_alive, timeout):
    """Returns the monotonic time at which the queue was seen empty."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if fake.wait_until(lambda: not fake.sqs.queues[queue].messages, 0.5):
            return time.monotonic()
        if not proc_alive():
            return None
    return None


def bench_sqs(a):
    fake = FakeS3(credentials={ACCESS_KEY: SECRET_KEY}, region=REGION).start()
    try:
        n = a.messages
        # Baseline: a plain Python client on the same fake.
        log(f"sqs: {n:,} messages, Python SqsClient receive + delete (baseline)")
        fill_queue(fake, "bench-client", n, "client")
        since = len(fake.requests)
        c0, w0 = time.process_time(), time.monotonic()
        client = subprocess.Popen(
            [sys.executable, __file__, "sqs-client", "--url", fake.url,
             "--queue-url", fake.sqs.queues["bench-client"].url, "--count", str(n)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        t1 = wait_empty(fake, "bench-client", lambda: client.poll() is None, 600)
        fake_cpu = time.process_time() - c0
        _, err = client.communicate(timeout=60)
        if t1 is None or client.returncode != 0:
            die(f"the SQS baseline client left {queue_left(fake, 'bench-client')} messages "
                f"(exit {client.returncode}): {err.strip()[-2000:]}")
        t0 = first_request(fake, since, "ReceiveMessage")
        secs = t1 - t0
        emit({"bench": "s3_sqs", "system": "client", "messages": n, "seconds": secs,
              "per_s": n / secs, "fake_cpu_pct": 100 * fake_cpu / (t1 - w0),
              "requests": count_ops(fake, since), "run": a.run})

        log(f"sqs: {n:,} messages, sluice once (mode sqs)")
        fill_queue(fake, "bench-sluice", n, "sluice")
        d = Path(a.dir) / "sqs"
        write_config(d, s3_source(fake, "sqs", "sqs", bucket=BUCKET,
                                  queue_url=fake.sqs.queues["bench-sluice"].url, wait="1s",
                                  visibility_timeout="60s"), a.hook)
        s = Sluice(a.sluice, d, "sqs")
        since = len(fake.requests)
        c0, w0 = time.process_time(), time.monotonic()
        s.start()
        try:
            t1 = wait_empty(fake, "bench-sluice", s.alive, 600)
            if t1 is None:
                die(f"sluice did not empty the queue ({queue_left(fake, 'bench-sluice')} left):"
                    f"\n{s.tail()}")
            cpu = cpu_s(s.proc.pid)
            fake_cpu = time.process_time() - c0
        finally:
            s.stop()
        t0 = first_request(fake, since, "ReceiveMessage")
        secs = t1 - t0
        committed = s.committed()
        if committed != n:
            die(f"sluice committed {committed} events, not {n}:\n{s.tail()}")
        emit({"bench": "s3_sqs", "system": "sluice", "messages": n, "seconds": secs,
              "per_s": n / secs, "committed": committed,
              "cpu_us_per_item": cpu * 1e6 / n,
              "fake_cpu_pct": 100 * fake_cpu / (t1 - w0),
              "requests": count_ops(fake, since), "run": a.run})
    finally:
        fake.stop()


def sqs_client(a):
    c = SqsClient(a.url, ACCESS_KEY, SECRET_KEY, REGION)
    done = 0
    w0 = time.monotonic()
    while done < a.count:
        r = c.receive_message(a.queue_url, max_messages=10, wait=1, visibility=60)
        if r.status != 200:
            raise SystemExit(f"ReceiveMessage: {r}")
        msgs = r.json().get("Messages", [])
        if not msgs:
            continue
        d = c.delete_message_batch(a.queue_url, [(f"m{i}", m["ReceiptHandle"])
                                                 for i, m in enumerate(msgs)])
        if d.status != 200 or d.json().get("Failed"):
            raise SystemExit(f"DeleteMessageBatch: {d}")
        done += len(msgs)
    print(json.dumps({"deleted": done, "seconds": time.monotonic() - w0}))


# -- scan ----------------------------------------------------------------------------------------
def fill_bucket(fake, n):
    """n objects put straight into the fake's state (no PUTs): keys in 100 folders, sizes from
    a few shared bodies, distinct ETags and modification times."""
    fake.create_bucket(BUCKET)
    b = fake.buckets[BUCKET]
    bodies = [b"x" * (1 << k) for k in range(16)]
    now = time.time()
    with fake._cond:
        for i in range(n):
            t = now - (n - i) * 0.001
            key = b"data/%02d/%08d.dat" % (i % 100, i)
            b.objects[key] = Obj(bodies[i % 16], hashlib.md5(key).hexdigest(), t,
                                 "application/octet-stream", {}, fake._next_ns(t))


class AccessLog:
    """The first nginx arrival ($msec) of an event whose subject starts with `prefix`, after
    `since` (wall clock). nginx flushes its log every 100 ms, so lines of an earlier step may
    still come after the offset taken here: hence the filters."""

    def __init__(self, path, prefix, since):
        self.path, self.prefix, self.since = path, prefix.encode(), since
        self.offset = os.path.getsize(path) if os.path.exists(path) else 0
        self.partial = b""

    def first(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return None
        self.offset += len(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        for line in lines:
            t, _, subject = line.partition(b" ")
            if subject.startswith(self.prefix) and float(t) >= self.since:
                return float(t)
        return None


def bench_scan(a):
    fake = FakeS3(credentials={ACCESS_KEY: SECRET_KEY}, region=REGION).start()
    try:
        n = a.objects
        t = time.monotonic()
        fill_bucket(fake, n)
        log(f"scan: bucket of {n:,} objects filled in {time.monotonic() - t:.1f}s")

        log("scan: Python S3Client ListObjectsV2 alone (baseline)")
        since = len(fake.requests)
        c0 = time.process_time()
        out = child(["list-client", "--url", fake.url], "the listing baseline client", 600)
        fake_cpu = time.process_time() - c0
        if out["objects"] != n:
            die(f"the listing baseline saw {out['objects']} objects, not {n}")
        emit({"bench": "s3_scan", "system": "client", "pass": "list", "objects": n,
              "seconds": out["seconds"], "per_s": n / out["seconds"], "pages": out["pages"],
              "fake_cpu_pct": 100 * fake_cpu / out["seconds"], "run": a.run})

        d = Path(a.dir) / "scan"
        write_config(d, s3_source(fake, "scan", "scan", bucket=BUCKET, interval="0s"), a.hook)
        # Pass 1: every object is new.
        log(f"scan: sluice once, fresh state ({n:,} created events)")
        s = Sluice(a.sluice, d, "new")
        acc = AccessLog(a.access_log, f"/{BUCKET}/data/", time.time())
        since = len(fake.requests)
        c0 = time.process_time()
        w0 = time.monotonic()
        s.start()
        try:
            end = time.monotonic() + 600
            arrived = None
            while arrived is None:
                if time.monotonic() > end or not s.alive():
                    die(f"no delivery reached nginx after the scan:\n{s.tail()}")
                time.sleep(0.01)
                arrived = acc.first()
            cpu = cpu_s(s.proc.pid)
            fake_cpu = time.process_time() - c0
            wall = time.monotonic() - w0
        finally:
            s.stop()
        t0 = first_request(fake, since, "ListObjectsV2")
        secs = arrived - (t0 + WALL_OFFSET)
        committed = s.committed()
        if committed != n:
            die(f"sluice committed {committed} events, not {n}:\n{s.tail()}")
        emit({"bench": "s3_scan", "system": "sluice", "pass": "new", "objects": n,
              "seconds": secs, "per_s": n / secs, "committed": committed,
              "cpu_us_per_item": cpu * 1e6 / n, "fake_cpu_pct": 100 * fake_cpu / wall,
              "requests": count_ops(fake, since), "run": a.run})
        r = s.cli("queue", "dead-letter", "--sink", "hook", "--reason", "bench: not delivered")
        if r.returncode != 0 and "no pending deliveries" not in r.stderr:  # all delivered
            die(f"sluice queue dead-letter: {r.stderr}")

        # Pass 2: the same bucket, the same state: nothing changed.
        log("scan: sluice once, same state (nothing changed)")
        s = Sluice(a.sluice, d, "same")
        since = len(fake.requests)
        c0 = time.process_time()
        w0 = time.monotonic()
        s.start()
        rc = s.wait(600)
        t1 = time.monotonic()
        if rc != 0:
            s.stop()
            die(f"sluice once exited {rc} on an unchanged bucket:\n{s.tail()}")
        fake_cpu = time.process_time() - c0
        t0 = first_request(fake, since, "ListObjectsV2")
        secs = t1 - t0
        committed = s.committed() - n
        if committed != 0:
            die(f"sluice stored {committed} events on an unchanged bucket:\n{s.tail()}")
        emit({"bench": "s3_scan", "system": "sluice", "pass": "same", "objects": n,
              "seconds": secs, "per_s": n / secs, "committed": committed,
              "cpu_us_per_item": s.rusage * 1e6 / n, "wall_s": t1 - w0,
              "fake_cpu_pct": 100 * fake_cpu / (t1 - w0),
              "requests": count_ops(fake, since), "run": a.run})
    finally:
        fake.stop()


def list_client(a):
    c = S3Client(a.url, ACCESS_KEY, SECRET_KEY, REGION)
    w0 = time.monotonic()
    objects, pages, token = 0, 0, None
    while True:
        r = c.list_objects_v2(BUCKET, max_keys=1000, encoding_type="url",
                              continuation_token=token)
        if r.status != 200:
            raise SystemExit(f"ListObjectsV2: {r}")
        page = parse_list(r.body)
        objects += len(page["Contents"])
        pages += 1
        token = page.get("NextContinuationToken")
        if page["IsTruncated"] != "true":
            break
    secs = time.monotonic() - w0
    print(json.dumps({"objects": objects, "pages": pages, "seconds": secs}))


# -- push ----------------------------------------------------------------------------------------
SLOT = "@@KEY@@"


def push_template():
    """One Ceph RGW push body, the object key left as SLOT (filled per request)."""
    body = ceph_push_body(BUCKET, "push/" + SLOT + ".dat", size=48213,
                          etag="9b2cf535f27731c974343645a3985328", event_time=time.time())
    return body.decode("latin-1")


def wrk_script(path, template, tag):
    pre, post = template.split(SLOT)
    for part in (pre, post):
        if "]==]" in part:
            raise SystemExit("the push body cannot be put in a Lua long string")
    Path(path).write_text(f"""-- written by bench/s3_bench.py: a Ceph RGW push per request, a new key each
local pre = [==[{pre}]==]
local post = [==[{post}]==]
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, pre .. "{tag}-" .. n .. post)
end
""")


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def parse_wrk(text):
    def dur(v):
        m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", v)
        return float(m.group(1)) * UNITS[m.group(2)] if m else None
    out = {"non_2xx": 0, "socket_errors": 0}
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    if m:
        out["requests"] = int(m.group(1))
        out["seconds"] = dur(m.group(2) + m.group(3)) / 1e3
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    out["req_per_s"] = float(m.group(1)) if m else None
    for p in ("50", "99"):
        m = re.search(rf"^\s+{p}%\s+(\S+)", text, re.M)
        out[f"p{p}_ms"] = dur(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        out["non_2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        out["socket_errors"] = sum(int(x) for x in m.groups())
    return out


def load(url, script_path, template, tag, a):
    """wrk (or bench/loadgen.py without it) against url; returns parse_wrk's figures."""
    if a.wrk:
        r = subprocess.run(["wrk", "-t1", f"-c{a.connections}", f"-d{a.seconds}s", "--latency",
                            "-s", script_path, url], capture_output=True, text=True,
                           timeout=a.seconds + 60)
        if r.returncode != 0:
            die(f"wrk: {r.stderr}")
        return parse_wrk(r.stdout)
    tpl = Path(a.dir) / f"push-{tag}.tpl"
    tpl.write_text(template, encoding="latin-1")
    r = subprocess.run([sys.executable, str(HERE / "loadgen.py"), "--url", url,
                        "--connections", str(a.connections), "--seconds", str(a.seconds),
                        "--body-template", str(tpl), "--slot", SLOT, "--tag", tag],
                       capture_output=True, text=True, timeout=a.seconds + 60)
    if r.returncode != 0:
        die(f"loadgen.py: {r.stderr}")
    return json.loads(r.stdout)


def metric(port, name):
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    except OSError:
        return None
    total = 0.0
    for line in text.decode().splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def post(url, body):
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def bench_push(a):
    fake = FakeS3(credentials={ACCESS_KEY: SECRET_KEY}, region=REGION).start()
    try:
        fake.create_bucket(BUCKET)
        d = Path(a.dir) / "push"
        d.mkdir(parents=True, exist_ok=True)
        token_file = d / "ingress.token"
        token_file.write_text(TOKEN + "\n")
        token_file.chmod(0o600)
        port = free_port()
        write_config(d, s3_source(fake, "rgw", "push", bucket=BUCKET, push_quiet="600s"),
                     a.hook, {"listen": f"127.0.0.1:{port}", "ingress_token_file": token_file})
        template = push_template()
        tag = f"r{a.run}"
        script = d / "push.lua"
        wrk_script(script, template, tag)
        sluice_url = f"http://127.0.0.1:{port}/ingest/rgw?token={TOKEN}"
        tool = ("wrk -t1" if a.wrk else "bench/loadgen.py (Python threads)")

        log(f"push: {a.connections} connections for {a.seconds}s, sluice once (mode push)")
        s = Sluice(a.sluice, d, "push").start()
        try:
            probe = template.replace(SLOT, f"{tag}-probe").encode("latin-1")
            end = time.monotonic() + 60
            while post(sluice_url, probe) != 200:
                if time.monotonic() > end or not s.alive():
                    die(f"sluice's push ingress did not answer 200:\n{s.tail()}")
                time.sleep(0.05)
            before = metric(port, "sluice_events_committed_total")
            c0 = cpu_s(s.proc.pid)
            out = load(sluice_url, script, template, tag, a)
            cpu = cpu_s(s.proc.pid) - c0
            committed = metric(port, "sluice_events_committed_total") - before
        finally:
            s.stop()
        answered = out["requests"] - out["non_2xx"]
        if out["non_2xx"] or out["socket_errors"] or committed < answered:
            die(f"push: {out['non_2xx']} non-2xx answers, {out['socket_errors']} socket errors, "
                f"{committed:.0f} committed for {answered} answered:\n{s.tail()}")
        emit({"bench": "s3_push", "system": "sluice", "tool": tool,
              "connections": a.connections, "committed": int(committed),
              "cpu_us_per_item": cpu * 1e6 / max(committed, 1),
              "body_bytes": len(probe), **out, "run": a.run})

        log(f"push: the same load against nginx `return 204;` (baseline)")
        out = load(f"{a.baseline_url}?token={TOKEN}", script, template, tag, a)
        if out["non_2xx"] or out["socket_errors"]:
            die(f"push baseline: {out['non_2xx']} non-2xx, {out['socket_errors']} socket errors")
        emit({"bench": "s3_push", "system": "nginx", "tool": tool,
              "connections": a.connections, **out, "run": a.run})
    finally:
        fake.stop()


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("sqs", "scan", "push"):
        s = sub.add_parser(name)
        s.add_argument("--sluice", required=True)
        s.add_argument("--dir", required=True)
        s.add_argument("--hook", required=True)
        s.add_argument("--access-log")
        s.add_argument("--run", default="")
        if name == "sqs":
            s.add_argument("--messages", type=int, default=20000)
        if name == "scan":
            s.add_argument("--objects", type=int, default=100000)
        if name == "push":
            s.add_argument("--baseline-url", required=True)
            s.add_argument("--seconds", type=int, default=5)
            s.add_argument("--connections", type=int, default=32)
            s.add_argument("--no-wrk", dest="wrk", action="store_false")
    s = sub.add_parser("sqs-client")
    s.add_argument("--url", required=True)
    s.add_argument("--queue-url", required=True)
    s.add_argument("--count", type=int, required=True)
    s = sub.add_parser("list-client")
    s.add_argument("--url", required=True)
    a = ap.parse_args()
    if a.cmd == "push" and not shutil.which("wrk"):
        a.wrk = False
    {"sqs": bench_sqs, "scan": bench_scan, "push": bench_push, "sqs-client": sqs_client,
     "list-client": list_client}[a.cmd](a)


if __name__ == "__main__":
    main()
