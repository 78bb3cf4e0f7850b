"""Checks the fake Oneprovider before the daemon's Onedata tests trust it.

    cd tests/integration && python3 -m unittest -v test_fake_onedata

The changes streams run with short `timeout`s (ms), so they end on their own; no test sleeps
to wait for something to happen: waits are conditions with deadlines, stream reads block
until the fake writes, and coalescing is forced with hold_streams(). Two tests measure time
on purpose (the inactivity timer and the absence of heartbeats).
"""
import io
import json
import re
import sys
import tarfile
import threading
import time
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from fake_onedata import (FakeOnedata, StreamCut, crc16, forbidden,  # noqa: E402
                          object_id, parse_object_id)

BODY = {"fileMeta": {"fields": ["name", "type", "deleted"], "always": True}}
FULL = {"fileMeta": {"fields": ["name", "type", "deleted"], "always": True},
        "fileLocation": {"fields": ["size"]}, "times": {"fields": ["mtime"]}}


def drain(stream):
    """Every change until the stream ends (checks each line's CRLF)."""
    return list(stream.changes())


class FakeCase(unittest.TestCase):
    tokens = {"tok": {}, "nopriv": {"changes": False}, "caveat": {"data_caveat": True}}

    def setUp(self):
        self.fake = FakeOnedata(tokens=self.tokens).start()
        self.addCleanup(self.fake.stop)
        self.c = self.fake.client("tok")

    def open(self, spec=BODY, **kw):
        s = self.c.changes(spec, **kw)
        self.addCleanup(s.close)
        return s

    def open_live(self, spec=BODY, **kw):
        """A stream with no inactivity timeout, registered in the fake before returning."""
        n = self.fake.open_streams()
        s = self.open(spec, **kw)
        self.assertEqual(s.status, 200)
        self.fake.wait_streams(n + 1)
        return s

    def assert_error(self, r, status, eid, key=None):
        self.assertEqual((r.status, r.error_id()), (status, eid), r)
        self.assertEqual(r.headers.get("content-type"), "application/json")
        err = json.loads(r.body)["error"]
        self.assertEqual(set(err) - {"details"}, {"id", "description"})
        if key is not None:
            self.assertEqual(err["details"]["key"], key)
        return err


