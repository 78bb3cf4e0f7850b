"""Checks the fake dCache frontend (fake_dcache.py) against PROTOCOLS.md §1 before the daemon's
tests trust it.

    cd tests/integration && python3 -m unittest -v test_fake_dcache

No test sleeps blindly: waits are conditions with deadlines (fake.wait_until, socket timeouts
on streams), channel expiry runs on a ManualClock, and "no event arrived" is shown by a later
sentinel event arriving first.
"""
import base64
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from fake_dcache import (FakeDcache, ManualClock, compact_json, pretty_json,  # noqa: E402
                         jackson_str)

USERS = {"alice": "wonderland", "bob": "builder"}
TOKENS = {"tok-alice": "alice", "tok-bob": "bob"}
CHANNEL_URL = re.compile(r"^http://127\.0\.0\.1:\d+/api/v1/events/channels/[A-Za-z0-9_-]{22}$")


class FakeCase(unittest.TestCase):
    """A fake on a ManualClock with /data, alice's client and helpers for streams."""
    fake_kw = {}

    def setUp(self):
        self.clock = ManualClock(1_700_000_000)
        self.fake = FakeDcache(users=USERS, tokens=TOKENS, clock=self.clock,
                               **self.fake_kw).start()
        self.addCleanup(self.fake.stop)
        self.fake.mkdir("/data")
        self.api = self.fake.client("alice", "wonderland")
        self._sentinels = 0

    def channel(self, client_id=None, api=None):
        r = (api or self.api).create_channel(client_id)
        self.assertEqual(r.status, 201, r)
        return r.headers["location"]

    def subscribe(self, channel, path="/data", flags=None, status=201):
        r = self.api.subscribe(channel, path, flags)
        self.assertEqual(r.status, status, r)
        return r.headers["location"]

    def open(self, channel, last_event_id=None, api=None):
        stream = (api or self.api).stream(channel, last_event_id, timeout=5)
        self.addCleanup(stream.close)
        self.assertEqual(stream.status, 200)
        self.assertTrue(self.fake.wait_until(lambda: self.fake.connected(channel), 5))
        return stream

    def next(self, stream):
        ev = stream.next_event()
        self.assertIsNotNone(ev, f"stream ended ({stream.error})")
        return ev

    def inotify(self, stream, n):
        """The next n events, which must be inotify ones: [(id, name, mask, cookie)]."""
        out = []
        for _ in range(n):
            ev = self.next(stream)
            self.assertEqual(ev.type, "inotify", ev)
            e = ev.json()["event"]
            out.append((int(ev.id), e.get("name"), e["mask"], e.get("cookie")))
        return out

    def sentinel(self, stream, directory="/data"):
        """Creates a directory in `directory` (watched) and asserts its IN_CREATE is the next
        event: whatever was done before it sent nothing. Returns the sentinel's event id."""
        self._sentinels += 1
        name = f".sentinel-{self._sentinels}"
        self.fake.mkdir(f"{directory}/{name}")
        ev = self.next(stream)
        self.assertEqual((ev.type, ev.json()["event"]),
                         ("inotify", {"name": name, "mask": ["IN_CREATE", "IN_ISDIR"]}), ev)
        return int(ev.id)


class JacksonTest(unittest.TestCase):
    def test_escaping_and_pretty_printer(self):
        self.assertEqual(jackson_str('a"b\\c/d\x01\n\tü✓'), '"a\\"b\\\\c/d\\u0001\\n\\tü✓"')
        self.assertEqual(compact_json({"a": [1, "x"], "b": None, "c": True}),
                         '{"a":[1,"x"],"b":null,"c":true}')
        self.assertEqual(pretty_json({"a": [{"b": 1}, {"c": []}], "d": {}}),
                         '{\n  "a" : [ {\n    "b" : 1\n  }, {\n    "c" : [ ]\n  } ],\n'
                         '  "d" : { }\n}')


