"""Checks the fake S3/MinIO/SQS servers and push senders before the daemon's tests trust them.

    cd tests/integration && python3 -m unittest -v test_fake_s3

The SigV4 verifier runs every case of the AWS conformance suite found under SIGV4_SUITE_DIR
(default: ../shared/fixtures/aws-sig-v4-test-suite next to the repository); the suite is
skipped when absent. No test sleeps blindly: waits are conditions with deadlines, and SQS
visibility runs on a ManualClock.
"""
import hashlib
import http.client
import json
import os
import re
import sys
import threading
import time
import unittest
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import aws_sigv4 as sigv4  # noqa: E402
from aws_sigv4 import error_code, parse_list  # noqa: E402
from fake_s3 import FakeS3, ManualClock, s3_test_event, sns_envelope  # noqa: E402
from push_senders import (ceph_push_body, go_query_escape, minio_webhook_body,  # noqa: E402
                          post)
from receiver import Receiver  # noqa: E402

SUITE = Path(os.environ.get("SIGV4_SUITE_DIR") or
             HERE.parents[2] / "shared" / "fixtures" / "aws-sig-v4-test-suite")
SUITE_SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SUITE_TIME = sigv4.parse_amz_date("20150830T123600Z")
CREDS = {"AKIDTEST": "secret-one", "ASIATEMP": ("secret-two", "session-token-1")}
HOSTILE_KEYS = [b"a/../b", b"a//b", b"%", b"100%25", b"new\nline", b"\xff\xfe not utf-8",
                b"sp ace+plus", b"./dot", b"/leading", b"trailing/", b"q?x#y&z=1",
                b"&<>\"'", "ünï/çødé ✓".encode(), b"ctl\x01\x7f\r", b"tab\tkey", b"~tilde*"]


def suite_cases():
    for req in sorted(SUITE.rglob("*.req")):
        yield req.parent, req.stem


def run_case(folder, name):
    """(our creq, sts, Authorization) and the expected ones, for one suite case."""
    def read(ext):
        return (folder / (name + ext)).read_bytes()
    method, path, query, headers, body = sigv4.parse_raw_request(read(".req"))
    # The session-token case keeps its token in the signed request only.
    sreq_headers = sigv4.parse_raw_request(read(".sreq"))[3]
    token = next((v for n, v in sreq_headers if n.lower() == "x-amz-security-token"), None)
    if token and not any(n.lower() == "x-amz-security-token" for n, _ in headers):
        headers.append(("X-Amz-Security-Token", token))
    want_authz = read(".authz").decode()
    signed = sigv4.parse_authorization(want_authz)["SignedHeaders"].split(";")
    creq = sigv4.canonical_request(method, path, query, headers, signed,
                                   hashlib.sha256(body).hexdigest(), s3=False)
    scope = sigv4.scope_of("20150830", "us-east-1", "service")
    sts = sigv4.string_to_sign("20150830T123600Z", scope, creq)
    sig = sigv4.signature(SUITE_SECRET, "20150830", "us-east-1", "service", sts)
    authz = (f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{scope}, "
             f"SignedHeaders={';'.join(signed)}, Signature={sig}")
    ours = (creq.encode("latin-1"), sts.encode("latin-1"), authz)
    return ours, (read(".creq"), read(".sts"), want_authz), (method, path, query, headers,
                                                             body, token)


class SigV4SuiteTest(unittest.TestCase):
    @unittest.skipUnless(SUITE.is_dir(), f"no SigV4 suite at {SUITE}")
    def test_every_case_creq_sts_authz(self):
        cases = list(suite_cases())
        self.assertGreater(len(cases), 0)
        for folder, name in cases:
            with self.subTest(case=name):
                ours, want, _ = run_case(folder, name)
                self.assertEqual(ours[0], want[0], "canonical request")
                self.assertEqual(ours[1], want[1], "string to sign")
                self.assertEqual(ours[2], want[2], "Authorization")

    @unittest.skipUnless(SUITE.is_dir(), f"no SigV4 suite at {SUITE}")
    def test_verifier_accepts_each_case_and_refuses_a_flipped_bit(self):
        for folder, name in suite_cases():
            with self.subTest(case=name):
                _, want, (method, path, query, headers, body, token) = run_case(folder, name)
                creds = {"AKIDEXAMPLE": (SUITE_SECRET, token)}
                signed = headers + [("Authorization", want[2])]
                p = sigv4.verify(method, path, query, signed, body, creds, "us-east-1",
                                 "service", now=SUITE_TIME)
                self.assertEqual(p.access_key, "AKIDEXAMPLE")
                bad = headers + [("Authorization", want[2][:-1] + ("0" if want[2][-1] != "0"
                                                                   else "1"))]
                with self.assertRaises(sigv4.AuthError) as ctx:
                    sigv4.verify(method, path, query, bad, body, creds, "us-east-1", "service",
                                 now=SUITE_TIME)
                self.assertEqual(ctx.exception.kind, "signature")

    def test_s3_signs_the_raw_path_and_others_normalise(self):
        self.assertEqual(sigv4.canonical_uri("/b/a/../k%20x", s3=True), "/b/a/../k%20x")
        self.assertEqual(sigv4.canonical_uri("/b/a/../k%20x", s3=False), "/b/k%2520x")
        self.assertEqual(sigv4.canonical_uri("//a//b/", s3=False), "/a/b/")


