"""Checks the fake OSCAR Manager (fake_oscar.py) against COMPAT.md §3.2 before the daemon's tests
trust it.

    cd tests/integration && python3 -m unittest -v test_fake_oscar

No test sleeps: job states move by listing reads, waits are conditions with deadlines; only
the delay test measures time.
"""
import hashlib
import http.client
import re
import socket
import sys
import threading
import time
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from fake_oscar import FakeOscar, job_name_error  # noqa: E402
from oscar_client import OscarClient  # noqa: E402

TOKEN = "a" * 64
OTHER = "b" * 64
OIDC = "eyJhbGciOi.oidc-token.sig"
USERS = {"oscar": "pw"}
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"


class OscarCase(unittest.TestCase):
    fake_kw = {}

    def setUp(self):
        kw = {"services": {"grayify": {"token": TOKEN}, "other": {"token": OTHER},
                           "a-very-long-service-name-of-30c": {}},
              "users": USERS, "oidc_tokens": {OIDC}}
        kw.update(self.fake_kw)
        self.fake = FakeOscar(**kw).start()
        self.addCleanup(self.fake.stop)
        self.c = OscarClient(self.fake.url)
        self.addCleanup(self.c.close)

    def job(self, body=b"{}", svc="grayify", **kw):
        kw.setdefault("token", TOKEN)
        return self.c.job(svc, body, **kw)

    def list(self, svc="grayify", page=None, auth=None):
        r = self.c.logs(svc, page, **(auth or {"basic": ("oscar", "pw")}))
        self.assertEqual(r.status, 200, r)
        return r.json()


