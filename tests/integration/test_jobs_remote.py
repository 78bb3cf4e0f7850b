"""End to end: the supervisor sink's stage-in and outputs with remote sources, through
build/sluice.

    cd tests/integration && SLUICE_BIN=../../build/sluice python3 -m unittest -v test_jobs_remote

One test per remote source type with a fake server here: dCache (fake_dcache.py, staged by a
WebDAV GET, outputs by a WebDAV PUT), Onedata (fake_onedata.py, staged by a content GET; its
store takes no uploads, so no outputs) and MinIO (fake_s3.py in minio mode, staged by a GET,
outputs by a PUT). Each stores an object under a name as hostile as the storage allows (a
space, control characters, backslashes, `..` where it is not a whole segment), and the job copies
`$INPUT_FILE_PATH` to `$TMP_OUTPUT_DIR/<name>.copy` and next to its job folder, and records what
it was given. The tests check the staged bytes, that the staged file lay directly inside the
job's `input/` under the sanitised last segment of the name, that the key reached the job
unchanged, and that the `.copy` arrived in the fake's storage under `results/` with the same
bytes. The route's filter keeps the uploaded result from starting the job again: a second route
sends every event of the source to the webhook receiver, so once the result's own event was
delivered there, sluice has seen it and routed it (and it must not have run the job). Nothing
sleeps blindly: waits poll metrics, the fakes and the receiver.
"""
import unittest

from harness import wait_until
from test_jobs import JobsTestCase
from test_dcache import DcacheTestCase
from test_onedata import OnedataTestCase
from test_minio import BUCKET, MinioTestCase

SINK = "copy"
BYTES = b"staged bytes\x00\xff\n line two\r\n"


class RemoteStage:
    """Mixed into a JobsTestCase subclass that also sets up one fake storage."""

    def copy_job(self):
        """Copies the staged input to the outputs and next to the job folder (`staged`), and
        records INPUT_FILE_PATH, HOME, TMP_INPUT_DIR and STORAGE_OBJECT_KEY (NUL-separated) in
        `seen`, both in state/jobs/<sink>/."""
        return self.job(
            'cp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/$(basename "$INPUT_FILE_PATH").copy" &&\n'
            'cp "$INPUT_FILE_PATH" "$HOME/../staged" &&\n'
            'printf "%s\\0" "$INPUT_FILE_PATH" "$HOME" "$TMP_INPUT_DIR" "$STORAGE_OBJECT_KEY"'
            ' > "$HOME/../seen"')

    def use_job_sink(self, cfg, source, job_filter, outputs):
        """The supervisor sink `copy` (stage_in, `outputs`) for the events of `source` that
        pass `job_filter`, and every event of `source` to the webhook receiver as well."""
        sink = {"name": SINK, "type": "supervisor", "command": [self.copy_job()],
                "stage_in": True, "timeout": "30s", "max_attempts": 3}
        if outputs:
            sink["outputs"] = [{"source": source, "path": "results/", "suffix": [".copy"]}]
        cfg["sinks"] = [sink, {"name": "hook", "type": "webhook", "url": self.receiver.url()}]
        cfg["routes"] = [{"from": [source], "to": [SINK], "filter": job_filter},
                         {"from": [source], "to": ["hook"]}]
        return cfg

    def jobs_dir(self):
        return self.tmp / "state" / "jobs" / SINK

    def assert_staged(self, staged_name, key):
        """One job ran, once, successfully; it was given the object's bytes in
        <job folder>/input/<staged_name>, and `key` unchanged in STORAGE_OBJECT_KEY."""
        self.assertEqual(len(self.starts()), 1, self.run_lines())
        ends = [ln for ln in self.run_lines() if ln[0] == "end"]
        self.assertEqual([ln[3] for ln in ends], ["rc=0"], self.run_lines())
        folders = [p for p in self.jobs_dir().iterdir()
                   if p.is_dir() and not p.name.startswith(".")]
        self.assertEqual(len(folders), 1, folders)
        folder = folders[0]
        self.assertTrue(folder.name.startswith(self.starts()[0][1] + "-"), folder)
        seen = (self.jobs_dir() / "seen").read_bytes().split(b"\0")
        self.assertEqual(len(seen), 5, seen)  # four values, each NUL-terminated
        input_path, home, input_dir, object_key = seen[:4]
        self.assertEqual(home, bytes(folder))
        self.assertEqual(input_dir, bytes(folder / "input"))
        self.assertEqual(input_path, bytes(folder / "input" / staged_name))
        self.assertEqual((self.jobs_dir() / "staged").read_bytes(), BYTES)
        self.assertEqual(object_key, key)
        self.assertFalse((folder / "input").exists())  # temp folders go with the delivery
        self.assertFalse((folder / "output").exists())