def _replace(name, value):
    def tamper(headers, body):
        return [(n, value if n.lower() == name else v) for n, v in headers], body
    return tamper


class S3AuthTest(unittest.TestCase):
    def setUp(self):
        self.fake = FakeS3(credentials=CREDS).start()
        self.addCleanup(self.fake.stop)
        self.s3 = self.fake.s3_client()
        self.assertEqual(self.s3.create_bucket("auth").status, 200)

    def assert_s3_error(self, resp, status, code):
        self.assertEqual((resp.status, error_code(resp)), (status, code), resp)
        self.assertTrue(resp.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>'))
        for tag in (b"<Error>", b"<Code>", b"<Message>", b"<Resource>", b"<RequestId>"):
            self.assertIn(tag, resp.body)
        self.assertEqual(self.fake.requests[-1].verdict, code)

    def test_valid_request_passes(self):
        r = self.s3.put_object("auth", "k", b"body", headers=[("x-amz-meta-a", "1")])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.fake.requests[-1].verdict, "ok")

    def test_tampered_header_is_refused(self):
        r = self.s3.put_object("auth", "k", b"body", headers=[("x-amz-meta-a", "1")],
                               tamper=_replace("x-amz-meta-a", "2"))
        self.assert_s3_error(r, 403, "SignatureDoesNotMatch")
        self.assertIn(b"<CanonicalRequest>", r.body)

    def test_tampered_body_byte_is_refused(self):
        r = self.s3.put_object("auth", "k", b"body", tamper=lambda h, b: (h, b"bodY"))
        self.assert_s3_error(r, 400, "XAmzContentSHA256Mismatch")

    def test_old_date_is_refused(self):
        r = self.s3.put_object("auth", "k", b"body", when=time.time() - 16 * 60)
        self.assert_s3_error(r, 403, "RequestTimeTooSkewed")
        self.assertEqual(self.s3.put_object("auth", "k", b"x", when=time.time() - 14 * 60)
                         .status, 200)

    def test_tokens(self):
        temp = sigv4.S3Client(self.fake.url, "ASIATEMP", "secret-two", token="session-token-1")
        self.assertEqual(temp.put_object("auth", "t", b"1").status, 200)
        wrong = sigv4.S3Client(self.fake.url, "ASIATEMP", "secret-two", token="other")
        self.assert_s3_error(wrong.put_object("auth", "t", b"1"), 400, "InvalidToken")
        none = sigv4.S3Client(self.fake.url, "ASIATEMP", "secret-two")
        self.assert_s3_error(none.put_object("auth", "t", b"1"), 403, "InvalidAccessKeyId")

    def test_unknown_key_and_missing_auth(self):
        other = sigv4.S3Client(self.fake.url, "NOSUCHKEY", "x")
        self.assert_s3_error(other.put_object("auth", "k", b""), 403, "InvalidAccessKeyId")
        self.assert_s3_error(self.s3.request("GET", "/auth/k", sign_it=False), 403,
                             "AccessDenied")

    def test_unsigned_amz_header_and_missing_sha(self):
        def add(h, b):
            return h + [("x-amz-meta-late", "1")], b
        self.assert_s3_error(self.s3.put_object("auth", "k", b"", tamper=add), 403,
                             "AccessDenied")

        def drop(h, b):
            return [(n, v) for n, v in h if n.lower() != "x-amz-content-sha256"], b
        # Dropping a signed header also breaks the signature; AWS names the missing header.
        self.assert_s3_error(self.s3.put_object("auth", "k", b"", tamper=drop), 400,
                             "InvalidRequest")

    def test_unsigned_payload_is_accepted(self):
        r = self.s3.put_object("auth", "u", b"data", unsigned_payload=True)
        self.assertEqual(r.status, 200, r)

    def test_minio_defaults_the_payload_hash(self):
        minio = FakeS3(credentials=CREDS, minio=True).start()
        self.addCleanup(minio.stop)
        s3 = minio.s3_client()
        self.assertEqual(s3.create_bucket("mio").status, 200)
        resign = _resign_without_sha(s3)
        self.assertEqual(resign("GET", "/mio", "list-type=2", b"").status, 200)
        r = resign("PUT", "/mio/k", "", b"not empty")
        self.assertEqual((r.status, error_code(r)), (400, "XAmzContentSHA256Mismatch"))

    def test_sqs_bad_signature_shape(self):
        q = self.fake.create_queue("auth-q")
        sqs = self.fake.sqs_client()
        r = sqs.send_message(q, "x", tamper=lambda h, b: (h, b.replace(b'"x"', b'"y"')))
        self.assertEqual(r.status, 403, r)
        self.assertEqual(r.headers["x-amzn-query-error"], "SignatureDoesNotMatch;Sender")
        self.assertEqual(r.json()["__type"], "com.amazon.coral.service#InvalidSignatureException")
        self.assertIn("message", r.json())
        r = sqs.send_message(q, "x", when=time.time() - 3600)
        self.assertEqual((r.status, error_code(r)), (403, "SignatureDoesNotMatch"))
        other = sigv4.SqsClient(self.fake.url, "NOSUCHKEY", "x")
        self.assertEqual(error_code(other.send_message(q, "x")), "InvalidClientTokenId")


