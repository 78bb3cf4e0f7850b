"""End to end: the supervisor sink as a job runner, through build/sluice.

    cd tests/integration && SLUICE_BIN=../../build/sluice python3 -m unittest -v test_jobs

GPU scheduling runs against a fake `nvidia-smi` first on PATH that reports two idle GPUs; jobs
are small /bin/sh scripts that log when they start and end (one short O_APPEND line each, so
lines never interleave) and what they were given. Stage-in and outputs use a local source and
the fake S3. The crash test holds the queue's write lock so that a job's success cannot be
settled, kills sluice with SIGKILL and checks the job is not run again after the restart.
Nothing sleeps blindly: waits poll files, metrics and the queue CLI.
"""
import json
import os
import sqlite3
import stat
import time
import unittest

from harness import SluiceTestCase, wait_until, write_file
from bucket_checks import BucketChecks
from fake_s3 import FakeS3

TWO_GPUS = "0, GPU-00000000-aaaa, 81559, 1\n1, GPU-11111111-bbbb, 81559, 1\n"


def executable(path, text):
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(path)


class JobsTestCase(SluiceTestCase):
    def setUp(self):
        super().setUp()
        self.runs = self.tmp / "runs.log"
        self.gate = self.tmp / "gate"

    def fake_gpus(self, csv=TWO_GPUS):
        """A fake nvidia-smi first on PATH (for the sluice started by this test)."""
        bin_dir = self.tmp / "bin"
        bin_dir.mkdir(exist_ok=True)
        (self.tmp / "gpus.csv").write_text(csv)
        executable(bin_dir / "nvidia-smi", f"#!/bin/sh\nexec cat '{self.tmp / 'gpus.csv'}'\n")
        old = os.environ["PATH"]
        os.environ["PATH"] = f"{bin_dir}:{old}"
        self.addCleanup(os.environ.__setitem__, "PATH", old)

    def job(self, body, name="job.sh"):
        """A job script: logs `start`, runs `body`, logs `end` (with its exit status)."""
        log = self.runs
        return executable(self.tmp / name, f"""#!/bin/sh
now() {{ date +%s.%N; }}
echo "start $SLUICE_EVENT_ID $(now) gpus=$CUDA_VISIBLE_DEVICES uuids=$NVIDIA_VISIBLE_DEVICES" >> '{log}'
{body}
rc=$?
echo "end $SLUICE_EVENT_ID $(now) rc=$rc" >> '{log}'
exit $rc
""")

    def run_lines(self):
        try:
            return [ln.split() for ln in self.runs.read_text().splitlines()]
        except FileNotFoundError:
            return []

    def starts(self):
        return [ln for ln in self.run_lines() if ln[0] == "start"]

    def jobs_config(self, sink, routes=None, **top):
        cfg, port = self.config(**top)
        cfg["sinks"] = sink if isinstance(sink, list) else [sink]
        cfg["routes"] = routes or [{"from": ["inbox"], "to": [cfg["sinks"][0]["name"]]}]
        return cfg, port

    def done(self, s, sink, n):
        return s.metric("sluice_deliveries_done_total", sink=sink) >= n


class GpuSchedulingTest(JobsTestCase):
    def test_six_jobs_on_two_gpus_never_share_one_and_spend_no_attempts_waiting(self):
        self.fake_gpus()
        cmd = self.job("sleep 0.4")
        cfg, port = self.jobs_config({"name": "gpu", "type": "supervisor", "command": [cmd],
                                      "gpus": "auto", "gpus_per_job": 1, "concurrency": 6,
                                      "timeout": "1m", "max_attempts": 1})
        s = self.sluice(cfg, port).start()
        for i in range(6):
            write_file(self.path(f"img{i}.tif"), b"x")
        wait_until(lambda: self.done(s, "gpu", 6), 60, "six jobs done")
        lines = self.run_lines()
        self.assertEqual(sum(1 for ln in lines if ln[0] == "end" and ln[3] == "rc=0"), 6, lines)
        intervals, gpus_seen = {}, {}
        for ln in lines:
            if ln[0] == "start":
                intervals[ln[1]] = [float(ln[2]), None, ln[3][5:]]
                gpus_seen[ln[1]] = (ln[3], ln[4])
            else:
                intervals[ln[1]][1] = float(ln[2])
        # Each job saw exactly one GPU, by index and by UUID, never both GPUs.
        for ev, (idx, uuids) in gpus_seen.items():
            self.assertIn((idx, uuids), {("gpus=0", "uuids=GPU-00000000-aaaa"),
                                         ("gpus=1", "uuids=GPU-11111111-bbbb")}, ev)
        spans = list(intervals.values())
        for a in spans:  # never more than two at once, never two on one GPU
            overlapping = [b for b in spans if b[0] < a[1] and a[0] < b[1]]
            self.assertLessEqual(len(overlapping), 2, spans)
            self.assertEqual([b[2] for b in overlapping].count(a[2]), 1, spans)
        self.assertEqual(s.metric("sluice_deliveries_retried_total", sink="gpu"), 0)
        self.assertEqual(s.metric("sluice_supervisor_gpus_idle", sink="gpu"), 2)
        self.assertIn("2 GPUs (0, 1), 1 per job", s.log_text())

    def test_without_nvidia_smi_cpu_jobs_run_and_the_log_says_so_once(self):
        bin_dir = self.tmp / "empty-bin"
        bin_dir.mkdir()
        old = os.environ["PATH"]
        os.environ["PATH"] = f"{bin_dir}:/usr/bin:/bin"  # no nvidia-smi on this machine's PATH?
        self.addCleanup(os.environ.__setitem__, "PATH", old)
        if any(os.access(os.path.join(d, "nvidia-smi"), os.X_OK) for d in ("/usr/bin", "/bin")):
            self.skipTest("this machine has an nvidia-smi")
        cfg, port = self.jobs_config({"name": "gpu", "type": "supervisor",
                                      "command": [self.job("true")], "gpus": "auto"})
        s = self.sluice(cfg, port).start()
        for i in range(3):
            write_file(self.path(f"f{i}"), b"x")
        wait_until(lambda: self.done(s, "gpu", 3), 30, "three CPU jobs")
        self.assertEqual(s.log_text().count("no GPU found"), 1)
        self.assertTrue(all(ln[3] == "gpus=" for ln in self.starts()), self.starts())


