"""End to end, operator's view: `sluice check`, secrets, a full queue, the supervisor sink.

Run: SLUICE_BIN=build/sluice python3 -m unittest discover -v -s tests/integration -p 'test_*.py'
"""
import hashlib
import os
import signal
import secrets
import threading
import unittest

from harness import REPO, SluiceTestCase, metric, wait_until, write_file
from receiver import Receiver


class CheckTest(SluiceTestCase):
    def test_check_reports_every_mistake_with_its_line(self):
        text = (
            f"state_dir: {self.tmp / 'state'}\n"        # 1
            "http: {listen: \"127.0.0.1:0\"}\n"          # 2
            "delivery:\n"                                # 3
            "  timeout: 5 minutes\n"                     # 4  bad duration
            "sources:\n"                                 # 5
            "  - name: inbox\n"                          # 6
            "    type: local\n"                          # 7
            f"    path: {self.inbox}\n"                  # 8
            "    colour: blue\n"                         # 9  unknown key
            "sinks:\n"                                   # 10
            "  - name: hook\n"                           # 11
            "    type: webhook\n"                        # 12
            f"    url: {self.receiver.url()}\n"          # 13
            "routes:\n"                                  # 14
            "  - from: [inbox]\n"                        # 15
            "    to: [nowhere]\n"                        # 16 unknown sink
        )
        s = self.sluice(text)
        r = s.check()
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        out = r.stdout + r.stderr
        for key, line, word in (("delivery.timeout", 4, "duration"),
                                ("sources[0].colour", 9, ""),
                                ("routes[0].to", 16, "nowhere")):
            hits = [l for l in out.splitlines() if key in l and f"line {line}" in l and word in l]
            self.assertTrue(hits, f"no error for {key} at line {line} in:\n{out}")
        self.assertFalse((self.tmp / "state" / "queue.db").exists(), "check must not start anything")

    def test_bearer_file_secret_never_appears(self):
        secret = "s3cr3t-" + secrets.token_hex(12)
        token_file = self.tmp / "token"
        token_file.write_text(secret + "\n")
        self.receiver.require_bearer(secret)
        cfg, port = self.config(sink={"auth": {"bearer_file": str(token_file)}},
                                log={"level": "trace", "format": "text"})
        s = self.sluice(cfg, port)
        ok = s.check()
        self.assertEqual(ok.returncode, 0, ok.stderr)
        s.start()
        f = write_file(self.path("a"), b"a")
        self.wait_delivered([f])  # proves the secret was read and sent
        self.receiver.fail(401)
        write_file(self.path("b"), b"b")
        wait_until(lambda: s.metric("sluice_deliveries_dead_total") == 1, 30, "a dead delivery")
        outputs = {"check": ok.stdout + ok.stderr,
                   "/metrics": s.get("/metrics")[1], "/status": s.get("/status")[1],
                   "/readyz": s.get("/readyz")[1]}
        for cmd in (("queue", "list", "--state", "any", "--json"), ("queue", "dead"),
                    ("queue", "stats")):
            r = s.cli(*cmd)
            outputs[" ".join(cmd)] = r.stdout + r.stderr
        self.assertEqual(s.stop(), 0)
        outputs["log"] = s.log_text()
        cfg["sinks"][0]["auth"]["bogus"] = "x"  # a config error next to the secret
        s.write_config(cfg)
        bad = s.check()
        self.assertEqual(bad.returncode, 2)
        outputs["check with an error"] = bad.stdout + bad.stderr
        for name in ("queue.db", "queue.db-wal"):
            p = self.tmp / "state" / name
            if p.exists():
                outputs[name] = p.read_bytes().decode("latin-1")
        for where, text in outputs.items():
            self.assertNotIn(secret, text, f"the bearer secret appears in {where}")