class JobTests(OscarCase):
    def test_health_needs_no_auth(self):
        r = self.c.request("GET", "/health")
        self.assertEqual((r.status, r.body), (200, b"Ok"))
        self.assertEqual(r.headers["content-type"], "text/plain; charset=utf-8")

    def test_job_created_with_empty_body_and_recorded(self):
        body = b'{"Records": [1]}\x00\xff binary'
        r = self.job(body, headers={"Content-Type": "application/json"})
        self.assertEqual((r.status, r.body), (201, b""))
        self.assertEqual(r.headers["content-length"], "0")
        [job] = self.fake.jobs("grayify")
        self.assertRegex(job.name, rf"^grayify-{UUID}$")
        self.assertEqual(job.body, body)
        self.assertEqual(job.env["JOB_UUID"], job.name)
        self.assertEqual(job.env["EVENT"], body.decode("utf-8", "replace"))
        self.assertEqual(job.headers["content-type"], "application/json")
        self.assertEqual(job.status, "Pending")
        self.assertFalse(job.delegated)
        self.assertEqual(self.fake.counters["job:201"], 1)
        self.assertEqual(self.fake.counters["jobs_created"], 1)
        rec = self.fake.requests[-1]
        self.assertEqual((rec.method, rec.path, rec.body, rec.status), ("POST", "/job/grayify",
                                                                         body, 201))
        self.assertEqual(rec.headers["authorization"], f"Bearer {TOKEN}")

    def test_long_service_name_is_cut_to_16(self):
        svc = "a-very-long-service-name-of-30c"
        r = self.job(svc=svc, token=self.fake.service_token(svc))
        self.assertEqual(r.status, 201, r)
        self.assertRegex(self.fake.jobs(svc)[0].name, rf"^a-very-long-serv-{UUID}$")

    def test_generated_token_is_64_hex(self):
        tok = self.fake.service_token("a-very-long-service-name-of-30c")
        self.assertRegex(tok, r"^[0-9a-f]{64}$")

    def test_bearer_auth_rules(self):
        cases = [
            ({}, 401),
            ({"authorization": "Basic " + "b3NjYXI6cHc="}, 401),   # oscar:pw is not for /job
            ({"authorization": f"bearer {TOKEN}"}, 401),
            ({"authorization": f"Token {TOKEN}"}, 401),
            ({"authorization": f"Bearer Bearer {TOKEN}"}, 401),
            ({"authorization": f"Bearer {OTHER}"}, 401),          # another service's token
            ({"authorization": "Bearer " + "c" * 64}, 401),
            ({"authorization": "Bearer unknown-oidc"}, 401),
            ({"authorization": f"Bearer   {TOKEN}  "}, 201),      # TrimSpace
            ({"authorization": f"Bearer {OIDC}"}, 201),
        ]
        for auth, status in cases:
            with self.subTest(auth=auth):
                r = self.job(token=None, **auth)
                self.assertEqual(r.status, status, r)
                if status == 401:
                    self.assertEqual(r.body, b"")
        self.assertEqual(len(self.fake.jobs()), 2)

    def test_unknown_service(self):
        self.assertEqual(self.job(svc="nope").status, 401)        # a 64-char token: 401 first
        self.assertEqual(self.job(svc="nope", token="bad-oidc").status, 401)
        r = self.job(svc="nope", token=OIDC)
        self.assertEqual((r.status, r.body), (404, b""))

    def test_delegated_job_id_names_the_job(self):
        r = self.job(b"one", job_id="sluice-0123-abc")
        self.assertEqual(r.status, 201, r)
        job = self.fake.job("sluice-0123-abc")
        self.assertTrue(job.delegated)
        self.assertEqual((job.body, job.env["JOB_UUID"]), (b"one", "sluice-0123-abc"))
        r = self.job(b"two", job_id="sluice-0123-abc")
        self.assertEqual((r.status, r.text), (500, 'jobs.batch "sluice-0123-abc" already '
                                                   'exists'))
        self.assertEqual(r.headers["content-type"], "text/plain; charset=utf-8")
        self.assertEqual(len(self.fake.jobs()), 1)
        self.assertEqual(self.fake.job("sluice-0123-abc").body, b"one")
        # the same name in another service collides too (one namespace)
        r = self.c.job("other", b"x", token=OTHER, job_id="sluice-0123-abc")
        self.assertEqual(r.status, 500)

    def test_empty_delegated_header_is_ignored(self):
        self.assertEqual(self.job(job_id="").status, 201)
        self.assertRegex(self.fake.jobs()[0].name, rf"^grayify-{UUID}$")

    def test_invalid_job_names(self):
        for name in ("Upper", "under_score", "-lead", "trail-", "dot.ted", "a" * 64, "sp ace"):
            with self.subTest(name=name):
                r = self.job(job_id=name)
                self.assertEqual(r.status, 500, r)
                self.assertTrue(r.text.startswith(f'Job.batch "{name}" is invalid: '), r.text)
                self.assertIn(f'metadata.name: Invalid value: "{name}"', r.text)
        self.assertIn("must be no more than 63 characters", job_name_error("a" * 64))
        for name in ("a", "0", "a" * 63, "sluice-7f3a-00"):
            self.assertIsNone(job_name_error(name), name)
        self.assertEqual(self.fake.jobs(), [])

    def test_rotate_token(self):
        new = self.fake.rotate_token("grayify")
        self.assertNotEqual(new, TOKEN)
        self.assertEqual(self.job().status, 401)
        self.assertEqual(self.job(token=new).status, 201)
        self.assertEqual(self.fake.service_token("grayify"), new)

    def test_concurrent_jobs_are_all_kept(self):
        errors = []

        def worker(i):
            c = OscarClient(self.fake.url)
            try:
                for k in range(10):
                    r = c.job("grayify", f"{i}-{k}".encode(), token=TOKEN)
                    if r.status != 201:
                        errors.append(r)
            finally:
                c.close()
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        self.assertEqual(errors, [])
        jobs = self.fake.wait_jobs(80, "grayify", timeout=5)
        self.assertEqual(len({j.name for j in jobs}), 80)
        self.assertEqual(sorted(j.body for j in jobs),
                         sorted(f"{i}-{k}".encode() for i in range(8) for k in range(10)))