class ChannelTest(FakeCase):
    fake_kw = {"max_channels": 3}

    def test_create_answers_201_with_an_absolute_location_and_no_body(self):
        r = self.api.create_channel()
        self.assertEqual((r.status, r.body, r.headers["content-length"]), (201, b"", "0"))
        self.assertRegex(r.headers["location"], CHANNEL_URL)
        self.assertEqual(r.headers["access-control-allow-origin"], "*")
        # The base URI is the request's own (Host header), not a configured name.
        aliased = self.fake.client("alice", "wonderland", host_header="dcache.example.org:3880")
        loc = aliased.create_channel().headers["location"]
        self.assertRegex(loc, r"^http://dcache\.example\.org:3880/api/v1/events/channels/"
                              r"[A-Za-z0-9_-]{22}$")

    def test_client_id_finds_channels_and_never_reuses_one(self):
        a = self.channel("sluice-1")
        b = self.channel()
        c = self.channel("")                       # empty = no client id
        self.assertEqual(len({a, b, c}), 3)

        def listed(query=""):
            r = self.api.request("GET", "/events/channels" + query)
            self.assertEqual(r.status, 200, r)
            self.assertFalse(r.body.startswith(b"[ "), "lists are compact")
            return r.json()
        self.assertEqual(listed("?client-id=sluice-1"), [a])
        self.assertEqual(listed("?client-id="), [b, c])
        self.assertEqual(listed(), [a, b, c])
        self.assertEqual(listed("?client-id=other"), [])
        self.api.request("DELETE", b)
        d = self.channel("sluice-1")             # POST always creates a new channel
        self.assertNotEqual(d, a)
        self.assertEqual(listed("?client-id=sluice-1"), [a, d])
        # Another user sees none of alice's channels.
        bob = self.fake.client("bob", "builder")
        self.assertEqual(bob.request("GET", "/events/channels").json(), [])

    def test_client_id_is_truncated_to_256_characters(self):
        long_id = "x" * 300
        url = self.channel(long_id)
        r = self.api.request("GET", "/events/channels?client-id=" + "x" * 256)
        self.assertEqual(r.json(), [url])
        r = self.api.request("GET", "/events/channels?client-id=" + long_id)
        self.assertEqual(r.json(), [url])

    def test_429_past_the_per_user_limit(self):
        urls = [self.channel() for _ in range(3)]
        r = self.api.create_channel()
        self.assertEqual(r.status, 429, r)
        self.assertEqual(r.json(), {"errors": [{"message": "Too Many Requests",
                                                "status": "429"}]})
        self.assertEqual(self.fake.client("bob", "builder").create_channel().status, 201)
        self.assertEqual(self.api.request("DELETE", urls[0]).status, 204)
        self.assertEqual(self.api.create_channel().status, 201)

    def test_metadata_patch_delete_and_ownership(self):
        url = self.channel()
        r = self.api.request("GET", url, headers={"Accept": "application/json"})
        self.assertEqual((r.status, r.body), (200, b'{\n  "timeout" : 300\n}'))
        self.assertEqual(r.headers["content-type"], "application/json")
        self.assertEqual(self.api.request("GET", url).json(), {"timeout": 300})  # no Accept
        self.assertEqual(self.api.request("GET", url, headers={"Accept": "text/html"}).status,
                         406)
        for value, message in ((0, "Timeout shorter than minimum allowed"),
                               (86401, "Timeout longer than maximum allowed")):
            r = self.api.request("PATCH", url, json_body={"timeout": value})
            self.assertEqual((r.status, r.error_message()), (400, message))
        self.assertEqual(self.api.request("PATCH", url, json_body={"timeout": 10}).status, 204)
        self.assertEqual(self.api.request("GET", url).json(), {"timeout": 10})
        bob = self.fake.client("bob", "builder")
        r = bob.request("GET", url)
        self.assertEqual((r.status, r.error_message()), (403, "Forbidden"))
        self.assertEqual(bob.request("DELETE", url).status, 403)
        self.assertEqual(self.api.request("DELETE", url).status, 204)
        for method in ("GET", "DELETE"):
            r = self.api.request(method, url)
            self.assertEqual(r.status, 404, r)
            self.assertEqual(r.json(), {"errors": [{"message": "Not Found", "status": "404"}]})
        self.assertEqual(self.api.subscribe(url, "/data").status, 404)

    def test_service_metadata_and_event_types(self):
        anon = self.fake.client(anonymous=True)
        r = anon.request("GET", "/events")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"channels": {"lifetimeWhenDisconnected": {
            "maximum": 86400, "minimum": 1, "default": 300}, "maximumPerUser": 3}})
        self.assertIn(b'"maximumPerUser" : 3', r.body)
        self.assertEqual(anon.request("GET", "/events/eventTypes").status, 401)
        self.assertEqual(self.api.request("GET", "/events/eventTypes").json(), ["inotify"])
        self.assertEqual(self.api.request("GET", "/events/eventTypes/inotify").json(),
                         {"description": "notification of namespace activity, modelled "
                                         "after inotify(7)"})
        self.assertEqual(self.api.request("GET", "/events/eventTypes/nope").status, 404)
        self.assertEqual(self.api.request("GET", "/events/eventTypes/inotify/selector")
                         .json()["required"], ["path"])


class AuthTest(FakeCase):
    def test_anonymous_and_bad_credentials_get_401(self):
        anon = self.fake.client(anonymous=True)
        for r in (anon.create_channel(), anon.request("GET", "/events/channels"),
                  anon.request("GET", "/namespace/data"),
                  self.fake.client("alice", "wrong").create_channel(),
                  self.fake.client("mallory", "x").create_channel(),
                  self.fake.client(token="not-a-token").create_channel(),
                  self.fake.client(token="not-a-token").request("GET", "/events"),
                  anon.request("POST", "/events/channels",
                               headers={"Authorization": "Negotiate abc"})):
            self.assertEqual(r.status, 401, r)
            self.assertEqual(r.json(), {"errors": [{"message": "Unauthorized",
                                                    "status": "401"}]})
            self.assertTrue(r.headers["www-authenticate"].startswith("Basic"))
        url = self.channel()
        self.assertEqual(anon.request("GET", url).status, 401)   # 401 before 404/403
        self.assertEqual(anon.request("GET", url + "x").status, 401)

    def test_bearer_header_and_authz_query_parameter(self):
        tok = self.fake.client(token="tok-alice")
        r = tok.create_channel()
        self.assertEqual(r.status, 201, r)
        url = r.headers["location"]
        # The token is alice: her Basic login sees the same channel.
        self.assertEqual(self.api.request("GET", "/events/channels").json(), [url])
        anon = self.fake.client(anonymous=True)
        self.assertEqual(anon.request("GET", url + "?authz=tok-alice").json(), {"timeout": 300})
        self.assertEqual(anon.request("GET", url + "?authz=tok-bob").status, 403)
        self.assertEqual(anon.request("GET", url + "?authz=nope").status, 401)
        self.assertEqual(self.fake.requests[-1].verdict, "Unauthorized")

    def test_basic_refused_over_plain_http_when_configured(self):
        strict = FakeDcache(users=USERS, basic_over_http=False).start()
        self.addCleanup(strict.stop)
        self.assertEqual(strict.client("alice", "wonderland").create_channel().status, 401)


