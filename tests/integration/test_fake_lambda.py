"""Checks the fake AWS Lambda Invoke endpoint (fake_lambda.py) against PROTOCOLS.md §5 and §6
before the daemon's tests trust it. When boto3 is installed, botocore itself also invokes the
fake (ARN in the path, %3A signed as %253A).

    cd tests/integration && python3 -m unittest -v test_fake_lambda

No test sleeps except the one measuring the added delay; throttles use counts or deadlines.
"""
import base64
import hashlib
import http.client
import json
import sys
import time
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import aws_sigv4  # noqa: E402
from fake_lambda import (MAX_EVENT_PAYLOAD, MAX_SYNC_PAYLOAD, FakeLambda,  # noqa: E402
                         LambdaClient, error_code, invoke)

ARN = "arn:aws:lambda:us-east-1:123456789012:function:thumbnail"

try:
    import boto3
    import botocore.config
    import botocore.exceptions
except ImportError:  # pragma: no cover
    boto3 = None


class LambdaCase(unittest.TestCase):
    fake_kw = {}

    def setUp(self):
        kw = {"functions": {"thumbnail": {"aliases": ["live", "prod"], "versions": ["1", "2"]},
                            "resize": {"aliases": {"old": "1"}, "versions": ["1"],
                                       "handler": lambda p: b"resized:" + p[::-1]}}}
        kw.update(self.fake_kw)
        self.fake = FakeLambda(**kw).start()
        self.addCleanup(self.fake.stop)

    def invoke(self, function="thumbnail", payload=b'{"k":1}', **kw):
        return invoke(self.fake.url, function, payload, **kw)

    def assertError(self, r, status, code):
        self.assertEqual(r.status, status, r)
        self.assertEqual(error_code(r.headers), code, r.headers)
        self.assertEqual(r.headers["content-type"], "application/json")
        return r.json()


