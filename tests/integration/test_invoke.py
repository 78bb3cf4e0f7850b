"""End to end: local files delivered through build/sluice to the `oscar` sink (fake_oscar.py)
and the `lambda` sink (fake_lambda.py, which verifies every SigV4 signature).

    cd tests/integration && SLUICE_BIN=../../build/sluice python3 -m unittest -v test_invoke

What the jobs receive is checked with faas_events.py, a re-implementation of FaaS
Supervisor's event classifier, after OSCAR's own `echo $EVENT` through a real /bin/sh.
"""
import json
import time
import unittest

from faas_events import classify, oscar_job_view
from fake_lambda import FakeLambda
from fake_oscar import FakeOscar
from harness import SluiceTestCase, wait_until, write_file

AKID, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def rows(s, cmd, *args):
    """`sluice queue CMD --json ARGS` while the daemon runs; [] when the queue was busy."""
    r = s.queue(cmd, "--json", *args)
    if r.returncode != 0 and "database is locked" in r.stderr:
        return []  # a known sluice bug, tested on its own in test_operations.py
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def idle(s, sink):
    """True once `sink` has nothing pending or leased."""
    st = rows(s, "stats")
    return bool(st) and st["sinks"].get(sink, {}).get("pending", 0) == 0


class OscarTest(SluiceTestCase):
    def setUp(self):
        super().setUp()
        self.oscar = FakeOscar(services={"grayify": {}}, users={"oscar": "pw"}).start()
        self.addCleanup(self.oscar.stop)
        self.token_file = self.tmp / "grayify.token"
        self.token_file.write_text(self.oscar.service_token("grayify") + "\n")
        self.password_file = self.tmp / "oscar.password"
        self.password_file.write_text("pw\n")

    def start(self, delivery=None, types=("created",), **sink):
        cfg, port = self.config(delivery=delivery)
        s = {"name": "gray", "type": "oscar", "endpoint": self.oscar.url, "service": "grayify"}
        if "username" not in sink:
            s["token_file"] = str(self.token_file)
        s.update(sink)
        cfg["sinks"] = [s]
        cfg["routes"] = [{"from": ["inbox"], "to": ["gray"], "filter": {"types": list(types)}}]
        sl = self.sluice(cfg, port).start()
        wait_until(sl.ready, 20, "readyz")
        return sl

    def test_a_file_becomes_one_job_that_faas_supervisor_reads_as_minio(self):
        self.start()
        (self.inbox / "run 1").mkdir()
        write_file(self.path("run 1", "scan *1?.tif"), b"pixels")
        (job,) = self.oscar.wait_jobs(1)
        ev = oscar_job_view(job.env["EVENT"])  # after the pod's `echo $EVENT`, newline and all
        self.assertEqual(ev.kind, "MINIO", ev.error)
        self.assertEqual(ev.bucket, "inbox")
        self.assertEqual(ev.object_key, self.path("run 1", "scan *1?.tif").lstrip("/"))
        self.assertEqual(job.body.decode(), job.env["EVENT"])
        self.assertRegex(job.name, r"^grayify-[0-9a-f]{20}-1$")
        self.assertEqual(job.headers["authorization"],
                         "Bearer " + self.oscar.service_token("grayify"))

    def test_onetrigger_and_native_formats_are_classified_as_their_tools_expect(self):
        self.start(format="onetrigger")
        write_file(self.path("a.txt"))
        (job,) = self.oscar.wait_jobs(1)
        ev = oscar_job_view(job.env["EVENT"])
        self.assertEqual(ev.kind, "ONEDATA", ev.error)
        self.assertEqual(ev.object_key, self.path("a.txt"))
        self.assertEqual(ev.file_name, "a.txt")

    def test_a_token_rotated_on_disk_is_used_for_the_next_delivery(self):
        s = self.start()
        write_file(self.path("one"))
        self.oscar.wait_jobs(1)
        new = self.oscar.rotate_token("grayify")
        self.token_file.write_text(new + "\n")
        write_file(self.path("two"))
        jobs = self.oscar.wait_jobs(2)
        self.assertEqual(jobs[1].headers["authorization"], "Bearer " + new)
        self.assertNotIn(new, s.log_text())
        wait_until(lambda: idle(s, "gray"), 20, "delivered")

    def test_username_looks_the_token_up_and_again_after_a_rotation(self):
        self.start(username="oscar", password_file=str(self.password_file))
        write_file(self.path("one"))
        self.oscar.wait_jobs(1)
        new = self.oscar.rotate_token("grayify")  # the old token now gets 401
        write_file(self.path("two"))
        jobs = self.oscar.wait_jobs(2)
        self.assertEqual(jobs[1].headers["authorization"], "Bearer " + new)
        self.assertEqual(self.oscar.counters["service"], 2)

    def test_a_lost_answer_never_makes_a_second_job(self):
        s = self.start()
        self.oscar.drop_next("/job/", count=1, after=True)  # created, but sluice hears nothing
        write_file(self.path("one"))
        self.oscar.wait_jobs(1)
        wait_until(lambda: self.oscar.counters.get("job", 0) >= 2, 20, "the retry")
        wait_until(lambda: idle(s, "gray"), 20, "delivered")
        self.assertEqual(len(self.oscar.jobs()), 1)

    def test_sync_output_is_kept_and_shown(self):
        self.oscar.set_run_output(lambda body: b"gray image: " + str(len(body)).encode())
        s = self.start(mode="sync")
        write_file(self.path("one"))
        wait_until(lambda: self.oscar.counters.get("run", 0) == 1, 20, "the run")
        wait_until(lambda: idle(s, "gray"), 20, "delivered")
        done = s.queue_json("list", "--sink", "gray", "--state", "done")
        self.assertEqual(len(done), 1)
        self.assertRegex(done[0]["output"], r"^gray image: \d+$")
        r = s.queue("list", "--sink", "gray", "--show-output")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("    | gray image: ", r.stdout)

    def test_completion_retries_a_failed_job_then_dead_letters_it(self):
        self.oscar.fail_jobs(10)
        s = self.start(username="oscar", password_file=str(self.password_file),
                       confirm="completion", poll_interval="100ms",
                       delivery={"max_attempts": 3, "backoff": {"initial": "100ms", "max": "200ms"}})
        write_file(self.path("one"))
        wait_until(lambda: rows(s, "dead", "--sink", "gray"), 30, "the dead letter")
        (row,) = s.queue_json("dead", "--sink", "gray")
        self.assertIn("gave up after 3 attempts", row["error"])
        self.assertRegex(row["error"], r"job grayify-[0-9a-f]{20}-3 Failed")
        names = sorted(j.name for j in self.oscar.jobs())
        self.assertEqual([n[-2:] for n in names], ["-1", "-2", "-3"])  # a new job per attempt

    def test_completion_waits_until_the_job_succeeded(self):
        s = self.start(username="oscar", password_file=str(self.password_file),
                       confirm="completion", poll_interval="100ms")
        write_file(self.path("one"))
        (job,) = self.oscar.wait_jobs(1)
        wait_until(lambda: idle(s, "gray"), 20, "delivered")
        self.assertEqual(self.oscar.job(job.name).status, "Succeeded")
        self.assertGreaterEqual(self.oscar.counters["logs"], 2)

    def test_unknown_service_and_wrong_token_are_dead_with_the_reason(self):
        self.token_file.write_text("f" * 64 + "\n")
        s = self.start()
        write_file(self.path("one"))
        wait_until(lambda: rows(s, "dead", "--sink", "gray"), 20, "the dead letter")
        (row,) = s.queue_json("dead", "--sink", "gray")
        self.assertIn("token rejected (401)", row["error"])
        self.assertNotIn("f" * 64, s.log_text())