class JobLifecycleTest(JobsTestCase):
    def test_a_job_that_times_out_is_retried_then_dead_with_the_reason(self):
        cfg, port = self.jobs_config({"name": "slow", "type": "supervisor",
                                      "command": [self.job("sleep 30")], "timeout": "1s",
                                      "kill_grace": "200ms", "max_attempts": 2,
                                      "backoff": {"initial": "100ms", "max": "200ms"}})
        s = self.sluice(cfg, port).start()
        write_file(self.path("big.h5"), b"x")
        wait_until(lambda: s.metric("sluice_deliveries_dead_total", sink="slow") == 1, 60,
                   "the delivery dead-lettered")
        self.assertEqual(len(self.starts()), 2)
        dead = s.queue_json("dead", "--sink", "slow")
        self.assertEqual(len(dead), 1, dead)
        self.assertIn("gave up after 2 attempts; last: timed out after 1s", dead[0]["error"])
        self.assertEqual(s.metric("sluice_supervisor_jobs_total", sink="slow",
                                  outcome="timed_out"), 2)

    def test_a_job_that_succeeded_is_not_run_again_after_kill_9(self):
        cmd = self.job(f"while [ ! -e '{self.gate}' ]; do sleep 0.02; done")
        cfg, port = self.jobs_config({"name": "once", "type": "supervisor", "command": [cmd],
                                      "timeout": "1m"})
        s = self.sluice(cfg, port).start()
        write_file(self.path("a.tif"), b"x")
        wait_until(lambda: len(self.starts()) == 1, 30, "the job to start")
        event_id = self.starts()[0][1]
        # Hold the queue's write lock: the job's success cannot be settled now.
        db = sqlite3.connect(self.tmp / "state" / "queue.db", timeout=30, isolation_level=None)
        self.addCleanup(db.close)
        db.execute("BEGIN IMMEDIATE")
        self.gate.touch()
        effect = self.tmp / "state" / "jobs" / "once" / ".succeeded" / f"{event_id}.json"
        wait_until(effect.exists, 30, "the job's success recorded")
        wait_until(lambda: any(ln[0] == "end" for ln in self.run_lines()), 30, "the job's end")
        s.kill()
        db.execute("ROLLBACK")
        self.assertEqual(s.pending("once"), 1)  # not settled: it will be delivered again
        s.start()
        wait_until(lambda: s.pending("once") == 0, 60, "the redelivery settled")
        self.assertEqual(len(self.starts()), 1, self.run_lines())
        self.assertIn("already succeeded; not run again", s.log_text())
        self.assertEqual(json.loads(effect.read_text())["exit_code"], 0)

    def test_two_stages_chain_on_job_results_and_a_webhook_hears_both(self):
        stage2_log = self.tmp / "stage2.log"
        stage2 = executable(self.tmp / "stage2.sh",
                            f"#!/bin/sh\nprintf '%s\\n' \"$EVENT\" >> '{stage2_log}'\n")
        cfg, port = self.jobs_config(
            [{"name": "stage1", "type": "supervisor", "command": [self.job("true")]},
             {"name": "stage2", "type": "supervisor", "command": [stage2]},
             {"name": "hook", "type": "webhook", "url": self.receiver.url()}],
            routes=[{"from": ["inbox"], "to": ["stage1"]},
                    {"from": ["stage1"], "to": ["stage2"],
                     "filter": {"types": ["job.succeeded"]}},
                    {"from": ["stage1", "stage2"], "to": ["hook"]}])
        s = self.sluice(cfg, port).start()
        f = write_file(self.path("scan.tif"), b"pixels")
        wait_until(lambda: stage2_log.exists() and stage2_log.read_text(), 30, "stage 2 to run")
        ev = json.loads(stage2_log.read_text().splitlines()[0])
        self.assertEqual(ev["type"], "sluice.job.succeeded")
        self.assertEqual(ev["subject"], f)
        self.assertEqual(ev["data"]["connector"], "stage1")
        self.assertEqual(ev["data"]["native"]["exit_code"], 0)
        self.assertEqual(ev["data"]["native"]["sink"], "stage1")
        hooked = wait_until(lambda: len(self.receiver.events()) >= 2 and self.receiver.events(),
                            30, "both results at the webhook")
        self.assertEqual(sorted(e["type"] for e in hooked),
                         ["sluice.job.succeeded", "sluice.job.succeeded"])
        self.assertEqual({e["data"]["connector"] for e in hooked}, {"stage1", "stage2"})

    def test_a_route_looping_a_stage_onto_its_results_is_refused(self):
        cfg, port = self.jobs_config(
            {"name": "loop", "type": "supervisor", "command": ["/bin/true"]},
            routes=[{"from": ["inbox"], "to": ["loop"]}, {"from": ["loop"], "to": ["loop"]}])
        r = self.sluice(cfg, port).check()
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn('routes loop sink "loop" onto its own job results (loop → loop)', r.stderr)


