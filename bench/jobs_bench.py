#!/usr/bin/env python3
"""The supervisor-jobs section of bench/run.sh (`BENCH_ONLY=jobs`): how long a `type:
supervisor` sink (the local job runner) takes from the durable commit of an event to the start
of its job's process, and how many no-op jobs per second it runs at sink concurrency 1 and 16,
each next to a plain `posix_spawn()` loop starting the same program (bench/spawn_loop.c) in the
same run.

    jobs_bench.py all --sluice BIN --dir DIR [--runs R] [--latency-jobs N] [--latency-rate R]
                      [--c1-jobs N] [--c16-jobs N] [--readme bench/README.md]
    jobs_bench.py render --results RESULTS.jsonl [--readme bench/README.md]

Prints one JSON line per figure; with --readme, rewrites the block between the
results-jobs:begin/end markers of that file (placed after the invoke block, or after the
Results, when missing).

The job: bench/noop_job.c, compiled here with `cc -O2` into DIR. First thing in main() it reads
CLOCK_REALTIME and appends one line "<SLUICE_EVENT_ID> <SLUICE_COMMITTED_MS> <now, Unix µs>" to
$NOOP_LOG (the sink's `env:`) with one write() on an O_APPEND descriptor, then exits 0. "Job
start" below is always that stamp: the job's main(), after fork/exec and the dynamic loader.
The baseline: bench/spawn_loop.c, also `cc -O2`: posix_spawn() of the same binary, N times, C
children in flight (waitpid), no file actions, in an environment shaped like a job's (the same
variables, EVENT being the CloudEvent that sluice wrote to a job folder's event.json in the
latency cell), with SLUICE_EVENT_ID (32 characters, like sluice's ids) and SLUICE_COMMITTED_MS
set per child.

The sink (every cell): `type: supervisor`, `command: [DIR/noop_job]`, `env: {NOOP_LOG: ...}`,
`timeout: 30s`, `keep_jobs: 100` (so that in every window each finished job also retires the
oldest job folder, as in a long-running daemon), fed by a `local` source (`events: [created]`).

How a figure is measured:
- commit → start latency (sluice): `sluice run`, sink concurrency 16 (a slot is always free:
  a job holds its slot for a few ms, the files arrive every 20 ms); once it logs `running`,
  this process writes --latency-jobs files (64 bytes, open/write/close) into the inbox on a
  fixed schedule of --latency-rate files/s, each moved by a random 0–1 ms (see below). Per
  job: start stamp ÷ 1000 − SLUICE_COMMITTED_MS. That variable is the `first_seen` the queue
  stored: the wall-clock ms taken by the queue's writer thread inside the transaction that
  stores the event (daemon/queue_sqlite.cpp, insertBatch), i.e. right before that
  transaction's COMMIT and its fsync. So the figure holds the rest of the durable commit (the
  fsync), the dispatcher's wake-up and lease transaction, the job folder (event.json
  written), the fork + execve and the job's own loader. SLUICE_COMMITTED_MS is whole
  milliseconds (truncated), which adds 0–1 ms (0.5 on average) to every value; without the
  jitter, a schedule of exactly 20 ms would put every stamp at the same place in its
  millisecond and add one offset, anywhere from 0 to 1 ms, to a whole run.
  Checked: N distinct jobs, `sluice_deliveries_done_total{sink="job"}` = N.
- commit → start latency (baseline): spawn_loop with C 1 on the same schedule (--latency-rate,
  the same 0–1 ms jitter), SLUICE_COMMITTED_MS = the wall-clock ms taken right before each
  posix_spawn() call, and the same formula: start ÷ 1000 − SLUICE_COMMITTED_MS (the same
  truncation, so the two columns compare). Its exact value (µs stamp before the call →
  start) is kept as well (`exact_p50_ms`, `exact_p99_ms`).
- jobs/s at concurrency C (sluice): the queue is filled beforehand, once per N, so that the
  window holds jobs only: N files in a directory, `sluice once` with a `local` source on it and
  a webhook sink of the same name (`job`) pointed at a closed port with `max_attempts: 1`
  (each delivery is refused at once and dead-lettered), then `sluice queue replay --all` (due
  again). Each cell starts `sluice run` on a copy of that state (the start-up scan finds
  nothing new: the source index knows every file) with the supervisor sink at `concurrency:
  C`. Window: from the first job start to the last job start, both the jobs' own stamps;
  jobs/s = (N − 1) ÷ window. Checked: N distinct jobs ran, `sluice_deliveries_done_total` = N.
  Also kept: sluice's own CPU (utime + stime of the daemon, not of its jobs) per job, from
  the first job's line to the last settlement.
- jobs/s at concurrency C (baseline): spawn_loop with N and C, as fast as it can; the same
  window from the same lines: (N − 1) ÷ (last start − first start). Also kept: the loop's
  own CPU per job (getrusage, the whole loop).
N per cell: --c1-jobs (C 1) and --c16-jobs (C 16), both sides the same N. Each run measures,
in order: latency (sluice, then baseline), then C 1 and C 16 (sluice, then baseline each).
Every cell keeps its folder under DIR (bench/run.sh removes DIR at the end): deleting thousands
of files between cells would leave the file system busy with them (ext4 skips recently
deleted inodes when it allocates new ones, and journals the deletions) inside the next window.
"""
import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "integration"))
from harness import free_port, to_yaml  # noqa: E402
from bench_common import metrics, run_meta, update_readme  # noqa: E402

