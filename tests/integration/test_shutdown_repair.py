"""Shutdown, reload and the operator's repairs, end to end: a delivery cut short by SIGTERM
costs no attempt, /readyz says "stopping" while the daemon drains, deliveries of a sink that was
renamed are named and can be moved, and `sluice queue` tells when nothing matched.

Run: SLUICE_BIN=build/sluice python3 -m unittest -v tests.integration.test_shutdown_repair
"""
import os
import signal
import unittest

from harness import SluiceTestCase, wait_until, write_file


class ShutdownTest(SluiceTestCase):
    def test_sigterm_releases_without_counting_the_attempt(self):
        # One attempt only: before the fix SIGTERM dead-lettered the event ("gave up after 1
        # attempts; last: aborted at shutdown").
        cfg, port = self.config(delivery={"max_attempts": 1, "shutdown_grace": "1s", "timeout": "60s"})
        s = self.sluice(cfg, port).start()
        self.receiver.set_delay(60)  # the receiver hangs: the delivery is in flight at SIGTERM
        f = write_file(self.path("slow"), b"x")
        wait_until(lambda: self.receiver.inflight > 0, 30, "the delivery to reach the receiver")
        self.assertEqual(s.stop(), 0)
        self.assertIn("cutting them short", s.log_text())
        stats = s.queue_json("stats")["sinks"]["hook"]
        self.assertEqual((stats["pending"], stats["dead"]), (1, 0), stats)
        self.receiver.clear_faults()
        s.start()
        self.wait_delivered([f])

    def test_readyz_answers_stopping_while_draining(self):
        cfg, port = self.config(delivery={"shutdown_grace": "20s", "timeout": "60s"})
        s = self.sluice(cfg, port).start()
        wait_until(s.ready, 30, "/readyz 200")
        self.receiver.set_delay(60)
        write_file(self.path("slow"), b"x")
        wait_until(lambda: self.receiver.inflight > 0, 30, "the delivery to reach the receiver")
        s.proc.send_signal(signal.SIGTERM)
        status, body = wait_until(lambda: (lambda r: r if r[0] == 503 else None)(s.get("/readyz")),
                                  10, "/readyz 503 while draining")
        self.assertIn("stopping", body)
        self.receiver.clear_faults()  # the held delivery is answered: the drain ends
        self.assertEqual(s.proc.wait(30), 0)


class StrandedSinkTest(SluiceTestCase):
    def test_renamed_sink_is_named_and_its_deliveries_can_be_moved(self):
        cfg, port = self.config()
        s = self.sluice(cfg, port)
        self.receiver.fail(503)
        s.start()
        files = [write_file(self.path(f"f{i}"), b"x") for i in range(3)]
        wait_until(lambda: s.metric("sluice_events_committed_total") >= 3, 30, "3 commits")
        s.stop()
        # The operator renames the sink: its deliveries are stranded under the old name.
        cfg["sinks"][0]["name"] = "hook2"
        cfg["routes"][0]["to"] = ["hook2"]
        s.write_config(cfg)
        s.start()
        wait_until(lambda: 'sink "hook" is not in the config' in s.get("/readyz")[1], 10,
                   "/readyz to name the stranded sink")
        self.assertEqual(s.get("/readyz")[0], 503)
        self.assertIn("sluice queue move", s.log_text())
        r = s.queue("move", "--from", "hook", "--to", "nope")
        self.assertEqual(r.returncode, 2, r.stderr)
        r = s.queue("move", "--from", "hook", "--to", "hook2")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("moved 3 deliveries", r.stdout)
        self.receiver.clear_faults()
        self.wait_delivered(files)
        wait_until(s.ready, 30, "/readyz 200 once nothing is stranded")

    def test_once_names_the_stranded_sink_and_dead_letter_is_a_way_out(self):
        cfg, port = self.config()
        s = self.sluice(cfg, port)
        self.receiver.fail(503)
        s.start()
        write_file(self.path("a"), b"x")
        wait_until(lambda: s.metric("sluice_events_committed_total") >= 1, 30, "a commit")
        s.stop()
        cfg["sinks"][0]["name"] = "other"
        cfg["routes"][0]["to"] = ["other"]
        s.write_config(cfg)
        r = s.once()
        self.assertEqual(r.returncode, 1)
        self.assertIn("not in the config", r.stderr)
        r = s.queue("dead-letter", "--sink", "hook", "--reason", "sink removed")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = s.once()
        # Nothing is pending any more, but the dead letter waits for the operator: exit 1.
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("0 deliveries still pending, 1 dead", r.stderr)
        dead = s.queue_json("dead", "--sink", "hook")
        self.assertEqual([d["error"] for d in dead], ["sink removed"])