class StageTest(BucketChecks, JobsTestCase):
    bucket, secret_key, source = "photos", "stage-secret", "photos"

    def setUp(self):
        super().setUp()
        self.setup_bucket(FakeS3(credentials={"AKSTAGE": "stage-secret"}).start(), "s3.secret")

    def test_an_s3_object_is_staged_in_and_the_outputs_go_back_to_the_bucket(self):
        cmd = self.job('cp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/$(basename "$INPUT_FILE_PATH").copy"\n'
                       'echo note > "$TMP_OUTPUT_DIR/skip.txt"')
        cfg, port = self.jobs_config(
            {"name": "copy", "type": "supervisor", "command": [cmd], "stage_in": True,
             "outputs": [{"source": "photos", "path": "results/", "suffix": [".copy"]}]},
            routes=[{"from": ["photos"], "to": ["copy"], "filter": {"prefix": ["in/"]}}])
        cfg["sources"] = [{"name": "photos", "type": "s3", "endpoint": self.fake.url,
                           "bucket": "photos", "mode": "scan", "interval": "1s",
                           "region": "us-east-1", "access_key": "AKSTAGE",
                           "secret_key_file": str(self.secret_file)}]
        s = self.sluice(cfg, port).start()
        self.wait_ready(s)
        self.put(b"in/../../etc/passwd x.tif", b"object bytes")
        wait_until(lambda: self.done(s, "copy", 1), 30, "the job")
        r = self.s3.get_object("photos", b"results/passwd x.tif.copy")
        self.assertEqual((r.status, r.body), (200, b"object bytes"))
        self.assertEqual(self.s3.get_object("photos", b"results/skip.txt").status, 404)
        jobs = self.tmp / "state" / "jobs" / "copy"
        folders = [p for p in jobs.iterdir() if not p.name.startswith(".")]
        self.assertEqual(len(folders), 1)
        self.assertFalse((folders[0] / "input").exists())  # temp folders go with the delivery
        self.assertFalse((folders[0] / "output").exists())
        self.assertTrue((folders[0] / "stdout.log").exists())  # the logs stay

    def test_a_local_file_is_staged_as_a_hard_link(self):
        cmd = self.job('stat -c "%i %h" "$INPUT_FILE_PATH" > "$HOME/../stat"')
        cfg, port = self.jobs_config({"name": "link", "type": "supervisor", "command": [cmd],
                                      "stage_in": True})
        s = self.sluice(cfg, port).start()
        f = write_file(self.path("data.h5"), b"d")
        wait_until(lambda: self.done(s, "link", 1), 30, "the job")
        inode, links = (self.tmp / "state" / "jobs" / "link" / "stat").read_text().split()
        self.assertEqual(int(inode), os.stat(f).st_ino)
        self.assertEqual(int(links), 2)  # the original and the staged link, while it ran
        self.assertEqual(os.stat(f).st_nlink, 1)  # the link went with the delivery


if __name__ == "__main__":
    unittest.main()
