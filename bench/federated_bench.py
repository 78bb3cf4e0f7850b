#!/usr/bin/env python3
"""The federated-storage section of bench/run.sh (`BENCH_ONLY=federated`): how fast one dCache
SSE stream and one Onedata changes stream carry new files into sluice's queue (fsync on), and
how long a reconciliation of a 100,000-entry dCache tree takes, each next to a baseline against
the same fake in the same run.

    federated_bench.py all --sluice BIN --dir DIR [--files N] [--tree N] [--runs R]
                           [--readme bench/README.md]

Prints one JSON line per figure; with --readme, rewrites the block between the
results-federated:begin/end markers of that file (appended when missing).

The fakes are the integration tests' (tests/integration/fake_dcache.py, fake_onedata.py:
threaded Python servers), hosted in this process; sluice and the baseline clients are separate
processes, so a client never shares the fakes' interpreter lock.

- stream (dcache, onedata): sluice runs and is ready (channel, subscription, first listing
  done; or the changes stream open); then this process writes N files into the fake as fast as
  it can, and the window ends when sluice_events_committed_total reaches N (each commit is
  fsync'd; for dCache each file also costs sluice one namespace stat, which makes its id).
  Baseline: the same N writes with a Python client (one process) reading the same stream and
  doing the same per-file work (dCache: the stat; Onedata: nothing more), and the writer alone
  (no reader): the fake's own pace.
- reconciliation (dcache): a tree of 100 directories x N/100 files; sluice starts with an empty
  state and `recursive: true`: the window runs from the process start to /readyz 200 (every
  directory subscribed and listed, and every file committed as one created event); then from
  a restart with that state (nothing new: the index is compared, nothing is stored). Baseline:
  the same 101 listings (`?children=true`) by a Python client, one after the other.
Deliveries go to a closed port with a 1 h backoff: each event is tried once and stays pending,
so the dispatcher's work is in the figures but no receiver is.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "integration"))
from bench_common import update_readme  # noqa: E402

TOKEN = "bench-token"
WALL_OFFSET = time.time() - time.monotonic()  # to compare a client's time.time() with ours
BEGIN, END = "<!-- results-federated:begin -->", "<!-- results-federated:end -->"


def quiet_nagle():
    """The fakes write an answer's head and body with two send()s; with Nagle's algorithm on, a
    client on a kept-alive connection (sluice, not the baseline clients, which open one
    connection per request) waits up to 40 ms for each body (delayed ACK). Real dCache and
    Oneprovider do not: the bench turns Nagle off on the fakes' connections, as s3_bench does."""
    import fake_dcache
    import fake_onedata
    fake_dcache._Handler.disable_nagle_algorithm = True
    fake_onedata._Handler.disable_nagle_algorithm = True


def log(msg):
    print(f"[federated_bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Daemon:
    """build/sluice run on a config; /metrics and /readyz read over loopback."""

    def __init__(self, sluice, workdir, source):
        from harness import to_yaml
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        cfg = {
            "state_dir": str(self.dir / "state"),
            "log": {"level": "info", "format": "text"},
            "http": {"listen": f"127.0.0.1:{self.port}"},
            "delivery": {"max_attempts": 1000, "concurrency": 4,
                         "backoff": {"initial": "1h", "max": "1h"}},
            "sources": [source],
            "sinks": [{"name": "hook", "type": "webhook",
                       "url": f"http://127.0.0.1:{free_port()}/closed"}],
            "routes": [{"from": [source["name"]], "to": ["hook"]}],
        }
        self.config = self.dir / "sluice.yaml"
        self.config.write_text(to_yaml(cfg) + "\n")
        self.sluice, self.proc = sluice, None

    def start(self):
        self.log = open(self.dir / "sluice.log", "ab")
        self.proc = subprocess.Popen([self.sluice, "run", "-c", str(self.config)],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        return time.monotonic()

    def get(self, path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except OSError:
            return 0, ""

    def committed(self):
        status, text = self.get("/metrics")
        for line in text.splitlines():
            if line.startswith("sluice_events_committed_total"):
                return float(line.split()[-1])
        return 0.0

    def wait(self, predicate, timeout, what):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise SystemExit(f"sluice exited ({self.proc.returncode}); see {self.dir}/sluice.log")
            if predicate():
                return time.monotonic()
            time.sleep(0.02)
        raise SystemExit(f"timed out after {timeout}s waiting for {what}; see {self.dir}/sluice.log")

    def ready(self):
        return self.get("/readyz")[0] == 200

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(60)
        self.log.close()


def client(mode, *args, timeout=600):
    """Starts this script's baseline client (another process); returns the Popen."""
    return subprocess.Popen([sys.executable, __file__, mode, *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def client_result(p, timeout=600):
    out, err = p.communicate(timeout=timeout)
    if p.returncode != 0:
        raise SystemExit(f"baseline client failed: {err}")
    return json.loads(out)


# -- dCache ------------------------------------------------------------------------------------
def dcache_fake(backlog=1 << 20):
    from fake_dcache import FakeDcache
    fake = FakeDcache(users={}, tokens={TOKEN: "bench"}, backlog=backlog).start()
    fake.mkdir("/data/in", parents=True)
    return fake


def dcache_source(fake, token_file, **kw):
    src = {"name": "dc", "type": "dcache", "url": fake.api_url, "paths": ["/data/in"],
           "auth": {"bearer_file": str(token_file)}}
    src.update(kw)
    return src


def token_file(d):
    Path(d).mkdir(parents=True, exist_ok=True)
    p = Path(d) / "token"
    p.write_text(TOKEN + "\n")
    p.chmod(0o600)
    return p


def write_files(fake, n, prefix):
    t0 = time.monotonic()
    for i in range(n):
        fake.write(f"/data/in/{prefix}-{i:07d}.dat", b"x" * 64)
    return t0, time.monotonic()


def dcache_stream(args, run):
    rows = []
    d = Path(args.dir) / f"dcache-stream-{run}"
    fake = dcache_fake()
    try:
        s = Daemon(args.sluice, d, dcache_source(fake, token_file(d.parent)))
        s.start()
        s.wait(s.ready, 60, "/readyz")
        t0, _ = write_files(fake, args.files, f"s{run}")
        t1 = s.wait(lambda: s.committed() >= args.files, 600, f"{args.files} events committed")
        s.stop()
        rows.append({"bench": "fed_stream", "storage": "dcache", "system": "sluice", "run": run,
                     "files": args.files, "seconds": round(t1 - t0, 3),
                     "per_s": round(args.files / (t1 - t0), 1)})
        # The fake alone: the same writes with nobody watching.
        fake.delete("/data/in", recursive=True)
        fake.mkdir("/data/in")
        t0, t1 = write_files(fake, args.files, f"alone{run}")
        rows.append({"bench": "fed_stream", "storage": "dcache", "system": "fake alone",
                     "run": run, "files": args.files, "seconds": round(t1 - t0, 3),
                     "per_s": round(args.files / (t1 - t0), 1)})
        # A Python reader of the same stream, with the same stat per file.
        p = client("dcache-reader", fake.api_url, args.files)
        line = p.stdout.readline()  # "ready": channel, subscription and stream in place
        if line.strip() != "ready":
            raise SystemExit("dcache-reader did not start: " + p.stderr.read())
        t0, _ = write_files(fake, args.files, f"py{run}")
        r = client_result(p)
        secs = r["wall_done"] - (t0 + WALL_OFFSET)  # its wall clock against ours
        rows.append({"bench": "fed_stream", "storage": "dcache", "system": "python reader",
                     "run": run, "files": args.files, "seconds": round(secs, 3),
                     "per_s": round(args.files / secs, 1)})
    finally:
        fake.stop(False)
    return rows


def dcache_reader(url, n):
    """Baseline client: channel, subscription, SSE; a stat per IN_CLOSE_WRITE; until n."""
    from fake_dcache import DcacheClient
    c = DcacheClient(url, token=TOKEN)
    ch = c.create_channel().headers["location"]
    c.subscribe(ch, "/data/in", ["IN_CLOSE_WRITE"])
    stream = c.stream(ch)
    print("ready", flush=True)
    seen = 0
    while seen < n:
        ev = stream.next_event()
        if ev.type != "inotify":
            continue
        name = ev.json()["event"].get("name")
        if name:
            c.request("GET", "/namespace/data/in/" + urllib.parse.quote(name))
            seen += 1
    print(json.dumps({"wall_done": time.time()}))


def dcache_tree(args, run):
    rows = []
    d = Path(args.dir) / f"dcache-tree-{run}"
    fake = dcache_fake()
    dirs, per = 100, max(1, args.tree // 100)
    try:
        for i in range(dirs):
            fake.mkdir(f"/data/in/d{i:03d}")
            for j in range(per):
                fake.write(f"/data/in/d{i:03d}/f{j:05d}.dat", b"y" * 16)
        total = dirs * per
        s = Daemon(args.sluice, d, dcache_source(fake, token_file(d.parent), recursive=True))
        for pass_ in ("new", "same"):
            t0 = s.start()
            # Ready once every directory is listed; the last batches may still be committing.
            want = total if pass_ == "new" else 0
            t1 = s.wait(lambda: s.ready() and s.committed() >= want, 1800,
                        f"/readyz and {want} events committed")
            s.stop()
            rows.append({"bench": "fed_tree", "storage": "dcache", "system": "sluice",
                         "pass": pass_, "run": run, "entries": total + dirs,
                         "seconds": round(t1 - t0, 3)})
        p = client("dcache-lister", fake.api_url, dirs)
        r = client_result(p)
        rows.append({"bench": "fed_tree", "storage": "dcache", "system": "python lister",
                     "run": run, "entries": total + dirs, "seconds": r["seconds"]})
    finally:
        fake.stop(False)
    return rows


def dcache_lister(url, dirs):
    from fake_dcache import DcacheClient
    c = DcacheClient(url, token=TOKEN, timeout=120)
    t0 = time.monotonic()
    n = len(c.request("GET", "/namespace/data/in?children=true").json()["children"])
    for i in range(int(dirs)):
        n += len(c.request("GET", f"/namespace/data/in/d{i:03d}?children=true").json()["children"])
    print(json.dumps({"seconds": round(time.monotonic() - t0, 3), "entries": n}))


# -- Onedata -----------------------------------------------------------------------------------
def onedata_stream(args, run):
    from fake_onedata import FakeOnedata
    rows = []
    d = Path(args.dir) / f"onedata-stream-{run}"
    d.mkdir(parents=True, exist_ok=True)
    fake = FakeOnedata(tokens={TOKEN})
    fake.start()
    try:
        fake.mkdir("in")
        tf = token_file(d)
        src = {"name": "od", "type": "onedata", "provider": fake.url, "space_id": fake.space_id,
               "token_file": str(tf), "settle": "0s", "paths": ["/space1/in"]}
        s = Daemon(args.sluice, d, src)
        s.start()
        s.wait(s.ready, 60, "/readyz")
        fake.wait_streams(1, timeout=30)

        def write(prefix):
            t0 = time.monotonic()
            for i in range(args.files):
                fake.create_file(f"in/{prefix}-{i:07d}.dat", b"x" * 64)
            return t0, time.monotonic()
        t0, _ = write(f"s{run}")
        t1 = s.wait(lambda: s.committed() >= args.files, 600, f"{args.files} events committed")
        s.stop()
        rows.append({"bench": "fed_stream", "storage": "onedata", "system": "sluice",
                     "run": run, "files": args.files, "seconds": round(t1 - t0, 3),
                     "per_s": round(args.files / (t1 - t0), 1)})
        t0, t1 = write(f"alone{run}")
        rows.append({"bench": "fed_stream", "storage": "onedata", "system": "fake alone",
                     "run": run, "files": args.files, "seconds": round(t1 - t0, 3),
                     "per_s": round(args.files / (t1 - t0), 1)})
        p = client("onedata-reader", fake.url, fake.space_id, fake.current_seq() + 1,
                   args.files)
        if p.stdout.readline().strip() != "ready":
            raise SystemExit("onedata-reader did not start: " + p.stderr.read())
        fake.wait_streams(1, timeout=30)
        t0, _ = write(f"py{run}")
        r = client_result(p)
        secs = r["wall_done"] - (t0 + WALL_OFFSET)
        rows.append({"bench": "fed_stream", "storage": "onedata", "system": "python reader",
                     "run": run, "files": args.files, "seconds": round(secs, 3),
                     "per_s": round(args.files / secs, 1)})
    finally:
        fake.stop()
    return rows


def onedata_reader(url, space_id, since, n):
    """Baseline client: the changes stream sluice asks for, until n regular files were seen."""
    from fake_onedata import OnedataClient
    c = OnedataClient(url, TOKEN, space_id, timeout=120)
    spec = {"fileMeta": {"fields": ["name", "type", "deleted"], "always": True},
            "fileLocation": {"fields": ["size"]}, "times": {"fields": ["mtime"]}}
    stream = c.changes(spec, last_seq=since, timeout=60000)
    print("ready", flush=True)
    # The chunked body read directly (ChangesStream keeps every byte for the tests' checks,
    # which would make this reader the slowest part).
    seen, buf, f = set(), b"", stream.f
    while len(seen) < int(n):
        size = int(f.readline().split(b";")[0], 16)
        if size == 0:
            raise SystemExit("the stream ended early")
        buf += f.read(size)
        f.read(2)
        *lines, buf = buf.split(b"\r\n")
        for line in lines:
            change = json.loads(line)
            if change.get("fileMeta", {}).get("fields", {}).get("type") == "REG":
                seen.add(change["fileId"])
    print(json.dumps({"wall_done": time.time()}))


# -- report ------------------------------------------------------------------------------------
def med(rows, **kw):
    return [r for r in rows if all(r.get(k) == v for k, v in kw.items())]


def fmt(vals, key, digits=1):
    xs = sorted(v[key] for v in vals)
    if not xs:
        return "–"
    m = statistics.median(xs)
    f = (lambda x: f"{x:,.{digits}f}")
    return f"**{f(m)}** ({f(xs[0])} – {f(xs[-1])})" if len(xs) > 1 else f"**{f(m)}**"


def render(rows, args):
    machine = (f"{time.strftime('%Y-%m-%d')} · {os.cpu_count()} cores · commit "
               f"`{subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True, cwd=HERE).stdout.strip()}`")
    out = [BEGIN, "### Federated storage (`type: dcache`, `type: onedata`): intake next to the fake's own pace", "",
           f"{machine} · {args.runs} runs per figure, median (min – max) · {args.files} files per "
           f"stream run, a tree of {args.tree:,} files in 100 directories · "
           "measured by `bench/federated_bench.py` (see its docstring for each window).", "",
           "| stream | sluice into the queue (files/s, fsync on) | a Python reader of the same stream (files/s) | the fake alone, nobody reading (writes/s) |",
           "|---|---:|---:|---:|"]
    for storage, what in (("dcache", "dCache SSE (+ one namespace stat per file)"),
                          ("onedata", "Onedata changes stream (settle 0 s)")):
        out.append(f"| {what} | {fmt(med(rows, bench='fed_stream', storage=storage, system='sluice'), 'per_s')} "
                   f"| {fmt(med(rows, bench='fed_stream', storage=storage, system='python reader'), 'per_s')} "
                   f"| {fmt(med(rows, bench='fed_stream', storage=storage, system='fake alone'), 'per_s')} |")
    out += ["", "| dCache tree reconciliation | seconds |", "|---|---:|"]
    n = args.tree + 100
    out.append(f"| sluice, empty state: subscribe + list {n:,} entries, commit every file | "
               f"{fmt(med(rows, bench='fed_tree', system='sluice', **{'pass': 'new'}), 'seconds', 2)} |")
    out.append(f"| sluice, restart, nothing changed | "
               f"{fmt(med(rows, bench='fed_tree', system='sluice', **{'pass': 'same'}), 'seconds', 2)} |")
    out.append(f"| baseline: the same 101 listings by a Python client | "
               f"{fmt(med(rows, bench='fed_tree', system='python lister'), 'seconds', 2)} |")
    out += ["", "The fakes are single-process Python servers: where sluice's figure is close to the "
            "fake-alone one, the fake is the limit, not sluice.", END]
    return "\n".join(out)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "dcache-reader":
        return dcache_reader(sys.argv[2], int(sys.argv[3]))
    if len(sys.argv) > 1 and sys.argv[1] == "dcache-lister":
        return dcache_lister(sys.argv[2], sys.argv[3])
    if len(sys.argv) > 1 and sys.argv[1] == "onedata-reader":
        return onedata_reader(*sys.argv[2:6])
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["all"])
    ap.add_argument("--sluice", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--tree", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--readme")
    args = ap.parse_args()
    os.environ.setdefault("SLUICE_BIN", args.sluice)
    quiet_nagle()
    rows = []
    for run in range(1, args.runs + 1):
        for name, fn in (("dcache stream", dcache_stream), ("onedata stream", onedata_stream),
                         ("dcache tree", dcache_tree)):
            log(f"{name}, run {run}/{args.runs}")
            for r in fn(args, run):
                print(json.dumps(r), flush=True)
                log(json.dumps(r))
                rows.append(r)
    if args.readme:
        update_readme(args.readme, render(rows, args), BEGIN, END)


if __name__ == "__main__":
    main()
