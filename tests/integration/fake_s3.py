"""A fake S3 (with MinIO's ListenBucketNotification) and SQS in one in-process HTTP server,
as strict as the real services where sluice can get them wrong (PROTOCOLS.md §3, §4, §6).

    with FakeS3(credentials={"AK": "SECRET"}, minio=True) as fake:
        s3 = fake.s3_client()            # signs with the same SigV4 code the server checks
        s3.create_bucket("bkt"); s3.put_object("bkt", b"a b+c", b"data")
        stream = s3.listen("bkt", ping=1)  # stream.readline() → b'{"Records":[...]}\n'
        fake.cut_streams(); fake.fail_next(2, 503); fake.enqueue_raw("q", "garbage")

Faithful:
- SigV4 on every request (aws_sigv4.verify): S3 signs the raw path, SQS the normalised and
  re-encoded one; x-amz-date within 15 min; x-amz-content-sha256 required for S3 and checked
  against the body (MinIO defaults it to the empty hash: `minio=True`); session tokens; every
  x-amz-* header must be signed (S3). Errors in each service's shape: S3 XML
  `<Error><Code/><Message/>…<Resource/><RequestId/><HostId/></Error>`, SQS JSON `__type` +
  `x-amzn-query-error`.
- Path-style S3: keys are the %-decoded raw path after the bucket, never normalised, so any
  byte string round-trips (`a/../b`, `a//b`, `%`, newlines, invalid UTF-8). With minio=True the
  fake applies MinIO's key rules (no `.`/`..` segments, no `//`, valid UTF-8, no NUL, no
  leading or trailing '/'): XMinioInvalidObjectName, as a real MinIO would answer.
- ListObjectsV2 (prefix, delimiter, max-keys ≤ 1000, continuation-token, start-after,
  encoding-type=url), multipart uploads (5 MiB minimum part unless `min_part_size`, InvalidPart,
  InvalidPartOrder, `"md5-of-md5s-N"` ETags), Range GETs, NoSuchBucket/NoSuchKey with 404.
- Conditional PutObject (S3 conditional writes): `If-None-Match: *` → 412 PreconditionFailed
  when the key exists (any other If-None-Match value: 501 NotImplemented); `If-Match: "etag"`
  → 412 when the current ETag differs, 404 NoSuchKey when there is no object. The check and
  the write are one step, so of two racing conditional writes exactly one wins.
- MinIO listen stream: `GET /bucket?events=…&prefix=&suffix=&ping=N`; chunked NDJSON on
  `text/event-stream`, headers sent with the first body write (as Go does), one
  `{"Records":[record]}` line per event with the raw key, Go's JSON string escaping (`<` as
  \\u003c, invalid UTF-8 as \\ufffd), `{"Records":null}` every N s or a space every 500 ms
  without ping; live only, no replay. A bad ping answers AuthorizationQueryParametersError (the
  wire code of MinIO's ErrInvalidQueryParams).
- S3 → SQS notifications in AWS's format (eventName without `s3:`, form-encoded keys).

Simplified: one region, no versioning, ACLs, policies, copy, tagging or lifecycle;
ListObjects v1 answers NotImplemented; DeleteObject always answers 204 but notifies only when
the key existed; the listen stream serves one node (nothing to merge); event
`responseElements`/`userIdentity` values are plausible, not captured. Listing keys without
encoding-type=url are emitted as AWS does (per Ceph RGW's copy of its escaping): `& < > ' "` as
entities, control bytes but TAB/LF as `&#xNN;`, everything else (invalid UTF-8 too) raw, so a
strict XML parser may refuse such a listing: use encoding-type=url.
Time: `clock` (injectable, e.g. fake_sqs.ManualClock) drives object times, event times and SQS
visibility; signature skew is checked against `auth_clock` (default: the real time), because
the daemon signs with the real time.
Record builders and Go JSON are in s3_events.py, the SQS state in fake_sqs.py, SigV4 and the
test clients in aws_sigv4.py.
"""
import collections
import json
import socket
import struct
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
# Re-exported so a test needs one import: the clients, the canonical-request builder, the
# record and body builders.
from aws_sigv4 import (AuthError, S3Client, SqsClient, canonical_request,  # noqa: E402,F401
                       signature, string_to_sign, verify)