class ChangesRequestTest(FakeCase):
    def test_post_only(self):
        for method in ("GET", "PUT", "DELETE", "PATCH"):
            with self.subTest(method=method):
                s = self.open(method=method, last_seq=0, timeout=0)
                self.assertEqual((s.status, s.headers.get("allow"), s.body), (405, "POST", b""))
                self.assertEqual((self.fake.requests[-1].op, self.fake.requests[-1].status),
                                 ("changes", 405))
        anon = self.fake.client(token=None)  # 405 comes before authentication
        s = anon.changes(BODY, method="GET")
        self.addCleanup(s.close)
        self.assertEqual(s.status, 405)

    def test_authentication_and_privilege(self):
        s = self.fake.client(token=None).changes(BODY, timeout=0)
        self.addCleanup(s.close)
        self.assertEqual((s.status, s.json()), (401, {"error": {
            "id": "unauthorized",
            "description": "You must authenticate yourself to perform this operation."}}))
        s = self.fake.client(token="wrong").changes(BODY, timeout=0)
        self.addCleanup(s.close)
        self.assertEqual((s.status, s.json()["error"]["details"]["authError"]["id"]),
                         (401, "badToken"))
        s = self.fake.client(token="caveat").changes(BODY, timeout=0)
        self.addCleanup(s.close)
        self.assertEqual((s.status, s.json()["error"]["details"]["authError"]["id"]),
                         (401, "tokenCaveatUnverified"))
        s = self.fake.client(token="nopriv").changes(BODY, timeout=0)
        self.addCleanup(s.close)
        self.assertEqual((s.status, s.json()), (403, {"error": {
            "id": "forbidden",
            "description": "You are not authorized to perform this operation."}}))
        s = self.open(timeout=0, space_id="0" * 32)  # a space this user cannot see
        self.assertEqual((s.status, s.error_id()), (403, "forbidden"))
        for auth in ("bearer", "macaroon"):
            s = self.fake.client(token="tok", auth=auth).changes(BODY, timeout=0)
            self.addCleanup(s.close)
            self.assertEqual(s.status, 200, auth)
            drain(s)
        # X-Auth-Token is read first: a bad one is not rescued by a good Bearer header.
        s = self.fake.client(token="wrong").changes(BODY, timeout=0,
                                                    headers=[("Authorization", "Bearer tok")])
        self.addCleanup(s.close)
        self.assertEqual(s.status, 401)
        self.fake.revoke_token("tok")
        s = self.open(timeout=0)
        self.assertEqual(s.status, 401)

    def test_content_type_then_query_then_body(self):
        for ctype in ("text/plain", None):
            s = self.open(timeout=0, content_type=ctype)
            self.assertEqual((s.status, s.body), (415, b""))
        s = self.open(timeout=0, content_type="application/json; charset=utf-8")
        self.assertEqual(s.status, 200)
        drain(s)
        for q, key in (("last_seq=abc", "last_seq"), ("last_seq=1.5", "last_seq"),
                       ("timeout=soon", "timeout"), ("timeout=", "timeout")):
            s = self.open(query=q)
            self.assert_error(s, 400, "badValueInteger", key)
        s = self.open(query="timeout=x", body=b"not json")  # the query is parsed first
        self.assert_error(s, 400, "badValueInteger", "timeout")

    def test_body_validation(self):
        cases = [
            ([1, 2], "badValueJSON", "changesSpecification"),
            ("fileMeta", "badValueJSON", "changesSpecification"),
            ({}, "badValueEmpty", "changesSpecification"),
            ({"triggers": ["fileMeta"]}, "badValueEmpty", "changesSpecification"),
            ({"fileMeta": {}, "foo": {}}, "badData", "foo"),
            ({"fileMeta": 5}, "badData", "fileMeta"),
            ({"fileMeta": {"fields": ["name", "size"]}}, "badValueNotAllowed", "fileMeta.fields"),
            ({"fileMeta": {"fields": ["group_owner"]}}, "badValueNotAllowed", "fileMeta.fields"),
            ({"fileLocation": {"fields": ["mtime"]}}, "badValueNotAllowed",
             "fileLocation.fields"),
            ({"times": {"fields": ["size"]}}, "badValueNotAllowed", "times.fields"),
            ({"times": {"fields": "mtime"}}, "badValueListOfStrings", "times.fields"),
            ({"fileMeta": {"always": "yes"}}, "badValueBoolean", "fileMeta.always"),
            ({"customMetadata": {"exists": "onedata_json"}}, "badValueListOfStrings",
             "customMetadata.exists"),
            ({"fileMeta": {}, "triggers": "fileMeta"}, "badValueListOfStrings", "triggers"),
            ({"fileMeta": {}, "triggers": ["file_meta"]}, "badValueNotAllowed", "triggers"),
        ]
        for spec, eid, key in cases:
            with self.subTest(spec=spec):
                s = self.open(spec, timeout=0)
                err = self.assert_error(s, 400, eid, key)
                if eid == "badValueNotAllowed" and key == "fileMeta.fields":
                    self.assertEqual(err["details"]["allowed"], [
                        "name", "type", "mode", "owner", "provider_id", "shares", "deleted"])
        for body in (b"{not json", b""):  # json_utils:decode raises: the catch-all's bare 500
            s = self.open(body=body, timeout=0)
            self.assertEqual((s.status, s.body), (500, b""))
        s = self.open({"customMetadata": {"fields": ["onedata_keyvalue"],
                                          "exists": ["onedata_json"]}}, timeout=0)
        self.assertEqual(s.status, 200)
        drain(s)