class SubscriptionTest(FakeCase):
    def test_subscribe_list_get_merge_and_delete(self):
        url = self.channel()
        self.fake.mkdir("/data/sub")
        sub = self.subscribe(url, "/data", ["IN_CLOSE_WRITE", "IN_MOVE"])
        self.assertTrue(sub.startswith(url + "/subscriptions/inotify/"), sub)
        self.assertRegex(sub.rsplit("/", 1)[1], r"^[A-Za-z0-9_-]{24}$")  # 18 PNFS-ID bytes
        r = self.api.request("GET", sub)
        self.assertEqual(r.json(), {"flags": ["IN_CLOSE_WRITE", "IN_MOVE"], "path": "/data"})
        self.assertIn(b'"path" : "/data"', r.body)
        # Same object again: 303 to the same URL, flags replaced ...
        self.assertEqual(self.subscribe(url, "/data", ["IN_CREATE"], status=303), sub)
        self.assertEqual(self.api.request("GET", sub).json()["flags"], ["IN_CREATE"])
        # ... or united with IN_MASK_ADD (macros come back expanded).
        self.assertEqual(self.subscribe(url, "/data/", ["IN_MASK_ADD", "IN_CLOSE"], 303), sub)
        self.assertEqual(self.api.request("GET", sub).json()["flags"],
                         ["IN_CLOSE_WRITE", "IN_CLOSE_NOWRITE", "IN_CREATE"])
        sub2 = self.subscribe(url, "/data/sub")
        self.assertEqual(self.api.request("GET", url + "/subscriptions").json(), [sub, sub2])
        self.assertEqual(self.api.request("GET", sub2).json(), {"path": "/data/sub"})
        self.assertEqual(self.api.request("DELETE", sub).status, 204)
        self.assertEqual(self.api.request("GET", url + "/subscriptions").json(), [sub2])
        self.assertEqual(self.api.request("GET", sub).status, 404)
        self.assertEqual(self.api.request("DELETE", sub).status, 404)
        # The same object on another channel is another subscription.
        other = self.channel()
        self.assertEqual(self.api.subscribe(other, "/data").status, 201)

    def test_selector_errors_are_400_with_dcache_messages(self):
        url = self.channel()
        self.fake.write("/data/file.txt", b"x")
        cases = [
            ({"path": "/nope"}, "inotify",
             "Not found: Problem with path: No such file or directory: /nope"),
            ({"flags": ["IN_CREATE"]}, "inotify", "Bad selector: Missing path"),
            ({"path": "/data", "flags": ["IN_DONT_FOLLOW", "IN_CREATE"]}, "inotify",
             "Bad selector: Unsupported flags: [IN_DONT_FOLLOW]"),
            ({"path": "/data/file.txt", "flags": ["IN_ONLYDIR"]}, "inotify",
             "Failed condition: IN_ONLYDIR with REGULAR target"),
            ({"path": "/data"}, "metronomicon", "Unknown event type: metronomicon"),
        ]
        for selector, etype, message in cases:
            with self.subTest(selector=selector):
                r = self.api.request("POST", f"{url}/subscriptions/{etype}",
                                     json_body=selector)
                self.assertEqual((r.status, r.error_message()), (400, message))
        for selector in ({"path": "/data", "flags": ["IN_MOVE_FROM"]},   # the guide's typo
                         {"path": "/data", "recursive": True}, {"path": "data"}, ["/data"]):
            with self.subTest(selector=selector):
                r = self.api.request("POST", url + "/subscriptions/inotify", json_body=selector)
                self.assertEqual(r.status, 400, r)
                self.assertTrue(r.error_message().startswith("Bad selector: "), r)
        r = self.api.request("POST", url + "/subscriptions/inotify")
        self.assertEqual((r.status, r.error_message()),
                         (400, "Missing JSON entity in POST request"))
        r = self.api.request("POST", url + "/subscriptions/inotify", body=b'{"path":"/data"}',
                             headers={"Content-Type": "text/plain"})
        self.assertEqual(r.status, 415)
        self.fake.forbid("/data")
        r = self.api.subscribe(url, "/data")
        self.assertEqual((r.status, r.error_message()), (400, "Permission denied: Not allowed."))
        # A file may be watched without IN_ONLYDIR.
        self.fake.mkdir("/open")
        self.fake.write("/open/f", b"")
        self.assertEqual(self.api.subscribe(url, "/open/f").status, 201)

    def test_standard_base64_ids_are_opaque_urls(self):
        fake = FakeDcache(users=USERS, std_base64_ids=True).start()
        self.addCleanup(fake.stop)
        pnfsid = "0000FF" + "FBEFBE" * 5               # standard base64 "AAD/++++…"
        fake.mkdir("/odd", pnfsid=pnfsid)
        api = fake.client()
        url = api.create_channel().headers["location"]
        stream = api.stream(url, timeout=5)
        self.addCleanup(stream.close)
        self.assertTrue(fake.wait_until(lambda: fake.connected(url), 5))
        r = api.subscribe(url, "/odd")
        sub = r.headers["location"]
        sid = base64.b64encode(bytes.fromhex(pnfsid)).decode().rstrip("=")
        self.assertIn("+", sid)
        self.assertIn("/", sid)
        self.assertTrue(sub.endswith("/subscriptions/inotify/" + sid.replace("/", "%2F")), sub)
        self.assertEqual(stream.next_event().json()["subscription"], sub)  # NEW_SUBSCRIPTION
        fake.write("/odd/f", b"")
        self.assertEqual(stream.next_event().json()["subscription"], sub)
        self.assertEqual(api.request("GET", url + "/subscriptions").json(), [sub])
        self.assertEqual(api.request("GET", sub).json(), {"path": "/odd"})
        self.assertEqual(api.request("DELETE", sub).status, 204)