class LambdaTest(SluiceTestCase):
    def setUp(self):
        super().setUp()
        self.aws = FakeLambda(region="eu-west-1", credentials={AKID: SECRET},
                              functions={"thumb": {"aliases": ["live"], "versions": ["1"]}}).start()
        self.addCleanup(self.aws.stop)

    def start(self, delivery=None, **sink):
        cfg, port = self.config(delivery=delivery)
        s = {"name": "thumb", "type": "lambda", "function": self.aws.arn("thumb", "live"),
             "endpoint": self.aws.url, "access_key": AKID, "secret_key": SECRET}
        s.update(sink)
        cfg["sinks"] = [s]
        cfg["routes"] = [{"from": ["inbox"], "to": ["thumb"], "filter": {"types": ["created"]}}]
        sl = self.sluice(cfg, port).start()
        wait_until(sl.ready, 20, "readyz")
        return sl

    def test_throttled_invocations_all_arrive_and_none_before_retry_after(self):
        self.aws.throttle(seconds=2.5, retry_after=1)
        s = self.start(delivery={"backoff": {"initial": "100ms", "max": "5s"}})
        names = [f"f{i}.jpg" for i in range(5)]
        for n in names:
            write_file(self.path(n))
        wait_until(lambda: len(self.aws.successful()) >= 5, 30, "every invocation accepted")
        wait_until(lambda: idle(s, "thumb"), 20, "nothing pending")
        self.assertGreater(len(self.aws.throttled), 0)
        self.assertEqual(self.aws.retry_after_violations(), [])
        keys = sorted(json.loads(i["payload"])["Records"][0]["s3"]["object"]["key"]
                      for i in self.aws.successful())
        self.assertEqual(len(keys), 5)
        for i in self.aws.successful():
            self.assertEqual(i["invocation_type"], "Event")
            self.assertEqual(i["qualifier"], "live")
            self.assertEqual(classify(i["payload"]).kind, "MINIO")

    def test_request_response_keeps_the_result_and_function_errors_retry(self):
        self.aws.function_error(2)
        s = self.start(invocation="request-response", function="thumb", region="eu-west-1",
                       qualifier="1")
        write_file(self.path("a.jpg"))
        wait_until(lambda: len(self.aws.successful()) == 1, 30, "the invocation")
        wait_until(lambda: idle(s, "thumb"), 20, "nothing pending")
        self.assertEqual(len(self.aws.invocations), 3)  # two function errors, then the result
        (row,) = s.queue_json("list", "--sink", "thumb", "--state", "done")
        self.assertEqual(json.loads(row["output"])["ok"], True)
        self.assertEqual(row["attempts"], 3)

    def test_wrong_secret_and_unknown_function_are_dead(self):
        s = self.start(secret_key="wrong", function=self.aws.arn("nothere"))
        write_file(self.path("a.jpg"))
        wait_until(lambda: rows(s, "dead", "--sink", "thumb"), 20, "the dead letter")
        (row,) = s.queue_json("dead", "--sink", "thumb")
        self.assertIn("Lambda answered 403", row["error"])


if __name__ == "__main__":
    unittest.main()