from fake_sqs import ManualClock, SqsError, SqsState  # noqa: E402,F401
from s3_events import (aws_record, eventbridge_event, go_json, host_id,  # noqa: E402,F401
                       minio_record, request_id, s3_test_event, sns_envelope)
from loopback_server import LoopbackHandler, LoopbackServer, RecordedRequest  # noqa: E402
from s3_ops import MiB, XML_HEAD, Bucket, S3Operations, S3Reply  # noqa: E402


# code → (HTTP status, default message)
S3_ERRORS = {
    "AccessDenied": (403, "Access Denied."),
    "AuthorizationHeaderMalformed": (400, "The authorization header is malformed."),
    "AuthorizationQueryParametersError": (400, "Query-string authentication version 4 requires "
                                          "the X-Amz-Algorithm, X-Amz-Credential, "
                                          "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
                                          "and X-Amz-Expires parameters."),
    "BadDigest": (400, "The Content-MD5 you specified did not match what we received."),
    "BucketAlreadyOwnedByYou": (409, "Your previous request to create the named bucket "
                                "succeeded and you already own it."),
    "BucketNotEmpty": (409, "The bucket you tried to delete is not empty."),
    "EntityTooSmall": (400, "Your proposed upload is smaller than the minimum allowed object "
                       "size."),
    "InternalError": (500, "We encountered an internal error. Please try again."),
    "InvalidAccessKeyId": (403, "The AWS Access Key Id you provided does not exist in our "
                           "records."),
    "InvalidArgument": (400, "Invalid Argument"),
    "InvalidBucketName": (400, "The specified bucket is not valid."),
    "InvalidDigest": (400, "The Content-MD5 you specified was invalid."),
    "InvalidPart": (400, "One or more of the specified parts could not be found. The part may "
                    "not have been uploaded, or the specified entity tag may not match the "
                    "part's entity tag."),
    "InvalidPartOrder": (400, "The list of parts was not in ascending order. Parts must be "
                         "ordered by part number."),
    "InvalidRange": (416, "The requested range is not satisfiable"),
    "InvalidRequest": (400, "Invalid Request"),
    "InvalidToken": (400, "The provided token is malformed or otherwise invalid."),
    "InvalidURI": (400, "Couldn't parse the specified URI."),
    "KeyTooLongError": (400, "Your key is too long"),
    "MalformedXML": (400, "The XML you provided was not well-formed or did not validate "
                     "against our published schema."),
    "MethodNotAllowed": (405, "The specified method is not allowed against this resource."),
    "MissingContentLength": (411, "You must provide the Content-Length HTTP header."),
    "NoSuchBucket": (404, "The specified bucket does not exist"),
    "NoSuchKey": (404, "The specified key does not exist."),
    "NoSuchUpload": (404, "The specified upload does not exist. The upload ID may be invalid, "
                     "or the upload may have been aborted or completed."),
    "PreconditionFailed": (412, "At least one of the pre-conditions you specified did not hold"),
    "NotImplemented": (501, "A header you provided implies functionality that is not "
                       "implemented."),
    "RequestTimeTooSkewed": (403, "The difference between the request time and the current "
                             "time is too large."),
    "ServiceUnavailable": (503, "Please reduce your request rate."),
    "SignatureDoesNotMatch": (403, "The request signature we calculated does not match the "
                              "signature you provided. Check your key and signing method."),
    "SlowDown": (503, "Please reduce your request rate."),
    "XAmzContentSHA256Mismatch": (400, "The provided 'x-amz-content-sha256' header does not "
                                  "match what was computed."),
    "XMinioInvalidObjectName": (400, "Object name contains unsupported characters."),
}