def _resign_without_sha(client):
    """A request signed without x-amz-content-sha256 (SDKs for MinIO sometimes do this)."""
    def send(method, path, query, body):
        def strip(headers, b):
            return [(n, v) for n, v in headers if n.lower() != "x-amz-content-sha256"], b
        hdrs = [("Host", f"{client.host}:{client.port}")]
        date = sigv4.amz_date()
        hdrs.append(("X-Amz-Date", date))
        signed = ["host", "x-amz-date"]
        creq = sigv4.canonical_request(method, path, query, hdrs, signed, sigv4.EMPTY_SHA256,
                                       s3=True)
        scope = sigv4.scope_of(date[:8], client.region, "s3")
        sig = sigv4.signature(client.secret, date[:8], client.region, "s3",
                              sigv4.string_to_sign(date, scope, creq))
        auth = (f"AWS4-HMAC-SHA256 Credential={client.access_key}/{scope}, "
                f"SignedHeaders=host;x-amz-date, Signature={sig}")
        return client.request(method, path, query, headers=[("X-Amz-Date", date),
                                                            ("Authorization", auth)],
                              body=body, sign_it=False, tamper=strip)
    return send


class S3ObjectsTest(unittest.TestCase):
    def setUp(self):
        self.fake = FakeS3(credentials=CREDS, min_part_size=5).start()
        self.addCleanup(self.fake.stop)
        self.s3 = self.fake.s3_client()
        self.s3.create_bucket("objs")

    def test_hostile_keys_round_trip(self):
        for i, key in enumerate(HOSTILE_KEYS):
            self.assertEqual(self.s3.put_object("objs", key, b"v%d" % i).status, 200, key)
        for enc in (None, "url"):
            r = self.s3.list_objects_v2("objs", encoding_type=enc)
            self.assertEqual(r.status, 200)
            self.assertEqual(sorted(c["Key"] for c in parse_list(r.body)["Contents"]),
                             sorted(HOSTILE_KEYS))
        for i, key in enumerate(HOSTILE_KEYS):
            r = self.s3.get_object("objs", key)
            self.assertEqual((r.status, r.body), (200, b"v%d" % i), key)
            self.assertEqual(self.fake.object("objs", key).data, b"v%d" % i)
        # Control bytes are entity-escaped as AWS does, not dropped.
        raw = self.s3.list_objects_v2("objs").body
        self.assertIn(b"ctl&#x01;&#x7f;&#x0d;", raw)

    def test_minio_refuses_keys_it_cannot_store(self):
        minio = FakeS3(credentials=CREDS, minio=True).start()
        self.addCleanup(minio.stop)
        s3 = minio.s3_client()
        self.assertEqual(s3.create_bucket("mio").status, 200)
        for key in (b"a/../b", b"a//b", b"\xff", b"./x", b"trailing/"):
            self.assertEqual(error_code(s3.put_object("mio", key, b"")),
                             "XMinioInvalidObjectName")
        self.assertEqual(s3.put_object("mio", b"new\nline %", b"").status, 200)
        self.assertEqual(error_code(s3.create_bucket("x")), "InvalidBucketName")

    def test_pagination_over_2500_objects(self):
        keys = [b"p/%04d" % i for i in range(2500)] + [b"d/%d/x" % i for i in range(7)]
        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(lambda k: self.s3.put_object("objs", k, b"").status, keys))
        self.assertEqual(set(statuses), {200})
        pages, token, got = 0, None, []
        while True:
            r = self.s3.list_objects_v2("objs", prefix="p/", continuation_token=token)
            page = parse_list(r.body)
            pages += 1
            got += [c["Key"] for c in page["Contents"]]
            self.assertEqual(int(page["KeyCount"]), len(page["Contents"]))
            token = page.get("NextContinuationToken")
            if page["IsTruncated"] == "false":
                self.assertIsNone(token)
                break
        self.assertEqual((pages, got), (3, sorted(k for k in keys if k.startswith(b"p/"))))
        # Delimiter: common prefixes count against max-keys and continue correctly.
        seen, token = [], None
        while True:
            page = parse_list(self.s3.list_objects_v2("objs", delimiter="/", max_keys=1,
                                                      continuation_token=token).body)
            seen += page["CommonPrefixes"] + [c["Key"] for c in page["Contents"]]
            token = page.get("NextContinuationToken")
            if page["IsTruncated"] == "false":
                break
        self.assertEqual(seen, [b"d/", b"p/"])
        page = parse_list(self.s3.list_objects_v2("objs", prefix="p/", start_after="p/2497").body)
        self.assertEqual([c["Key"] for c in page["Contents"]], [b"p/2498", b"p/2499"])
        r = self.s3.list_objects_v2("objs", continuation_token="garbage!")
        self.assertEqual((r.status, error_code(r)), (400, "InvalidArgument"))

    def test_multipart(self):
        r, upload = self.s3.create_multipart_upload("objs", b"big key")
        self.assertEqual(r.status, 200)
        e1 = self.s3.upload_part("objs", b"big key", upload, 1, b"12345").headers["etag"]
        e2 = self.s3.upload_part("objs", b"big key", upload, 2, b"67").headers["etag"]
        r = self.s3.complete_multipart_upload("objs", b"big key", upload, [(2, e2), (1, e1)])
        self.assertEqual(error_code(r), "InvalidPartOrder")
        r = self.s3.complete_multipart_upload("objs", b"big key", upload,
                                              [(1, e1), (2, '"' + "0" * 32 + '"')])
        self.assertEqual(error_code(r), "InvalidPart")
        r = self.s3.complete_multipart_upload("objs", b"big key", upload, [(1, e1), (2, e2)])
        self.assertEqual(r.status, 200, r)
        md5s = b"".join(hashlib.md5(p).digest() for p in (b"12345", b"67"))
        want = f'"{hashlib.md5(md5s).hexdigest()}-2"'
        self.assertIn(want.replace('"', "&quot;").encode(), r.body)
        got = self.s3.get_object("objs", b"big key")
        self.assertEqual((got.body, got.headers["etag"]), (b"1234567", want))
        # Too small a part, and an aborted upload.
        r, upload = self.s3.create_multipart_upload("objs", b"small")
        e1 = self.s3.upload_part("objs", b"small", upload, 1, b"1234").headers["etag"]
        e2 = self.s3.upload_part("objs", b"small", upload, 2, b"5").headers["etag"]
        r = self.s3.complete_multipart_upload("objs", b"small", upload, [(1, e1), (2, e2)])
        self.assertEqual((r.status, error_code(r)), (400, "EntityTooSmall"))
        self.assertEqual(self.s3.abort_multipart_upload("objs", b"small", upload).status, 204)
        r = self.s3.upload_part("objs", b"small", upload, 3, b"x")
        self.assertEqual((r.status, error_code(r)), (404, "NoSuchUpload"))

    def test_conditional_puts(self):
        put = self.s3.put_object
        r = put("objs", b"lease", b"run-1", headers=[("If-None-Match", "*")])
        self.assertEqual(r.status, 200)
        first = r.headers["etag"]
        r = put("objs", b"lease", b"run-2", headers=[("If-None-Match", "*")])
        self.assertEqual((r.status, error_code(r)), (412, "PreconditionFailed"))
        self.assertEqual(self.fake.object("objs", b"lease").data, b"run-1")
        r = put("objs", b"lease", b"x", headers=[("If-None-Match", first)])
        self.assertEqual((r.status, error_code(r)), (501, "NotImplemented"))
        # If-Match: only over the ETag the writer read.
        r = put("objs", b"lease", b"run-1b", headers=[("If-Match", first)])
        self.assertEqual(r.status, 200)
        r = put("objs", b"lease", b"stale", headers=[("If-Match", first)])
        self.assertEqual((r.status, error_code(r)), (412, "PreconditionFailed"))
        self.assertEqual(self.fake.object("objs", b"lease").data, b"run-1b")
        r = put("objs", b"absent", b"x", headers=[("If-Match", first)])
        self.assertEqual((r.status, error_code(r)), (404, "NoSuchKey"))

    def test_racing_conditional_creates_have_one_winner(self):
        def create(i):
            return self.fake.s3_client().put_object("objs", b"race", b"w%d" % i,
                                                    headers=[("If-None-Match", "*")]).status
        with ThreadPoolExecutor(8) as pool:
            results = sorted(pool.map(create, range(8)))
        self.assertEqual(results, [200] + [412] * 7)

    def test_not_found_errors_and_range(self):
        r = self.s3.get_object("nobucket", b"k")
        self.assertEqual((r.status, error_code(r)), (404, "NoSuchBucket"))
        self.assertIn(b"<BucketName>nobucket</BucketName>", r.body)
        r = self.s3.get_object("objs", b"missing")
        self.assertEqual((r.status, error_code(r)), (404, "NoSuchKey"))
        self.assertEqual(self.s3.head_object("objs", b"missing").status, 404)
        self.s3.put_object("objs", b"r", b"0123456789")
        r = self.s3.get_object("objs", b"r", "bytes=2-4")
        self.assertEqual((r.status, r.body, r.headers["content-range"]),
                         (206, b"234", "bytes 2-4/10"))
        self.assertEqual(self.s3.get_object("objs", b"r", "bytes=20-").status, 416)
        self.assertEqual(self.s3.delete_object("objs", b"r").status, 204)
        self.assertEqual(self.s3.head_object("objs", b"r").status, 404)