class StatusTests(OscarCase):
    def test_pending_running_succeeded(self):
        self.job(job_id="j1")
        self.assertEqual(self.fake.job("j1").status, "Pending")
        info = self.list()["jobs"]["j1"]
        self.assertEqual(info["status"], "Running")
        self.assertRegex(info["creation_time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertIn("start_time", info)
        self.assertNotIn("finish_time", info)
        info = self.list()["jobs"]["j1"]
        self.assertEqual(info["status"], "Succeeded")
        self.assertIn("finish_time", info)
        self.assertEqual(self.list()["jobs"]["j1"]["status"], "Succeeded")   # stays

    def test_fail_jobs_and_outcome_policy(self):
        self.fake.fail_jobs(1)
        self.job(job_id="j1")
        self.job(job_id="j2")
        self.fake.set_outcome(lambda job: "Failed" if job.body == b"bad" else "Succeeded")
        self.job(b"bad", job_id="j3")
        self.list()
        jobs = self.list()["jobs"]
        self.assertEqual({k: v["status"] for k, v in jobs.items()},
                         {"j1": "Failed", "j2": "Succeeded", "j3": "Failed"})

    def test_finish_forces_state(self):
        self.job(job_id="j1")
        self.fake.finish("j1", "Failed")
        self.assertEqual(self.list()["jobs"]["j1"]["status"], "Failed")
        self.fake.finish("j1", "Pending")
        info = self.list()["jobs"]["j1"]
        self.assertEqual(info["status"], "Running")
        with self.assertRaises(ValueError):
            self.fake.finish("j1", "Done")

    def test_polls_to_finish_zero_and_none(self):
        self.fake.polls_to_finish = 0
        self.job(job_id="now")
        self.assertEqual(self.fake.job("now").status, "Succeeded")
        self.fake.polls_to_finish = None
        self.job(job_id="never")
        for _ in range(3):
            self.assertEqual(self.list()["jobs"]["never"]["status"], "Running")
        self.fake.finish("never")
        self.assertEqual(self.list()["jobs"]["never"]["status"], "Succeeded")

    def test_system_auth(self):
        self.job()
        self.assertEqual(self.c.logs("grayify").status, 401)
        r = self.c.logs("grayify", token=TOKEN)                  # service tokens: no
        self.assertEqual((r.status, r.body), (401, b""))
        r = self.c.logs("grayify", basic=("oscar", "wrong"))
        self.assertEqual(r.status, 401)
        self.assertEqual(r.headers["www-authenticate"], 'Basic realm="Authorization Required"')
        self.assertEqual(self.c.logs("grayify", token="not-accepted").status, 401)
        self.assertEqual(self.c.logs("grayify", token=OIDC).status, 200)
        r = self.c.logs("grayify", basic=("oscar", "pw"))
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["content-type"], "application/json; charset=utf-8")
        self.assertEqual(self.c.logs("nope", basic=("oscar", "pw")).status, 404)
        self.assertEqual(self.c.logs("nope").status, 401)           # auth before lookup

    def test_listing_shape_and_only_own_service(self):
        self.job(job_id="mine")
        self.c.job("other", b"x", token=OTHER, job_id="theirs")
        r = self.c.logs("grayify", basic=("oscar", "pw"))
        self.assertEqual(list(r.json()), ["jobs"])        # no next_page/remaining_jobs
        self.assertEqual(list(r.json()["jobs"]), ["mine"])
        self.assertTrue(r.body.startswith(b'{"jobs":{"mine":{"status":"Running",'), r.body)

    def test_pagination_in_creation_order(self):
        self.fake.page_size = 3
        names = [f"job-{9 - i}" for i in range(7)]     # created in reverse name order
        for n in names:
            self.assertEqual(self.job(job_id=n).status, 201)
        pages, page = [], None
        while True:
            doc = self.list(page=page)
            pages.append(doc)
            page = doc.get("next_page")
            if not page:
                break
        self.assertEqual([len(p["jobs"]) for p in pages], [3, 3, 1])
        self.assertEqual([p.get("remaining_jobs") for p in pages], [4, 1, None])
        self.assertEqual([sorted(p["jobs"], reverse=True) for p in pages],
                         [names[0:3], names[3:6], names[6:]])
        self.assertEqual(list(pages[0]["jobs"]), sorted(pages[0]["jobs"]))   # Go map order
        self.assertEqual(len(self.c.all_jobs("grayify", basic=("oscar", "pw"))), 7)

    def test_pagination_in_name_order_and_bad_token(self):
        self.fake.page_size, self.fake.page_order = 2, "name"
        for n in ("c", "a", "b"):
            self.job(job_id=n)
        doc = self.list()
        self.assertEqual(sorted(doc["jobs"]), ["a", "b"])
        self.assertEqual(list(self.list(page=doc["next_page"])["jobs"]), ["c"])
        r = self.c.logs("grayify", page="%%%garbage", basic=("oscar", "pw"))
        self.assertEqual(r.status, 500)

    def test_job_logs(self):
        self.job(b'{"a": 1}', job_id="j1")
        self.assertEqual(self.c.job_logs("grayify", "j1", basic=("oscar", "pw")).status, 404)
        self.list()                                       # now Running
        r = self.c.job_logs("grayify", "j1", basic=("oscar", "pw"))
        self.assertEqual((r.status, r.text), (200, '{"a": 1}\n'))
        self.fake.set_logs(lambda job: f"done {job.name}")
        self.assertEqual(self.c.job_logs("grayify", "j1", token=OIDC).text, "done j1")
        self.assertEqual(self.c.job_logs("other", "j1", basic=("oscar", "pw")).status, 404)
        self.assertEqual(self.c.job_logs("grayify", "zz", basic=("oscar", "pw")).status, 404)
        self.assertEqual(self.c.job_logs("grayify", "j1", token=TOKEN).status, 401)

    def test_delete_jobs(self):
        for n in ("j1", "j2", "j3"):
            self.job(job_id=n)
        self.fake.finish("j1")
        auth = {"Authorization": OscarClient.auth_headers(basic=("oscar", "pw"))["Authorization"]}
        self.assertEqual(self.c.request("DELETE", "/system/logs/grayify", headers=auth).status,
                         204)
        self.assertEqual([j.name for j in self.fake.jobs()], ["j2", "j3"])
        r = self.c.request("DELETE", "/system/logs/grayify/j2", headers=auth)
        self.assertEqual(r.status, 204)
        r = self.c.request("DELETE", "/system/logs/grayify/j2", headers=auth)
        self.assertEqual(r.status, 404)
        r = self.c.request("DELETE", "/system/logs/grayify?all=true", headers=auth)
        self.assertEqual((r.status, self.fake.jobs()), (204, []))


class OtherEndpointTests(OscarCase):
    def test_run(self):
        r = self.c.run("grayify", b"payload", token=TOKEN)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body, b"ran:" + hashlib.sha256(b"payload").hexdigest().encode())
        self.assertEqual(self.fake.runs, [("grayify", b"payload", self.fake.runs[0][2])])
        self.fake.set_run_output(lambda body: (502, b"upstream down"))
        self.assertEqual(self.c.run("grayify", b"x", token=OIDC).status, 502)
        self.assertEqual(self.c.run("grayify", b"x", token=OTHER).status, 401)
        self.assertEqual(self.c.run("grayify", b"x", basic=("oscar", "pw")).status, 401)
        self.assertEqual(self.c.run("grayify", b"x", token="bad-oidc").status, 404)
        self.assertEqual(self.c.run("nope", b"x", token=OIDC).status, 404)
        self.assertEqual(self.fake.jobs(), [])

    def test_service_definition(self):
        r = self.c.service("grayify", basic=("oscar", "pw"))
        self.assertEqual(r.status, 200)
        d = r.json()
        self.assertEqual((d["name"], d["token"]), ("grayify", TOKEN))
        for key in ("image", "script", "memory", "cpu", "input", "output", "owner"):
            self.assertIn(key, d)
        self.assertEqual(self.c.service("grayify", token=OIDC).status, 200)
        self.assertEqual(self.c.service("grayify", token=TOKEN).status, 401)
        self.assertEqual(self.c.service("grayify").status, 401)
        self.assertEqual(self.c.service("nope", basic=("oscar", "pw")).status, 404)
        fake = FakeOscar(services={"s": {"image": "x/y:1", "memory": "1Gi"}})
        self.assertEqual((fake.service("s")["image"], fake.service("s")["memory"]),
                         ("x/y:1", "1Gi"))

    def test_unknown_routes(self):
        for method, path in (("GET", "/job/grayify"), ("POST", "/job/"), ("POST", "/jobs/x"),
                             ("GET", "/system/logs"), ("PUT", "/run/grayify"),
                             ("HEAD", "/health")):
            with self.subTest(path=path, method=method):
                r = self.c.request(method, path, headers={"Authorization": f"Bearer {TOKEN}"})
                self.assertEqual(r.status, 404)
                if method != "HEAD":
                    self.assertEqual(r.body, b"404 page not found")

    def test_bad_oidc_config_rejected(self):
        with self.assertRaises(ValueError):
            FakeOscar(oidc_tokens={"x" * 64})
        with self.assertRaises(ValueError):
            FakeOscar(services={"s": {"token": "short"}})