class StreamTest(FakeCase):
    def test_exact_framing_of_system_and_upload_events(self):
        url = self.channel()
        stream = self.open(url)
        self.assertEqual(stream.headers["content-type"], "text/event-stream")
        self.assertEqual(stream.headers["transfer-encoding"], "chunked")
        sub = self.subscribe(url)
        ev = self.next(stream)
        self.assertEqual(ev.raw, b'event: SYSTEM\ndata: {"type":"NEW_SUBSCRIPTION",'
                                 b'"subscription":"' + sub.encode() + b'"}\n\n')
        self.assertIsNone(ev.id)
        self.fake.write("/data/results.dat", chunks=[b"12", b"34"])
        want = ["IN_CREATE", "IN_OPEN", "IN_MODIFY", "IN_MODIFY", "IN_CLOSE_WRITE", "IN_ATTRIB"]
        for i, flag in enumerate(want):
            ev = self.next(stream)
            self.assertEqual(ev.raw, (
                f'event: inotify\nid: {i}\ndata: {{"event":{{"name":"results.dat","mask":'
                f'["{flag}"]}},"subscription":"{sub}"}}\n\n').encode())
        self.assertEqual(self.fake.read("/data/results.dat"), b"1234")
        self.fake.write("/data/swapped", b"x", attrib_first=True)
        self.assertEqual([m for _, _, m, _ in self.inotify(stream, 5)][-2:],
                         [["IN_ATTRIB"], ["IN_CLOSE_WRITE"]])

    def test_dirs_renames_and_deletes(self):
        url = self.channel()
        stream = self.open(url)
        self.subscribe(url)
        self.next(stream)  # NEW_SUBSCRIPTION
        self.fake.mkdir("/data/d")
        self.fake.write("/data/a.txt", b"")   # empty: no IN_MODIFY
        self.fake.rename("/data/a.txt", "/data/b.txt")
        self.fake.rename("/data/d", "/data/e", to_first=True)
        self.fake.delete("/data/b.txt")
        self.fake.delete("/data/e")
        got = self.inotify(stream, 11)
        self.assertEqual([g[0] for g in got], list(range(11)))
        self.assertEqual([(n, m) for _, n, m, _ in got], [
            ("d", ["IN_CREATE", "IN_ISDIR"]), ("a.txt", ["IN_CREATE"]), ("a.txt", ["IN_OPEN"]),
            ("a.txt", ["IN_CLOSE_WRITE"]), ("a.txt", ["IN_ATTRIB"]),
            ("a.txt", ["IN_MOVED_FROM"]), ("b.txt", ["IN_MOVED_TO"]),
            ("e", ["IN_MOVED_TO", "IN_ISDIR"]), ("d", ["IN_MOVED_FROM", "IN_ISDIR"]),
            ("b.txt", ["IN_DELETE"]), ("e", ["IN_DELETE", "IN_ISDIR"])])
        cookies = [c for *_, c in got]
        self.assertEqual(cookies[5], cookies[6])
        self.assertEqual(cookies[7], cookies[8])
        self.assertNotEqual(cookies[5], cookies[7])
        self.assertRegex(cookies[5], r"^[A-Za-z0-9+/]{22}$")
        self.assertEqual([c is None for c in cookies],
                         [True] * 5 + [False] * 4 + [True] * 2)
        # Key order name, cookie, mask (InotifyEventPayload's fields).
        self.fake.write("/data/k", b"")
        self.inotify(stream, 4)
        self.fake.rename("/data/k", "/data/k2")
        ev = self.next(stream)
        self.assertRegex(ev.data, r'^\{"event":\{"name":"k","cookie":"[^"]+","mask":'
                                  r'\["IN_MOVED_FROM"\]\},"subscription":"')

    def test_watches_are_not_recursive_and_flags_filter(self):
        self.fake.mkdir("/data/sub")
        self.fake.mkdir("/elsewhere")
        url = self.channel()
        stream = self.open(url)
        self.subscribe(url, "/data", ["IN_CLOSE_WRITE", "IN_CREATE", "IN_MOVED_TO"])
        self.next(stream)
        self.fake.write("/data/sub/deep.txt", b"x")     # below the watched dir
        self.fake.write("/elsewhere/x.txt", b"x")       # unrelated dir
        self.fake.rename("/elsewhere/x.txt", "/elsewhere/y.txt")
        self.fake.attrib("/data/sub")                   # IN_ATTRIB not selected
        self.sentinel(stream)
        self.fake.rename("/elsewhere/y.txt", "/data/y.txt")   # moved in: IN_MOVED_TO only
        self.fake.write("/data/z", b"z")
        got = self.inotify(stream, 3)
        self.assertEqual([(n, m) for _, n, m, _ in got], [
            ("y.txt", ["IN_MOVED_TO"]), ("z", ["IN_CREATE"]), ("z", ["IN_CLOSE_WRITE"])])

    def test_self_events_oneshot_and_closing_watches(self):
        self.fake.mkdir("/data/w")
        url = self.channel()
        stream = self.open(url)
        sub = self.subscribe(url, "/data/w")
        self.subscribe(url, "/data")
        self.assertEqual(len([self.next(stream) for _ in range(2)]), 2)   # NEW_SUBSCRIPTIONs
        # The watch follows its directory when it is moved.
        self.fake.rename("/data/w", "/data/w2")
        got = self.inotify(stream, 3)
        self.assertEqual([(n, m) for _, n, m, _ in got], [
            ("w", ["IN_MOVED_FROM", "IN_ISDIR"]), ("w2", ["IN_MOVED_TO", "IN_ISDIR"]),
            (None, ["IN_MOVE_SELF", "IN_ISDIR"])])
        self.fake.write("/data/w2/f", b"")
        self.assertEqual(self.inotify(stream, 1)[0][1:3], ("f", ["IN_CREATE"]))
        self.inotify(stream, 3)
        # Deleting the watched dir: parent's IN_DELETE, IN_DELETE_SELF, then the watch closes.
        self.fake.delete("/data/w2", recursive=True)
        got = self.inotify(stream, 3)
        self.assertEqual([(n, m) for _, n, m, _ in got], [
            ("f", ["IN_DELETE"]), ("w2", ["IN_DELETE", "IN_ISDIR"]),
            (None, ["IN_DELETE_SELF", "IN_ISDIR"])])
        ev = self.next(stream)
        self.assertEqual((ev.type, ev.id, ev.json()),
                         ("SYSTEM", None, {"type": "SUBSCRIPTION_CLOSED", "subscription": sub}))
        ev = self.next(stream)
        self.assertEqual((ev.type, ev.json()),
                         ("inotify", {"event": {"mask": ["IN_IGNORED"]}, "subscription": sub}))
        self.assertEqual(self.api.request("GET", sub).status, 404)
        # IN_ONESHOT: one event, then closed.
        one = self.subscribe(url, "/data", ["IN_CREATE", "IN_ONESHOT"], status=303)
        self.fake.write("/data/once", b"")
        self.assertEqual(self.inotify(stream, 1)[0][1:3], ("once", ["IN_CREATE"]))
        self.assertEqual(self.next(stream).json()["type"], "SUBSCRIPTION_CLOSED")
        self.assertEqual(self.inotify(stream, 1)[0][2], ["IN_IGNORED"])
        self.assertEqual(self.api.request("GET", url + "/subscriptions").json(), [])
        self.assertEqual(self.api.request("GET", one).status, 404)
        # DELETE of a subscription sends the same pair.
        sub = self.subscribe(url, "/data")
        self.next(stream)
        self.assertEqual(self.api.request("DELETE", sub).status, 204)
        self.assertEqual(self.next(stream).json(), {"type": "SUBSCRIPTION_CLOSED",
                                                    "subscription": sub})
        self.assertEqual(self.inotify(stream, 1)[0][2], ["IN_IGNORED"])

    def test_queue_overflow_and_json_escaping(self):
        url = self.channel()
        stream = self.open(url)
        sub = self.subscribe(url)
        self.next(stream)
        self.fake.queue_overflow(sub)
        self.assertEqual(self.next(stream).data,
                         '{"event":{"mask":["IN_Q_OVERFLOW"]},"subscription":"' + sub + '"}')
        name = 'q"uo\\te\nnew\x01 ü/'.replace("/", "")
        self.fake.mkdir("/data/" + name)
        ev = self.next(stream)
        self.assertIn('"name":"q\\"uo\\\\te\\nnew\\u0001 ü"', ev.data)
        self.assertEqual(ev.json()["event"]["name"], name)
        self.fake.emit("/data", "IN_ACCESS", name="ghost")      # any event, flags permitting
        self.assertEqual(self.next(stream).json()["event"], {"name": "ghost",
                                                             "mask": ["IN_ACCESS"]})

    def test_accept_header_picks_stream_or_metadata(self):
        url = self.channel()
        r = self.api.request("GET", url, headers={"Accept": "application/json"})
        self.assertEqual(r.json(), {"timeout": 300})
        self.assertFalse(self.fake.connected(url))
        s = self.api.stream(url, accept="application/json, text/event-stream;q=0.9", timeout=5)
        self.addCleanup(s.close)
        self.assertEqual(s.headers["content-type"], "text/event-stream")

    def test_a_second_get_kicks_out_the_first(self):
        url = self.channel()
        first = self.open(url)
        self.subscribe(url)
        self.next(first)
        second = self.api.stream(url, timeout=5)
        self.addCleanup(second.close)
        ev = self.next(first)
        self.assertEqual(ev.raw, b'event: SYSTEM\ndata: {"type":"COMPETING_CLIENT"}\n\n')
        self.assertIsNone(first.next_event())      # ended cleanly (last chunk)
        self.assertIsNone(first.error)
        self.fake.write("/data/f", b"")
        self.assertEqual(self.inotify(second, 1)[0][:3], (0, "f", ["IN_CREATE"]))
        self.assertTrue(self.fake.connected(url))

    def test_namespace_changes_arrive_on_every_channel_watching(self):
        a, b = self.channel(), self.channel()
        sa, sb = self.open(a), self.open(b)
        self.subscribe(a)
        self.subscribe(b)
        self.next(sa)
        self.next(sb)
        self.fake.mkdir("/data/x")
        self.assertEqual(self.inotify(sa, 1)[0][:2], (0, "x"))
        self.assertEqual(self.inotify(sb, 1)[0][:2], (0, "x"))

    def test_event_subscription_urls_use_the_channel_creators_base(self):
        aliased = self.fake.client("alice", "wonderland", host_header="alias.example:3880")
        url = aliased.create_channel().headers["location"]
        self.assertTrue(url.startswith("http://alias.example:3880/"))
        stream = self.open(url)
        sub = self.subscribe(url)              # this request names 127.0.0.1
        self.assertTrue(sub.startswith(self.fake.api_url), sub)
        self.assertTrue(self.next(stream).json()["subscription"].startswith(
            "http://alias.example:3880/api/v1/events/channels/"))