def next_event(stream):
    """The next line that carries records; keep-alives are skipped (the stream's socket
    timeout is the deadline)."""
    while True:
        line = stream.readline()
        if line.strip() and line != b'{"Records":null}\n':
            return line
        if not line:
            raise AssertionError("listen stream ended")


class ListenTest(unittest.TestCase):
    def setUp(self):
        self.fake = FakeS3(credentials=CREDS, minio=True, minio_key_rules=False).start()
        self.addCleanup(self.fake.stop)
        self.s3 = self.fake.s3_client()
        self.s3.create_bucket("live")

    def open(self, **kw):
        before = self.fake.listen_streams()
        stream = self.s3.listen("live", timeout=10, **kw)
        self.addCleanup(stream.close)
        self.assertTrue(self.fake.wait_until(
            lambda: self.fake.listen_streams() > before, 5), "listen stream not registered")
        return stream

    def test_records_with_raw_keys_and_pings(self):
        stream = self.open(ping=1)
        key = b"photos/a b+c%2F<\xc3\xbc>"
        self.s3.put_object("live", key, b"abc", headers=[("Content-Type", "image/jpeg"),
                                                          ("x-amz-meta-id", "7")])
        line = next_event(stream)
        self.assertEqual(stream.response.headers["content-type"], "text/event-stream")
        self.assertIn(b"\\u003c", line)  # Go escapes '<'
        rec = json.loads(line)["Records"][0]
        self.assertEqual(rec["s3"]["object"]["key"].encode("utf-8"), key)
        self.assertEqual(list(rec), ["eventVersion", "eventSource", "awsRegion", "eventTime",
                                     "eventName", "userIdentity", "requestParameters",
                                     "responseElements", "s3", "source"])
        self.assertEqual(list(rec["s3"]["object"]), ["key", "size", "eTag", "contentType",
                                                     "userMetadata", "sequencer"])
        self.assertEqual((rec["eventName"], rec["eventVersion"], rec["eventSource"]),
                         ("s3:ObjectCreated:Put", "2.0", "minio:s3"))
        self.assertEqual(rec["s3"]["object"]["userMetadata"],
                         {"X-Amz-Meta-Id": "7", "content-type": "image/jpeg"})
        self.assertRegex(rec["s3"]["object"]["sequencer"], r"^[0-9A-F]{16}$")
        self.assertRegex(rec["eventTime"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(stream.readline(), b'{"Records":null}\n')  # within ~1 s
        self.s3.delete_object("live", key)
        rec = json.loads(next_event(stream))["Records"][0]
        self.assertEqual(rec["eventName"], "s3:ObjectRemoved:Delete")
        self.assertEqual(list(rec["s3"]["object"]), ["key", "sequencer"])

    def test_space_keepalive_without_ping(self):
        stream = self.open()
        self.assertEqual(stream.read(1), b" ")

    def test_filters_pause_and_cut(self):
        stream = self.open(ping=1, prefix="in/", suffix=".txt")
        self.s3.put_object("live", b"out/x.txt", b"")
        self.fake.pause_notifications()
        self.s3.put_object("live", b"in/missed.txt", b"")
        self.fake.resume_notifications()
        self.s3.put_object("live", b"in/seen.txt", b"")
        keys = [r["s3"]["object"]["key"] for r in json.loads(next_event(stream))["Records"]]
        self.assertEqual(keys, ["in/seen.txt"])
        self.fake.cut_streams()
        self.assertEqual(self.fake.listen_streams(), 0)
        try:
            data = stream.readline()
        except (OSError, http.client.HTTPException):
            data = None  # reset by peer, or a chunk cut short
        self.assertIn(data, (None, b""))

    def test_bad_requests(self):
        for kw, code in (({"ping": 0}, "AuthorizationQueryParametersError"),
                         ({"ping": "x"}, "AuthorizationQueryParametersError"),
                         ({"events": ["s3:Nope:*"]}, "InvalidArgument")):
            stream = self.s3.listen("live", timeout=5, **kw)
            self.addCleanup(stream.close)
            body = stream.response.read()
            self.assertEqual((stream.response.status, re.search(rb"<Code>(.*)</Code>", body)[1]),
                             (400, code.encode()))
        r = self.s3.request("GET", "/live", "events=s3%3AObjectCreated%3A%2A&prefix=a&prefix=b")
        self.assertEqual((r.status, error_code(r)), (400, "InvalidArgument"))
        stream = self.s3.listen("nobucket", timeout=5)
        self.addCleanup(stream.close)
        self.assertEqual(stream.response.status, 404)


class SqsTest(unittest.TestCase):
    def setUp(self):
        self.clock = ManualClock()
        self.fake = FakeS3(credentials=CREDS, clock=self.clock).start()
        self.addCleanup(self.fake.stop)
        self.sqs = self.fake.sqs_client()
        self.q = self.fake.create_queue("events", visibility_timeout=30)

    def receive(self, **kw):
        r = self.sqs.receive_message(self.q, **kw)
        self.assertEqual(r.status, 200, r)
        return r.json().get("Messages", [])

    def in_background(self, fn):
        out = {}
        t = threading.Thread(target=lambda: out.update(result=fn()), daemon=True)
        t.start()
        self.addCleanup(t.join, 5)
        return t, out

    def wait_polling(self):
        """Until a ReceiveMessage waits inside the fake (its deadline is set by then)."""
        self.assertTrue(self.fake.wait_until(lambda: self.fake.sqs.polling > 0, 5))

    def test_send_receive_visibility_redelivery_delete(self):
        self.assertEqual(self.receive(), [])
        self.assertEqual(self.sqs.receive_message(self.q).body, b"{}")
        sent = self.sqs.send_message(self.q, "hello ü").json()
        self.assertEqual(sent["MD5OfMessageBody"], hashlib.md5("hello ü".encode()).hexdigest())
        first = self.receive()
        self.assertEqual([m["Body"] for m in first], ["hello ü"])
        self.assertEqual(first[0]["MD5OfBody"], sent["MD5OfMessageBody"])
        self.assertEqual(first[0]["Attributes"]["ApproximateReceiveCount"], "1")
        self.assertEqual(self.receive(), [])          # in flight
        self.clock.advance(31)                        # visibility timeout runs out
        second = self.receive()
        self.assertEqual(second[0]["MessageId"], first[0]["MessageId"])
        self.assertNotEqual(second[0]["ReceiptHandle"], first[0]["ReceiptHandle"])
        self.assertEqual(second[0]["Attributes"]["ApproximateReceiveCount"], "2")
        # A stale handle "succeeds" but does not delete (documented choice).
        self.assertEqual(self.sqs.delete_message(self.q, first[0]["ReceiptHandle"]).status, 200)
        self.assertEqual(len(self.fake.sqs.messages("events")), 1)
        self.assertEqual(self.sqs.delete_message(self.q, second[0]["ReceiptHandle"]).status, 200)
        self.assertEqual(self.fake.sqs.messages("events"), [])
        r = self.sqs.delete_message(self.q, "not-a-handle")
        self.assertEqual((r.status, error_code(r)), (400, "ReceiptHandleIsInvalid"))

    def test_long_poll_wakes_on_send(self):
        t, out = self.in_background(lambda: self.receive(wait=20))
        self.wait_polling()
        started = time.monotonic()
        self.sqs.send_message(self.q, "wake up")
        t.join(5)
        self.assertFalse(t.is_alive())
        self.assertLess(time.monotonic() - started, 2)
        self.assertEqual([m["Body"] for m in out["result"]], ["wake up"])

    def test_long_poll_ends_with_the_clock_and_wakes_on_expiry(self):
        t, out = self.in_background(lambda: self.receive(wait=20))
        self.wait_polling()
        self.clock.advance(20)
        t.join(5)
        self.assertEqual(out["result"], [])
        self.sqs.send_message(self.q, "m")
        handle = self.receive(visibility=10)[0]["ReceiptHandle"]
        t, out = self.in_background(lambda: self.receive(wait=20))
        self.wait_polling()
        self.clock.advance(11)
        t.join(5)
        self.assertEqual([m["Attributes"]["ApproximateReceiveCount"] for m in out["result"]],
                         ["2"])
        r = self.sqs.change_visibility(self.q, handle, 5)
        self.assertEqual(error_code(r), "InvalidParameterValue")  # stale handle

    def test_change_visibility_and_batches(self):
        for i in range(3):
            self.sqs.send_message(self.q, f"m{i}")
        msgs = self.receive(max_messages=10)
        self.assertEqual(len(msgs), 3)
        r = self.sqs.change_visibility(self.q, msgs[0]["ReceiptHandle"], 0)
        self.assertEqual((r.status, r.body), (200, b""))
        again = self.receive()
        self.assertEqual(again[0]["Body"], "m0")
        r = self.sqs.change_visibility_batch(self.q, [("a", again[0]["ReceiptHandle"], 60),
                                                      ("b", "bogus", 60)]).json()
        self.assertEqual(([s["Id"] for s in r["Successful"]], [f["Id"] for f in r["Failed"]]),
                         (["a"], ["b"]))
        r = self.sqs.delete_message_batch(self.q, [("x", again[0]["ReceiptHandle"]),
                                                   ("y", msgs[1]["ReceiptHandle"]),
                                                   ("z", "bogus")]).json()
        self.assertEqual([s["Id"] for s in r["Successful"]], ["x", "y"])
        self.assertEqual(r["Failed"], [{"Id": "z", "SenderFault": True,
                                        "Code": "ReceiptHandleIsInvalid",
                                        "Message": r["Failed"][0]["Message"]}])
        self.assertEqual([m.body for m in self.fake.sqs.messages("events")], ["m2"])
        for entries, code in (([], "AWS.SimpleQueueService.EmptyBatchRequest"),
                              ([(str(i), "h") for i in range(11)],
                               "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"),
                              ([("d", "h"), ("d", "h")],
                               "AWS.SimpleQueueService.BatchEntryIdsNotDistinct")):
            r = self.sqs.delete_message_batch(self.q, entries)
            self.assertEqual((r.status, error_code(r)), (400, code))

    def test_parameter_errors(self):
        cases = [
            ({"QueueUrl": self.q, "MaxNumberOfMessages": 11}, "InvalidParameterValue"),
            ({"QueueUrl": self.q, "MaxNumberOfMessages": 0}, "InvalidParameterValue"),
            ({"QueueUrl": self.q, "WaitTimeSeconds": 21}, "InvalidParameterValue"),
            ({"QueueUrl": self.q, "MaxNumberOfMessages": "10"}, "SerializationException"),
            ({}, "MissingParameter"),
            ({"QueueUrl": self.fake.url + "/123456789012/nope"},
             "AWS.SimpleQueueService.NonExistentQueue"),
        ]
        for params, code in cases:
            with self.subTest(params=params):
                r = self.sqs.call("ReceiveMessage", params)
                self.assertEqual((r.status, error_code(r)), (400, code), r)
        r = self.sqs.call("ReceiveMessage", {"QueueUrl": self.q, "MaxNumberOfMessages": 11})
        self.assertEqual(r.headers["x-amzn-query-error"], "InvalidParameterValue;Sender")
        r = self.sqs.call("GetQueueUrl", {"QueueName": "nope"})
        self.assertEqual(r.json()["__type"], "com.amazonaws.sqs#QueueDoesNotExist")
        self.assertEqual(r.headers["x-amzn-query-error"],
                         "AWS.SimpleQueueService.NonExistentQueue;Sender")
        r = self.sqs.call("ReceiveMessage", {"QueueUrl": self.q}, target_prefix="SQS.")
        self.assertEqual(r.json()["__type"],
                         "com.amazon.coral.service#UnknownOperationException")
        self.assertEqual(self.sqs.get_queue_url("events").json(), {"QueueUrl": self.q})

    def test_s3_notifications_reach_the_queue_in_aws_format(self):
        self.fake.create_bucket("src")
        self.fake.notify_to_queue("src", "events", prefix=b"in/")
        s3 = self.fake.s3_client()
        s3.put_object("src", b"in/a b+c/\xc3\xbc~", b"12")
        s3.put_object("src", b"out/ignored", b"")
        s3.delete_object("src", b"in/a b+c/\xc3\xbc~")
        bodies = [json.loads(m["Body"]) for m in self.receive(max_messages=10)]
        self.assertEqual(bodies[0]["Event"], "s3:TestEvent")
        put, delete = (b["Records"][0] for b in bodies[1:])
        self.assertEqual((put["eventName"], put["eventSource"], put["eventVersion"]),
                         ("ObjectCreated:Put", "aws:s3", "2.1"))
        self.assertEqual(put["s3"]["object"]["key"], "in/a+b%2Bc/%C3%BC%7E")
        self.assertEqual(put["s3"]["object"]["size"], 2)
        self.assertEqual(delete["eventName"], "ObjectRemoved:Delete")
        self.assertNotIn("size", delete["s3"]["object"])
        self.assertLess(put["s3"]["object"]["sequencer"], delete["s3"]["object"]["sequencer"])
        # Raw bodies of any shape can be queued too.
        self.fake.enqueue_raw("events", sns_envelope(json.dumps(bodies[1])))
        self.fake.enqueue_raw("events", "not json at all")
        self.assertEqual(len(self.receive(max_messages=10)), 2)


class FaultTest(unittest.TestCase):
    def setUp(self):
        self.fake = FakeS3(credentials=CREDS).start()
        self.addCleanup(self.fake.stop)
        self.s3 = self.fake.s3_client()
        self.assertEqual(self.s3.create_bucket("flt").status, 200)

    def test_fail_next_per_service_shape(self):
        self.fake.fail_next(2, 503)
        for _ in range(2):
            r = self.s3.put_object("flt", "k", b"")
            self.assertEqual((r.status, error_code(r)), (503, "SlowDown"))
        self.assertEqual(self.s3.put_object("flt", "k", b"").status, 200)
        q = self.fake.create_queue("fq")
        sqs = self.fake.sqs_client()
        self.fake.fail_next(1, 500, service="sqs")
        self.assertEqual(self.s3.put_object("flt", "k", b"").status, 200)  # S3 unaffected
        r = sqs.send_message(q, "x")
        self.assertEqual(r.status, 500)
        self.assertEqual(r.json()["__type"], "com.amazon.coral.service#InternalFailure")
        self.assertEqual(r.headers["x-amzn-query-error"], "InternalFailure;Receiver")
        self.assertEqual(sqs.send_message(q, "x").status, 200)

    def test_delay_next(self):
        self.fake.delay_next(1, 0.3)
        started = time.monotonic()
        self.assertEqual(self.s3.put_object("flt", "k", b"").status, 200)
        self.assertGreaterEqual(time.monotonic() - started, 0.3)


class PushSendersTest(unittest.TestCase):
    # Expected values are what Go's url.QueryEscape returns.
    QUERY_ESCAPE = [
        ("a b+c/d%e", "a+b%2Bc%2Fd%25e"), ("", ""), ("AZaz09-_.~", "AZaz09-_.~"),
        ("?&=#", "%3F%26%3D%23"), ("$,;:@", "%24%2C%3B%3A%40"), ("*'()!", "%2A%27%28%29%21"),
        ("ü", "%C3%BC"), (b"\xff\x00", "%FF%00"), ("\n\t\r", "%0A%09%0D"), ("<>\"", "%3C%3E%22"),
        ("photos/2024/a b.jpg", "photos%2F2024%2Fa+b.jpg"), ("+", "%2B"),
        ("[]{}|\\^`", "%5B%5D%7B%7D%7C%5C%5E%60"),
    ]

    def test_go_query_escape(self):
        for raw, want in self.QUERY_ESCAPE:
            with self.subTest(raw=raw):
                self.assertEqual(go_query_escape(raw), want)

    def test_minio_webhook_body(self):
        body = minio_webhook_body("images", b"a b+c/<d>", size=3, etag="abc",
                                  content_type="text/plain")
        self.assertTrue(body.startswith(b'{"EventName":"s3:ObjectCreated:Put","Key":'
                                        b'"images/a b+c/\\u003cd\\u003e","Records":[{'))
        doc = json.loads(body)
        self.assertEqual(doc["Key"], "images/a b+c/<d>")
        self.assertEqual(doc["Records"][0]["s3"]["object"]["key"], "a+b%2Bc%2F%3Cd%3E")
        self.assertEqual(doc["Records"][0]["eventName"], "s3:ObjectCreated:Put")

    def test_post_auth_styles(self):
        with Receiver(fmt=None) as rcv:
            for how, token in (("bearer", "tok"), ("raw", "Basic eHl6"),
                               ("basic", "user:pass"), ("query", "a+b/c"), ("none", None)):
                self.assertEqual(post(rcv.url("/ingress/minio?x=1"), b"{}", token, how).status,
                                 200)
            reqs = rcv.snapshot()
        auths = [r.headers.get("authorization") for r in reqs]
        self.assertEqual(auths, ["Bearer tok", "Basic eHl6", "Basic dXNlcjpwYXNz", None, None])
        self.assertEqual(reqs[3].path, "/ingress/minio?x=1&token=a%2Bb%2Fc")
        self.assertTrue(all("user-agent" not in r.headers for r in reqs))

    def test_ceph_push_body(self):
        body = ceph_push_body("bkt", b"a b+c/100%25 \xe2\x9c\x93", size=5, etag="abc",
                              event_time=1700000000.123456, opaque_data="od")
        doc = json.loads(body)
        self.assertEqual(len(doc["Records"]), 1)
        rec = doc["Records"][0]
        self.assertEqual(rec["s3"]["object"]["key"], "a b+c/100%25 ✓")  # raw, not encoded
        self.assertEqual((rec["eventSource"], rec["eventVersion"], rec["eventName"]),
                         ("ceph:s3", "2.2", "ObjectCreated:Put"))
        self.assertEqual(rec["eventTime"], "2023-11-14T22:13:20.123456Z")
        self.assertEqual(rec["eventId"], "1700000000.123456.abc")
        self.assertEqual(list(rec)[-2:], ["eventId", "opaqueData"])
        self.assertEqual(rec["s3"]["object"]["versionId"], "")
        self.assertRegex(rec["s3"]["object"]["sequencer"], r"^[0-9A-F]{16}$")

    def test_s3_test_event_shape(self):
        doc = json.loads(s3_test_event("b"))
        self.assertEqual(list(doc), ["Service", "Event", "Time", "Bucket", "RequestId",
                                     "HostId"])


if __name__ == "__main__":
    unittest.main()