class ChangesStreamTest(FakeCase):
    def test_object_id_matches_a_real_capture(self):
        # PROTOCOLS.md §2.2, legacy sample: the same algorithm names files today.
        want = ("00000000005CD913677569642350764D3856467067684D45357363344F7A72303565646663716C"
                "514E61555A395761364A484D797150557723532D48486A693152434667476C4773544A346B5A32"
                "334A69753676687656493734505261474C754A535667")
        uuid_, space = "PvM8VFpghME5sc4Ozr05edfcqlQNaUZ9Wa6JHMyqPUw", \
            "S-HHji1RCFgGlGsTJ4kZ23Jiu6vhvVI74PRaGLuJSVg"
        self.assertEqual(object_id(uuid_, space), want)
        self.assertEqual(parse_object_id(want), (uuid_, space))
        self.assertEqual(crc16(b"123456789"), 0xBB3D)  # CRC-16/ARC check value

    def test_framing_and_line_shape(self):
        self.fake.mkdir("in")
        fid = self.fake.create_file("in/a b✓.dat", b"xyz")
        s = self.open(FULL, last_seq=0, timeout=100)
        self.assertEqual(s.status, 200)
        self.assertEqual(s.headers["content-type"], "application/json")
        self.assertEqual(s.headers["transfer-encoding"], "chunked")
        chunks = []
        while True:
            c = s.read_chunk()
            if not c:
                break
            chunks.append(c)
        self.assertTrue(s.ended)
        self.assertGreater(len(chunks), 3)
        for c in chunks:  # one chunk per change, each `<json>\r\n`, compact, keys sorted
            self.assertTrue(c.endswith(b"\r\n") and c.count(b"\n") == 1, c)
            obj = json.loads(c)
            self.assertEqual(c[:-2], json.dumps(obj, sort_keys=True, separators=(",", ":"),
                                                ensure_ascii=False).encode())
            self.assertEqual({"fileId", "filePath", "seq"} - set(obj), set())
            self.assertIsInstance(obj["seq"], int)
        seqs = [json.loads(c)["seq"] for c in chunks]
        self.assertEqual(seqs, sorted(seqs))
        self.assertEqual(len(set(seqs)), len(seqs))
        mine = [json.loads(c) for c in chunks if json.loads(c)["fileId"] == fid]
        meta = next(m for m in mine if m["fileMeta"]["changed"])
        self.assertEqual(meta["filePath"], "/space1/in/a b✓.dat")
        self.assertIn("a b✓.dat".encode(), next(c for c in chunks if b'"changed":true,'
                                                  b'"deleted":false,"fields":{"deleted":false,'
                                                  b'"name":"a b' in c))  # raw UTF-8
        self.assertEqual(set(meta["fileMeta"]), {"rev", "mutators", "changed", "deleted",
                                                 "fields"})
        self.assertRegex(meta["fileMeta"]["rev"], r"^\d+-[0-9a-f]{32}$")
        self.assertEqual(meta["fileMeta"]["mutators"], [self.fake.provider_id])
        self.assertEqual(meta["fileMeta"]["fields"], {"name": "a b✓.dat", "type": "REG",
                                                      "deleted": False})
        self.assertNotIn("fileLocation", meta)  # not changed and not `always`
        loc = next(m for m in mine if "fileLocation" in m)
        self.assertEqual((loc["fileLocation"]["changed"], loc["fileLocation"]["fields"],
                          loc["fileMeta"]["changed"]), (True, {"size": 3}, False))
        self.assertEqual(parse_object_id(fid)[1], self.fake.space_id)
        root = json.loads(chunks[0])
        self.assertEqual((root["filePath"], root["fileMeta"]["fields"]["name"],
                          root["fileMeta"]["fields"]["type"], root["fileId"]),
                         ("/space1", "space1", "DIR", self.fake.space_dir_id))

    def test_inactivity_timeout_ends_the_stream(self):
        t0 = time.monotonic()
        s = self.open(timeout=150)
        self.assertEqual((s.status, drain(s), s.ended), (200, [], True))
        self.assertGreaterEqual(time.monotonic() - t0, 0.15)
        s = self.open(timeout=0, last_seq=0)  # the backlog first, then the end
        self.assertEqual(len(drain(s)), 2)  # the space directory's file_meta and times
        self.assertTrue(s.ended)

    def test_each_batch_restarts_the_timer(self):
        s = self.open(timeout=1000)
        self.assertEqual(s.status, 200)
        t0 = time.monotonic()
        self.fake.wait_streams(1)
        threading.Event().wait(0.4)  # on purpose: a change 0.4 s into a 1 s timer
        self.fake.create_file("late")
        self.assertEqual(s.next_change()["fileMeta"]["fields"]["name"], "late")
        self.assertEqual(drain(s)[-1]["fileMeta"]["fields"]["name"], "space1")  # parent times
        self.assertGreaterEqual(time.monotonic() - t0, 1.35)

    def test_no_heartbeats(self):
        s = self.open_live()
        s.sock.settimeout(0.7)  # MinIO would have sent a keep-alive within 0.5 s
        with self.assertRaises(StreamCut):
            s.read_chunk()
        self.assertEqual(s.received, b"")

    def test_last_seq_is_inclusive_and_defaults_to_now(self):
        for name in "abcd":
            self.fake.create_file(name)
        seqs = [ch["seq"] for ch in drain(self.open(last_seq=0, timeout=50))]
        s3 = seqs[3]
        again = [ch["seq"] for ch in drain(self.open(last_seq=s3, timeout=50))]
        self.assertEqual(again, seqs[3:])  # re-delivers the change at last_seq
        self.assertEqual([ch["seq"] for ch in drain(self.open(last_seq=s3 + 1, timeout=50))],
                         seqs[4:])
        s = self.open_live()  # last_seq=now: nothing from before
        self.fake.create_file("e")
        first = s.next_change()
        self.assertEqual(first["fileMeta"]["fields"]["name"], "e")
        self.assertGreater(first["seq"], seqs[-1])
        s = self.open_live(query="last_seq=1&last_seq=now")  # the last value wins
        self.fake.create_file("f")
        self.assertEqual(s.next_change()["fileMeta"]["fields"]["name"], "f")

    def test_coalescing_keeps_one_line_per_document_at_its_latest_seq(self):
        start = self.fake.current_seq() + 1
        self.fake.create_file("grow")
        for part in (b"aa", b"bb", b"cc"):
            self.fake.write("grow", part)
        spec = {"fileLocation": {"fields": ["size"]}, "times": {"fields": ["mtime"]}}
        lines = drain(self.open(spec, last_seq=start, timeout=50))
        locs = [ch for ch in lines if "fileLocation" in ch]
        self.assertEqual([ch["fileLocation"]["fields"]["size"] for ch in locs], [6])
        self.assertEqual(locs[0]["fileLocation"]["rev"][:2], "4-")  # 4 saves, one line
        # live: a lagging reader sees the same
        s = self.open_live(spec)
        self.fake.hold_streams()
        for part in (b"dd", b"ee"):
            self.fake.write("grow", part)
        self.fake.release_streams()
        got = [s.next_change(), s.next_change()]
        self.assertEqual([sorted(k for k in ch if k in spec) for ch in got],
                         [["fileLocation"], ["times"]])
        self.assertEqual(got[0]["fileLocation"]["fields"]["size"], 10)
        self.assertEqual(got[1]["seq"], self.fake.current_seq())
        self.fake.end_streams()
        self.assertEqual(s.readline(), b"")

    def test_triggers_always_and_skipped_lines(self):
        start = self.fake.current_seq() + 1
        self.fake.mkdir("d")
        fid = self.fake.create_file("d/f", b"1")
        only_loc = drain(self.open({"fileLocation": {"fields": ["size"]},
                                    "fileMeta": {"fields": ["name"], "always": True},
                                    "triggers": ["fileLocation"]}, last_seq=start, timeout=50))
        self.assertEqual([(ch["fileId"], ch["fileLocation"]["changed"],
                           ch["fileMeta"]["fields"]["name"]) for ch in only_loc],
                         [(fid, True, "f")])
        # directories have no file_location: an `always` fileLocation drops their lines
        before = self.fake.skipped_lines
        lines = drain(self.open({"fileMeta": {"fields": ["name"]},
                                 "fileLocation": {"fields": ["size"], "always": True}},
                                last_seq=start, timeout=50))
        self.assertTrue(all(ch["fileId"] == fid for ch in lines), lines)
        self.assertGreater(self.fake.skipped_lines, before)
        # no `always`: only the documents that changed, each alone
        lines = drain(self.open({"times": {"fields": ["mtime", "ctime"]}}, last_seq=start,
                                timeout=50))
        self.assertTrue(all(set(ch) == {"fileId", "filePath", "seq", "times"} for ch in lines))
        self.assertTrue(all(isinstance(ch["times"]["fields"]["mtime"], int) for ch in lines))

    def test_deleted_file(self):
        fid = self.fake.create_file("gone.txt", b"x")
        start = self.fake.current_seq() + 1
        self.fake.delete("gone.txt")
        lines = [ch for ch in drain(self.open(last_seq=start, timeout=50))
                 if ch["fileId"] == fid]
        # file_location and times were deleted first: their lines need the `always`
        # file_meta, which is gone by then, so only file_meta's own change remains
        self.assertEqual(len(lines), 1, lines)
        meta = lines[0]["fileMeta"]
        self.assertEqual((meta["changed"], meta["deleted"], meta["fields"]["deleted"],
                          lines[0]["filePath"]), (True, True, True, ""))
        full = [ch for ch in drain(self.open({"fileLocation": {"fields": ["size"]}},
                                             last_seq=start, timeout=50)) if ch["fileId"] == fid]
        self.assertEqual([(ch["fileLocation"]["deleted"], ch["fileLocation"]["fields"])
                          for ch in full], [(True, {"size": 1})])
        self.fake.create_file("d/x", parents=True)
        with self.assertRaises(OSError):  # Onedata refuses to remove a non-empty directory
            self.fake.delete("d")

    def test_rename_keeps_the_id(self):
        self.fake.mkdir("a")
        self.fake.mkdir("b")
        fid = self.fake.create_file("a/f")
        start = self.fake.current_seq() + 1
        self.fake.rename("a/f", "b/g")
        lines = drain(self.open(last_seq=start, timeout=50))
        moved = [ch for ch in lines if ch["fileId"] == fid]
        self.assertEqual([(ch["filePath"], ch["fileMeta"]["fields"]["name"]) for ch in moved],
                         [("/space1/b/g", "g")])
        self.assertEqual(sorted(ch["filePath"] for ch in lines if ch["fileId"] != fid),
                         ["/space1/a", "/space1/b"])  # both parents' times
        self.assertEqual(self.fake.file_id("b/g"), fid)

    def test_custom_metadata(self):
        self.fake.create_file("m")
        start = self.fake.current_seq() + 1
        self.fake.set_xattr("m", "onedata_json", {"k": 1})
        self.fake.set_xattr("m", "color", "red")
        spec = {"customMetadata": {"fields": ["onedata_json", "onedata_keyvalue", "nope"],
                                   "exists": ["onedata_rdf", "onedata_json", "onedata_keyvalue"]}}
        (ch,) = drain(self.open(spec, last_seq=start, timeout=50))
        cm = ch["customMetadata"]
        self.assertEqual(cm["fields"], {"onedata_json": {"k": 1},
                                        "onedata_keyvalue": {"color": "red"}, "nope": None})
        self.assertEqual(cm["exists"], {"onedata_rdf": False, "onedata_json": True,
                                        "onedata_keyvalue": True})