class ResumeTest(FakeCase):
    fake_kw = {"backlog": 8}

    def produce(self, n, prefix="f"):
        for i in range(n):
            self.fake.mkdir(f"/data/{prefix}{i}")

    def setUp(self):
        super().setUp()
        self.url = self.channel()
        self.subscribe(self.url)

    def test_last_event_id_replays_later_events_with_their_ids(self):
        stream = self.open(self.url)
        self.produce(5)
        self.assertEqual([g[0] for g in self.inotify(stream, 5)], [0, 1, 2, 3, 4])
        stream.close()
        self.assertTrue(self.fake.wait_until(lambda: not self.fake.connected(self.url), 5))
        self.produce(2, "g")                           # ids 5, 6 while disconnected
        for attempt in range(2):                       # the same id twice: the same replay
            again = self.open(self.url, last_event_id=4)
            got = self.inotify(again, 2)
            self.assertEqual([(i, n) for i, n, _, _ in got], [(5, "g0"), (6, "g1")])
            if attempt:
                self.assertEqual(self.sentinel(again), 7)   # and nothing more
            again.close()
        # The trim dropped 0..3 for good: asking for 2 now is a loss.
        self.assertEqual(self.fake.buffered_ids(self.url), [4, 5, 6, 7])
        lost = self.open(self.url, last_event_id=2)
        ev = self.next(lost)
        self.assertEqual(ev.raw, b'event: SYSTEM\ndata: {"type":"EVENT_LOSS"}\n\n')
        self.assertEqual(self.sentinel(lost), 8)       # nothing replayed after the loss
        self.assertEqual(self.fake.buffered_ids(self.url), [8])

    def test_without_or_with_a_bad_header_nothing_is_replayed(self):
        self.produce(1)
        for header in (None, "abc", "1.0", "+1", "99999999999", ""):
            with self.subTest(header=header):
                s = self.open(self.url, last_event_id=header)
                self.sentinel(s)
                s.close()
        self.assertEqual(self.fake.buffered_ids(self.url), list(range(7)))  # none trimmed
        s = self.open(self.url, last_event_id="-1")    # an int, not buffered: loss
        self.assertEqual(self.next(s).json(), {"type": "EVENT_LOSS"})

    def test_event_loss_after_the_ring_buffer_overflowed(self):
        stream = self.open(self.url)
        self.produce(2)
        self.inotify(stream, 2)
        stream.close()
        self.assertTrue(self.fake.wait_until(lambda: not self.fake.connected(self.url), 5))
        self.produce(10, "g")                          # ids 2..11; the buffer keeps 4..11
        self.assertEqual(self.fake.buffered_ids(self.url), list(range(4, 12)))
        again = self.open(self.url, last_event_id=1)
        self.assertEqual(self.next(again).json(), {"type": "EVENT_LOSS"})
        self.assertEqual(self.sentinel(again), 12)     # ids go on; 2..11 are not sent

    def test_force_event_loss_with_cut(self):
        stream = self.open(self.url)
        self.produce(3)
        last = self.inotify(stream, 3)[-1][0]
        self.fake.force_event_loss(self.url, cut=True)
        self.assertIsNone(stream.next_event())
        again = self.open(self.url, last_event_id=last)
        self.assertEqual(self.next(again).json(), {"type": "EVENT_LOSS"})


