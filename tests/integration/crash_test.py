#!/usr/bin/env python3
"""Crash test: kill -9 sluice at random moments while files arrive; every file must still be
delivered at least once.

    SLUICE_BIN=build/sluice python3 tests/integration/crash_test.py

A writer thread creates files at a steady pace (in place, renamed into place, some in new
subdirectories). sluice is started and SIGKILLed CRASH_KILLS times (default 30) after a random
0.05-0.7 s, sometimes while the receiver answers 503 and sometimes right after a SIGHUP reload
(so the kill can land in the reload's drain, its re-exec or the restarted process's start-up).
Then the writer stops, sluice runs until the queue is drained (with one more reload on the
way), and every created file must have reached the receiver. The random seed
is printed first; CRASH_SEED=N reproduces a run. Exit status 1 on any loss.
"""
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import (Receiver, Sluice, deadline, free_port, metric, wait_until,  # noqa: E402
                     webhook_config, write_file, write_renamed)

SEED = int(os.environ.get("CRASH_SEED", "20261123"))
KILLS = int(os.environ.get("CRASH_KILLS", "30"))
WRITE_INTERVAL = 0.02  # seconds between two files: about 50 files/s


class Writer(threading.Thread):
    """Creates files at a steady pace until stopped; remembers every path it created."""

    def __init__(self, inbox, rng):
        super().__init__(daemon=True)
        self.inbox, self.rng = str(inbox), rng
        self.created = []
        self.errors = []
        self.halt = threading.Event()

    def run(self):
        i, subdir = 0, self.inbox
        try:
            while not self.halt.wait(WRITE_INTERVAL):
                if i % 40 == 0:  # a new subdirectory, used at once
                    subdir = os.path.join(self.inbox, f"batch{i:05d}")
                    os.mkdir(subdir)
                where = subdir if self.rng.random() < 0.5 else self.inbox
                path = os.path.join(where, f"f{i:05d}.dat")
                data = b"%d\n" % i * self.rng.randint(1, 200)
                if self.rng.random() < 0.5:
                    write_file(path, data)
                else:
                    write_renamed(path, data)
                self.created.append(os.fsencode(path))
                i += 1
        except OSError as e:  # reported, not hidden: the test then fails
            self.errors.append(repr(e))

    def stop(self):
        self.halt.set()
        self.join(30)


def main():
    print(f"crash test: seed {SEED} (set CRASH_SEED to reproduce), {KILLS} kills", flush=True)
    rng = random.Random(SEED)
    tmp = Path(tempfile.mkdtemp(prefix="sluice-crash-"))
    inbox = tmp / "inbox"
    inbox.mkdir()
    receiver = Receiver(record=str(tmp / "deliveries.jsonl")).start()
    port = free_port()
    cfg = webhook_config(tmp / "state", inbox, receiver.url(), port,
                         delivery={"max_attempts": 1000000, "timeout": "5s",
                                   "backoff": {"initial": "50ms", "max": "300ms"}})
    cfg["log"]["level"] = "info"
    sluice = Sluice(tmp, cfg, port)
    writer = Writer(inbox, random.Random(SEED + 1))
    problems = []
    pace = threading.Event()  # never set: its timed wait is the chaos timer

    started = time.monotonic()
    writer.start()
    kills = reloads = 0
    try:
        for k in range(KILLS):
            if rng.random() < 0.35:  # the receiver is failing for a while
                receiver.fail(503, seconds=rng.uniform(0.3, 1.5),
                              retry_after=rng.choice([None, 1]))
            sluice.start(wait=False)
            if rng.random() < 0.5:  # sometimes in steady state, sometimes during start-up
                try:
                    sluice.wait_healthy()
                except AssertionError as e:
                    problems.append(f"kill {k}: {str(e).splitlines()[0]}")
            pace.wait(rng.uniform(0.05, 0.7))
            if rng.random() < 0.3 and sluice.alive():  # a reload; the kill lands somewhere in it
                sluice.proc.send_signal(signal.SIGHUP)
                reloads += 1
                pace.wait(rng.uniform(0.0, 0.4))
            if not sluice.alive():
                problems.append(f"kill {k}: sluice had exited by itself with "
                                f"{sluice.proc.returncode}")
            sluice.kill()
            kills += 1
        writer.stop()
        if writer.errors:
            problems.append(f"writer failed: {writer.errors}")
        receiver.clear_faults()
        sluice.start(wait=False)

        def drained():
            got = receiver.delivered_paths()
            try:
                m = sluice.metrics()
            except OSError:  # between the reload's stop and the restarted process's listen
                return False
            return (not (set(writer.created) - set(got)) and metric(m, "sluice_queue_pending") == 0
                    and metric(m, "sluice_queue_leased") == 0)
        try:
            sluice.wait_healthy(60)
            sluice.proc.send_signal(signal.SIGHUP)  # a reload while the backlog drains
            reloads += 1
            wait_until(drained, 90, "every file delivered and nothing pending")
        except AssertionError as e:
            problems.append(str(e).splitlines()[0])
        if not sluice.alive():
            raise RuntimeError(f"sluice exited with {sluice.proc.returncode} before the queue drained")
        m = sluice.metrics()
        if metric(m, "sluice_events_dropped_total") != 0:
            problems.append("sluice_events_dropped_total is not 0")
        if metric(m, "sluice_queue_dead") != 0:
            problems.append(f"{metric(m, 'sluice_queue_dead'):.0f} deliveries are dead")
        rc = sluice.stop()
        if rc != 0:
            problems.append(f"sluice exited with {rc} on SIGTERM")
    except (RuntimeError, AssertionError, OSError) as e:
        problems.append(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
    finally:
        writer.stop()
        sluice.kill()
        receiver.stop()

    created = set(writer.created)
    got = receiver.delivered_paths()
    missing = sorted(created - set(got))
    deliveries = sum(n for p, n in got.items() if p in created)
    duplicates = deliveries - len(created & set(got))
    ids = {}
    for ev in receiver.events():
        ids.setdefault(ev["path"], set()).add(ev["id"])
    second_events = sum(len(v) - 1 for p, v in ids.items() if p in created)
    unknown = sorted(set(got) - created)
    elapsed = time.monotonic() - started
    print(f"files: {len(created)}  kills: {kills}  reloads: {reloads}  deliveries: {deliveries}  "
          f"duplicates: {duplicates} ({duplicates - second_events} redeliveries of the same "
          f"event, {second_events} extra events)  lost: {len(missing)}  time: {elapsed:.1f}s  "
          f"(time limits x{deadline(1):g})")
    if unknown:
        print(f"note: {len(unknown)} deliveries for paths the writer did not create, e.g. "
              f"{unknown[:3]}")
    if missing:
        problems.append(f"{len(missing)} files never delivered, e.g. {missing[:10]}")
    if problems:
        print("FAIL (seed %d):\n  " % SEED + "\n  ".join(problems))
        print(f"---- {sluice.log_path} (tail) ----\n{sluice.log_tail(40)}\n----")
        print(f"kept {tmp} for inspection")
        return 1
    print("OK: every file was delivered at least once")
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
