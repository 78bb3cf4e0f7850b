#!/usr/bin/env python3
"""Helpers for bench/run.sh: waiting for deliveries, turning logs into figures, and writing
the results section of bench/README.md.

    report.py wait    --writes W.tsv --log ACCESS_LOG --offset BYTES [--stall S] [--timeout S]
    report.py e2e     --writes W.tsv --log ACCESS_LOG --offset BYTES --system sluice|naive
                      --workload NAME [--run N] [--extra JSON]
    report.py summary --results RESULTS.jsonl [--machine MACHINE.json] [--readme README.md]
                      [--only s3]
    report.py merge   --section s3 --results RESULTS.jsonl --into bench/last-run.jsonl

`summary` can be re-run on bench/last-run.jsonl alone (it holds the machine line too), e.g.
after changing how the tables look: python3 bench/report.py summary --results
bench/last-run.jsonl --readme bench/README.md

`summary --only s3` renders only the object-store block and puts it between the
results-s3:begin/end markers inside the Results section (inserted at its end when missing), leaving the other figures alone: what `BENCH_ONLY=s3 bench/run.sh` does. `merge`
then replaces the s3 lines of bench/last-run.jsonl with the new ones (and keeps that run's
machine line, tagged "section": "s3"), so that a full re-render shows the same figures.

The access log holds one line per request received: "<$msec> <$http_ce_subject>" (nginx,
arrival time with millisecond resolution, and the file path the event names). The writes file
holds "<close time>\t<path>" per file written (bench/writer.py).
"""
import argparse
import json
import math
import os
import re
import statistics
import sys
import time
import urllib.parse


# --- reading -------------------------------------------------------------------------------

def read_writes(path):
    closed = {}
    with open(path) as f:
        for line in f:
            t, p = line.rstrip("\n").split("\t", 1)
            closed[p] = float(t)
    return closed


class Arrivals:
    """Incrementally reads the access log from an offset: first arrival time per path."""

    def __init__(self, log, offset, wanted):
        self.log, self.pos, self.wanted = log, offset, wanted
        self.first = {}
        self.requests = 0   # requests for wanted paths, duplicates included
        self.last_change = time.time()
        self.partial = b""

    def poll(self):
        try:
            with open(self.log, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except FileNotFoundError:
            return
        if not data:
            return
        self.pos += len(data)
        data = self.partial + data
        lines = data.split(b"\n")
        self.partial = lines.pop()
        for raw in lines:
            parts = raw.decode("utf-8", "replace").split(" ", 1)
            if len(parts) != 2:
                continue
            path = urllib.parse.unquote(parts[1])  # ce-* values are percent-encoded
            if path not in self.wanted:
                continue
            self.requests += 1
            self.last_change = time.time()
            t = float(parts[0])
            if path not in self.first or t < self.first[path]:
                self.first[path] = t


def wait(writes, log, offset, stall, timeout):
    closed = read_writes(writes)
    arr = Arrivals(log, offset, closed)
    start = time.time()
    arr.last_change = start
    while True:
        arr.poll()
        if len(arr.first) >= len(closed):
            time.sleep(0.5)  # let late duplicates (if any) reach the log
            arr.poll()
            break
        now = time.time()
        if now - arr.last_change > stall or now - start > timeout:
            break
        time.sleep(0.1)
    return closed, arr


def pct(sorted_vals, p):
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, math.ceil(p / 100.0 * len(sorted_vals)) - 1))
    return sorted_vals[k]


def e2e_figures(closed, arr):
    lat = sorted((arr.first[p] - closed[p]) * 1000.0 for p in arr.first)
    arrived = len(arr.first)
    out = {
        "files": len(closed),
        "arrived": arrived,
        "lost": len(closed) - arrived,
        "duplicates": arr.requests - arrived,
        "p50_ms": pct(lat, 50),
        "p99_ms": pct(lat, 99),
        "max_ms": lat[-1] if lat else None,
    }
    if arrived:
        first_close = min(closed.values())
        last_arrival = max(arr.first.values())
        last_close = max(closed.values())
        span = max(last_arrival - first_close, 1e-3)
        out["files_per_s"] = arrived / span
        out["write_seconds"] = last_close - first_close
        out["seconds_to_last"] = span
        out["offered_per_s"] = len(closed) / max(last_close - first_close, 1e-3)
    return out