class ExpiryTest(FakeCase):
    def gone(self, url):
        return self.api.request("GET", url).status == 404

    def test_unconnected_channel_expires_after_the_timeout(self):
        url = self.channel()
        sub = self.subscribe(url)
        self.clock.advance(299)
        self.assertFalse(self.gone(url))
        self.clock.advance(1)
        self.assertTrue(self.gone(url))
        self.assertEqual(self.api.request("GET", sub).status, 404)
        self.assertEqual(self.api.subscribe(url, "/data").status, 404)
        refused = self.api.stream(url, timeout=5)
        refused.close()
        self.assertEqual(refused.status, 404)
        self.assertEqual(self.api.request("GET", "/events/channels").json(), [])
        self.assertIsNone(self.fake.channel(url))

    def test_attached_stream_stops_the_timer_and_a_disconnect_restarts_it(self):
        url = self.channel()
        stream = self.open(url)
        self.clock.advance(10_000)
        self.assertFalse(self.gone(url))
        stream.close()
        self.assertTrue(self.fake.wait_until(lambda: not self.fake.connected(url), 5))
        self.clock.advance(299)
        self.open(url).close()                         # reconnecting in time: timer stopped
        self.assertTrue(self.fake.wait_until(lambda: not self.fake.connected(url), 5))
        self.clock.advance(299)
        self.assertFalse(self.gone(url))
        self.clock.advance(1)
        self.assertTrue(self.gone(url))

    def test_patch_restarts_a_running_timer(self):
        url = self.channel()
        self.clock.advance(100)
        self.assertEqual(self.api.request("PATCH", url, json_body={"timeout": 10}).status, 204)
        self.clock.advance(9)
        self.assertFalse(self.gone(url))
        self.clock.advance(1)
        self.assertTrue(self.gone(url))

    def test_expiry_on_the_clock_without_requests(self):
        url = self.channel()
        self.clock.advance(301)                        # the fake hears the clock itself
        self.assertEqual(self.fake.channel_urls(), [])
        self.assertTrue(self.gone(url))

    def test_expire_channel_and_delete_end_an_attached_stream(self):
        for how in ("expire", "delete"):
            with self.subTest(how=how):
                url = self.channel()
                stream = self.open(url)
                if how == "expire":
                    self.fake.expire_channel(url)
                else:
                    self.assertEqual(self.api.request("DELETE", url).status, 204)
                self.assertIsNone(stream.next_event())
                self.assertIsNone(stream.error)            # a clean end of the body
                self.assertTrue(self.gone(url))
                r = self.api.stream(url, timeout=5)
                self.assertEqual(r.status, 404)
                r.close()