# AuthError.kind → S3 code (MinIO answers 400 instead of 403 for unsigned headers).
S3_AUTH = {"missing_auth": "AccessDenied", "malformed": "AuthorizationHeaderMalformed",
           "unsupported": "InvalidArgument", "missing_date": "AccessDenied",
           "bad_date": "AccessDenied", "scope_date": "AuthorizationHeaderMalformed",
           "scope_region": "AuthorizationHeaderMalformed",
           "scope_service": "AuthorizationHeaderMalformed", "unknown_key": "InvalidAccessKeyId",
           "missing_token": "InvalidAccessKeyId",
           "bad_token": "InvalidToken", "skewed": "RequestTimeTooSkewed",
           "host_unsigned": "AccessDenied", "unsigned_header": "AccessDenied",
           "missing_sha": "InvalidRequest", "bad_sha": "InvalidArgument",
           "streaming": "NotImplemented", "signature": "SignatureDoesNotMatch",
           "sha_mismatch": "XAmzContentSHA256Mismatch"}
# AuthError.kind → (coral shape, legacy query code, status) for SQS. [inferred from public
# captures: a bad signature on SQS JSON answers 403 InvalidSignatureException, e.g.
# async-aws/aws#1948; the query codes are the query protocol's own.]
SQS_AUTH = {"missing_auth": ("MissingAuthenticationTokenException",
                             "MissingAuthenticationToken", 403),
            "unknown_key": ("UnrecognizedClientException", "InvalidClientTokenId", 403),
            "missing_token": ("UnrecognizedClientException", "InvalidClientTokenId", 403),
            "bad_token": ("UnrecognizedClientException", "InvalidClientTokenId", 403)}
for _k in ("malformed", "unsupported", "missing_date", "bad_date"):
    SQS_AUTH[_k] = ("IncompleteSignatureException", "IncompleteSignature", 400)
for _k in ("scope_date", "scope_region", "scope_service", "skewed", "host_unsigned",
           "unsigned_header", "signature"):
    SQS_AUTH[_k] = ("InvalidSignatureException", "SignatureDoesNotMatch", 403)

EVENT_KINDS = ("ObjectCreated", "ObjectRemoved", "ObjectAccessed", "BucketCreated",
               "BucketRemoved", "Replication", "ObjectRestore", "ObjectTransition", "Scanner",
               "LifecycleDelMarkerExpiration", "ILM")


# -- state ---------------------------------------------------------------------------------------
class Recorded(RecordedRequest):
    """One request as received (loopback_server.RecordedRequest), also service ('s3'/'sqs');
    verdict 'ok' or the error code."""

    def __init__(self, method, raw_path, raw_query, headers, body):
        super().__init__(method, raw_path, raw_query, headers, body)
        self.service = None


class _Listener:
    def __init__(self, bucket, names, prefix, suffix):
        self.bucket, self.names, self.prefix, self.suffix = bucket, names, prefix, suffix
        self.lines = collections.deque()
        self.cut = False

    def matches(self, bucket, key, event_name):
        if self.bucket is not None and bucket != self.bucket:
            return False
        if not (key.startswith(self.prefix) and key.endswith(self.suffix)):
            return False
        return any(event_name == n or (n.endswith("*") and event_name.startswith(n[:-1]))
                   for n in self.names)


def _event_name_ok(name):
    parts = name.split(":")
    return len(parts) == 3 and parts[0] == "s3" and parts[1] in EVENT_KINDS and parts[2] != ""