class QueueCliTest(SluiceTestCase):
    def test_replay_of_nothing_says_so_and_fails(self):
        cfg, port = self.config()
        s = self.sluice(cfg, port)
        self.assertEqual(s.once().returncode, 0)
        r = s.queue("replay", "--id", "NOSUCH")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no dead delivery matched", r.stderr)

    def test_tables_have_headers_and_escape_control_bytes(self):
        cfg, port = self.config()
        s = self.sluice(cfg, port)
        self.receiver.fail(400)  # dead at once
        s.start()
        hostile = self.path("evil\x1b[31mred\x07")
        write_file(hostile, b"x")
        wait_until(lambda: s.queue_json("stats")["sinks"].get("hook", {}).get("dead") == 1, 30,
                   "a dead letter")
        stats = s.queue("stats").stdout
        self.assertIn("PENDING includes LEASED", stats)
        dead = s.queue("dead").stdout
        self.assertTrue(dead.startswith("SEQ "), dead)
        self.assertNotIn("\x1b", dead)
        self.assertNotIn("\x07", dead)
        self.assertIn("\\x1b[31mred", dead)
        self.assertNotIn("\x1b", s.log_text())


if __name__ == "__main__":
    unittest.main()


class JobsAcrossReloadAndCrashTest(SluiceTestCase):
    def job_config(self, script_body):
        job = self.tmp / "job.sh"
        job.write_text("#!/bin/sh\n" + script_body)
        job.chmod(0o755)
        cfg, port = self.config(delivery={"shutdown_grace": "1s"})
        cfg["sinks"] = [{"name": "jobs", "type": "supervisor", "command": [str(job)],
                         "env": {"MARK": str(self.tmp)}, "timeout": "5m"}]
        cfg["routes"][0]["to"] = ["jobs"]
        return cfg, port

    def test_reload_does_not_kill_a_running_job_nor_run_it_twice(self):
        cfg, port = self.job_config(
            'echo "$SLUICE_EVENT_ID $$" >> "$MARK/runs"\n'
            'while [ ! -e "$MARK/go" ]; do sleep 0.05; done\n')
        s = self.sluice(cfg, port).start()
        write_file(self.path("big.h5"), b"x")
        runs = self.tmp / "runs"
        wait_until(runs.exists, 30, "the job to start")
        s.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: s.log_text().count(" running: ") >= 2, 30, "the reloaded process")
        self.assertIn("goes on after the reload", s.log_text())
        (self.tmp / "go").write_text("")
        wait_until(lambda: s.queue_json("stats")["sinks"].get("jobs", {}).get("pending", 1) == 0,
                   30, "the delivery to be settled")
        lines = runs.read_text().splitlines()
        self.assertEqual(len(lines), 1, lines)  # ran once, across the reload
        self.assertEqual(s.queue_json("stats")["sinks"]["jobs"]["dead"], 0)

    def test_a_job_does_not_outlive_a_daemon_killed_with_sigkill(self):
        cfg, port = self.job_config('echo $$ > "$MARK/job.pid"\nexec sleep 1000\n')
        s = self.sluice(cfg, port).start()
        write_file(self.path("a"), b"x")
        pid_file = self.tmp / "job.pid"
        wait_until(lambda: pid_file.exists() and pid_file.read_text().endswith("\n"), 30,
                   "the job to start")
        pid = int(pid_file.read_text())
        s.kill()

        def gone():
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            with open(f"/proc/{pid}/stat") as f:  # a zombie waiting for init counts as gone
                return f.read().rpartition(")")[2].split()[0] == "Z"
        wait_until(gone, 10, "the job to end with its daemon")