class InvokeTests(LambdaCase):
    def test_sync_invoke_default_handler(self):
        r = self.invoke(payload=b'{"k":1}')
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.headers["content-type"], "application/json")
        self.assertEqual(r.headers["x-amz-executed-version"], "$LATEST")
        self.assertRegex(r.headers["x-amzn-requestid"], r"^[0-9a-f-]{36}$")
        self.assertEqual(int(r.headers["content-length"]), len(r.body))
        doc = r.json()
        self.assertEqual((doc["ok"], doc["function"], doc["echo"], doc["size"]),
                         (True, "thumbnail", {"k": 1}, 7))
        inv = self.fake.invocations[-1]
        self.assertEqual((inv["function"], inv["qualifier"], inv["invocation_type"],
                          inv["payload"], inv["status"], inv["executed_version"]),
                         ("thumbnail", None, "RequestResponse", b'{"k":1}', 200, "$LATEST"))
        self.assertEqual(inv["request_id"], r.headers["x-amzn-requestid"])
        self.assertIn("authorization", inv["headers"])
        self.assertIsInstance(inv["time"], float)

    def test_custom_handler_gets_exact_bytes(self):
        payload = bytes(range(256))
        r = self.invoke("resize", payload)
        self.assertEqual((r.status, r.body), (200, b"resized:" + payload[::-1]))

    def test_name_forms_and_qualifiers(self):
        cases = [("thumbnail", None, "$LATEST", None),
                 ("thumbnail:live", None, "2", "live"),
                 ("thumbnail", "1", "1", "1"),
                 ("thumbnail:$LATEST", None, "$LATEST", "$LATEST"),
                 ("thumbnail:prod", "prod", "2", "prod"),
                 ("resize:old", None, "1", "old"),
                 (ARN, None, "$LATEST", None),
                 (ARN + ":1", None, "1", "1"),
                 (ARN, "live", "2", "live"),
                 ("123456789012:function:thumbnail", None, "$LATEST", None),
                 ("123456789012:function:thumbnail:2", None, "2", "2")]
        for function, qualifier, version, recorded in cases:
            with self.subTest(function=function, qualifier=qualifier):
                r = self.invoke(function, qualifier=qualifier)
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.headers["x-amz-executed-version"], version)
                inv = self.fake.invocations[-1]
                self.assertEqual((inv["function"], inv["qualifier"]),
                                 (function.split(":function:")[-1].split(":")[0], recorded))
        self.assertIn("%3A", LambdaClient.path(ARN))

    def test_invocation_types(self):
        r = self.invoke(invocation_type="Event")
        self.assertEqual((r.status, r.body), (202, b""))
        self.assertEqual(r.headers["content-length"], "0")
        self.assertIn("x-amzn-requestid", r.headers)
        r = self.invoke(invocation_type="DryRun")
        self.assertEqual((r.status, r.body), (204, b""))
        self.assertNotIn("content-length", r.headers)
        r = self.invoke(invocation_type="RequestResponse")
        self.assertEqual(r.status, 200)
        doc = self.assertError(self.invoke(invocation_type="event"), 400,
                               "InvalidParameterValueException")
        self.assertIn("invocationType", doc["message"])
        self.assertEqual([i["invocation_type"] for i in self.fake.invocations],
                         ["Event", "DryRun", "RequestResponse", "event"])
        self.assertEqual([i["status"] for i in self.fake.invocations], [202, 204, 200, 400])

    def test_log_tail(self):
        r = self.invoke(log_type="Tail")
        log = base64.b64decode(r.headers["x-amz-log-result"]).decode()
        self.assertTrue(log.startswith(f"START RequestId: {r.headers['x-amzn-requestid']}"))
        self.assertNotIn("x-amz-log-result", self.invoke().headers)
        self.assertError(self.invoke(log_type="All"), 400, "InvalidParameterValueException")

    def test_unknown_function_and_qualifier(self):
        doc = self.assertError(self.invoke("nope"), 404, "ResourceNotFoundException")
        self.assertEqual(doc, {"Type": "User", "Message": "Function not found: "
                               "arn:aws:lambda:us-east-1:123456789012:function:nope"})
        doc = self.assertError(self.invoke("thumbnail:beta"), 404, "ResourceNotFoundException")
        self.assertEqual(doc["Message"], f"Function not found: {ARN}:beta")
        self.assertError(self.invoke("thumbnail", qualifier="3"), 404,
                         "ResourceNotFoundException")

    def test_qualifier_mismatch(self):
        doc = self.assertError(self.invoke("thumbnail:live", qualifier="prod"), 400,
                               "InvalidParameterValueException")
        self.assertEqual(doc, {"Type": "User", "message": "The derived qualifier from the "
                               "function name does not match the specified qualifier."})
        self.assertEqual(self.invoke("thumbnail:live", qualifier="live").status, 200)
        self.assertEqual(self.invoke("thumbnail", qualifier="").status, 200)
        self.assertError(self.invoke("thumbnail", qualifier="a b"), 400, "ValidationException")

    def test_other_region_or_account(self):
        doc = self.assertError(self.invoke(ARN.replace("us-east-1", "eu-west-1")), 404,
                               "ResourceNotFoundException")
        self.assertEqual(doc["Message"], "Functions from 'eu-west-1' are not reachable in "
                                         "this region ('us-east-1')")
        self.assertError(self.invoke(ARN.replace("123456789012", "999999999999")), 403,
                         "AccessDeniedException")
        self.assertError(self.invoke("999999999999:function:thumbnail"), 403,
                         "AccessDeniedException")

    def test_invalid_function_name(self):
        for name in ("bad name", "a/b", "x" * 257, "arn:aws:s3:::bucket"):
            with self.subTest(name=name[:20]):
                doc = self.assertError(self.invoke(name), 400, "ValidationException")
                self.assertIn("functionName", doc["message"])

    def test_payload_limits(self):
        self.assertEqual(self.invoke(payload=b"x" * MAX_EVENT_PAYLOAD,
                                     invocation_type="Event").status, 202)
        doc = self.assertError(self.invoke(payload=b"x" * (MAX_EVENT_PAYLOAD + 1),
                                           invocation_type="Event"),
                               413, "RequestTooLargeException")
        self.assertEqual(doc, {"Type": "User", "message": "Request must be smaller than "
                               "1048576 bytes for the InvokeFunction operation"})
        self.assertEqual(self.invoke("resize", b"x" * MAX_SYNC_PAYLOAD).status, 200)
        doc = self.assertError(self.invoke("resize", b"x" * (MAX_SYNC_PAYLOAD + 1)), 413,
                               "RequestTooLargeException")
        self.assertIn("6291456 bytes", doc["message"])

    def test_unknown_operation(self):
        c = LambdaClient(self.fake.url, "AKIDEXAMPLE", "secret")
        r = c.request("GET", "/2015-03-31/functions")
        self.assertEqual((r.status, error_code(r.headers)), (404, "UnknownOperationException"))
        self.assertEqual(self.fake.invocations, [])