# -- the server ----------------------------------------------------------------------------------
class FakeS3(LoopbackServer, S3Operations):
    def __init__(self, credentials=None, region="us-east-1", minio=False, min_part_size=5 * MiB,
                 clock=time.time, auth_clock=time.time, minio_key_rules=None, host="127.0.0.1",
                 port=0, account_id="123456789012"):
        """`credentials`: {access_key: secret or (secret, session_token)}."""
        self.credentials = dict(credentials or {"AKIDFAKE": "fake-secret"})
        self.region, self.minio, self.min_part_size = region, minio, min_part_size
        self.minio_key_rules = minio if minio_key_rules is None else minio_key_rules
        self.clock, self.auth_clock = clock, auth_clock
        self.host, self._want_port, self.port = host, port, None
        self.deployment_id = str(uuid.uuid4())
        self.requests = []
        self.buckets = {}
        self._cond = threading.Condition(threading.RLock())
        self.sqs = SqsState(self._cond, clock, account_id, lambda: self.url)
        self._listeners = []
        self._paused = False
        self._faults = []        # [{"kind": "fail"/"delay", "left": n, ...}]
        self._last_ns = 0
        self._init_loopback()
        if isinstance(clock, ManualClock):
            clock.subscribe(self._poke)

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self):
        return self._serve_on(_Handler)

    def _on_stop_locked(self):
        self.sqs.stopping = True   # long polls answer now

    # -- clients and inspection --------------------------------------------------------------
    def _first_creds(self):
        ak, entry = next(iter(self.credentials.items()))
        secret, token = entry if isinstance(entry, tuple) else (entry, None)
        return ak, secret, token

    def s3_client(self, **kw):
        ak, secret, token = self._first_creds()
        return S3Client(self.url, ak, secret, self.region, token, **kw)

    def sqs_client(self, **kw):
        ak, secret, token = self._first_creds()
        return SqsClient(self.url, ak, secret, self.region, token, **kw)

    def object(self, bucket, key):
        with self._cond:
            return self.buckets[bucket].objects.get(key)

    def create_bucket(self, name):
        with self._cond:
            self.buckets.setdefault(name, Bucket(name, self.clock()))

    # -- test hooks ---------------------------------------------------------------------------
    def fail_next(self, n, status=503, code=None, message=None, service=None, op=None):
        """The next `n` requests (of `service`, 's3' or 'sqs', or any) get this error in their
        service's shape. Default codes: S3 SlowDown/InternalError, SQS ServiceUnavailable/
        InternalFailure. `op`: only SQS requests for this operation (the X-Amz-Target name,
        e.g. "DeleteMessageBatch"); other requests pass untouched."""
        self._add_fault("fail", n, status=status, code=code, message=message, service=service,
                        op=op)

    def delay_next(self, n, seconds, service=None, op=None):
        """The next `n` requests wait `seconds` before they are handled (`op` as for
        fail_next)."""
        self._add_fault("delay", n, seconds=seconds, service=service, op=op)

    def cut_streams(self, timeout=5.0):
        """Resets (RST) every open listen connection; returns once they are gone."""
        with self._cond:
            for lst in self._listeners:
                lst.cut = True
            self._cond.notify_all()
        if not self.wait_until(lambda: not self._listeners, timeout):
            raise AssertionError("listen streams did not close")

    def listen_streams(self):
        with self._cond:
            return len(self._listeners)

    def pause_notifications(self):
        """Listen streams miss every event from now on (MinIO has no replay); SQS
        notifications are not affected."""
        with self._cond:
            self._paused = True

    def resume_notifications(self):
        with self._cond:
            self._paused = False

    def create_queue(self, name, visibility_timeout=30):
        return self.sqs.create_queue(name, visibility_timeout)

    def enqueue_raw(self, queue, body):
        """Any message body (s3_test_event(), sns_envelope(), eventbridge_event(), garbage)."""
        return self.sqs.enqueue(queue, body)

    def notify_to_queue(self, bucket, queue, events=("s3:ObjectCreated:*", "s3:ObjectRemoved:*"),
                        prefix=b"", suffix=b"", config_id="sluice", test_event=True):
        """Sends `bucket`'s events to SQS queue `queue` in AWS's format; like S3, first puts an
        s3:TestEvent message on the queue."""
        self.create_queue(queue)
        with self._cond:
            self.buckets[bucket].sqs_rules.append((queue, list(events), _b(prefix), _b(suffix),
                                                   config_id))
        if test_event:
            self.sqs.enqueue(queue, s3_test_event(bucket, self.clock()))

    # -- request entry (handler threads) -----------------------------------------------------
    def _take_faults(self, service, op=None):
        return self._take_faults_where(
            lambda f: f.get("op") in (None, op) and f["service"] in (None, service))

    def _dispatch(self, h, rec):
        h_map = {n.lower(): v for n, v in rec.headers}
        sqs = rec.method == "POST" and ("x-amz-target" in h_map or h_map.get(
            "content-type", "").startswith("application/x-amz-json"))
        rec.service = "sqs" if sqs else "s3"
        rec.request_id = str(uuid.uuid4()) if sqs else request_id()
        rec.host_id = host_id()
        rec.client_ip = h.client_address[0]
        with self._cond:
            self.requests.append(rec)
            self._cond.notify_all()
        sqs_op = h_map.get("x-amz-target", "").partition(".")[2] if sqs else None
        if sqs:
            rec.op = sqs_op  # known before a fault answers (_sqs_call sets the same)
        fail, delay = self._take_faults(rec.service, sqs_op)
        if delay and self._stopping.wait(delay["seconds"]):
            return None
        if fail:
            return self._fault_reply(rec, fail)
        try:
            principal = verify(rec.method, rec.raw_path, rec.raw_query, rec.headers, rec.body,
                               self.credentials, self.region, rec.service, self.auth_clock(),
                               self.minio)
        except AuthError as e:
            return self._auth_reply(rec, e)
        rec.principal = principal
        if sqs:
            return self._sqs_call(rec, h_map)
        try:
            return self._s3(h, rec, h_map)
        except S3Reply as r:
            return self._s3_error(rec, r.code, r.message, r.status, **r.extra)

    def _fault_reply(self, rec, f):
        if rec.service == "sqs":
            code = f["code"] or {503: "ServiceUnavailable"}.get(f["status"], "InternalFailure")
            return self._sqs_error(rec, SqsError(code, f["message"] or "injected fault",
                                                 f["status"]))
        code = f["code"] or {503: "SlowDown"}.get(f["status"], "InternalError")
        return self._s3_error(rec, code, f["message"], f["status"])

    def _auth_reply(self, rec, e):
        if rec.service == "sqs":
            shape, qcode, status = SQS_AUTH[e.kind]
            return self._sqs_error(rec, SqsError(shape, e.message, status, qcode))
        code = S3_AUTH[e.kind]
        status = 400 if self.minio and e.kind in ("unsigned_header", "host_unsigned") else None
        return self._s3_error(rec, code, e.message, status, **e.extra)

    # -- S3 answers ----------------------------------------------------------------------------
    def _common_headers(self, rec):
        hdrs = {"x-amz-request-id": rec.request_id, "x-amz-id-2": rec.host_id}
        if self.minio:
            hdrs["x-minio-deployment-id"] = self.deployment_id
        return hdrs

    def _s3_error(self, rec, code, message=None, status=None, **extra):
        st, default = S3_ERRORS.get(code, (status or 400, code))
        status = status or st
        parts = [f"<Code>{code}</Code>", f"<Message>{_x(message or default)}</Message>"]
        parts += [f"<{k}>{_x(v)}</{k}>" for k, v in extra.items()]
        parts += [f"<Resource>{_x(rec.raw_path)}</Resource>",
                  f"<RequestId>{rec.request_id}</RequestId>", f"<HostId>{rec.host_id}</HostId>"]
        body = XML_HEAD + ("<Error>" + "".join(parts) + "</Error>").encode("latin-1", "replace")
        self._finish(rec, status, code)
        hdrs = self._common_headers(rec)
        hdrs["Content-Type"] = "application/xml"
        return status, hdrs, body

    def _s3_ok(self, rec, status=200, body=b"", headers=None, content_type=None):
        self._finish(rec, status, "ok")
        hdrs = self._common_headers(rec)
        if body or content_type:
            hdrs["Content-Type"] = content_type or "application/xml"
        hdrs.update(headers or {})
        return status, hdrs, body

    # -- SQS answers ---------------------------------------------------------------------------
    def _sqs_error(self, rec, err):
        status, hdrs, body = err.render()
        hdrs.update({"x-amzn-RequestId": rec.request_id,
                     "Content-Type": "application/x-amz-json-1.0"})
        self._finish(rec, status, err.query_code)
        return status, hdrs, body

    def _sqs_call(self, rec, h_map):
        target = h_map.get("x-amz-target", "")
        ctype = h_map.get("content-type", "").split(";")[0].strip()
        rec.op = target.partition(".")[2]
        if ctype != "application/x-amz-json-1.0" or not target.startswith("AmazonSQS."):
            return self._sqs_error(rec, SqsError("UnknownOperationException", ""))
        try:
            params = json.loads(rec.body) if rec.body else {}
        except ValueError as e:
            return self._sqs_error(rec, SqsError("SerializationException", str(e)))
        try:
            result = self.sqs.call(rec.op, params, rec.principal)
        except SqsError as err:
            return self._sqs_error(rec, err)
        body = b"" if result is None else json.dumps(result).encode()
        self._finish(rec, 200, "ok")
        return 200, {"x-amzn-RequestId": rec.request_id,
                     "Content-Type": "application/x-amz-json-1.0"}, body

    # -- S3 operations -------------------------------------------------------------------------
    # -- notifications -------------------------------------------------------------------------
    def _publish(self, rec, b, key, event, obj, t, ns):
        """Called under the lock after a change; fans out to listen streams and SQS rules."""
        ak = rec.principal.access_key
        ua = rec.header("user-agent") or ""
        if not self._paused:
            created = obj is not None
            line = None
            for lst in self._listeners:
                if lst.matches(b.name, key, "s3:" + event):
                    if line is None:
                        meta = dict(obj.meta) if created else None
                        if created:
                            meta["content-type"] = obj.content_type
                        rec_ = minio_record(
                            b.name, key, "s3:" + event,
                            size=len(obj.data) if created else None,
                            etag=obj.etag if created else None,
                            content_type=obj.content_type if created else None,
                            user_metadata=meta, sequencer="%X" % ns, event_time=t,
                            principal=ak, source_ip=rec.client_ip, user_agent=ua,
                            request_id=rec.request_id, host_id=rec.host_id,
                            deployment_id=self.deployment_id, endpoint=self.url,
                            content_length=0 if event == "ObjectCreated:Put" else None)
                        line = (go_json({"Records": [rec_]}) + "\n").encode("utf-8")
                    lst.lines.append(line)
        for queue, names, prefix, suffix, config_id in b.sqs_rules:
            if not (key.startswith(prefix) and key.endswith(suffix)):
                continue
            if not any("s3:" + event == n or (n.endswith("*") and
                                              ("s3:" + event).startswith(n[:-1]))
                       for n in names):
                continue
            record = aws_record(b.name, key, event, size=len(obj.data) if obj else None,
                                etag=obj.etag if obj else None, sequencer="%018X" % ns,
                                event_time=t, region=self.region, principal=f"AWS:{ak}",
                                source_ip=rec.client_ip, request_id=rec.request_id,
                                host_id=rec.host_id, config_id=config_id)
            self.sqs.enqueue(queue, go_json({"Records": [record]}), sender=ak)
        self._cond.notify_all()

    def _listen(self, h, rec, bucket, q):
        values = collections.defaultdict(list)
        for n, v in q:
            values[n].append(v)
        if len(values[b"prefix"]) > 1:
            raise S3Reply("InvalidArgument", "Cannot specify more than one prefix rule in a "
                           "filter.")
        if len(values[b"suffix"]) > 1:
            raise S3Reply("InvalidArgument", "Cannot specify more than one suffix rule in a "
                           "filter.")
        names = [v.decode("latin-1") for v in values[b"events"]]
        for n in names:
            if not _event_name_ok(n):
                raise S3Reply("InvalidArgument", f"unknown event name '{n}'")
        ping = None
        if values[b"ping"]:
            try:
                ping = int(values[b"ping"][0])
            except ValueError:
                ping = 0
            if ping < 1:
                raise S3Reply("AuthorizationQueryParametersError")
        with self._cond:
            if bucket is not None:
                self._bucket(bucket)
            lst = _Listener(bucket, names, (values[b"prefix"] or [b""])[0],
                            (values[b"suffix"] or [b""])[0])
            self._listeners.append(lst)
        self._finish(rec, 200, "ok")
        try:
            self._stream(h, rec, lst, ping)
        finally:
            with self._cond:
                self._listeners.remove(lst)
                self._cond.notify_all()
        return None

    def _stream(self, h, rec, lst, ping):
        interval = ping or 0.5
        keepalive = b'{"Records":null}\n' if ping else b" "
        next_ka = time.monotonic() + interval
        started = False
        while True:
            with self._cond:
                while not lst.lines and not lst.cut and not self._stopping.is_set():
                    left = next_ka - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                if lst.cut or self._stopping.is_set():
                    return _reset(h)
                lines = list(lst.lines)
                lst.lines.clear()
            if time.monotonic() >= next_ka:  # Go's ticker: on time, whether or not events flow
                lines.append(keepalive)
                next_ka += interval
            try:
                if not started:  # Go sends the header with the first body write
                    h.send_response(200)
                    for k, v in self._common_headers(rec).items():
                        h.send_header(k, v)
                    for k, v in (("Content-Type", "text/event-stream"),
                                 ("Cache-Control", "no-cache"), ("X-Accel-Buffering", "no"),
                                 ("Transfer-Encoding", "chunked")):
                        h.send_header(k, v)
                    h.end_headers()
                    started = True
                for line in lines:
                    h.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            except OSError:
                h.close_connection = True
                return None


