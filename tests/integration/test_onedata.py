"""End to end: the `type: onedata` source against the fake Oneprovider (fake_onedata.py),
delivered to a webhook receiver on 127.0.0.1.

    cd tests/integration && SLUICE_BIN=../../build/sluice python3 -m unittest -v test_onedata

`mode: changes` follows the space's metadata changes stream (resumed from the committed seq),
`mode: poll` lists the space tree by file id. A written file counts as created once its size
and mtime stayed the same for `settle`. Every test asserts exact outcomes: each file delivered
exactly once (by path and id), and nothing more once a later sentinel file came through the
same stream.
"""
import time
import unittest

from fake_onedata import FakeOnedata
from harness import SluiceTestCase, deadline, wait_until

TOKEN = "tok-1"


class OnedataTestCase(SluiceTestCase):
    fake_kw = {}

    def setUp(self):
        super().setUp()
        self.fake = FakeOnedata(tokens=self.fake_kw.get("tokens", {TOKEN}),
                                **{k: v for k, v in self.fake_kw.items() if k != "tokens"})
        self.fake.start()
        self.addCleanup(self.fake.stop)
        self.fake.mkdir("in")
        self.token_file = self.tmp / "onedata.token"
        self.token_file.write_text(TOKEN + "\n")
        self.token_file.chmod(0o600)

    def od_config(self, **source):
        cfg, port = self.config()
        src = {"name": "od", "type": "onedata", "provider": self.fake.url + "/",
               "space_id": self.fake.space_id, "paths": ["/space1/in"],
               "token_file": str(self.token_file), "settle": "1s", "timeout": "2s",
               "interval": "1s", "events": ["created", "removed"]}
        src.update(source)
        cfg["sources"] = [src]
        cfg["routes"] = [{"from": ["od"], "to": ["hook"]}]
        return cfg, port

    def start(self, **source):
        cfg, port = self.od_config(**source)
        return self.sluice(cfg, port).start()

    def delivered(self, path):
        return self.receiver.delivered_paths().get(path.encode(), 0)

    def wait_for(self, paths, timeout=30):
        self.wait_delivered(paths, timeout)

    def assert_once_each(self, paths):
        counts = self.receiver.delivered_paths()
        for p in paths:
            self.assertEqual(counts.get(p.encode(), 0), 1, p)

    def sentinel(self, name="zz-sentinel"):
        """A file written last: once it is delivered, everything before it was handled."""
        self.fake.create_file(f"in/{name}", b"s")
        self.wait_for([f"/space1/in/{name}"])