class NamespaceTest(FakeCase):
    def test_listing_with_children(self):
        self.fake.mkdir("/data/b dir")
        self.fake.write("/data/a.txt", b"hello")
        self.fake.mkdir("/data/a")
        r = self.api.request("GET", "/namespace/data?children=true")
        self.assertEqual(r.status, 200, r)
        doc = r.json()
        self.assertEqual(list(doc), ["fileMimeType", "children", "fileType", "pnfsId", "nlink",
                                     "mtime", "creationTime", "size"])
        self.assertEqual((doc["fileType"], doc["fileMimeType"], doc["size"], doc["nlink"]),
                         ("DIR", "application/vnd.dcache.folder", 512, 4))
        self.assertRegex(doc["pnfsId"], r"^[0-9A-F]{36}$")
        kids = [(c["fileName"], c["fileType"]) for c in doc["children"]]
        self.assertEqual(kids, [("b dir", "DIR"), ("a.txt", "REGULAR"), ("a", "DIR")])
        self.assertEqual(list(doc["children"][1]), ["fileName", "fileMimeType", "fileType",
                                                    "pnfsId", "nlink", "mtime",
                                                    "creationTime", "size"])
        self.assertEqual(doc["children"][1]["size"], 5)
        self.assertEqual(doc["children"][1]["mtime"], 1_700_000_000_000)
        self.assertIn(b'  "children" : [ {\n    "fileName" : "b dir",', r.body)
        self.assertNotIn("children", self.api.request("GET", "/namespace/data").json())
        r = self.api.request("GET", "/namespace/data/b%20dir?children=true")
        self.assertEqual(r.json()["children"], [])
        self.assertEqual(self.api.request("GET", "/namespace/?children=true")
                         .json()["children"][0]["fileName"], "data")
        r = self.api.request("GET", "/namespace/no-such-item")
        self.assertEqual((r.status, r.body),
                         (404, b'{"errors":[{"message":"Not Found","status":"404"}]}'))

    def test_recursive_watch_recipe_of_dcnios(self):
        """List with children=true, watch every DIR, add a watch on IN_CREATE|IN_ISDIR."""
        self.fake.makedirs("/data/x/y")
        url = self.channel()
        stream = self.open(url)
        watches = {}

        def watch(path):
            watches[self.subscribe(url, path)] = path
            self.assertEqual(self.next(stream).json()["type"], "NEW_SUBSCRIPTION")
            listing = self.api.request("GET", f"/namespace{path}?children=true").json()
            for c in listing["children"]:
                if c["fileType"] == "DIR":
                    watch(path + "/" + c["fileName"])
        watch("/data")
        self.assertEqual(sorted(watches.values()), ["/data", "/data/x", "/data/x/y"])
        self.fake.mkdir("/data/x/y/new")
        ev = self.next(stream).json()
        self.assertEqual(watches[ev["subscription"]], "/data/x/y")
        self.assertEqual(ev["event"], {"name": "new", "mask": ["IN_CREATE", "IN_ISDIR"]})


class WebdavTest(FakeCase):
    def test_get_ignores_range_and_needs_auth(self):
        self.fake.write("/data/f.txt", b"0123456789")
        dav = self.fake.webdav_client()
        r = dav.request("GET", "/data/f.txt", headers={"Range": "bytes=2-4"})
        self.assertEqual((r.status, r.body), (200, b"0123456789"))
        self.assertEqual(r.headers["content-type"], "text/plain")
        r = dav.request("HEAD", "/data/f.txt")
        self.assertEqual((r.status, r.headers["content-length"], r.body), (200, "10", b""))
        self.assertEqual(dav.request("GET", "/data/missing").status, 404)
        self.assertEqual(self.fake.webdav_client(anonymous=True).request(
            "GET", "/data/f.txt").status, 401)
        self.assertEqual(self.fake.webdav_client(token="tok-bob").request(
            "GET", "/data/f.txt").status, 200)
        self.assertNotEqual(self.fake.webdav_port, self.fake.port)

    def test_incomplete_upload_is_not_readable_and_put_uploads(self):
        url = self.channel()
        stream = self.open(url)
        self.subscribe(url)
        self.next(stream)
        up = self.fake.begin_upload("/data/big.bin")
        up.write(b"part")
        dav = self.fake.webdav_client()
        self.assertEqual(dav.request("GET", "/data/big.bin").status, 404)
        self.assertEqual([m for _, _, m, _ in self.inotify(stream, 3)],
                         [["IN_CREATE"], ["IN_OPEN"], ["IN_MODIFY"]])
        up.close()
        self.assertEqual(dav.request("GET", "/data/big.bin").body, b"part")
        self.assertEqual([m for _, _, m, _ in self.inotify(stream, 2)],
                         [["IN_CLOSE_WRITE"], ["IN_ATTRIB"]])
        self.assertEqual(dav.request("PUT", "/data/put%20me", body=b"abc").status, 201)
        got = self.inotify(stream, 5)
        self.assertEqual([(n, m[0]) for _, n, m, _ in got],
                         [("put me", f) for f in ("IN_CREATE", "IN_OPEN", "IN_MODIFY",
                                                  "IN_CLOSE_WRITE", "IN_ATTRIB")])
        self.assertEqual(self.fake.read("/data/put me"), b"abc")

    def test_read_events_when_enabled(self):
        fake = FakeDcache(users=USERS, read_events=True).start()
        self.addCleanup(fake.stop)
        fake.mkdir("/r")
        fake.write("/r/f", b"x")
        api = fake.client()
        url = api.create_channel().headers["location"]
        api.subscribe(url, "/r")
        stream = api.stream(url, last_event_id=None, timeout=5)
        self.addCleanup(stream.close)
        self.assertTrue(fake.wait_until(lambda: fake.connected(url), 5))
        self.assertEqual(fake.webdav_client().request("GET", "/r/f").body, b"x")
        flags = [stream.next_event().json()["event"]["mask"][0] for _ in range(3)]
        self.assertEqual(flags, ["IN_OPEN", "IN_ACCESS", "IN_CLOSE_NOWRITE"])