class StreamFaultTest(FakeCase):
    def test_cut_mid_line_then_resume(self):
        s = self.open_live()
        self.fake.hold_streams()
        fid = self.fake.create_file("x")
        seq = self.fake.current_seq()
        self.fake.cut_streams(partial="line")
        with self.assertRaises(StreamCut):
            s.readline()
        self.assertTrue(s.pending)
        self.assertFalse(s.pending.endswith(b"\r\n"))
        with self.assertRaises(ValueError):
            json.loads(s.pending)
        self.assertFalse(s.ended)
        self.fake.release_streams()
        lines = drain(self.open(last_seq=seq - 3, timeout=50))  # the reader's own cursor
        self.assertIn(fid, [ch["fileId"] for ch in lines])

    def test_cut_mid_chunk_and_plain_cut(self):
        s = self.open_live()
        self.fake.hold_streams()
        self.fake.create_file("y")
        self.fake.cut_streams(partial="chunk")
        with self.assertRaises(StreamCut):
            s.read_chunk()
        self.assertTrue(s.received.startswith(b'{"fileId":"'))
        self.fake.release_streams()
        s = self.open_live()
        self.fake.cut_streams()
        with self.assertRaises(StreamCut):
            s.read_chunk()
        self.assertEqual((s.received, self.fake.open_streams()), (b"", 0))

    def test_end_streams_is_a_clean_end(self):
        s = self.open_live()
        self.fake.end_streams()
        self.assertEqual((s.read_chunk(), s.ended), (b"", True))

    def test_line_end_raw_bytes_and_chunking(self):
        # one create_file = 4 lines: its file_meta, times, file_location, the parent's times
        s = self.open_live()
        self.fake.line_end = b"\n"
        self.fake.create_file("lf")
        for _ in range(4):
            line = s.readline()
            self.assertTrue(line.endswith(b"}\n") and not line.endswith(b"\r\n"), line)
        self.fake.line_end = b"\r\n"
        self.assertEqual(self.fake.inject_raw(b'{"fileId": oops\r\n'), 1)
        self.fake.create_file("after")
        self.assertEqual(s.readline(), b'{"fileId": oops\r\n')
        self.assertEqual([s.next_change()["filePath"] for _ in range(4)],
                         ["/space1/after"] * 3 + ["/space1"])
        self.fake.chunking = "split"
        self.fake.create_file("split")
        first = s.read_chunk()
        self.assertFalse(first.endswith(b"\r\n"))
        self.assertTrue(json.loads(first + s.read_chunk())["filePath"].endswith("/split"))
        for _ in range(6):
            self.assertTrue(s.read_chunk())
        self.fake.chunking = "batch"
        self.fake.hold_streams()
        self.fake.create_file("b1")
        self.fake.create_file("b2")
        self.fake.release_streams()
        batch = s.read_chunk()
        self.assertEqual(batch.count(b"\r\n"), 7, batch)  # 3 for b1, 3 for b2, the parent once

    def test_fail_next_and_delay_next(self):
        self.fake.fail_next(1, 503, op="changes")
        s = self.open(timeout=0)
        self.assert_error(s, 503, "serviceUnavailable")
        self.assertEqual(self.fake.requests[-1].verdict, "serviceUnavailable")
        self.assertEqual(self.open(timeout=0).status, 200)
        self.fake.fail_next(1, 500, op="children")
        self.assertEqual(self.c.spaces().status, 200)  # other ops pass
        self.assert_error(self.c.children(self.fake.space_id), 500, "internalServerError")
        self.fake.fail_next(1, error=forbidden())
        self.assert_error(self.c.children(self.fake.space_id), 403, "forbidden")
        self.fake.delay_next(1, 0.2, op="attrs")
        t0 = time.monotonic()
        self.assertEqual(self.c.attrs(self.fake.space_id).status, 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.2)

    def test_client_hang_up_ends_the_stream(self):
        s = self.open_live()
        s.close()
        self.assertTrue(self.fake.wait_until(lambda: self.fake.open_streams() == 0, 5))

    def test_connection_is_reused_after_a_clean_end(self):
        s = self.open(timeout=0)
        self.assertEqual((drain(s), s.ended), ([], True))
        s.sock.sendall(b"GET " + b"/api/v3/oneprovider/spaces HTTP/1.1\r\nHost: x\r\n"
                       b"X-Auth-Token: tok\r\n\r\n")
        self.assertEqual(s.f.readline()[:12], b"HTTP/1.1 200")

    def test_negative_timeout_dies_after_the_headers(self):
        s = self.open(timeout=-1)
        self.assertEqual(s.status, 200)
        with self.assertRaises(StreamCut):
            s.read_chunk()

    def test_stop_resets_open_streams(self):
        s = self.open_live()
        self.fake.stop()
        with self.assertRaises(StreamCut):
            s.read_chunk()