# --- summary -------------------------------------------------------------------------------

def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                rows.append(json.loads(line))
    return rows


def stats(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return (min(vals), statistics.median(vals), max(vals), len(vals))


def num(v, digits=None):
    if v is None:
        return "–"
    if digits is None:
        a = abs(v)
        digits = 0 if a >= 100 else 1 if a >= 10 else 2
    s = f"{v:,.{digits}f}"
    return s


def mmm(vals, digits=None, bold=True):
    s = stats(vals)
    if not s:
        return "–"
    lo, med, hi, _ = s
    m = num(med, digits)
    return f"{num(lo, digits)} / {'**' + m + '**' if bold else m} / {num(hi, digits)}"


def med(vals):
    s = stats(vals)
    return s[1] if s else None


def pick(rows, **kw):
    return [r for r in rows if all(r.get(k) == v for k, v in kw.items())]


def machines(rows, machine=None):
    """(the run's machine line, the one the s3 figures come from: a later BENCH_ONLY=s3 run's
    when bench/last-run.jsonl was merged)."""
    ms = [r for r in rows if r.get("bench") == "machine"]
    if machine:
        main_m = json.load(open(machine))
    else:
        main_m = next((r for r in ms if not r.get("section")), ms[0] if ms else None)
    s3_m = next((r for r in ms if r.get("section") == "s3"), main_m)
    return main_m, s3_m


def summary(results, machine, readme, only=None):
    rows = load(results)
    m, m3 = machines(rows, machine)
    if only == "s3":
        out = []
        s3_block(rows, m3, out.append, own_run=True)
        return finish_part(out, readme, S3_BEGIN, S3_END)
    out = []
    w = out.append
    runs = m.get("runs")
    w(f"Generated by `bench/run.sh` on {m['date']} (commit `{m['commit']}`). "
      f"Each cell: **min / median / max over {runs} runs**; the median is in bold.")
    w("")
    w("**Machine**")
    w("")
    w(f"- CPU: {m['cpu_model']}, {m['cores']} cores; memory {m['mem']}")
    w(f"- disk (benchmark temp dir `{m['tmp']}`): {m['disk']}")
    w(f"- kernel {m['kernel']}; {m['os']}")
    w(f"- load average before / after the run: {m['load_before']} / {m['load_after']}; CPU pressure "
      f"before the run (PSI `some` avg60, share of time runnable tasks waited for a CPU): {m.get('psi')} "
      f"-- other work on the machine competes for the same {m['cores']} cores")
    w(f"- scheduling: every benchmark process (sluice, baselines, nginx, load generators) ran under "
      f"{m.get('sched')} (see `BENCH_RT` in bench/run.sh)")
    w(f"- tools: {m['tools']}")
    w(f"- command: `{m['command']}` ({m['duration']} in all); settings: {m['settings']}")
    w("")

    # Durable ingest ---------------------------------------------------------------------
    ingest_rows = pick(rows, bench="raw_append") + pick(rows, bench="queue_ingest")
    if ingest_rows:
        ingest(rows, w)

    # Receiver ---------------------------------------------------------------------------
    receiver_and_e2e(rows, m, w)
    memory_and_targets(rows, m, w)
    if pick_prefix(rows, "s3_"):
        s3_block(rows, m3, w, own_run=m3 is not m)
    return finish(out, readme)


def ingest(rows, w):
    w("### Durable ingest (events/s, fsync on), queue next to the disk's ceiling")
    w("")
    raw = pick(rows, bench="raw_append")
    rec = raw[0]["record_bytes"] if raw else "?"
    outstanding = next((r["outstanding"] for r in pick(rows, bench="queue_ingest", mode="outstanding")), "?")
    w(f"Records and events are {rec} bytes (the JSON body the queue stores for one local-file event).")
    w("")
    w("| batch | disk ceiling: raw append + `fdatasync` | disk ceiling: raw overwrite of a pre-written file + `fdatasync` "
      f"| sluice queue, 1 caller waiting on each commit | sluice queue, {outstanding} appends in flight (group commit) "
      "| queue (waiting) ÷ best ceiling |")
    w("|---:|---:|---:|---:|---:|---:|")
    batches = sorted({r["batch"] for r in raw} | {r["batch"] for r in pick(rows, bench="queue_ingest")})
    for b in batches:
        ra = [r["events_per_s"] for r in pick(rows, bench="raw_append", batch=b)]
        ro = [r["events_per_s"] for r in pick(rows, bench="raw_overwrite", batch=b)]
        qw = [r["events_per_s"] for r in pick(rows, bench="queue_ingest", mode="wait", batch=b)]
        qo = [r["events_per_s"] for r in pick(rows, bench="queue_ingest", mode="outstanding", batch=b)]
        ceiling = max([v for v in (med(ra), med(ro)) if v is not None], default=None)
        ratio = (med(qw) / ceiling) if med(qw) and ceiling else None
        w(f"| {b} | {mmm(ra)} | {mmm(ro)} | {mmm(qw)} | {mmm(qo)} | {num(ratio * 100, 0) + ' %' if ratio else '–'} |")
    w("")
    w("Where the time goes (medians; \"writer\" = the queue's writer thread, which runs every "
      "transaction; \"CPU wait\" = time it was runnable but had no CPU):")
    w("")
    w("| batch | ms per fdatasync (raw append) | ms per queue commit (waiting) | writer CPU µs per event | writer CPU wait, % of wall "
      "| bytes written per event | events per commit / ms per commit "
      f"({outstanding} in flight) |")
    w("|---:|---:|---:|---:|---:|---:|---:|")
    for b in batches:
        qw = pick(rows, bench="queue_ingest", mode="wait", batch=b)
        ms_sync = med([r["ms_per_sync"] for r in pick(rows, bench="raw_append", batch=b)])
        ms_commit = med([r["ms_per_commit"] for r in qw])
        cpu = med([r["sched"]["writer_cpu_s"] * 1e6 / r["events"] for r in qw if "sched" in r])
        waitp = med([r["sched"]["writer_runqueue_wait_s"] * 100 / r["wall_s"] for r in qw if "sched" in r])
        bpe = med([r["bytes_written_per_event"] for r in qw])
        epc = med([r["events_per_commit"] for r in pick(rows, bench="queue_ingest", mode="outstanding", batch=b)])
        mpc = med([r["ms_per_commit"] for r in pick(rows, bench="queue_ingest", mode="outstanding", batch=b)])
        w(f"| {b} | {num(ms_sync, 2)} | {num(ms_commit, 2)} | {num(cpu, 1)} | {num(waitp, 0)} | {num(bpe, 0)} "
          f"| {num(epc, 0)} / {num(mpc, 1)} |")
    w("")



def receiver_and_e2e(rows, m, w):
    rc = pick(rows, bench="receiver")
    if not rc and not pick(rows, bench="e2e"):
        return
    w("### Receiver capacity alone (nginx `return 204;`, same config and access log)")
    w("")
    if rc:
        r0 = rc[0]
        w(f"| load generator | connections | requests/s |")
        w("|---|---:|---:|")
        w(f"| {r0['tool']} | {r0['connections']} | {mmm([r['req_per_s'] for r in rc])} |")
    else:
        w("(not measured)")
    w("")

    # End to end -------------------------------------------------------------------------
    w("### End to end: files → webhook (nginx), sluice next to `inotifywait | curl`")
    w("")
    w("Latency = nginx arrival (`$msec`) − the moment the writer had closed (rate) or renamed (burst) the file. "
      "Throughput = files arrived ÷ (last arrival − first close/rename). "
      "TCP connections opened = connections nginx accepted during the run (stub_status).")
    w("")
    w("| workload | pipeline | files | files/s | p50 ms | p99 ms | max ms | lost | duplicates | TCP connections opened |")
    w("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    e2e = pick(rows, bench="e2e")
    order = []
    for r in e2e:
        k = (r["workload"], r["system"])
        if k not in order:
            order.append(k)
    for wl, sysname in order:
        rs = pick(rows, bench="e2e", workload=wl, system=sysname)
        files = sorted({r["files"] for r in rs})
        label = {"sluice": f"sluice (webhook, cloudevents-binary, concurrency {m.get('concurrency')})",
                 "naive": "naive `inotifywait -m -r \\| while read f; do curl; done`"}.get(sysname, sysname)
        wl_label = {"rate": f"{m.get('rate')} files/s for {m.get('rate_seconds')} s (written and closed)",
                    "burst": "saturation: a burst of files renamed into the inbox as fast as possible",
                    "backlog": f"{m.get('rate')} files/s for {m.get('backlog_seconds')} s to a healthy sink, while "
                               f"another sink of the same daemon has {rs[0].get('backlog', 0):,} deliveries pending "
                               f"(its receiver answers 503)"}.get(wl, wl)
        w(f"| {wl_label} | {label} | {', '.join(str(f) for f in files)} "
          f"| {mmm([r.get('files_per_s') for r in rs])} | {mmm([r.get('p50_ms') for r in rs])} "
          f"| {mmm([r.get('p99_ms') for r in rs])} | {mmm([r.get('max_ms') for r in rs])} "
          f"| {mmm([r.get('lost') for r in rs], 0)} | {mmm([r.get('duplicates') for r in rs], 0)} "
          f"| {mmm([r.get('connections') for r in rs], 0)} |")
    w("")
    sx = [r for r in pick(rows, bench="e2e", system="sluice") if r["workload"] in ("rate", "burst")]
    if sx:
        w("sluice's own counters during those runs (medians):")
        w("")
        w("| workload | sluice CPU ms per file | peak RSS MiB | inotify overflows | offered files/s (writer) |")
        w("|---|---:|---:|---:|---:|")
        for wl in [w_ for w_ in ("rate", "burst") if pick(rows, bench="e2e", system="sluice", workload=w_)]:
            rs = pick(rows, bench="e2e", system="sluice", workload=wl)
            w(f"| {wl} | {num(med([r.get('cpu_ms_per_file') for r in rs]), 3)} "
              f"| {num(med([r.get('vmhwm_kb', 0) / 1024 for r in rs]), 1)} "
              f"| {num(med([r.get('overflows') for r in rs]), 0)} "
              f"| {num(med([r.get('offered_per_s') for r in rs]))} |")
        w("")



def memory_and_targets(rows, m, w):
    if pick(rows, bench="rss"):
        w("### Memory: sluice peak RSS (VmHWM)")
        w("")
        w("| state | peak RSS MiB (VmHWM) | RSS at the end MiB (VmRSS) | of which anonymous / file-backed (shared libraries) MiB | PSS MiB | start-up until `running` s | notes |")
        w("|---|---:|---:|---:|---:|---:|---|")
    for state in ("idle", "floor", "pending"):
        rs = pick(rows, bench="rss", state=state)
        if not rs:
            continue
        notes = ""
        if state == "pending":
            p = rs[0].get("pending")
            att = med([r.get("attempts") for r in rs])
            notes = (f"{p:,} deliveries pending, receiver answers 503; "
                     f"{num(att, 0)} delivery attempts (retries) per run of {rs[0].get('seconds')} s")
            label = f"{p:,} pending deliveries"
        elif state == "floor":
            notes = ("`sluice_rss_floor`: the same shared libraries, initialised as sluice does "
                     "(libcurl/OpenSSL, a libwebsockets listener, SQLite, yaml-cpp, spdlog), without sluice")
            label = "floor of the libraries"
        else:
            notes = f"empty inbox, no events, {rs[0].get('seconds')} s"
            label = "idle"
        anon = med([r.get("rssanon_kb", 0) / 1024 for r in rs])
        filed = med([r.get("rssfile_kb", 0) / 1024 for r in rs])
        w(f"| {label} | {mmm([r['vmhwm_kb'] / 1024 for r in rs], 1)} "
          f"| {mmm([r['vmrss_kb'] / 1024 for r in rs], 1)} | {num(anon, 1)} / {num(filed, 1)} "
          f"| {num(med([r['pss_kb'] / 1024 for r in rs if r.get('pss_kb')]), 1)} "
          f"| {mmm([r.get('startup_s') for r in rs], 2) if state != 'floor' else '-'} | {notes} |")
    if pick(rows, bench="rss"):
        w("")
    fl = pick(rows, bench="fill")
    qs = pick(rows, bench="queue_stats")
    if fl:
        f0 = fl[0]
        w(f"Backlog preparation: `sluice_queue_bench --mode fill` wrote {f0['pending']:,} pending deliveries "
          f"in {num(f0['seconds'], 1)} s ({num(f0['events_per_s'])} events/s, 5,000-event batches, 2 in flight); "
          f"queue.db = {num(f0['db_bytes'] / 2**20, 0)} MiB.")
    if qs:
        w(f"`sluice queue stats` on that database (a full count, made once when a process opens the queue: "
          f"the CLI each time, the daemon at start; after that the daemon keeps the counts in memory): "
          f"{mmm([r['seconds'] * 1000 for r in qs], 0)} ms.")
    w("")

    # Targets ----------------------------------------------------------------------------
    w("### Targets (issue), judged on the medians above")
    w("")
    w("| target | measured (median) | met? |")
    w("|---|---:|---|")

    def verdict(ok):
        return "yes" if ok else "**no**"

    q1024 = med([r["events_per_s"] for r in pick(rows, bench="queue_ingest", mode="wait", batch=1024)])
    q1024o = med([r["events_per_s"] for r in pick(rows, bench="queue_ingest", mode="outstanding", batch=1024)])
    best = max([v for v in (q1024, q1024o) if v is not None], default=None)
    if best is not None:
        w(f"| ≥ 50,000 events/s durable ingest at batch 1024 | {num(q1024)} (waiting), {num(q1024o)} (in flight) "
          f"| {verdict(best >= 50000)} |")
    sat = med([r.get("files_per_s") for r in pick(rows, bench="e2e", system="sluice", workload="burst")])
    if sat is not None:
        w(f"| ≥ 5,000 files/s end to end | {num(sat)} | {verdict(sat >= 5000)} |")
    p99 = med([r.get("p99_ms") for r in pick(rows, bench="e2e", system="sluice", workload="rate")])
    if p99 is not None:
        w(f"| p99 ≤ 25 ms at {m.get('rate')} events/s | {num(p99, 1)} ms | {verdict(p99 <= 25)} |")
    idle = med([r["vmhwm_kb"] / 1024 for r in pick(rows, bench="rss", state="idle")])
    if idle is not None:
        floor = med([r["vmhwm_kb"] / 1024 for r in pick(rows, bench="rss", state="floor")])
        why = ""
        if floor is not None and idle * 1.048576 > 15:
            why = (f"; the libraries alone take {num(floor, 1)} MiB = {num(floor * 1.048576, 1)} MB "
                   f"(floor above), so sluice's own share is {num(idle - floor, 1)} MiB")
        w(f"| idle RSS ≤ 15 MB | {num(idle, 1)} MiB = {num(idle * 1.048576, 1)} MB{why} | {verdict(idle * 1.048576 <= 15)} |")
    pend = med([r["vmhwm_kb"] / 1024 for r in pick(rows, bench="rss", state="pending")])
    if pend is not None:
        w(f"| ≤ 64 MB with 1M pending | {num(pend, 1)} MiB = {num(pend * 1.048576, 1)} MB | {verdict(pend * 1.048576 <= 64)} |")
    w("")


# -- object stores (bench/s3_bench.py) ------------------------------------------------------
S3_BEGIN, S3_END = "<!-- results-s3:begin -->", "<!-- results-s3:end -->"


def pick_prefix(rows, prefix):
    return [r for r in rows if str(r.get("bench", "")).startswith(prefix)]


def ops(rs, op):
    return med([r.get("requests", {}).get(op, 0) for r in rs])


def s3_block(rows, m, w, own_run):
    """The `type: s3` figures; `own_run`: they come from another run than the rest."""
    w(S3_BEGIN)
    w("### Object stores (`type: s3`): intake through `sluice once`, next to the fake's own pace")
    w("")
    if own_run:
        w(f"Measured by a later run of this section alone (`BENCH_ONLY=s3`) than the figures above: "
          f"{m['date']}, commit `{m['commit']}`, `{m['command']}`, {m.get('s3_duration') or m['duration']} "
          f"for the section; {m['runs']} runs per figure (min / **median** / max); {m['cpu_model']}, "
          f"{m['cores']} cores; {m.get('sched')}; load average before / after {m['load_before']} / "
          f"{m['load_after']}, CPU pressure before (PSI some avg60) {m.get('psi')}.")
    else:
        w(f"The object-store section took {m.get('s3_duration', '?')} of the run.")
    w("")
    sqs = pick(rows, bench="s3_sqs")
    scan = pick(rows, bench="s3_scan")
    push = pick(rows, bench="s3_push")
    tool = push[0].get("tool", "wrk") if push else "wrk"
    conns = push[0].get("connections") if push else m.get("push_connections")
    w("sluice and the fakes share the machine's cores: the fake S3/SQS is "
      "tests/integration/fake_s3.py, a threaded Python server that checks SigV4 on every request "
      "(one interpreter lock: it cannot use more than about one core). \"fake's CPU\" is its "
      "process's CPU time over the window, in % of one core — near 100 % means the fake, not "
      "the client, sets the pace. The sink is a webhook to the bench nginx; `sluice once` "
      "catches up and commits before it delivers anything, so no delivery runs inside a window. "
      "Windows start at the first request to the fake; they end when the fake's queue is empty "
      "(SQS; sluice deletes a message only after its events are committed), when the first "
      "delivery reaches nginx (scan, all new: `once` starts its sink after the last commit), "
      "when `sluice once` exits 0 (scan, nothing changed), or with the load generator's window "
      "(push).")
    w("")
    w("| source | pipeline | items | items/s | window s | sluice CPU µs per item | fake's CPU, % of one core "
      "| p50 / p99 ms | checked |")
    w("|---|---|---:|---:|---:|---:|---:|---:|---|")
    if sqs:
        rs = pick(rows, bench="s3_sqs", system="sluice")
        n = rs[0]["messages"] if rs else sqs[0]["messages"]
        if rs:
            w(f"| SQS (`mode: sqs`, `wait: 1s`), one AWS-shaped S3 record per message "
              f"| `sluice once`: ReceiveMessage (10), commit (fsync), DeleteMessageBatch "
              f"| {n:,} messages | {mmm([r['per_s'] for r in rs])} | {num(med([r['seconds'] for r in rs]), 2)} "
              f"| {num(med([r.get('cpu_us_per_item') for r in rs]), 0)} "
              f"| {num(med([r.get('fake_cpu_pct') for r in rs]), 0)} | – "
              f"| {num(med([r.get('committed') for r in rs]), 0)} events committed, queue empty; "
              f"{num(ops(rs, 'ReceiveMessage'), 0)} ReceiveMessage, {num(ops(rs, 'DeleteMessageBatch'), 0)} "
              f"DeleteMessageBatch, {num(ops(rs, 'ChangeMessageVisibilityBatch'), 0)} ChangeMessageVisibilityBatch |")
        rs = pick(rows, bench="s3_sqs", system="client")
        if rs:
            w(f"| | baseline: `aws_sigv4.SqsClient` (Python) on the same fake, ReceiveMessage (10, long poll 1 s) "
              f"then DeleteMessageBatch, one call at a time, nothing stored "
              f"| {n:,} messages | {mmm([r['per_s'] for r in rs])} | {num(med([r['seconds'] for r in rs]), 2)} | – "
              f"| {num(med([r.get('fake_cpu_pct') for r in rs]), 0)} | – "
              f"| queue empty; {num(ops(rs, 'ReceiveMessage'), 0)} ReceiveMessage, "
              f"{num(ops(rs, 'DeleteMessageBatch'), 0)} DeleteMessageBatch |")
    if scan:
        n = scan[0]["objects"]
        for label, p_, what in (("every object new (fresh state dir)", "new", "created events committed"),
                                ("nothing changed (the same state dir)", "same", "events committed; exit 0")):
            rs = pick(rows, bench="s3_scan", system="sluice", **{"pass": p_})
            if not rs:
                continue
            w(f"| scan (`mode: scan`), {label} | `sluice once`: ListObjectsV2 (1000 per page, encoding-type=url) "
              f"diffed against the source index{', events + index committed (fsync)' if p_ == 'new' else ''} "
              f"| {n:,} objects | {mmm([r['per_s'] for r in rs])} | {num(med([r['seconds'] for r in rs]), 2)} "
              f"| {num(med([r.get('cpu_us_per_item') for r in rs]), 1)} "
              f"| {num(med([r.get('fake_cpu_pct') for r in rs]), 0)} | – "
              f"| {num(med([r.get('committed') for r in rs]), 0)} {what}; "
              f"{num(ops(rs, 'ListObjectsV2'), 0)} pages |")
        rs = pick(rows, bench="s3_scan", system="client")
        if rs:
            w(f"| | baseline: `aws_sigv4.S3Client` (Python) paging the same bucket with ListObjectsV2 "
              f"(1000 per page, encoding-type=url) alone | {n:,} objects | {mmm([r['per_s'] for r in rs])} "
              f"| {num(med([r['seconds'] for r in rs]), 2)} | – | {num(med([r.get('fake_cpu_pct') for r in rs]), 0)} "
              f"| – | {num(med([r.get('pages') for r in rs]), 0)} pages |")
    if push:
        rs = pick(rows, bench="s3_push", system="sluice")
        if rs:
            w(f"| push (`mode: push`), Ceph RGW bodies (one record, a new key each, "
              f"{rs[0].get('body_bytes', '?')} bytes) | `sluice once`: POST /ingest/rgw?token=…, "
              f"answered 200 only after the commit (fsync) | {num(med([r['requests'] for r in rs]), 0)} requests "
              f"| {mmm([r['req_per_s'] for r in rs])} | {num(med([r['seconds'] for r in rs]), 1)} "
              f"| {num(med([r.get('cpu_us_per_item') for r in rs]), 0)} | – "
              f"| {num(med([r.get('p50_ms') for r in rs]), 2)} / {num(med([r.get('p99_ms') for r in rs]), 2)} "
              f"| {num(med([r.get('committed') for r in rs]), 0)} events committed, "
              f"{num(med([r.get('non_2xx') for r in rs]), 0)} non-2xx |")
        rs = pick(rows, bench="s3_push", system="nginx")
        if rs:
            w(f"| | baseline: nginx `return 204;` (nothing stored), the same load "
              f"| {num(med([r['requests'] for r in rs]), 0)} requests | {mmm([r['req_per_s'] for r in rs])} "
              f"| {num(med([r['seconds'] for r in rs]), 1)} | – | – "
              f"| {num(med([r.get('p50_ms') for r in rs]), 2)} / {num(med([r.get('p99_ms') for r in rs]), 2)} "
              f"| {num(med([r.get('non_2xx') for r in rs]), 0)} non-2xx |")
    w("")
    if push:
        w(f"Push load: {tool}, {conns} connections, {push[0].get('seconds') and round(push[0]['seconds'])} s, "
          f"every request a new object key (a repeated key would be deduplicated, not stored).")
        w("")
    ratios = []
    for label, a_, b_ in (
            ("SQS", pick(rows, bench="s3_sqs", system="sluice"), pick(rows, bench="s3_sqs", system="client")),
            ("scan, all new", pick(rows, bench="s3_scan", system="sluice", **{"pass": "new"}),
             pick(rows, bench="s3_scan", system="client")),
            ("scan, nothing changed", pick(rows, bench="s3_scan", system="sluice", **{"pass": "same"}),
             pick(rows, bench="s3_scan", system="client")),
            ("push", pick(rows, bench="s3_push", system="sluice"), pick(rows, bench="s3_push", system="nginx"))):
        key = "req_per_s" if label == "push" else "per_s"
        x, y = med([r.get(key) for r in a_]), med([r.get(key) for r in b_])
        if x and y:
            ratios.append(f"{label} {num(x / y, 2)}")
    if ratios:
        w("sluice ÷ baseline (medians): " + "; ".join(ratios) + ".")
        w("")
    w(S3_END)
    w("")


def finish_part(out, readme, begin_marker, end_marker):
    """Puts `out` (which starts and ends with the markers) in place of the marked part of the
    README's Results section; inserted before `<!-- results:end -->` when not there yet."""
    text = "\n".join(out).rstrip("\n") + "\n"
    if readme:
        doc = open(readme).read()
        # Markers count only on lines of their own (the prose may name them).
        b = re.search("^" + re.escape(begin_marker) + "$", doc, re.M)
        e = re.search("^" + re.escape(end_marker) + "$", doc, re.M)
        if b and e and b.start() < e.start():
            doc = doc[:b.start()] + text + "\n" + doc[e.end():].lstrip("\n")
        else:
            end = re.search("^<!-- results:end -->$", doc, re.M)
            if not end:
                raise SystemExit(f"{readme} has no results:end marker")
            doc = doc[:end.start()].rstrip("\n") + "\n\n" + text + "\n" + doc[end.start():]
        tmp = readme + ".tmp"
        with open(tmp, "w") as f:
            f.write(doc)
        os.replace(tmp, readme)
    sys.stdout.write(text)


def merge(section, results, into):
    """Replaces `section`'s lines of `into` by those of `results` (plus its machine line)."""
    prefix = section + "_"

    def ours(r):
        return (str(r.get("bench", "")).startswith(prefix)
                or (r.get("bench") == "machine" and r.get("section") == section))
    keep = []  # the other lines, byte for byte
    if os.path.exists(into):
        with open(into) as f:
            for line in f:
                if line.strip() and not (line.lstrip().startswith("{") and ours(json.loads(line))):
                    keep.append(line if line.endswith("\n") else line + "\n")
    add = []
    for r in load(results):
        if str(r.get("bench", "")).startswith(prefix):
            add.append(json.dumps(r) + "\n")
        elif r.get("bench") == "machine":
            add.append(json.dumps(dict(r, section=section)) + "\n")
    tmp = into + ".tmp"
    with open(tmp, "w") as f:
        f.writelines(keep + add)
    os.replace(tmp, into)


def finish(out, readme):
    text = "\n".join(out) + "\n"

    if readme:
        begin, end = "<!-- results:begin -->", "<!-- results:end -->"
        doc = open(readme).read() if os.path.exists(readme) else f"# Benchmarks\n\n{begin}\n{end}\n"
        # Markers count only on lines of their own (the prose may name them).
        b = re.search("^" + re.escape(begin) + "$", doc, re.M)
        e = re.search("^" + re.escape(end) + "$", doc, re.M)
        if not (b and e and b.start() < e.start()):
            doc += f"\n{begin}\n{end}\n"
            b = re.search("^" + re.escape(begin) + "$", doc, re.M)
            e = re.search("^" + re.escape(end) + "$", doc, re.M)
        pre, post = doc[:b.start()], doc[e.end():]
        tmp = readme + ".tmp"
        with open(tmp, "w") as f:
            f.write(pre + begin + "\n" + text + end + post)
        os.replace(tmp, readme)
    sys.stdout.write(text)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("wait", "e2e"):
        s = sub.add_parser(name)
        s.add_argument("--writes", required=True)
        s.add_argument("--log", required=True)
        s.add_argument("--offset", type=int, default=0)
        s.add_argument("--stall", type=float, default=20.0)
        s.add_argument("--timeout", type=float, default=600.0)
        if name == "e2e":
            s.add_argument("--system", required=True)
            s.add_argument("--workload", required=True)
            s.add_argument("--run", default="")
            s.add_argument("--extra", default="{}")
    s = sub.add_parser("summary")
    s.add_argument("--results", required=True)
    s.add_argument("--machine")
    s.add_argument("--readme")
    s.add_argument("--only", choices=["s3"])
    s = sub.add_parser("merge")
    s.add_argument("--section", required=True, choices=["s3"])
    s.add_argument("--results", required=True)
    s.add_argument("--into", required=True)
    a = ap.parse_args()

    if a.cmd == "wait":
        closed, arr = wait(a.writes, a.log, a.offset, a.stall, a.timeout)
        print(f"{len(arr.first)}/{len(closed)} arrived", file=sys.stderr)
    elif a.cmd == "e2e":
        closed, arr = wait(a.writes, a.log, a.offset, a.stall, a.timeout)
        j = {"bench": "e2e", "system": a.system, "workload": a.workload}
        if a.run:
            j["run"] = a.run
        j.update(e2e_figures(closed, arr))
        j.update(json.loads(a.extra))
        print(json.dumps(j))
    elif a.cmd == "merge":
        merge(a.section, a.results, a.into)
    else:
        summary(a.results, a.machine, a.readme, a.only)


if __name__ == "__main__":
    main()