class DcacheStageTest(RemoteStage, DcacheTestCase, JobsTestCase):
    def test_a_dcache_file_is_staged_by_webdav_and_the_copy_is_put_back(self):
        # A space, a newline and backslashes in the name: dCache takes all but '/' and NUL.
        self.fake.mkdir("/data/in/incoming")
        self.fake.mkdir("/data/in/results")
        cfg, port = self.dc_config(recursive=True)
        self.use_job_sink(cfg, "dc", {"prefix": ["/data/in/incoming/"]}, outputs=True)
        s = self.sluice(cfg, port).start()
        wait_until(s.ready, 20, "readyz (stream open, tree listed)")
        path = "/data/in/incoming/..\\..\\etc\\pass wd\nx.dat"
        self.fake.write(path, BYTES)
        wait_until(lambda: self.done(s, SINK, 1), 30, "the job")
        staged = ".._.._etc_pass wd_x.dat"
        self.assert_staged(staged, path.encode())
        result = f"/data/in/results/{staged}.copy"
        node = self.fake.node(result)
        self.assertIsNotNone(node, self.fake.listdir("/data/in/results"))
        self.assertEqual(self.fake.read(result), BYTES)
        self.assertEqual(self.fake.listdir("/data/in/results"), [staged + ".copy"])
        gets = [r for r in self.fake.requests if r.service == "webdav" and r.method == "GET"]
        puts = [r for r in self.fake.requests if r.service == "webdav" and r.method == "PUT"]
        self.assertEqual(len(gets), 1, gets)
        self.assertEqual(len(puts), 1, puts)
        # The result's own event went through sluice to the webhook, not to the job.
        self.wait_for([path, result])
        self.assertEqual(len(self.starts()), 1, self.run_lines())
        self.assertEqual(s.metric("sluice_deliveries_done_total", sink=SINK), 1)


class OnedataStageTest(RemoteStage, OnedataTestCase, JobsTestCase):
    def test_a_onedata_file_is_staged_by_its_content(self):
        # Onedata takes any name but "..", NUL and more than 255 bytes, but the content GET
        # (of fake_onedata.py, after op-worker) names the file in a Content-Disposition header
        # as it is: a LF there breaks the answer (curl: "Header without colon"), so this name
        # has other control characters (a TAB, an ESC).
        # Its store takes no uploads (onedata_store.cpp), so this sink has no outputs.
        self.fake.mkdir("in/sub dir")
        cfg, port = self.od_config()
        self.use_job_sink(cfg, "od", {"prefix": ["/space1/in/"]}, outputs=False)
        s = self.sluice(cfg, port).start()
        wait_until(s.ready, 20, "readyz")
        name = "..\\..\\etc\\pass wd\tx\x1b.dat"
        fid = self.fake.create_file("in/sub dir/" + name, BYTES)
        wait_until(lambda: self.done(s, SINK, 1), 30, "the job")
        path = "/space1/in/sub dir/" + name
        self.assert_staged(".._.._etc_pass wd_x_.dat", path.encode())
        contents = [r for r in self.fake.requests if r.op == "content"]
        self.assertEqual(len(contents), 1, contents)
        self.assertIn(fid, contents[0].raw_path)
        self.wait_for([path])


class MinioStageTest(RemoteStage, MinioTestCase, JobsTestCase):
    def test_a_minio_object_is_staged_and_the_copy_is_put_back(self):
        # MinIO refuses "." and ".." segments, "//" and NUL; backslashes, a space and a
        # newline inside a segment it takes.
        cfg, port = self.minio_config()
        self.use_job_sink(cfg, "m", {"prefix": ["in/"]}, outputs=True)
        s = self.sluice(cfg, port).start()
        self.wait_ready(s)
        key = self.put(b"in/..\\..\\etc\\pass wd\nx.tif", BYTES)
        wait_until(lambda: self.done(s, SINK, 1), 30, "the job")
        staged = ".._.._etc_pass wd_x.tif"
        self.assert_staged(staged, key)
        result = b"results/" + staged.encode() + b".copy"
        r = self.s3.get_object(BUCKET, result)
        self.assertEqual((r.status, r.body), (200, BYTES))
        obj = self.fake.object(BUCKET, result)
        self.assertIsNotNone(obj)
        self.assertEqual(obj.data, BYTES)
        # The result's own event went through sluice to the webhook, not to the job.
        self.wait_keys([key, result])
        self.assertEqual(len(self.starts()), 1, self.run_lines())
        self.assertEqual(s.metric("sluice_deliveries_done_total", sink=SINK), 1)


if __name__ == "__main__":
    unittest.main()