BEGIN, END = "<!-- results-jobs:begin -->", "<!-- results-jobs:end -->"
README_AFTER = ("<!-- results-invoke:end -->\n", "<!-- results-federated:end -->\n",
                "<!-- results:end -->\n")
SINK = "job"
CONCURRENCIES = (1, 16)
LATENCY_CONCURRENCY = 16
KEEP_JOBS = 100


def log(msg):
    print(f"[jobs_bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def psi_some_avg10():
    """CPU pressure from other work right before the section (PSI `some` avg10), or n/a."""
    try:
        for line in Path("/proc/pressure/cpu").read_text().splitlines():
            if line.startswith("some"):
                return line.split()[1].split("=")[1] + "%"
    except OSError:
        pass
    return "n/a"


def build(dest):
    """noop_job and spawn_loop, `cc -O2`, into dest."""
    out = {}
    for name in ("noop_job", "spawn_loop"):
        exe = Path(dest) / name
        subprocess.run(["cc", "-O2", "-o", str(exe), str(HERE / f"{name}.c")], check=True)
        out[name] = str(exe)
    return out


# -- sluice ------------------------------------------------------------------------------------
def write_config(path, state, inbox, sink, port):
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


def supervisor_sink(noop, noop_log, conc):
    return {"name": SINK, "type": "supervisor", "command": [noop], "concurrency": conc,
            "timeout": "30s", "keep_jobs": KEEP_JOBS, "env": {"NOOP_LOG": str(noop_log)}}


def done_count(port):
    total = 0.0
    for line in metrics(port).splitlines():
        if line.startswith("sluice_deliveries_done_total{") and f'sink="{SINK}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Sluice:
    """`sluice run -c CONFIG` until stop(); start() returns once it logs `running`."""

    def __init__(self, sluice, d):
        self.sluice, self.dir = sluice, Path(d)

    def start(self):
        self.logf = open(self.dir / "sluice.log", "wb")
        self.proc = subprocess.Popen([self.sluice, "run", "-c", str(self.dir / "sluice.yaml")],
                                     stdout=self.logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        end = time.monotonic() + 120
        while b" running: " not in (self.dir / "sluice.log").read_bytes():
            if self.proc.poll() is not None or time.monotonic() > end:
                self.stop()
                raise SystemExit(f"sluice did not start; see {self.dir}/sluice.log")
            time.sleep(0.01)
        return self

    def check(self):
        if self.proc.poll() is not None:
            raise SystemExit(f"sluice exited ({self.proc.returncode}); see {self.dir}/sluice.log")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.logf.close()


def read_lines(path):
    """[(id, committed_ms, start_us)] of the complete lines of a NOOP_LOG."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    out = []
    for line in data.split(b"\n")[:-1]:
        i, c, s = line.decode().split()
        out.append((i, int(c) if c != "-" else None, int(s)))
    return out


def wait_lines(path, n, timeout, daemon=None, what="jobs"):
    end = time.monotonic() + timeout
    while True:
        lines = read_lines(path)
        if len(lines) >= n:
            return lines
        if daemon:
            daemon.check()
        if time.monotonic() > end:
            raise SystemExit(f"timed out: {len(lines)} of {n} {what} started ({path})")
        time.sleep(0.01)


def wait_done(port, n, timeout):
    end = time.monotonic() + timeout
    while True:
        done = done_count(port)
        if done >= n or time.monotonic() > end:
            return done
        time.sleep(0.02)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))] if xs else None


def latency_stats(ms):
    return {"p50_ms": round(pct(ms, 50), 2), "p99_ms": round(pct(ms, 99), 2),
            "max_ms": round(max(ms), 2), "mean_ms": round(statistics.fmean(ms), 2)}


def throughput(lines, n):
    starts = sorted(s for _, _, s in lines)
    secs = (starts[-1] - starts[0]) / 1e6
    return {"seconds": round(secs, 4), "per_s": round((n - 1) / secs, 1) if secs > 0 else None}


def check_jobs(lines, n, where):
    ids = [i for i, _, _ in lines]
    if len(ids) != n or len(set(ids)) != n:
        raise SystemExit(f"{len(ids)} job starts, {len(set(ids))} distinct, for {n} events; "
                         f"see {where}")


# -- the latency cells -----------------------------------------------------------------------------
def sluice_latency(args, tools, run):
    n, rate = args.latency_jobs, args.latency_rate
    d = Path(args.dir) / f"latency-{run}"
    shutil.rmtree(d, ignore_errors=True)
    (d / "inbox").mkdir(parents=True)
    noop_log = d / "noop.log"
    port = free_port()
    write_config(d / "sluice.yaml", d / "state", d / "inbox",
                 supervisor_sink(tools["noop_job"], noop_log, LATENCY_CONCURRENCY), port)
    daemon = Sluice(args.sluice, d).start()
    try:
        payload = b"x" * 64
        t0 = time.monotonic()
        for i in range(n):
            delay = t0 + i / rate + random.random() / 1000 - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            with open(d / "inbox" / f"f{i:06d}.dat", "wb") as f:
                f.write(payload)
        lines = wait_lines(noop_log, n, 60, daemon)
        done = wait_done(port, n, 30)
    finally:
        daemon.stop()
    check_jobs(lines, n, d)
    if done < n:
        raise SystemExit(f"sluice counted {done} of {n} deliveries done; see {d}")
    event = next(iter(sorted((d / "state" / "jobs" / SINK).glob("*/event.json"))), None)
    if event:
        shutil.copy(event, Path(args.dir) / "event.json")
    lat = [s / 1000 - c for _, c, s in lines]
    row = {"bench": "jobs_latency", "system": "sluice", "run": run, "jobs": n, "rate": rate,
           "concurrency": LATENCY_CONCURRENCY, **latency_stats(lat), "done": done}
    return row


def job_environment(args, noop_log):
    """The environment of a supervisor job (supervisor_sink.cpp), for the baseline's children."""
    d = Path(args.dir) / "home"
    d.mkdir(exist_ok=True)
    ev = Path(args.dir) / "event.json"
    event = ev.read_text() if ev.exists() else json.dumps({"specversion": "1.0", "pad": "x" * 900})
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(d), "LANG": "C.UTF-8",
            "TMP_INPUT_DIR": str(d / "input"), "TMP_OUTPUT_DIR": str(d / "output"),
            "STORAGE_OBJECT_KEY": str(d / "inbox" / "f000000.dat"),
            "INPUT_FILE_PATH": str(d / "inbox" / "f000000.dat"),
            "EVENT_TIME": "2026-01-01T00:00:00.000Z", "EVENT": event,
            "SLUICE_EVENT_TYPE": "created", "SLUICE_SINK": SINK, "SLUICE_ATTEMPT": "1",
            "NOOP_LOG": str(noop_log)}


def spawn_loop(args, tools, n, conc, interval_us, d):
    noop_log, starts = d / "noop.log", d / "starts"
    p = subprocess.run([tools["spawn_loop"], tools["noop_job"], str(n), str(conc),
                        str(interval_us), str(starts)], env=job_environment(args, noop_log),
                       capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise SystemExit(f"spawn_loop failed ({p.returncode}): {p.stderr}")
    lines = read_lines(noop_log)
    check_jobs(lines, n, d)
    t0 = dict(line.split() for line in starts.read_text().splitlines())
    return json.loads(p.stdout), lines, {i: int(t) for i, t in t0.items()}


def baseline_latency(args, tools, run):
    n, rate = args.latency_jobs, args.latency_rate
    d = Path(args.dir) / f"latency-base-{run}"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    out, lines, t0 = spawn_loop(args, tools, n, 1, int(1e6 / rate), d)
    lat = [s / 1000 - c for _, c, s in lines]
    exact = [(s - t0[i]) / 1000 for i, _, s in lines]
    return {"bench": "jobs_latency", "system": "posix_spawn loop", "run": run, "jobs": n,
            "rate": rate, "concurrency": 1, **latency_stats(lat),
            "exact_p50_ms": round(pct(exact, 50), 3), "exact_p99_ms": round(pct(exact, 99), 3)}


# -- the throughput cells ------------------------------------------------------------------------
def prepare(args, n):
    """DIR/prep-N/{inbox, state}: N deliveries of sink `job`, pending and due now."""
    d = Path(args.dir) / f"prep-{n}"
    if (d / "ready").exists():
        return d
    shutil.rmtree(d, ignore_errors=True)
    (d / "inbox").mkdir(parents=True)
    for i in range(n):
        (d / "inbox" / f"f{i:06d}.dat").write_bytes(b"x" * 64)
    sink = {"name": SINK, "type": "webhook", "url": f"http://127.0.0.1:{free_port()}/closed",
            "max_attempts": 1, "concurrency": 64}
    cfg = d / "prep.yaml"
    write_config(cfg, d / "state", d / "inbox", sink, free_port())
    with open(d / "prep.log", "wb") as f:
        subprocess.run([args.sluice, "once", "-c", str(cfg)], stdout=f, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, timeout=600)
        subprocess.run([args.sluice, "queue", "replay", "--all", "-c", str(cfg)], stdout=f,
                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=600, check=True)
    stats = json.loads(subprocess.run([args.sluice, "queue", "stats", "--json", "-c", str(cfg)],
                                      capture_output=True, text=True, check=True).stdout)
    pending = stats["sinks"][SINK]["pending"]
    if pending != n:
        raise SystemExit(f"prepared queue has {pending} pending deliveries, not {n}; see {d}")
    (d / "ready").touch()
    return d


def sluice_throughput(args, tools, prep, conc, n, run):
    d = Path(args.dir) / f"c{conc}-{run}"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    shutil.copytree(prep / "state", d / "state")
    noop_log = d / "noop.log"
    port = free_port()
    write_config(d / "sluice.yaml", d / "state", prep / "inbox",
                 supervisor_sink(tools["noop_job"], noop_log, conc), port)
    daemon = Sluice(args.sluice, d).start()
    try:
        wait_lines(noop_log, 1, 60, daemon)
        cpu0 = cpu_seconds(daemon.proc.pid)
        lines = wait_lines(noop_log, n, 60 + n / 20, daemon)
        done = wait_done(port, n, 30)
        cpu = cpu_seconds(daemon.proc.pid) - cpu0
    finally:
        daemon.stop()
    check_jobs(lines, n, d)
    if done < n:
        raise SystemExit(f"sluice counted {done} of {n} deliveries done; see {d}")
    return {"bench": "jobs_throughput", "system": "sluice", "run": run, "jobs": n,
            "concurrency": conc, **throughput(lines, n), "done": done,
            "cpu_us_per_job": round(cpu * 1e6 / n, 1)}


def baseline_throughput(args, tools, conc, n, run):
    d = Path(args.dir) / f"c{conc}-base-{run}"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    out, lines, _ = spawn_loop(args, tools, n, conc, 0, d)
    return {"bench": "jobs_throughput", "system": "posix_spawn loop", "run": run, "jobs": n,
            "concurrency": conc, **throughput(lines, n),
            "cpu_us_per_job": out["spawner_cpu_us_per_job"]}


# -- report ------------------------------------------------------------------------------------
def sel(rows, **kw):
    return [r for r in rows if all(r.get(k) == v for k, v in kw.items())]


def fmt(vals, key, digits=0):
    xs = sorted(v[key] for v in vals if v.get(key) is not None)
    if not xs:
        return "–"
    m = statistics.median(xs)
    f = (lambda x: f"{x:,.{digits}f}")
    return f"**{f(m)}** ({f(xs[0])} – {f(xs[-1])})" if len(xs) > 1 and xs[0] != xs[-1] \
        else f"**{f(m)}**"


def ratio(rows, conc):
    """Median over runs of (sluice ÷ posix_spawn loop) of the same run."""
    rs = []
    for r in sel(rows, bench="jobs_throughput", system="sluice", concurrency=conc):
        b = sel(rows, bench="jobs_throughput", system="posix_spawn loop", concurrency=conc,
                run=r["run"])
        if b and b[0]["per_s"]:
            rs.append({"x": r["per_s"] / b[0]["per_s"]})
    return fmt(rs, "x", 2)


def render(rows, meta):
    lat = sel(rows, bench="jobs_latency")
    thr = sel(rows, bench="jobs_throughput")
    runs = max(r["run"] for r in rows if "run" in r)
    s_lat, b_lat = sel(lat, system="sluice"), sel(lat, system="posix_spawn loop")
    n_lat = lat[0]["jobs"] if lat else 0
    rate = lat[0]["rate"] if lat else 0
    counts = ", ".join(f"C {c}: {sel(thr, concurrency=c)[0]['jobs']:,}"
                       for c in CONCURRENCIES if sel(thr, concurrency=c))
    out = [BEGIN, "### Supervisor jobs (`type: supervisor`): a no-op job next to a plain `posix_spawn` loop", "",
           f"{meta['date']} · {meta['cores']} cores · commit `{meta['commit']}` · "
           f"{meta['sched']} · load before {meta['load_before']} · CPU pressure before (PSI some "
           f"avg10) {meta.get('psi_before', 'n/a')} · {meta['duration']} · "
           f"{runs} runs per figure, median (min – max) · {n_lat:,} jobs at {rate:g} files/s "
           f"for the latency, jobs per throughput cell: {counts} · measured by "
           "`bench/jobs_bench.py` (its docstring has every window).", "",
           "The job is bench/noop_job.c (`cc -O2`): first thing in `main()` it reads "
           "CLOCK_REALTIME and appends one line (event id, `SLUICE_COMMITTED_MS`, that stamp in "
           "µs) to a log with one `write()`, then exits 0; *job start* is that stamp. The "
           "baseline, bench/spawn_loop.c (`cc -O2`), starts the same binary with "
           "`posix_spawn()` (no file actions), C children in flight, in an environment shaped "
           "like a job's. The sink: `command: [noop_job]`, `keep_jobs: 100`, a `local` source.",
           "",
           "**Commit → job start** (ms). sluice: "
           f"{n_lat:,} files written into the watched folder at {rate:g} per second (each moved by a "
           "random 0–1 ms), sink "
           f"`concurrency: {LATENCY_CONCURRENCY}`; per job, start − `SLUICE_COMMITTED_MS` (the "
           "queue's `first_seen`: taken in the transaction that stores the event, before its "
           "COMMIT and fsync — so the fsync, the dispatcher's lease, the job folder, fork + "
           "execve and the loader are in it). Baseline: the loop on the same schedule, C 1, start − "
           "the ms stamp taken right before `posix_spawn()`. Both stamps are whole "
           "milliseconds (truncated): +0–1 ms (0.5 on average) on both sides; the loop's exact "
           "figure (µs stamp) is in the last column.", "",
           "| pipeline | p50 | p99 | max | mean | exact p50 / p99 (µs stamp) |",
           "|---|---:|---:|---:|---:|---:|",
           f"| sluice: file committed → supervisor job's `main()` | {fmt(s_lat, 'p50_ms', 2)} "
           f"| {fmt(s_lat, 'p99_ms', 2)} | {fmt(s_lat, 'max_ms', 2)} | {fmt(s_lat, 'mean_ms', 2)} | – |",
           f"| baseline: `posix_spawn()` call → `main()` | {fmt(b_lat, 'p50_ms', 2)} "
           f"| {fmt(b_lat, 'p99_ms', 2)} | {fmt(b_lat, 'max_ms', 2)} | {fmt(b_lat, 'mean_ms', 2)} "
           f"| {fmt(b_lat, 'exact_p50_ms', 3)} / {fmt(b_lat, 'exact_p99_ms', 3)} |", "",
           "**Jobs/s.** sluice: N deliveries from a queue filled beforehand (a copy of one "
           "prepared state per cell), sink `concurrency: C`. Both sides: (N − 1) ÷ (last job "
           "start − first job start), from the jobs' own stamps. *CPU µs/job*: sluice's own "
           "user + system time (not its jobs'), first job to last settlement; the loop's own, "
           "for the whole loop.", "",
           "| C | jobs | sluice jobs/s | `posix_spawn` loop jobs/s | sluice ÷ loop | sluice CPU µs/job | loop CPU µs/job |",
           "|---:|---:|---:|---:|---:|---:|---:|"]
    for conc in CONCURRENCIES:
        s = sel(thr, system="sluice", concurrency=conc)
        b = sel(thr, system="posix_spawn loop", concurrency=conc)
        if not s and not b:
            continue
        out.append(f"| {conc} | {(s or b)[0]['jobs']:,} | {fmt(s, 'per_s')} | {fmt(b, 'per_s')} "
                   f"| {ratio(rows, conc)} | {fmt(s, 'cpu_us_per_job')} "
                   f"| {fmt(b, 'cpu_us_per_job')} |")
    out += ["", "Every job ran once (N distinct event ids in the job log) and every delivery "
            "was counted done (`sluice_deliveries_done_total`). sluice, its jobs and the loop "
            "share the same cores.", END]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["all", "render"])
    ap.add_argument("--results", help="render: the JSON lines of an earlier `all`")
    ap.add_argument("--sluice")
    ap.add_argument("--dir")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--latency-jobs", type=int, default=300)
    ap.add_argument("--latency-rate", type=float, default=50)
    ap.add_argument("--c1-jobs", type=int, default=500)
    ap.add_argument("--c16-jobs", type=int, default=1000)
    ap.add_argument("--readme")
    args = ap.parse_args()
    if args.mode == "render":
        rows = [json.loads(line) for line in open(args.results) if line.strip()]
        meta = next(r for r in rows if r.get("bench") == "jobs_run")
        block = render(rows, meta)
        if args.readme:
            update_readme(args.readme, block, BEGIN, END, README_AFTER)
        else:
            print(block)
        return
    if not args.sluice or not args.dir:
        ap.error("all needs --sluice and --dir")
    Path(args.dir).mkdir(parents=True, exist_ok=True)
    tools = build(args.dir)
    meta = {**run_meta("jobs_run"), "psi_before": psi_some_avg10()}
    t_start = time.monotonic()
    jobs = {1: args.c1_jobs, 16: args.c16_jobs}
    preps = {}
    for conc in CONCURRENCIES:
        if jobs[conc] not in preps:
            log(f"filling a queue with {jobs[conc]} pending deliveries")
            preps[jobs[conc]] = prepare(args, jobs[conc])
    rows = []

    def emit(r):
        print(json.dumps(r), flush=True)
        log(json.dumps(r))
        rows.append(r)

    for run in range(1, args.runs + 1):
        log(f"commit → start: {args.latency_jobs} files at {args.latency_rate:g}/s, sluice then "
            f"posix_spawn loop, run {run}/{args.runs}")
        emit(sluice_latency(args, tools, run))
        emit(baseline_latency(args, tools, run))
        for conc in CONCURRENCIES:
            n = jobs[conc]
            log(f"jobs/s at concurrency {conc}, {n} jobs, sluice then posix_spawn loop, "
                f"run {run}/{args.runs}")
            emit(sluice_throughput(args, tools, preps[n], conc, n, run))
            emit(baseline_throughput(args, tools, conc, n, run))
    secs = time.monotonic() - t_start
    meta["duration"] = f"{int(secs // 60)}m{int(secs % 60):02d}s"
    print(json.dumps(meta), flush=True)
    if args.readme:
        update_readme(args.readme, render(rows, meta), BEGIN, END, README_AFTER)


if __name__ == "__main__":
    main()