class FaultTest(FakeCase):
    def test_fail_next(self):
        self.fake.fail_next(2, 503)
        for _ in range(2):
            r = self.api.create_channel()
            self.assertEqual(r.status, 503)
            self.assertEqual(r.json(), {"errors": [{"message": "Service Unavailable",
                                                    "status": "503"}]})
        self.assertEqual(self.api.create_channel().status, 201)
        url = self.channel()
        self.fake.fail_next(1, 500, op="stream")
        self.assertEqual(self.api.request("GET", url).status, 200)      # metadata: untouched
        s = self.api.stream(url, timeout=5)
        self.assertEqual(s.status, 500)
        s.close()
        self.fake.fail_next(1, 502, service="webdav")
        self.assertEqual(self.api.request("GET", url).status, 200)
        self.assertEqual(self.fake.webdav_client().request("GET", "/data").status, 502)
        self.assertEqual([r.op for r in self.fake.requests[-2:]], ["channel_metadata",
                                                                   "webdav_get"])

    def test_cut_streams_then_resume(self):
        url = self.channel()
        stream = self.open(url)
        self.subscribe(url)
        self.next(stream)
        self.fake.mkdir("/data/a")
        last = self.inotify(stream, 1)[0][0]
        self.assertEqual(self.fake.cut_streams(), 1)
        self.assertIsNone(stream.next_event())
        self.assertIsInstance(stream.error, (ConnectionError, OSError))
        self.assertEqual(self.fake.open_streams(), 0)
        self.fake.mkdir("/data/b")                       # while nobody listens
        # The disconnect started the GC timer.
        self.assertEqual(self.fake.channel(url).close_at, self.clock() + 300)
        again = self.open(url, last_event_id=last)
        self.assertEqual(self.inotify(again, 1)[0][:2], (last + 1, "b"))
        for how in ("eof", "end"):
            with self.subTest(how=how):
                s = self.open(url)
                self.fake.cut_streams(how)
                self.assertIsNone(s.next_event())
                if how == "end":
                    self.assertIsNone(s.error)

    def test_send_raw_and_shutdown_notice(self):
        url = self.channel()
        stream = self.open(url)
        self.fake.send_raw(url, b": a comment\r\nevent: x\r\ndata: y\r\n\r\n")
        ev = self.next(stream)
        self.assertEqual((ev.type, ev.data), ("x", "y"))
        self.fake.stop()
        ev = self.next(stream)
        self.assertEqual(ev.raw, b'event: SYSTEM\ndata: {"type":"SHUTDOWN"}\n\n')
        self.assertIsNone(stream.next_event())

    def test_idle_timeout_closes_a_quiet_stream(self):
        fake = FakeDcache(users=USERS, clock=self.clock, idle_timeout=300).start()
        self.addCleanup(fake.stop)
        api = fake.client()
        url = api.create_channel().headers["location"]
        stream = api.stream(url, timeout=5)
        self.addCleanup(stream.close)
        self.assertTrue(fake.wait_until(lambda: fake.connected(url), 5))
        self.clock.advance(300)
        self.assertIsNone(stream.next_event())
        self.assertTrue(fake.wait_until(lambda: not fake.connected(url), 5))


@unittest.skipUnless(shutil.which("openssl"), "no openssl to make a test certificate")
class TlsTest(unittest.TestCase):
    def test_https_locations(self):
        tmp = Path(tempfile.mkdtemp())
        self.addCleanup(shutil.rmtree, tmp)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", str(tmp / "key.pem"), "-out", str(tmp / "cert.pem"),
                        "-days", "1", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=30)
        server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_ctx.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
        client_ctx = ssl.create_default_context(cafile=str(tmp / "cert.pem"))
        fake = FakeDcache(users=USERS, ssl_context=server_ctx).start()
        self.addCleanup(fake.stop)
        fake.mkdir("/t")
        api = fake.client(ssl_context=client_ctx)
        url = api.create_channel().headers["location"]
        self.assertTrue(url.startswith(f"https://127.0.0.1:{fake.port}/api/v1/"), url)
        stream = api.stream(url, timeout=5)
        self.addCleanup(stream.close)
        self.assertTrue(fake.wait_until(lambda: fake.connected(url), 5))
        self.assertEqual(api.subscribe(url, "/t").status, 201)
        self.assertEqual(stream.next_event().json()["type"], "NEW_SUBSCRIPTION")
        stream.close()
        self.assertTrue(fake.wait_until(lambda: not fake.connected(url), 5))
        dav = fake.webdav_client(ssl_context=client_ctx)
        fake.write("/t/f", b"tls")
        self.assertEqual(dav.request("GET", "/t/f").body, b"tls")


if __name__ == "__main__":
    unittest.main()