class AuthTests(LambdaCase):
    def test_wrong_secret(self):
        doc = self.assertError(self.invoke(secret="nope"), 403, "InvalidSignatureException")
        self.assertIn("The Canonical String for this request should have been", doc["message"])
        r = self.invoke(secret="nope")
        self.assertTrue(r.headers["x-amzn-errortype"].startswith("InvalidSignatureException:"))
        self.assertEqual(self.fake.invocations[-1]["error_type"], "InvalidSignatureException")

    def test_unknown_key_and_tokens(self):
        doc = self.assertError(self.invoke(access_key="AKIDOTHER"), 403,
                               "UnrecognizedClientException")
        self.assertEqual(doc["message"], "The security token included in the request is "
                                         "invalid.")
        fake = FakeLambda(credentials={"ASIATEMP": ("s3cr3t", "tok")},
                          functions={"f": {}}).start()
        self.addCleanup(fake.stop)
        ok = invoke(fake.url, "f", b"{}", "ASIATEMP", "s3cr3t", token="tok")
        self.assertEqual(ok.status, 200, ok)
        self.assertError(invoke(fake.url, "f", b"{}", "ASIATEMP", "s3cr3t"), 403,
                         "UnrecognizedClientException")

    def test_missing_and_malformed(self):
        c = LambdaClient(self.fake.url, "AKIDEXAMPLE", "secret")
        r = c.request("POST", LambdaClient.path("thumbnail"), body=b"{}", sign_it=False)
        self.assertError(r, 403, "MissingAuthenticationTokenException")

        def drop_date(headers, body):
            return [(n, v) for n, v in headers if n != "X-Amz-Date"], body
        r = c.request("POST", LambdaClient.path("thumbnail"), body=b"{}", tamper=drop_date)
        self.assertError(r, 403, "IncompleteSignatureException")

    def test_scope_and_skew(self):
        doc = self.assertError(self.invoke(region="eu-west-1"), 403,
                               "InvalidSignatureException")
        self.assertEqual(doc["message"], "Credential should be scoped to a valid region. ")
        c = LambdaClient(self.fake.url, "AKIDEXAMPLE", "secret")
        c.service = "s3"
        r = c.request("POST", LambdaClient.path("thumbnail"), body=b"{}")
        self.assertEqual(self.assertError(r, 403, "InvalidSignatureException")["message"],
                         "Credential should be scoped to correct service: 'lambda'. ")
        doc = self.assertError(self.invoke(when=time.time() - 3600), 403,
                               "InvalidSignatureException")
        self.assertTrue(doc["message"].startswith("Signature expired: "), doc)
        doc = self.assertError(self.invoke(when=time.time() + 3600), 403,
                               "InvalidSignatureException")
        self.assertTrue(doc["message"].startswith("Signature not yet current: "), doc)

    def test_tampered_body_or_header(self):
        def body(headers, data):
            return headers, data + b" "
        self.assertError(self.invoke(tamper=body), 403, "InvalidSignatureException")

        def itype(headers, data):
            return [(n, "Event" if n == "X-Amz-Invocation-Type" else v) for n, v in headers], data
        self.assertError(self.invoke(invocation_type="DryRun", tamper=itype), 403,
                         "InvalidSignatureException")

    def test_arn_colons_must_be_signed_double_encoded(self):
        """The canonical URI of a non-S3 service encodes the path again (%3A → %253A): a
        signer that leaves the path as sent (S3's rule) is refused."""
        path = LambdaClient.path(ARN)
        host = f"127.0.0.1:{self.fake.port}"
        date = aws_sigv4.amz_date()
        headers = [("Host", host), ("X-Amz-Date", date)]
        creq = aws_sigv4.canonical_request("POST", path, "", headers, ["host", "x-amz-date"],
                                           hashlib.sha256(b"{}").hexdigest(), s3=True)
        self.assertIn("%3A", creq.split("\n")[1])
        scope = aws_sigv4.scope_of(date[:8], "us-east-1", "lambda")
        sig = aws_sigv4.signature("secret", date[:8], "us-east-1", "lambda",
                                  aws_sigv4.string_to_sign(date, scope, creq))
        headers.append(("Authorization", f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{scope}, "
                                         f"SignedHeaders=host;x-amz-date, Signature={sig}"))
        c = LambdaClient(self.fake.url, "AKIDEXAMPLE", "secret")
        r = c.request("POST", path, body=b"{}", headers=headers[1:], sign_it=False)
        doc = self.assertError(r, 403, "InvalidSignatureException")
        self.assertIn("%253A", doc["message"])
        self.assertEqual(self.invoke(ARN).status, 200)