class QueueCliTest(SluiceTestCase):
    def test_purge_while_the_daemon_runs(self):
        self.receiver.fail(400)
        s = self.sluice().start()
        write_file(self.path("doomed"), b"d")
        wait_until(lambda: s.metric("sluice_queue_dead", sink="hook") == 1, 30, "a dead delivery")
        r = s.queue("purge", "--all")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout.strip(), r"^purged 1 delivery \(\d+\.\d s(, \d+/s)?\)$")
        self.assertEqual(s.queue_json("dead"), [])
        self.receiver.clear_faults()
        f = write_file(self.path("after-purge"), b"a")  # the daemon must still commit and deliver
        self.receiver.wait_until(lambda: self.receiver.accepted or not s.alive(), 30)
        self.assertTrue(s.alive(), "sluice exited after `sluice queue purge`:\n" + s.log_tail(3))
        self.wait_delivered([f])


    def test_replay_and_purge_select_by_subject_prefix_and_time(self):
        self.receiver.fail(400)
        s = self.sluice().start()
        for name in ("raw-1", "raw-2", "raw-3", "cal-1", "cal-2"):
            write_file(self.path(name), b"x")
        wait_until(lambda: s.metric("sluice_queue_dead", sink="hook") == 5, 30, "5 dead deliveries")
        subjects = sorted(r["subject"] for r in s.queue_json("dead"))
        raw = subjects[-1][: subjects[-1].rindex("raw-") + 4]  # the subject up to "raw-"
        self.assertTrue(raw.endswith("raw-") and sum(x.startswith(raw) for x in subjects) == 3, subjects)

        listed = s.queue_json("dead", "--prefix", raw)
        self.assertEqual(len(listed), 3)
        # Nothing was first seen in the future, or before an hour ago.
        for window in (("--since", "2999-01-01T00:00:00Z"), ("--until", "1h")):
            r = s.queue("replay", "--prefix", raw, *window)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("no dead delivery matched", r.stderr)
        bad = s.queue("replay", "--since", "last tuesday")
        self.assertEqual(bad.returncode, 2)
        self.assertIn("--since last tuesday: not a time", bad.stderr)

        self.receiver.clear_faults()
        r = s.queue("replay", "--prefix", raw, "--since", "1h", "--until", "2999-01-01")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith("replayed 3 deliveries ("), r.stdout)
        self.assertEqual(r.stderr, "", "no progress line when stderr is not a terminal")
        wait_until(lambda: len(self.receiver.accepted) == 3, 30, "the 3 replayed deliveries")
        got = [e["subject"] for e in self.receiver.events()]
        self.assertTrue(all(x.startswith(raw) for x in got), got)
        r = s.queue("purge", "--prefix", raw[: -len("raw-")] + "cal-")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith("purged 2 deliveries ("), r.stdout)
        self.assertEqual(s.queue_json("dead"), [])

    def test_queue_commands_work_while_the_daemon_is_busy(self):
        s = self.sluice().start()
        halt = threading.Event()

        def write_many():
            for i in range(3000):
                if halt.is_set():
                    return
                write_file(self.path(f"busy{i:04d}"), b"b")
        writer = threading.Thread(target=write_many)
        writer.start()
        try:
            failures = []
            for i in range(40):
                r = s.queue("list" if i % 2 else "stats", "--json")
                if r.returncode != 0:
                    failures.append(r.stderr.strip())
        finally:
            halt.set()
            writer.join()
        self.assertEqual(failures, [], f"{len(failures)} of 40 `sluice queue` reads failed")

    def test_state_dir_stays_small_once_events_are_delivered(self):
        s = self.sluice().start()
        files = [write_file(self.path(f"w{i:04d}"), b"w" * 100) for i in range(2000)]
        self.wait_delivered(files, timeout=120)
        self.wait_quiet(s, len(files), timeout=60)
        state = self.tmp / "state"
        sizes = {p.name: p.stat().st_size for p in state.iterdir() if p.name.startswith("queue")}
        # WAL auto-checkpoints keep queue.db-wal near 4 MiB; a WAL that is never checkpointed
        # (a reader pinned to an old snapshot) grows by ~15 KB per event.
        self.assertLess(sum(sizes.values()), 16 << 20, f"state dir files: {sizes}")