class ChangesTest(OnedataTestCase):
    def test_a_written_file_is_delivered_once(self):
        s = self.start()
        wait_until(s.ready, 20, "readyz")
        self.fake.mkdir("in/sub")
        fid = self.fake.create_file("in/sub/a.dat", b"abc")
        self.fake.write("in/sub/a.dat", b"def")
        self.fake.create_file("out.dat", b"not watched")
        self.wait_for(["/space1/in/sub/a.dat"])
        self.sentinel()
        self.assert_once_each(["/space1/in/sub/a.dat"])
        ev = next(e for e in self.receiver.events() if e["path"] == b"/space1/in/sub/a.dat")
        self.assertEqual(ev["type"], "sluice.object.created")
        self.assertEqual(ev["data"]["size"], 6)
        self.assertEqual(ev["data"]["etag"], fid)
        self.assertEqual(ev["data"]["storage"], "onedata")
        self.assertEqual(ev["data"]["native"]["Records"][0]["objectId"], fid)
        paths = set(self.receiver.delivered_paths())
        self.assertNotIn(b"/space1/out.dat", paths)
        self.assertNotIn(b"/space1/in/sub", paths)
        # A deletion is delivered as removed.
        self.fake.delete("in/sub/a.dat")
        wait_until(lambda: any(e["type"] == "sluice.object.removed"
                               for e in self.receiver.events()), 20, "the removal")
        # The stream ends after `timeout` without changes and sluice asks again at once.
        wait_until(lambda: s.metric("sluice_source_reconnects_total", source="od") >= 2, 20,
                   "reconnects after the inactivity timeout")
        reqs = [r for r in self.fake.requests if r.op == "changes"]
        self.assertTrue(all("timeout=2000" in r.raw_query for r in reqs))
        self.assertEqual(reqs[0].header("content-type"), "application/json")

    def test_cut_streams_lose_and_repeat_nothing(self):
        s = self.start()
        wait_until(s.ready, 20, "readyz")
        paths = []
        for i in range(6):
            self.fake.create_file(f"in/f{i}.dat", b"x" * (i + 1))
            paths.append(f"/space1/in/f{i}.dat")
            self.fake.wait_streams(1, timeout=15)
            self.fake.cut_streams(partial="line" if i % 2 else "chunk")
        self.wait_for(paths)
        self.sentinel()
        self.assert_once_each(paths)
        ids = [e["id"] for e in self.receiver.events()]
        self.assertEqual(len(ids), len(set(ids)))

    def test_a_malformed_line_is_counted_and_the_stream_goes_on(self):
        s = self.start()
        wait_until(s.ready, 20, "readyz")
        self.fake.wait_streams(1, timeout=15)
        self.fake.inject_raw(b'{"fileId": oops\r\n')
        self.fake.create_file("in/after.dat", b"abc")
        self.wait_for(["/space1/in/after.dat"])
        wait_until(lambda: s.metric("sluice_source_bad_events_total", source="od") >= 1, 10,
                   "the bad line counted")
        self.assertIn("unreadable changes stream line", s.log_text())
        self.sentinel()
        self.assert_once_each(["/space1/in/after.dat"])

    def test_a_rotated_token_is_used_for_the_next_request(self):
        self.fake.add_token("tok-2")
        s = self.start()
        wait_until(s.ready, 20, "readyz")
        self.token_file.write_text("tok-2\n")
        wait_until(lambda: any(r.op == "changes" and r.header("x-auth-token") == "tok-2"
                               for r in self.fake.requests), 20, "a request with the new token")
        self.fake.revoke_token(TOKEN)
        self.fake.create_file("in/new-token.dat", b"abc")
        self.wait_for(["/space1/in/new-token.dat"])

    def test_a_file_moved_into_the_watched_paths_is_delivered_with_its_size(self):
        # The rename saves only file_meta: the size and mtime are read from its attributes.
        s = self.start()
        wait_until(s.ready, 20, "readyz")
        self.fake.mkdir("out")
        fid = self.fake.create_file("out/m.dat", b"12345")
        self.sentinel("pre")  # the stream has read the file's creation (out of the paths)
        self.fake.rename("out/m.dat", "in/m.dat")
        self.wait_for(["/space1/in/m.dat"])
        self.assertTrue(any(r.op == "attrs" for r in self.fake.requests))
        self.sentinel()
        self.assert_once_each(["/space1/in/m.dat"])
        ev = next(e for e in self.receiver.events() if e["path"] == b"/space1/in/m.dat")
        self.assertEqual(ev["data"]["size"], 5)
        self.assertEqual(ev["data"]["etag"], fid)

    def test_a_crash_while_a_file_settles_loses_nothing(self):
        s = self.start(settle="3s")
        wait_until(s.ready, 20, "readyz")
        self.fake.wait_streams(1, timeout=15)
        self.fake.create_file("in/crash.dat", b"abc")
        wait_until(lambda: sum(st.sent for st in self.fake._streams) >= 3, 10,
                   "the stream sent the file's lines")
        s.kill()  # before `settle` passed: the committed cursor is below the file
        self.assertEqual(self.receiver.delivered_paths(), {})
        s.start()
        self.wait_for(["/space1/in/crash.dat"])
        self.sentinel()
        self.assert_once_each(["/space1/in/crash.dat"])

    def test_sluice_once_delivers_what_was_written(self):
        cfg, port = self.od_config()
        s = self.sluice(cfg, port)
        for i in range(3):
            self.fake.create_file(f"in/o{i}.dat", b"abc")
        r = s.once()
        self.assertEqual(r.returncode, 0, r.stderr)
        paths = [f"/space1/in/o{i}.dat" for i in range(3)]
        self.wait_for(paths)
        # Nothing new: a second run delivers nothing more.
        r = s.once()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_once_each(paths)


class ForbiddenTest(OnedataTestCase):
    fake_kw = {"tokens": {TOKEN: {"changes": False}}}

    def test_403_names_the_missing_privilege(self):
        s = self.start()
        def named():
            status, body = s.get("/readyz")
            return status == 503 and "space_view_changes_stream" in body
        wait_until(named, 20, "/readyz naming the privilege")
        self.assertIn("space_view_changes_stream", s.log_text())
        self.assertTrue(s.alive())


class PollTest(OnedataTestCase):
    # Files written "a minute ago": settled by their mtime for a listing too.
    fake_kw = {"clock": lambda: time.time() - 60}

    def test_poll_and_changes_give_the_same_ids(self):
        self.fake.mkdir("in/d")
        for name in ("in/p1.dat", "in/d/p2.dat"):
            self.fake.create_file(name, b"data")
        paths = ["/space1/in/p1.dat", "/space1/in/d/p2.dat"]
        cfg, port = self.od_config(mode="changes")
        cfg["state_dir"] = str(self.tmp / "state-changes")
        r = self.sluice(cfg, port).once()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.wait_for(paths)
        changes_ids = {e["path"]: e["id"] for e in self.receiver.events()}
        cfg, port = self.od_config(mode="poll")
        cfg["state_dir"] = str(self.tmp / "state-poll")
        s = self.sluice(cfg, port)
        r = s.once()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(any(r.op == "children" for r in self.fake.requests))
        wait_until(lambda: len(self.receiver.events()) >= 4, 20, "poll deliveries")
        poll_ids = {}
        for e in self.receiver.events()[2:]:
            poll_ids[e["path"]] = e["id"]
        self.assertEqual(changes_ids, poll_ids)

    def test_poll_mode_finds_new_and_removed_files(self):
        self.fake.create_file("in/keep.dat", b"k")
        s = self.start(mode="poll")
        self.wait_for(["/space1/in/keep.dat"])
        self.fake.create_file("in/later.dat", b"l")
        self.wait_for(["/space1/in/later.dat"])
        self.fake.delete("in/keep.dat")
        wait_until(lambda: any(e["type"] == "sluice.object.removed"
                               for e in self.receiver.events()), 20, "the removal")
        self.assertGreaterEqual(s.metric("sluice_source_reconciliations_total", source="od"), 2)


if __name__ == "__main__":
    unittest.main()