class FaultTests(LambdaCase):
    def test_throttle_by_count(self):
        self.fake.throttle(count=2, retry_after=3)
        for _ in range(2):
            r = self.invoke(payload=b"p1")
            self.assertEqual(r.status, 429)
            self.assertEqual(r.headers["retry-after"], "3")
            self.assertEqual(error_code(r.headers), "TooManyRequestsException")
            self.assertEqual(r.json(), {"Reason": "CallerRateLimitExceeded", "Type": "User",
                                        "message": "Rate exceeded"})
        self.assertEqual(len(self.fake.throttled), 2)
        self.assertEqual(self.fake.throttled[0]["payload"], b"p1")
        self.assertEqual(self.invoke(payload=b"p1").status, 200)
        # the success came within 3 s of the 429s: both are violations
        self.assertEqual(len(self.fake.retry_after_violations()), 2)
        self.assertEqual(self.invoke(payload=b"p2").status, 200)
        self.assertEqual(len(self.fake.retry_after_violations()), 2)

    def test_throttle_retry_after_zero_has_no_violation(self):
        self.fake.throttle(count=1, retry_after=0)
        self.assertEqual(self.invoke(invocation_type="Event").status, 429)
        self.assertEqual(self.invoke(invocation_type="Event").status, 202)
        self.assertEqual(self.fake.retry_after_violations(), [])

    def test_throttle_by_time(self):
        self.fake.throttle(seconds=60)
        self.assertEqual(self.invoke().status, 429)
        self.assertEqual(self.invoke(invocation_type="Event").status, 429)
        self.fake.unthrottle()
        self.assertEqual(self.invoke().status, 200)
        self.fake.throttle(until=time.monotonic() - 1)
        self.assertEqual(self.invoke().status, 200)
        with self.assertRaises(ValueError):
            self.fake.throttle()

    def test_function_error(self):
        self.fake.function_error(1, kind="Handled", error_type="ValueError", message="bad")
        self.assertEqual(self.invoke(invocation_type="Event").status, 202)   # not consumed
        r = self.invoke()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.headers["x-amz-function-error"], "Handled")
        doc = r.json()
        self.assertEqual((doc["errorMessage"], doc["errorType"]), ("bad", "ValueError"))
        self.assertIsInstance(doc["stackTrace"], list)
        self.assertEqual(self.fake.invocations[-1]["function_error"], "Handled")
        self.assertNotIn("x-amz-function-error", self.invoke().headers)
        self.assertEqual(len(self.fake.successful()), 2)          # Event + the last one

    def test_handler_exception_is_unhandled(self):
        def boom(payload):
            raise KeyError("missing")
        self.fake.add_function("boom", handler=boom)
        r = self.invoke("boom")
        self.assertEqual((r.status, r.headers["x-amz-function-error"]), (200, "Unhandled"))
        self.assertEqual(r.json()["errorType"], "KeyError")
        self.assertEqual(self.invoke("boom", invocation_type="Event").status, 202)

    def test_fail_next_and_drop(self):
        self.fake.fail_next(500, count=2)
        for _ in range(2):
            self.assertError(self.invoke(), 500, "ServiceException")
        self.fake.fail_next(502)
        self.assertError(self.invoke(), 502, "ResourceNotReadyException")
        self.fake.fail_next(503, body=b"<html>503</html>")
        r = self.invoke()
        self.assertEqual((r.status, r.body, error_code(r.headers)), (503, b"<html>503</html>",
                                                                      None))
        self.fake.drop_next()
        with self.assertRaises((http.client.HTTPException, OSError)):
            self.invoke()
        self.assertEqual(self.invoke().status, 200)
        self.assertEqual([i["status"] for i in self.fake.invocations],
                         [500, 500, 502, 503, None, 200])
        self.assertEqual(self.fake.wait_invocations(1, timeout=1), 1)

    def test_delay_is_added(self):
        self.fake.delay = 0.05
        t0 = time.monotonic()
        self.assertEqual(self.invoke().status, 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.05)

    def test_keep_alive_across_answers(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.fake.port, timeout=5)
        self.addCleanup(conn.close)
        host = f"127.0.0.1:{self.fake.port}"
        sock = None
        for function, secret, itype, want in (("thumbnail", "secret", None, 200),
                                              ("thumbnail", "bad", None, 403),
                                              ("thumbnail", "secret", "DryRun", 204),
                                              ("nope", "secret", None, 404),
                                              (ARN, "secret", "Event", 202),
                                              ("thumbnail", "secret", None, 200)):
            path = LambdaClient.path(function)
            headers = [("Host", host)] + ([("X-Amz-Invocation-Type", itype)] if itype else [])
            headers = aws_sigv4.sign("POST", path, "", headers, b"{}", "AKIDEXAMPLE", secret,
                                     "us-east-1", "lambda")
            conn.putrequest("POST", path, skip_host=True, skip_accept_encoding=True)
            for n, v in headers + [("Content-Length", "2")]:
                conn.putheader(n, v)
            conn.endheaders(b"{}")
            resp = conn.getresponse()
            data = resp.read()
            self.assertEqual(resp.status, want, data)
            self.assertFalse(resp.will_close)
            sock = sock or conn.sock
            self.assertIs(conn.sock, sock)