class BackpressureTest(SluiceTestCase):
    def test_full_queue_pauses_intake_and_recovers(self):
        self.receiver.fail(503)
        s = self.sluice(queue={"max_size": "256KiB"}, delivery={"timeout": "2s"}).start()
        files = []

        def add_batch_until_not_ready():
            for _ in range(25):
                files.append(write_file(self.path(f"{len(files):05d}-" + "p" * 120), b"q"))
            if len(files) > 6000:
                raise AssertionError("/readyz never turned 503 with a 256KiB queue")
            return s.get("/readyz")[0] == 503
        wait_until(add_batch_until_not_ready, 120, "/readyz 503 (queue full)")
        self.assertIn("queue", s.get("/readyz")[1])
        for i in range(20):  # made while the queue is full
            files.append(write_file(self.path(f"full-{i}"), b"f"))
        self.assertTrue(s.alive(), "sluice must stay up when the queue is full")
        self.assertEqual(s.get("/healthz")[0], 200)
        self.assertEqual(s.metric("sluice_events_dropped_total"), 0)

        self.receiver.clear_faults()
        self.wait_delivered(files, timeout=180)
        wait_until(s.ready, 60, "/readyz 200 again")
        self.wait_quiet(s, len(files), timeout=60)
        self.assertEqual(s.metric("sluice_events_dropped_total"), 0)
        self.assertEqual(s.metric("sluice_queue_dead"), 0)


class SupervisorTest(SluiceTestCase):
    def test_demo_job_writes_a_report(self):
        outbox = self.tmp / "outbox"
        cfg, port = self.config()
        cfg["sinks"] = [{"name": "report", "type": "supervisor",
                         "command": [str(REPO / "demo" / "checksum-report.sh")],
                         "env": {"OUTBOX": str(outbox)}, "concurrency": 2, "timeout": "1m"}]
        cfg["routes"][0]["to"] = ["report"]
        s = self.sluice(cfg, port).start()
        data = b"supervised payload\n" * 10
        f = write_file(self.path("img001.tif"), data)
        report = outbox / "img001.tif.report"
        wait_until(report.exists, 60, f"{report}")
        text = report.read_text()
        self.assertIn(f"file: {f}", text)
        self.assertIn(f"size: {len(data)}", text)
        self.assertIn(f"sha256: {hashlib.sha256(data).hexdigest()}", text)
        m = self.wait_quiet(s, 1, sink="report")
        self.assertEqual(metric(m, "sluice_deliveries_done_total", sink="report"), 1)
        self.assertEqual(sorted(os.listdir(outbox)), ["img001.tif.report"])


if __name__ == "__main__":
    unittest.main()


class ReloadTest(SluiceTestCase):
    def test_sighup_applies_a_valid_config_and_keeps_the_running_one_otherwise(self):
        cfg, port = self.config()
        s = self.sluice(cfg, port)
        s.start()
        pid = s.proc.pid
        one = write_file(self.path("one"), b"1")
        self.wait_delivered([one])

        # An invalid file: every error logged, the daemon goes on with what it runs.
        s.write_config("sources: [\n")
        s.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "going on with the running config" in s.log_text(), 30, "the reload refusal")
        # Valid, but it could not start here (the source directory is missing): refused too.
        missing, _ = self.config(port=port, source={"path": str(self.tmp / "no-such-dir")})
        s.write_config(missing)
        s.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: s.log_text().count("going on with the running config") == 2, 30,
                   "the second reload refusal")
        self.assertIn("no-such-dir is not a directory", s.log_text())
        two = write_file(self.path("two"), b"2")
        self.wait_delivered([two])

        # A valid one: applied in place (same pid), here pointing the webhook elsewhere.
        other = Receiver(fmt="cloudevents").start()
        self.addCleanup(other.stop)
        cfg2, _ = self.config(port=port, url=other.url())
        s.write_config(cfg2)
        s.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: s.log_text().count(" running: ") >= 2, 30, "the restart in place")
        self.assertTrue(s.alive())
        self.assertEqual(s.proc.pid, pid)
        three = write_file(self.path("three"), b"3")
        self.assertTrue(other.wait_until(lambda: os.fsencode(three) in set(other.delivered_paths()), 30),
                        "the reloaded config's receiver did not get the new file")
        self.assertNotIn(os.fsencode(three), set(self.receiver.delivered_paths()))
        self.assertEqual(s.stop(), 0)