# -- helpers ---------------------------------------------------------------------------------------
def _b(v):
    return v.encode("utf-8") if isinstance(v, str) else v


def _x(v):
    """XML text from a str whose code points are bytes (latin-1) or plain text."""
    return str(v).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _reset(h):
    """Drops a connection with a TCP RST, as a crashed or cut-off server would."""
    h.close_connection = True
    try:
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        h.rfile.close()        # the only other reference to the socket (wfile holds none),
        h.connection.close()   # so this really closes it, and SO_LINGER 0 makes it an RST
    except OSError:
        pass


class _Handler(LoopbackHandler):
    # Headers and body go out in two writes: with Nagle on, each answer on a kept-alive
    # connection would wait ~40 ms for the client's delayed ACK (real servers do not).
    disable_nagle_algorithm = True

    def version_string(self):  # the Server header send_response() writes
        return "MinIO" if self.server.fake.minio else "AmazonS3"

    def _handle(self):
        fake = self.server.fake
        raw_path, raw_query, headers = self._raw_target()
        hl = {n.lower() for n, _ in headers}
        if "transfer-encoding" in hl:
            self.close_connection = True  # the body's end is unknown to us: do not reuse
            rec = Recorded(self.command, raw_path, raw_query, headers, b"")
            status, hdrs, body = 501, {"Connection": "close", "Content-Type": "application/xml"}, (
                XML_HEAD + b"<Error><Code>NotImplemented</Code><Message>Transfer-Encoding is "
                b"not implemented by this fake; send Content-Length</Message></Error>")
            rec.status, rec.verdict = status, "NotImplemented"
            with fake._cond:
                fake.requests.append(rec)
            return self._answer(status, hdrs, body)
        try:
            length = int(self.headers.get("Content-Length", 0))
        except ValueError:
            self.close_connection = True
            return self._answer(400, {"Connection": "close"}, b"bad Content-Length\n")
        body = self.rfile.read(length) if length else b""
        rec = Recorded(self.command, raw_path, raw_query, headers, body)
        reply = fake._dispatch(self, rec)
        if reply is None:  # streamed, or cut short by stop()
            self.close_connection = True
            return None
        return self._answer(*reply)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle
