#!/usr/bin/env python3
"""The FaaS-invocation section of bench/run.sh (`BENCH_ONLY=invoke`): deliveries/s and
per-delivery latency of a `type: oscar` sink (async, `POST /job/{svc}` → 201) and a
`type: lambda` sink (Event invocation → 202) at sink concurrency 1, 8 and 64, with the fake
answering in 1 ms and in 50 ms, each next to the fake's own capacity measured alone, at the
same concurrency and delay, in the same run.

    invoke_bench.py all --sluice BIN --dir DIR [--events N] [--runs R] [--readme bench/README.md]

Prints one JSON line per figure; with --readme, rewrites the block between the
results-invoke:begin/end markers of that file (placed after the federated block, or after the
Results, when missing).

The fakes are the integration tests' (tests/integration/fake_oscar.py, fake_lambda.py: threaded
Python servers, a thread per connection, every answer in one write with TCP_NODELAY), hosted
in this process with their `delay` (seconds slept before every answer); sluice and the baseline
client are separate processes, so neither shares the fakes' interpreter lock.

How a cell is measured (target × delay × concurrency C, N events):
- The queue is filled beforehand, once per target and N, so that the window holds deliveries
  only: N files in a directory, `sluice once` with a `local` source on it and the sink pointed
  at a closed port with `max_attempts: 1` (each delivery is refused at once and dead-lettered),
  then `sluice queue replay --all` (due again). Every cell starts from a copy of that state.
- sluice: `sluice run` on the copy (the start-up scan finds nothing new: the source index knows
  every file) with the sink pointed at a fresh fake and `concurrency: C`. The fake stamps each
  request when its handler starts (after the body is read) and when its answer is ready.
  Throughput = N ÷ (last answer − first request) at the fake. Latency: sluice's own
  `sluice_delivery_attempt_seconds{sink}` histogram (daemon/dispatcher.cpp: from the sink's
  deliver() call to its result, i.e. the request as sluice sees it, libcurl and signing
  included; no queueing: the queue is already full), read from /metrics once
  `sluice_deliveries_done_total` reaches N. Its buckets are coarse (1, 2.5, 5, 10, 25, 50,
  100, 250 ms, ...), so the p99 is given as the upper bound of the bucket that holds it, next to
  the exact mean (_sum ÷ _count). Also kept: sluice's CPU per delivery (utime + stime from the
  fake's first answer to the last settlement, so without start-up and the scan) and the
  fake's own handling time of each request (its delay included).
- The fake alone: a fresh fake, the same delay, and a Python client (this script's `client`
  mode, another process) with C kept-alive connections driven by one thread (selectors),
  sending N requests between them: the body sluice sent first (same size and shape), the
  same authentication (OSCAR: the service's Bearer token and a new X-Delegated-Job-ID per
  request; Lambda: SigV4, signed once, which the fake accepts again). Request bytes written
  on raw sockets, so that the client costs as little CPU as Python allows. Throughput
  measured exactly like sluice's (the fake's stamps); latency p99 exact, at the client (send
  → whole answer read).
The ideal is C ÷ delay (every connection busy all the time, nothing but the fake's sleep).
The fakes listen with a backlog of 1,024 instead of socketserver's 5 (deep_backlog, below).
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "integration"))
from harness import free_port  # noqa: E402
from bench_common import metrics, run_meta, update_readme  # noqa: E402

BEGIN, END = "<!-- results-invoke:begin -->", "<!-- results-invoke:end -->"
README_AFTER = ("<!-- results-federated:end -->\n", "<!-- results:end -->\n")
AKID, SECRET, REGION = "AKIDEXAMPLE", "bench-secret-key", "us-east-1"
SINK = {"oscar": "gray", "lambda": "thumb"}
DELAYS = (0.001, 0.050)
CONCURRENCIES = (1, 8, 64)


def deep_backlog():
    """The fakes' ThreadingHTTPServer listens with socketserver's default backlog of 5. sluice
    opens its C connections at once when its first lease comes back; at C = 64 the kernel's
    accept queue overflows, the handshakes that do not fit are retried by the client's SYN
    retransmission timer (1 s, 3 s, 7 s, ...) and a run of 300 deliveries at 50 ms took 30 s
    instead of 0.3 s (p99 in the 30 s bucket). OSCAR (Go net/http) and Lambda's front ends listen
    with the system's backlog (somaxconn): the bench gives the fakes 1,024, as s3_bench and
    federated_bench turn Nagle off. The baseline client connects before its clock starts, so it
    would not meet the problem either way."""
    import loopback_server
    loopback_server.TrackingServer.request_queue_size = 1024


def log(msg):
    print(f"[invoke_bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)




# -- the fakes, with a stamp per request ------------------------------------------------------
def timed(cls):
    class Timed(cls):
        """The fake, plus `timing`: (handler start, answer ready, status) per request."""

        def _dispatch(self, rec):
            t0 = time.monotonic()
            answer = super()._dispatch(rec)
            with self._cond:
                self.timing.append((t0, time.monotonic(), answer[0] if answer else None))
                self._cond.notify_all()
            return answer
    return Timed


def new_fake(target, delay):
    if target == "oscar":
        from fake_oscar import FakeOscar
        fake = timed(FakeOscar)(services={"grayify": {}}, delay=delay)
    else:
        from fake_lambda import FakeLambda
        fake = timed(FakeLambda)(region=REGION, credentials={AKID: SECRET},
                                 functions={"thumb": {}}, delay=delay)
    fake.timing = []
    fake.start()
    return fake


def ok_status(target):
    return 201 if target == "oscar" else 202


def sink_config(target, endpoint, token_file, **policy):
    if target == "oscar":
        sink = {"name": SINK[target], "type": "oscar", "endpoint": endpoint,
                "service": "grayify", "token_file": str(token_file)}
    else:
        sink = {"name": SINK[target], "type": "lambda", "function": "thumb", "region": REGION,
                "endpoint": endpoint, "access_key": AKID, "secret_key": SECRET}
    sink.update(policy)
    return sink


def write_config(path, state, inbox, sink, port):
    from harness import to_yaml
    cfg = {
        "state_dir": str(state),
        "log": {"level": "info", "format": "text"},
        "http": {"listen": f"127.0.0.1:{port}"},
        "sources": [{"name": "inbox", "type": "local", "path": str(inbox), "recursive": False,
                     "events": ["created"]}],
        "sinks": [sink],
        "routes": [{"from": ["inbox"], "to": [sink["name"]]}],
    }
    Path(path).write_text(to_yaml(cfg) + "\n")


# -- the queue, filled once per target and N ---------------------------------------------------
def prepare(sluice, base, target, n):
    """base/prep-TARGET-N/{inbox, state}: N deliveries of the sink, pending and due now."""
    d = Path(base) / f"prep-{target}-{n}"
    if (d / "ready").exists():
        return d
    shutil.rmtree(d, ignore_errors=True)
    (d / "inbox").mkdir(parents=True)
    for i in range(n):
        (d / "inbox" / f"f{i:06d}.dat").write_bytes(b"x" * 64)
    tok = d / "token"
    tok.write_text("0" * 64 + "\n")
    tok.chmod(0o600)
    sink = sink_config(target, f"http://127.0.0.1:{free_port()}", tok, max_attempts=1,
                       concurrency=64)
    cfg = d / "prep.yaml"
    write_config(cfg, d / "state", d / "inbox", sink, free_port())
    with open(d / "prep.log", "wb") as f:
        subprocess.run([sluice, "once", "-c", str(cfg)], stdout=f, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, timeout=600)
        subprocess.run([sluice, "queue", "replay", "--all", "-c", str(cfg)], stdout=f,
                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=600, check=True)
    stats = json.loads(subprocess.run([sluice, "queue", "stats", "--json", "-c", str(cfg)],
                                      capture_output=True, text=True, check=True).stdout)
    pending = stats["sinks"][SINK[target]]["pending"]
    if pending != n:
        raise SystemExit(f"prepared queue has {pending} pending deliveries, not {n}; see {d}")
    (d / "ready").touch()
    return d


# -- one cell ----------------------------------------------------------------------------------
def sink_series(text, name, sink):
    """{labels-without-sink: value} of a metric's series for the sink."""
    out = {}
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        m = re.match(r'^(\w+)(?:\{(.*)\})?\s+(\S+)$', line)
        if not m or m.group(1) != name:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if labels.pop("sink", None) != sink:
            continue
        out[tuple(sorted(labels.items()))] = float(m.group(3))
    return out


def histogram(text, name, sink):
    buckets = sorted(((float("inf") if dict(k)["le"] == "+Inf" else float(dict(k)["le"])), v)
                     for k, v in sink_series(text, name + "_bucket", sink).items())
    total = sum(sink_series(text, name + "_sum", sink).values())
    count = sum(sink_series(text, name + "_count", sink).values())
    return buckets, total, count


def bucket_quantile(buckets, q):
    """The upper bound of the bucket holding the q-quantile (cumulative buckets)."""
    if not buckets or buckets[-1][1] == 0:
        return None
    rank = q * buckets[-1][1]
    return next(le for le, c in buckets if c >= rank)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] if xs else None


def window(fake, n, status):
    with fake._cond:
        t = list(fake.timing)
    ok = [x for x in t if x[2] == status]
    first = min(x[0] for x in t)
    last = max(x[1] for x in ok)
    return {"seconds": round(last - first, 4), "per_s": round(n / (last - first), 1),
            "requests": len(t), "non_ok": len(t) - len(ok),
            "fake_handling_p99_ms": round(pct([x[1] - x[0] for x in ok], 99) * 1000, 2)}


def wait_fake(fake, n, status, timeout, proc, what):
    end = time.monotonic() + timeout
    while True:
        with fake._cond:
            got = sum(1 for x in fake.timing if status is None or x[2] == status)
            if got >= n:
                return
            fake._cond.wait(0.2)
        if proc.poll() is not None and proc.returncode != 0:
            raise SystemExit(f"{what} exited ({proc.returncode}) after {got} of {n} answers")
        if time.monotonic() > end:
            raise SystemExit(f"timed out: {got} of {n} answers to {what}")


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sluice_cell(args, prep, target, delay, conc, n, run):
    d = Path(args.dir) / f"cell-{target}-{int(delay * 1000)}ms-c{conc}-{run}"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    shutil.copytree(prep / "state", d / "state")
    fake = new_fake(target, delay)
    try:
        tok = d / "token"
        if target == "oscar":
            tok.write_text(fake.service_token("grayify") + "\n")
            tok.chmod(0o600)
        port = free_port()
        write_config(d / "sluice.yaml", d / "state", prep / "inbox",
                     sink_config(target, fake.url, tok, concurrency=conc), port)
        logf = open(d / "sluice.log", "wb")
        proc = subprocess.Popen([args.sluice, "run", "-c", str(d / "sluice.yaml")],
                                stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            status = ok_status(target)
            wait_fake(fake, 1, None, 60, proc, f"sluice (see {d}/sluice.log)")
            cpu0 = cpu_seconds(proc.pid)
            wait_fake(fake, n, status, 60 + 5 * n * (delay + 0.005) / conc, proc,
                      f"sluice (see {d}/sluice.log)")
            sink = SINK[target]
            end = time.monotonic() + 30
            while True:
                text = metrics(port)
                done = sum(sink_series(text, "sluice_deliveries_done_total", sink).values())
                if done >= n or time.monotonic() > end:
                    break
                time.sleep(0.05)
            cpu = cpu_seconds(proc.pid) - cpu0
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
            logf.close()
        buckets, total, count = histogram(text, "sluice_delivery_attempt_seconds", sink)
        row = {"bench": "invoke", "target": target, "delay_ms": delay * 1000,
               "concurrency": conc, "system": "sluice", "run": run, "events": n,
               **window(fake, n, status), "done": done, "attempts": count,
               "p99_bucket_ms": (None if bucket_quantile(buckets, 0.99) is None
                                 else round(bucket_quantile(buckets, 0.99) * 1000, 1)),
               "mean_ms": round(total / count * 1000, 2) if count else None,
               "cpu_us_per_delivery": round(cpu * 1e6 / n, 1)}
        body = None
        with fake._cond:
            if target == "oscar":
                body = next(r.body for r in fake.requests if r.endpoint == "job")
            else:
                body = fake.invocations[0]["payload"]
        (d / "body").write_bytes(body)
        if done < n:
            raise SystemExit(f"sluice counted {done} of {n} deliveries done; see {d}")
        return row, d / "body"
    finally:
        fake.stop()


def alone_cell(args, body_file, target, delay, conc, n, run):
    fake = new_fake(target, delay)
    try:
        extra = [fake.service_token("grayify")] if target == "oscar" else [AKID, SECRET]
        p = subprocess.Popen([sys.executable, __file__, "client", target, fake.url, str(conc),
                              str(n), str(body_file), *extra],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        status = ok_status(target)
        wait_fake(fake, n, status, 60 + 5 * n * (delay + 0.005) / conc, p, "the Python client")
        out, err = p.communicate(timeout=120)
        if p.returncode != 0:
            raise SystemExit(f"the Python client failed: {err}")
        c = json.loads(out)
        return {"bench": "invoke", "target": target, "delay_ms": delay * 1000,
                "concurrency": conc, "system": "fake alone", "run": run, "events": n,
                **window(fake, n, status), "p50_ms": c["p50_ms"], "p99_ms": c["p99_ms"],
                "client_errors": c["errors"]}
    finally:
        fake.stop()


# -- the baseline client (its own process) -------------------------------------------------------
def client(target, url, conc, n, body_file, *auth):
    """C kept-alive connections driven by one thread (selectors, non-blocking sockets): no
    thread per connection waiting for the interpreter lock, so the client adds as little
    latency and CPU as Python allows. N requests between them, each connection sending its
    next one as soon as its answer is read."""
    import selectors
    import aws_sigv4
    host = url.split("//", 1)[1]
    hostname, port = host.rsplit(":", 1)
    body = Path(body_file).read_bytes()
    conc, n = int(conc), int(n)
    ok = b" 201 " if target == "oscar" else b" 202 "
    if target == "lambda":
        path = "/2015-03-31/functions/thumb/invocations"
        hdrs = aws_sigv4.sign("POST", path, "",
                              [("Host", host), ("X-Amz-Invocation-Type", "Event")],
                              body, auth[0], auth[1], REGION, "lambda")
        signed = (f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs) +
                  f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    def request_bytes(k):
        if target == "lambda":
            return signed
        return (f"POST /job/grayify HTTP/1.1\r\nHost: {host}\r\n"
                f"Authorization: Bearer {auth[0]}\r\nX-Delegated-Job-ID: base-{k}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode() + body

    sel = selectors.DefaultSelector()
    conns = []
    for _ in range(conc):
        s = socket.create_connection((hostname, int(port)))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        conns.append(s)
    lat, errors, issued, answered = [], 0, 0, 0
    state = {}

    def send_next(s):
        nonlocal issued
        if issued >= n:
            sel.unregister(s)
            return
        req = request_bytes(issued)
        issued += 1
        state[s] = [time.monotonic(), b""]
        s.sendall(req)   # a few KB into an empty socket buffer: never blocks here

    for s in conns:
        sel.register(s, selectors.EVENT_READ)
        send_next(s)
    while answered < n:
        for key, _ in sel.select(30):
            s = key.fileobj
            chunk = s.recv(65536)
            if not chunk:
                raise SystemExit("connection closed by the fake")
            st = state[s]
            st[1] += chunk
            buf = st[1]
            i = buf.find(b"\r\n\r\n")
            if i < 0:
                continue
            m = re.search(rb"(?im)^content-length:\s*(\d+)", buf[:i])
            if len(buf) < i + 4 + (int(m.group(1)) if m else 0):
                continue
            lat.append(time.monotonic() - st[0])
            answered += 1
            if ok not in buf.split(b"\r\n", 1)[0] + b" ":
                errors += 1
            send_next(s)
    for s in conns:
        s.close()
    print(json.dumps({"requests": len(lat), "errors": errors,
                      "p50_ms": round(pct(lat, 50) * 1000, 2),
                      "p99_ms": round(pct(lat, 99) * 1000, 2)}))


# -- report ------------------------------------------------------------------------------------
def sel(rows, **kw):
    return [r for r in rows if all(r.get(k) == v for k, v in kw.items())]


def fmt(vals, key, digits=0, prefix="", median=statistics.median):
    xs = sorted(v[key] for v in vals if v.get(key) is not None)
    if not xs:
        return "–"
    m = median(xs)
    f = (lambda x: f"{prefix}{x:,.{digits}f}")
    return f"**{f(m)}** ({f(xs[0])} – {f(xs[-1])})" if len(xs) > 1 and xs[0] != xs[-1] \
        else f"**{f(m)}**"


def ratio(rows, **kw):
    """Median over runs of (sluice ÷ fake alone) of the same run."""
    rs = []
    for r in sel(rows, system="sluice", **kw):
        a = sel(rows, system="fake alone", run=r["run"], **kw)
        if a:
            rs.append({"x": r["per_s"] / a[0]["per_s"]})
    return fmt(rs, "x", 2)


def render(rows, meta):
    rows = [r for r in rows if r.get("bench") == "invoke"]
    runs = max(r["run"] for r in rows)
    counts = {}
    for r in sorted(rows, key=lambda r: (r["delay_ms"], r["concurrency"])):
        counts[f"{r['delay_ms']:g} ms × C {r['concurrency']}"] = r["events"]
    out = [BEGIN, "### FaaS invocations (`type: oscar`, `type: lambda`): deliveries next to the fake's own capacity", "",
           f"{meta['date']} · {meta['cores']} cores · commit `{meta['commit']}` · "
           f"{meta['sched']} · load before {meta['load_before']} · {meta['duration']} · "
           f"{runs} runs per figure, median (min – max) · events per "
           f"cell: {', '.join(f'{k}: {v:,}' for k, v in counts.items())} · measured by "
           "`bench/invoke_bench.py` (its docstring has every window).", "",
           "What each column is. *sluice deliveries/s*: N deliveries from a queue filled "
           "beforehand (a copy of one prepared state per cell), N ÷ (last answer − first "
           "request) as the fake stamps them. *attempt p99 / mean*: sluice's own "
           "`sluice_delivery_attempt_seconds` histogram (deliver() call to result: the request "
           "as sluice sees it, no queueing time); its buckets are coarse (1, 2.5, 5, 10, 25, 50, "
           "100, 250 ms …), so the p99 is the upper bound of the bucket that holds it (≤; the "
           "median is the higher middle run, a bucket bound), and the mean is exact (sum ÷ count). *fake alone*: the same fake, delay and N, loaded by "
           "a Python client with C kept-alive connections (one thread with `selectors`, its own "
           "process; sluice's own body and authentication); same window; its p99 is exact, at the "
           "client. *ideal* = C ÷ delay. *CPU*: sluice's user + system time per delivery, from "
           "the fake's first answer to the last settlement (start-up excluded). The fakes listen "
           "with a backlog of 1,024 here (see `deep_backlog` in the script: with their default "
           "of 5, sluice's 64 connections opened at once met SYN retransmissions and took "
           "seconds).", "",
           "| target | fake delay | C | ideal /s | sluice deliveries/s | sluice attempt p99 (bucket) | sluice attempt mean (ms) | fake alone req/s | fake alone p99 (ms) | sluice ÷ fake alone | sluice CPU µs/delivery |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for target, name in (("oscar", "OSCAR `/job`"), ("lambda", "Lambda Event")):
        for delay in DELAYS:
            for conc in CONCURRENCIES:
                kw = {"target": target, "delay_ms": delay * 1000, "concurrency": conc}
                s, a = sel(rows, system="sluice", **kw), sel(rows, system="fake alone", **kw)
                out.append(
                    f"| {name} | {delay * 1000:g} ms | {conc} | {conc / delay:,.0f} "
                    f"| {fmt(s, 'per_s')} | {fmt(s, 'p99_bucket_ms', 1, '≤ ', statistics.median_high)} ms "
                    f"| {fmt(s, 'mean_ms', 2)} | {fmt(a, 'per_s')} | {fmt(a, 'p99_ms', 2)} "
                    f"| {ratio(rows, **kw)} | {fmt(s, 'cpu_us_per_delivery')} |")
    odd = [f"{r['target']} {r['delay_ms']:g} ms C {r['concurrency']} run {r['run']}: "
           f"{r['requests']} requests, {r['non_ok']} not 201/202"
           + (f", {r['attempts']:.0f} attempts for {r['events']} deliveries"
              if r.get("attempts") is not None else "")
           for r in rows if r["non_ok"] or r.get("client_errors")
           or (r.get("attempts") is not None and r["attempts"] != r["events"])]
    out += ["", "The fakes are single-process Python servers (one interpreter lock, a thread per "
            "connection) on the same cores as sluice: where *fake alone* is far below *ideal*, "
            "the fake is the limit of both columns, and a ratio near 1 says sluice keeps up with "
            "it. " + ("Every request was answered 201 (OSCAR) or 202 (Lambda), every delivery "
                      "on its first attempt." if not odd else
                      "Requests not answered 201/202, or deliveries that took more than one "
                      "attempt: " + "; ".join(odd) + "."), END]
    return "\n".join(out)


def events_for(args, delay, conc):
    """N per cell: about 3 s at the ideal rate, between 150 and --events."""
    return max(min(150, args.events), min(args.events, int(3 * conc / delay)))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "client":
        return client(*sys.argv[2:])
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["all", "render"])
    ap.add_argument("--results", help="render: the JSON lines of an earlier `all`")
    ap.add_argument("--sluice")
    ap.add_argument("--dir")
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--targets", default="oscar,lambda")
    ap.add_argument("--readme")
    args = ap.parse_args()
    if args.mode == "render":
        rows = [json.loads(line) for line in open(args.results) if line.strip()]
        meta = next(r for r in rows if r.get("bench") == "invoke_run")
        block = render(rows, meta)
        if args.readme:
            update_readme(args.readme, block, BEGIN, END, README_AFTER)
        else:
            print(block)
        return
    if not args.sluice or not args.dir:
        ap.error("all needs --sluice and --dir")
    os.environ.setdefault("SLUICE_BIN", args.sluice)
    deep_backlog()
    Path(args.dir).mkdir(parents=True, exist_ok=True)
    targets = args.targets.split(",")
    meta = run_meta("invoke_run")
    t_start = time.monotonic()
    rows = []
    for run in range(1, args.runs + 1):
        for target in targets:
            for delay in DELAYS:
                for conc in CONCURRENCIES:
                    n = events_for(args, delay, conc)
                    prep = prepare(args.sluice, args.dir, target, n)
                    log(f"{target}, delay {delay * 1000:g} ms, concurrency {conc}, {n} events, "
                        f"run {run}/{args.runs}")
                    row, body = sluice_cell(args, prep, target, delay, conc, n, run)
                    alone = alone_cell(args, body, target, delay, conc, n, run)
                    for r in (row, alone):
                        print(json.dumps(r), flush=True)
                        log(json.dumps(r))
                        rows.append(r)
                    shutil.rmtree(body.parent, ignore_errors=True)
    secs = time.monotonic() - t_start
    meta["duration"] = f"{int(secs // 60)}m{int(secs % 60):02d}s"
    print(json.dumps(meta), flush=True)
    if args.readme:
        update_readme(args.readme, render(rows, meta), BEGIN, END, README_AFTER)


if __name__ == "__main__":
    main()