class DataApiTest(FakeCase):
    def names(self, r):
        self.assertEqual(r.status, 200, r)
        return [c["name"] for c in r.json()["children"]]

    def test_listing_pages_by_token(self):
        self.fake.mkdir("dir")
        for n in ("b", "A", "É", "c", "e", "d"):
            self.fake.create_file("dir/" + n)
        did = self.fake.file_id("dir")
        r1 = self.c.children(did, limit=3)
        self.assertEqual(self.names(r1), ["A", "b", "c"])
        self.assertEqual(set(r1.json()), {"children", "isLast", "nextPageToken"})
        self.assertFalse(r1.json()["isLast"])
        self.assertEqual(set(r1.json()["children"][0]), {"fileId", "file_id", "name"})
        self.assertEqual(r1.json()["children"][0]["fileId"], self.fake.file_id("dir/A"))
        r2 = self.c.children(did, limit=3, token=r1.json()["nextPageToken"])
        self.assertEqual(self.names(r2), ["d", "e", "É"])
        self.assertFalse(r2.json()["isLast"])  # a full page is never the last one
        r3 = self.c.children(did, limit=3, token=r2.json()["nextPageToken"])
        self.assertEqual((self.names(r3), r3.json()["isLast"]), ([], True))
        self.assertIsInstance(r3.json()["nextPageToken"], str)
        r = self.c.children(did, limit=4, token=r1.json()["nextPageToken"])
        self.assertEqual((self.names(r), r.json()["isLast"]), (["d", "e", "É"], True))
        self.assertEqual(self.names(self.c.children(did, offset=2, limit=2)), ["c", "d"])
        self.assertEqual(self.names(self.c.children(did, index="d")), ["d", "e", "É"])
        self.assertEqual(self.names(self.c.children(did, index="d", inclusive="false")),
                         ["e", "É"])

    def test_listing_default_limit_and_attributes(self):
        for i in range(1003):
            self.fake.create_file(f"f{i:04d}")
        r = self.c.children(self.fake.space_id)  # the space id names the space directory
        self.assertEqual((len(r.json()["children"]), r.json()["isLast"]), (1000, False))
        r = self.c.children(self.fake.space_dir_id, token=r.json()["nextPageToken"],
                            attributes=["type", "size", "mtime", "name"])
        kids = r.json()["children"]
        self.assertEqual((len(kids), r.json()["isLast"]), (3, True))
        self.assertEqual(set(kids[0]), {"type", "size", "mtime", "name"})
        self.assertEqual((kids[0]["type"], kids[0]["size"]), ("REG", 0))
        r = self.c.children(self.fake.space_id, limit=1, attribute=["file_id", "size"])
        self.assertEqual(set(r.json()["children"][0]), {"file_id", "size"})

    def test_listing_errors(self):
        fid = self.fake.create_file("plain")
        sid = self.fake.space_id
        self.assert_error(self.c.children(sid, limit=0), 400, "badValueNotInRange", "limit")
        self.assert_error(self.c.children(sid, limit=10001), 400, "badValueNotInRange",
                          "limit")
        self.assert_error(self.c.children(sid, limit="ten"), 400, "badValueInteger", "limit")
        self.assert_error(self.c.children(sid, offset=501), 400, "badValueNotInRange",
                          "offset")
        err = self.assert_error(self.c.children(sid, attributes="bogus"), 400,
                                "badValueNotAllowed", "attributes")
        self.assertIn("fileId", err["details"]["allowed"])
        self.assertEqual(self.assert_error(self.c.children(sid, token="%%%"), 400,
                                           "posix")["details"], {"errno": "einval"})
        self.assertEqual(self.assert_error(self.c.children(fid), 400, "posix")["details"],
                         {"errno": "enotdir"})
        self.assert_error(self.c.children("not-an-id"), 400, "badValueIdentifier", "id")
        self.assert_error(self.c.children("ab" * 16), 400, "spaceNotSupportedBy")
        self.fake.delete("plain")
        self.assertEqual(self.assert_error(self.c.attrs(fid), 400, "posix")["details"],
                         {"errno": "enoent"})
        anon = self.fake.client(token=None)
        self.assert_error(anon.children(sid), 401, "unauthorized")
        self.assertEqual(self.fake.client(token="caveat").children(sid).status, 200)

    def test_attributes(self):
        self.fake.mkdir("d")
        fid = self.fake.create_file("d/f.txt", b"hello")
        self.fake.touch("d/f.txt", mtime=1234567890)
        a = self.c.attrs(fid).json()
        self.assertEqual((a["fileId"], a["file_id"], a["name"], a["type"], a["size"],
                          a["mtime"], a["posixPermissions"], a["mode"]),
                         (fid, fid, "f.txt", "REG", 5, 1234567890, "664", "664"))
        self.assertEqual(a["parentFileId"], self.fake.file_id("d"))
        d = self.c.attrs(self.fake.file_id("d"), attributes=["type", "size", "path"]).json()
        self.assertEqual(d, {"type": "DIR", "size": None, "path": "/space1/d"})
        root = self.c.attrs(self.fake.space_id).json()
        self.assertEqual((root["name"], root["parentFileId"]), ("space1", None))

    def test_lookup_and_spaces(self):
        fid = self.fake.create_file("in dir/ü.bin", parents=True)
        r = self.c.lookup("/space1/in dir/ü.bin")
        self.assertEqual((r.status, r.json()), (200, {"fileId": fid}))
        self.assertEqual(self.c.lookup("space1").json()["fileId"], self.fake.space_dir_id)
        self.assertEqual(self.assert_error(self.c.lookup("/space1/nope"), 400,
                                           "posix")["details"], {"errno": "enoent"})
        self.assert_error(self.c.lookup("/other/x"), 400, "posix")
        self.assertEqual(self.c.request("GET", "/lookup-file-id/space1").status, 405)
        (space,) = self.c.spaces().json()
        self.assertEqual((space["name"], space["spaceId"], space["dirId"]),
                         ("space1", self.fake.space_id, self.fake.space_dir_id))

    def test_content_and_ranges(self):
        fid = self.fake.create_file("data.bin", b"0123456789")
        r = self.c.content(fid)
        self.assertEqual((r.status, r.body, r.header("content-type")),
                         (200, b"0123456789", "application/octet-stream"))
        self.assertEqual(r.header("content-disposition"), 'attachment; filename="data.bin"')
        r = self.c.content(fid, "bytes=2-4")
        self.assertEqual((r.status, r.body, r.header("content-range")),
                         (206, b"234", "bytes 2-4/10"))
        self.assertEqual(self.c.content(fid, "bytes=-3").body, b"789")
        self.assertEqual(self.c.content(fid, "bytes=8-100").body, b"89")
        r = self.c.content(fid, "bytes=0-0,5-")
        self.assertEqual(r.status, 206)
        self.assertTrue(r.header("content-type").startswith("multipart/byteranges; boundary="))
        self.assertEqual(re.findall(rb"content-range: (bytes [^\r]*)", r.body),
                         [b"bytes 0-0/10", b"bytes 5-9/10"])
        for bad in ("bytes=10-", "bytes=5-2", "items=0-1", "bytes=x-1"):
            r = self.c.content(fid, bad)
            self.assertEqual((r.status, r.header("content-range")), (416, "bytes */10"), bad)
        self.fake.write("data.bin", b"AB", offset=0)
        self.assertEqual(self.c.content(fid).body, b"AB23456789")
        self.fake.create_file("tree/x.txt", b"xx", parents=True)
        r = self.c.content(self.fake.file_id("tree"))
        with tarfile.open(fileobj=io.BytesIO(r.body)) as tar:
            self.assertEqual(tar.getnames(), ["tree", "tree/x.txt"])
            self.assertEqual(tar.extractfile("tree/x.txt").read(), b"xx")