class FaultTests(OscarCase):
    def test_fail_next(self):
        self.fake.fail_next("/job/", 503, count=2, body=b"busy")
        for _ in range(2):
            r = self.job()
            self.assertEqual((r.status, r.body), (503, b"busy"))
        self.assertEqual(self.c.logs("grayify", basic=("oscar", "pw")).status, 200)  # not /job
        self.assertEqual(self.fake.jobs(), [])
        self.assertEqual(self.job().status, 201)
        self.assertEqual(self.fake.counters["job:503"], 2)
        self.fake.fail_next("/system/logs/", 500)
        self.assertEqual(self.c.logs("grayify", basic=("oscar", "pw")).status, 500)

    def test_drop_next_before_and_after(self):
        self.fake.drop_next("/job/")
        with self.assertRaises((http.client.HTTPException, OSError)):
            self.job(job_id="lost")
        self.assertIsNone(self.fake.job("lost"))
        self.fake.drop_next("/job/", after=True)
        with self.assertRaises((http.client.HTTPException, OSError)):
            self.job(job_id="made")
        self.assertIsNotNone(self.fake.job("made"))
        r = self.job(job_id="made")                    # the retry collides
        self.assertEqual(r.status, 500)
        self.assertIn("already exists", r.text)
        self.assertEqual(self.fake.counters["job:dropped"], 2)

    def test_delay_is_added(self):
        self.fake.delay = 0.05
        t0 = time.monotonic()
        self.assertEqual(self.job().status, 201)
        self.assertGreaterEqual(time.monotonic() - t0, 0.05)