class LatencyTests(LambdaCase):
    def test_answers_are_not_held_back(self):
        """20 signed invocations on one keep-alive connection, well under Nagle + delayed
        ACK (~40 ms per answer when headers and body are written separately)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.fake.port, timeout=5)
        self.addCleanup(conn.close)
        path = LambdaClient.path("thumbnail")
        t0 = time.monotonic()
        for _ in range(20):
            headers = aws_sigv4.sign("POST", path, "", [("Host", f"127.0.0.1:{self.fake.port}")],
                                     b"{}", "AKIDEXAMPLE", "secret", "us-east-1", "lambda")
            conn.request("POST", path, body=b"{}", headers=dict(headers))
            self.assertEqual(conn.getresponse().read()[:1], b"{")
        self.assertLess(time.monotonic() - t0, 0.4)


@unittest.skipIf(boto3 is None, "boto3 not installed")
class BotocoreTests(LambdaCase):
    def client(self):
        return boto3.client("lambda", region_name="us-east-1", endpoint_url=self.fake.url,
                            aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret",
                            config=botocore.config.Config(retries={"total_max_attempts": 1}))

    def test_botocore_invokes(self):
        c = self.client()
        out = c.invoke(FunctionName=ARN, Qualifier="live", Payload=b'{"a":1}')
        self.assertEqual((out["StatusCode"], out["ExecutedVersion"]), (200, "2"))
        self.assertEqual(json.loads(out["Payload"].read())["echo"], {"a": 1})
        self.assertIn("%3A", self.fake.requests[-1]["path"])
        out = c.invoke(FunctionName="thumbnail:prod", InvocationType="Event", Payload=b"{}")
        self.assertEqual(out["StatusCode"], 202)
        self.fake.function_error(1)
        out = c.invoke(FunctionName="thumbnail", Payload=b"{}")
        self.assertEqual(out["FunctionError"], "Unhandled")

    def test_botocore_reads_errors(self):
        c = self.client()
        for arrange, code in ((lambda: None, "ResourceNotFoundException"),
                              (lambda: self.fake.throttle(count=1), "TooManyRequestsException")):
            arrange()
            with self.assertRaises(botocore.exceptions.ClientError) as ctx:
                c.invoke(FunctionName="nope" if code.startswith("Resource") else "thumbnail")
            self.assertEqual(ctx.exception.response["Error"]["Code"], code)
        bad = boto3.client("lambda", region_name="us-east-1", endpoint_url=self.fake.url,
                           aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="x",
                           config=botocore.config.Config(retries={"total_max_attempts": 1}))
        with self.assertRaises(botocore.exceptions.ClientError) as ctx:
            bad.invoke(FunctionName="thumbnail")
        self.assertEqual(ctx.exception.response["Error"]["Code"], "InvalidSignatureException")


if __name__ == "__main__":
    unittest.main()