class LegacyPathApiTest(unittest.TestCase):
    """OneTrigger's polling calls (COMPAT.md §1.4), served only with legacy_path_api=True."""

    def setUp(self):
        self.fake = FakeOnedata(tokens={"tok"}, legacy_path_api=True).start()
        self.addCleanup(self.fake.stop)
        self.c = self.fake.client()

    def test_files_and_attributes(self):
        self.fake.mkdir("in")
        fid = self.fake.create_file("in/a.txt", b"abc")
        r = self.c.request("GET", "/files/space1")
        self.assertEqual((r.status, r.json()), (200, [{"id": self.fake.file_id("in"),
                                                       "path": "/space1/in"}]))
        # OneTrigger recurses with the listed path, leading '/' included: files//space1/in
        self.assertEqual(self.c.request("GET", "/files//space1/in").json(),
                         [{"id": fid, "path": "/space1/in/a.txt"}])
        self.assertEqual(self.c.request("GET", "/files/space1/in/a.txt").json(),
                         [{"id": fid, "path": "/space1/in/a.txt"}])
        a = self.c.request("GET", "/attributes/space1/in/a.txt").json()
        self.assertEqual((a["type"], a["size"], a["mode"], a["file_id"], a["name"]),
                         ("reg", 3, "0664", fid, "a.txt"))
        self.assertEqual(self.c.request("GET", "/attributes/space1/in").json()["type"], "dir")
        self.assertEqual(self.c.request("GET", "/attributes/space1/in",
                                        "attribute=mtime").json().keys(), {"mtime"})
        r = self.c.request("GET", "/files/space1/nope")
        self.assertEqual((r.status, r.json()), (404, {
            "error": "not_found", "error_description": "The resource could not be found."}))
        r = self.fake.client(token="bad").request("GET", "/files/space1")
        self.assertEqual((r.status, r.json()["error"]), (401, "unauthorized"))

    def test_limits(self):
        for i in range(1001):
            self.fake.create_file(f"f{i:04d}")
        r = self.c.request("GET", "/files/space1")
        self.assertEqual((r.status, r.json()["error"]), (400, "too_many_entries"))
        r = self.c.request("GET", "/files/space1", "offset=1000&limit=5")
        self.assertEqual([e["path"] for e in r.json()], ["/space1/f1000"])
        for q, code in (("limit=1000", "limit_too_large"), ("limit=0", "invalid_limit"),
                        ("offset=x&limit=3", "invalid_offset")):
            r = self.c.request("GET", "/files/space1", q)
            self.assertEqual((r.status, r.json()["error"]), (400, code), q)

    def test_absent_on_a_current_oneprovider(self):
        with FakeOnedata(tokens={"tok"}) as fake:
            self.assertEqual(fake.client().request("GET", "/files/space1").status, 404)


if __name__ == "__main__":
    unittest.main()