class WireTests(OscarCase):
    def test_keep_alive_across_answers(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.fake.port, timeout=5)
        self.addCleanup(conn.close)
        sock = None
        for method, path, auth, want in (
                ("POST", "/job/grayify", f"Bearer {TOKEN}", 201),
                ("POST", "/job/grayify", "Basic eDp5", 401),
                ("GET", "/health", None, 200),
                ("GET", "/system/logs/grayify", f"Bearer {OIDC}", 200),
                ("GET", "/nope", None, 404),
                ("POST", "/run/grayify", f"Bearer {TOKEN}", 200)):
            headers = {"Authorization": auth} if auth else {}
            body = b'{"k":1}' if method == "POST" else None
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            self.assertEqual(resp.status, want, (path, data))
            self.assertEqual(int(resp.getheader("Content-Length")), len(data))
            self.assertFalse(resp.will_close)
            sock = sock or conn.sock
            self.assertIs(conn.sock, sock)

    def test_chunked_request_body(self):
        s = socket.create_connection(("127.0.0.1", self.fake.port), timeout=5)
        self.addCleanup(s.close)
        s.sendall(b"POST /job/grayify HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                  TOKEN.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n")
        resp = http.client.HTTPResponse(s)
        resp.begin()
        self.assertEqual(resp.status, 201)
        self.assertEqual(self.fake.jobs()[0].body, b"abcdefg")

    def test_expect_100_continue(self):
        """libcurl sends `Expect: 100-continue` before a large body and waits for it."""
        s = socket.create_connection(("127.0.0.1", self.fake.port), timeout=5)
        self.addCleanup(s.close)
        s.sendall(b"POST /job/grayify HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                  TOKEN.encode() + b"\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        f = s.makefile("rb")
        self.assertEqual(f.readline(), b"HTTP/1.1 100 Continue\r\n")
        while f.readline() not in (b"\r\n", b""):
            pass
        s.sendall(b"hello")
        resp = http.client.HTTPResponse(s)
        resp.fp = f
        resp.begin()
        self.assertEqual(resp.status, 201)
        self.assertEqual(self.fake.jobs()[0].body, b"hello")

    def test_answers_are_not_held_back(self):
        """20 answers on one keep-alive connection well under Nagle + delayed ACK (~40 ms
        each when status line, headers and body go out in separate writes)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.fake.port, timeout=5)
        self.addCleanup(conn.close)
        t0 = time.monotonic()
        for _ in range(20):
            conn.request("POST", "/run/grayify", body=b"{}",     # an answer with a body
                         headers={"Authorization": f"Bearer {TOKEN}"})
            self.assertEqual(conn.getresponse().read()[:4], b"ran:")
        self.assertLess(time.monotonic() - t0, 0.4)

    def test_requests_are_recorded(self):
        self.c.request("GET", "/health?x=1", headers={"X-Test": "v"})
        rec = self.fake.requests[-1]
        self.assertEqual((rec.method, rec.path, rec.query, rec.endpoint, rec.status),
                         ("GET", "/health", "x=1", "health", 200))
        self.assertEqual(rec.headers["x-test"], "v")
        self.assertIsInstance(rec.time, float)
        self.assertTrue(re.fullmatch(r"<GET /health\?x=1 → 200>", repr(rec)))


if __name__ == "__main__":
    unittest.main()
