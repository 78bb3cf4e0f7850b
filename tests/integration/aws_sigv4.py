"""AWS Signature Version 4, written again from the spec for the fake servers (PROTOCOLS.md §6).

Independent of sluice's C++ signer on purpose: the fakes verify what the daemon sends with this
code, and the conformance suite (aws-sig-v4-test-suite) checks this code. The same functions sign
the requests of the small test clients (S3Client, SqsClient), so a test can put objects and send
messages through the real HTTP path.

Faithful: canonical request (S3: the path exactly as sent, no normalisation, no re-encoding;
other services: dot segments and repeated slashes removed, then encoded again), canonical query
(decoded, re-encoded with UriEncode, sorted by name then value), header trimming and folding,
repeated headers joined with ',', the signing-key derivation, 15-minute clock skew,
x-amz-content-sha256 (required for S3, defaulted to the empty hash by MinIO), session tokens.
Simplified: header-based auth only (no presigned URLs, no aws-chunked streaming payloads, no
SigV4A); a request fails on the first problem found, in a fixed order (see verify()).
Everything works on bytes decoded as latin-1, which is how http.server hands us the request line
and headers, so raw non-ASCII bytes keep their exact values.
"""
import calendar
import datetime
import hashlib
import hmac
import http.client
import json
import re
import time
import urllib.parse

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MAX_SKEW_S = 15 * 60
# botocore never signs these (SIGNED_HEADERS_BLACKLIST): proxies and curl may change them.
UNSIGNABLE = frozenset("connection expect keep-alive proxy-authenticate proxy-authorization te "
                       "trailer transfer-encoding upgrade user-agent x-amzn-trace-id".split())
_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_HEX = re.compile(rb"%([0-9A-Fa-f]{2})")
_WS = re.compile(r"[ \t\r\n]+")
_SHA_HEX = re.compile(r"[0-9a-f]{64}")


def _bytes(s):
    return s if isinstance(s, bytes) else s.encode("latin-1")


def uri_encode(data, keep_slash=False):
    """AWS UriEncode: every byte but A-Z a-z 0-9 - . _ ~ (and '/' when keep_slash) as %XX."""
    data = data.encode("utf-8") if isinstance(data, str) else data
    return "".join(chr(b) if b in _UNRESERVED or (keep_slash and b == 0x2F) else "%%%02X" % b
                   for b in data)


def percent_decode(data, plus_is_space=False):
    """%XX → byte; a '%' not followed by two hex digits stays as it is (see strict_decode)."""
    data = _bytes(data)
    if plus_is_space:
        data = data.replace(b"+", b" ")
    return _HEX.sub(lambda m: bytes([int(m.group(1), 16)]), data)


def strict_decode(data):
    """Like percent_decode, but None when a '%' is not a valid escape (S3: InvalidURI)."""
    data = _bytes(data)
    if data.count(b"%") != len(_HEX.findall(data)):
        return None
    return percent_decode(data)


def parse_query(raw_query):
    """[(name, value)] decoded as AWS does: %XX, and '+' as a space [inferred: the well-known
    presigned-URL pitfall where an unencoded '+' in a token reads as a space]."""
    out = []
    for part in _bytes(raw_query or b"").split(b"&"):
        if part:
            name, _, value = part.partition(b"=")
            out.append((percent_decode(name, True), percent_decode(value, True)))
    return out


def normalize_path(path):
    """RFC 3986 dot-segment removal plus collapsing empty segments (botocore's rules)."""
    path = _bytes(path)
    if not path:
        return b"/"
    out = []
    for seg in path.split(b"/"):
        if seg == b"..":
            if out:
                out.pop()
        elif seg and seg != b".":
            out.append(seg)
    first = b"/" if path.startswith(b"/") else b""
    last = b"/" if path.endswith(b"/") and out else b""
    return first + b"/".join(out) + last


def canonical_uri(raw_path, s3):
    """S3: the raw path exactly as it came on the wire. Others: normalised, then encoded (again:
    '%20' on the wire becomes '%2520')."""
    if s3:
        return _bytes(raw_path).decode("latin-1") or "/"
    return uri_encode(normalize_path(raw_path), keep_slash=True)


def canonical_query(raw_query):
    pairs = sorted((uri_encode(n), uri_encode(v)) for n, v in parse_query(raw_query))
    return "&".join(f"{n}={v}" for n, v in pairs)


def header_map(headers):
    """[(name, value)] in arrival order → {lower name: [trimmed values]}."""
    out = {}
    for name, value in headers:
        out.setdefault(name.strip().lower(), []).append(_WS.sub(" ", value.strip(" \t\r\n")))
    return out


def canonical_request(method, raw_path, raw_query, headers, signed_headers, payload_hash, s3):
    """The canonical request as a str (latin-1 code points = raw bytes). `headers` is the list
    of (name, value) pairs as received; `signed_headers` the lower-case names in signing order."""
    hmap = header_map(headers)
    lines = "".join(f"{h}:{','.join(hmap.get(h, []))}\n" for h in signed_headers)
    return "\n".join([method, canonical_uri(raw_path, s3), canonical_query(raw_query), lines,
                      ";".join(signed_headers), payload_hash])


def scope_of(date8, region, service):
    return f"{date8}/{region}/{service}/aws4_request"


def string_to_sign(amz_date, scope, creq):
    digest = hashlib.sha256(creq.encode("latin-1")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


def signing_key(secret, date8, region, service):
    def h(key, msg):
        return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()
    return h(h(h(h(("AWS4" + secret).encode("utf-8"), date8), region), service), "aws4_request")


def signature(secret, date8, region, service, sts):
    key = signing_key(secret, date8, region, service)
    return hmac.new(key, sts.encode("latin-1"), hashlib.sha256).hexdigest()


def amz_date(t=None):
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if t is None else t))


def parse_amz_date(value):
    """Epoch seconds, or None when not YYYYMMDD'T'HHMMSS'Z'."""
    try:
        dt = datetime.datetime.strptime(value, "%Y%m%dT%H%M%SZ")
    except (TypeError, ValueError):
        return None
    return calendar.timegm(dt.timetuple())


# -- verification ----------------------------------------------------------------------------
class AuthError(Exception):
    """Why a request is refused, service-neutral. `kind` is one of: missing_auth, malformed,
    unsupported, missing_date, bad_date, scope_date, scope_region, scope_service,
    unknown_key, missing_token, bad_token, skewed, host_unsigned, unsigned_header, missing_sha,
    bad_sha,
    streaming, signature, sha_mismatch. `extra` holds the details a real service reports
    (CanonicalRequest, StringToSign, RequestTime, ...)."""

    def __init__(self, kind, message, **extra):
        super().__init__(message)
        self.kind, self.message, self.extra = kind, message, extra


class Principal:
    def __init__(self, access_key, token, region, service):
        self.access_key, self.token, self.region, self.service = access_key, token, region, service


def parse_authorization(value):
    """{'Credential', 'SignedHeaders', 'Signature'} of an AWS4-HMAC-SHA256 header."""
    algo, _, rest = value.strip().partition(" ")
    if algo != ALGORITHM:
        raise AuthError("unsupported", "The authorization mechanism you have provided is not "
                        "supported. Please use AWS4-HMAC-SHA256.")
    fields = {}
    for part in rest.split(","):
        k, eq, v = part.strip().partition("=")
        if not eq or k in fields:
            raise AuthError("malformed", f"The authorization header is malformed; "
                            f"cannot parse {part.strip()!r}.")
        fields[k] = v
    for need in ("Credential", "SignedHeaders", "Signature"):
        if not fields.get(need):
            raise AuthError("malformed", f"The authorization header is malformed; "
                            f"missing {need}.")
    return fields


def verify(method, raw_path, raw_query, headers, body, credentials, region, service,
           now=None, minio=False):
    """Checks a header-signed request; returns a Principal or raises AuthError.

    `credentials`: {access_key: secret} or {access_key: (secret, session_token or None)}.
    Order of checks: Authorization present and well-formed → x-amz-date → credential scope →
    access key → session token → clock skew → host/x-amz-* signed → x-amz-content-sha256
    form
    (S3) → signature → body hash (S3)."""
    s3 = service == "s3"
    hmap = header_map(headers)
    auths = hmap.get("authorization")
    if not auths:
        raise AuthError("missing_auth", "Request is missing Authentication Token")
    fields = parse_authorization(auths[0])
    date_hdr = hmap.get("x-amz-date", [None])[0]
    if date_hdr is None:
        raise AuthError("missing_date", "AWS authentication requires a valid Date or "
                        "x-amz-date header")
    t = parse_amz_date(date_hdr)
    if t is None:
        raise AuthError("bad_date", f"Invalid X-Amz-Date {date_hdr!r}: must be "
                        "YYYYMMDD'T'HHMMSS'Z'")
    cred = fields["Credential"].split("/")
    if len(cred) != 5 or cred[4] != "aws4_request":
        raise AuthError("malformed", "The authorization header is malformed; the Credential is "
                        "mal-formed; expecting "
                        "\"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\".")
    ak, date8, c_region, c_service, _ = cred
    if date8 != date_hdr[:8]:
        raise AuthError("scope_date", "The authorization header is malformed; Invalid "
                        f"credential date \"{date8}\". This date is not the same as "
                        f"X-Amz-Date: \"{date_hdr[:8]}\".")
    if c_region != region:
        raise AuthError("scope_region", f"The authorization header is malformed; the region "
                        f"'{c_region}' is wrong; expecting '{region}'", Region=region)
    if c_service != service:
        raise AuthError("scope_service", f"Credential should be scoped to correct service: "
                        f"'{service}'.")
    entry = credentials.get(ak)
    if entry is None:
        raise AuthError("unknown_key", "The AWS Access Key Id you provided does not exist in "
                        "our records.", AWSAccessKeyId=ak)
    secret, token = entry if isinstance(entry, tuple) else (entry, None)
    sent_token = hmap.get("x-amz-security-token", [None])[0]
    if sent_token != token:
        if sent_token is None:  # temporary keys are unknown without their token
            raise AuthError("missing_token", "The AWS Access Key Id you provided does not "
                            "exist in our records.", AWSAccessKeyId=ak)
        raise AuthError("bad_token", "The provided token is malformed or otherwise invalid.")
    now = time.time() if now is None else now
    if abs(now - t) > MAX_SKEW_S:
        raise AuthError("skewed", "The difference between the request time and the current "
                        "time is too large.", RequestTime=date_hdr, ServerTime=amz_date(now),
                        MaxAllowedSkewMilliseconds=str(MAX_SKEW_S * 1000))
    signed = fields["SignedHeaders"].split(";")
    if "host" not in signed:
        raise AuthError("host_unsigned", "There were headers present in the request which were "
                        "not signed", HeadersNotSigned="host")
    unsigned = sorted(h for h in hmap if h.startswith("x-amz-") and h not in signed)
    if s3 and unsigned:
        raise AuthError("unsigned_header", "There were headers present in the request which "
                        "were not signed", HeadersNotSigned=", ".join(unsigned))
    if token is not None and "x-amz-security-token" not in signed:
        raise AuthError("unsigned_header", "There were headers present in the request which "
                        "were not signed", HeadersNotSigned="x-amz-security-token")
    body_hash = hashlib.sha256(body).hexdigest()
    payload_hash = body_hash
    if s3:
        sha = hmap.get("x-amz-content-sha256", [None])[0]
        if sha is None and minio:
            sha = EMPTY_SHA256  # MinIO getContentSha256Cksum
        if sha is None:
            raise AuthError("missing_sha", "Missing required header for this request: "
                            "x-amz-content-sha256")
        if sha.startswith("STREAMING-"):
            raise AuthError("streaming", f"x-amz-content-sha256 {sha} (aws-chunked) is not "
                            "implemented by this fake")
        if sha != UNSIGNED_PAYLOAD and not _SHA_HEX.fullmatch(sha):
            raise AuthError("bad_sha", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                            "STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
                            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, "
                            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.")
        payload_hash = sha
    creq = canonical_request(method, raw_path, raw_query, headers, signed, payload_hash, s3)
    sts = string_to_sign(date_hdr, scope_of(date8, region, service), creq)
    want = signature(secret, date8, region, service, sts)
    if not hmac.compare_digest(want, fields["Signature"]):
        raise AuthError("signature", "The request signature we calculated does not match the "
                        "signature you provided. Check your key and signing method.",
                        AWSAccessKeyId=ak, StringToSign=sts, SignatureProvided=fields["Signature"],
                        CanonicalRequest=creq)
    if s3 and payload_hash not in (UNSIGNED_PAYLOAD, body_hash):
        raise AuthError("sha_mismatch", "The provided 'x-amz-content-sha256' header does not "
                        "match what was computed.", ClientComputedContentSHA256=payload_hash,
                        S3ComputedContentSHA256=body_hash)
    return Principal(ak, token, region, service)


def parse_raw_request(data):
    """A conformance-suite .req/.sreq file (bytes) → (method, raw_path, raw_query,
    [(name, value)], body). The target is everything between the first and the last space of
    the request line (normalize-path/get-space has a literal space); lines that start with
    whitespace continue the previous header (obsolete folding, get-header-value-multiline)."""
    text = data.decode("latin-1")
    head, _, body = text.partition("\n\n")
    lines = head.split("\n")
    method, _, rest = lines[0].partition(" ")
    target = rest.rpartition(" ")[0]
    headers = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, value + "\n" + line)
        elif line:
            name, _, value = line.partition(":")
            headers.append((name, value))
    raw_path, _, raw_query = target.partition("?")
    return method, raw_path, raw_query, headers, body.encode("latin-1")


# -- signing ---------------------------------------------------------------------------------
def sign(method, raw_path, raw_query, headers, body, access_key, secret, region, service,
         token=None, when=None, unsigned_payload=False):
    """Returns `headers` (a list of (name, value), which must hold Host) plus X-Amz-Date,
    X-Amz-Content-Sha256 (S3), X-Amz-Security-Token and Authorization. Every header given is
    signed except the ones botocore never signs."""
    s3 = service == "s3"
    date = amz_date(when)
    out = list(headers) + [("X-Amz-Date", date)]
    payload_hash = UNSIGNED_PAYLOAD if unsigned_payload else hashlib.sha256(body).hexdigest()
    if s3:
        out.append(("X-Amz-Content-Sha256", payload_hash))
    if token:
        out.append(("X-Amz-Security-Token", token))
    signed = sorted({n.strip().lower() for n, _ in out} - UNSIGNABLE)
    creq = canonical_request(method, raw_path, raw_query, out, signed, payload_hash, s3)
    scope = scope_of(date[:8], region, service)
    sig = signature(secret, date[:8], region, service, string_to_sign(date, scope, creq))
    out.append(("Authorization", f"{ALGORITHM} Credential={access_key}/{scope}, "
                                 f"SignedHeaders={';'.join(signed)}, Signature={sig}"))
    return out


# -- small signing clients for tests ---------------------------------------------------------
class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body) if self.body else {}

    def __repr__(self):
        return f"<Response {self.status} {self.body[:200]!r}>"


class _Client:
    service = None

    def __init__(self, url, access_key, secret, region="us-east-1", token=None, timeout=30):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port or 80
        self.access_key, self.secret, self.region, self.token = access_key, secret, region, token
        self.timeout = timeout

    def request(self, method, raw_path, raw_query="", headers=(), body=b"", when=None,
                unsigned_payload=False, tamper=None, sign_it=True):
        """Signs and sends; `raw_path`/`raw_query` go on the wire exactly as given. `tamper`
        (headers list, body) → (headers, body) runs after signing, to forge bad requests."""
        hdrs = [("Host", f"{self.host}:{self.port}")] + list(headers)
        if sign_it:
            hdrs = sign(method, raw_path, raw_query, hdrs, body, self.access_key, self.secret,
                        self.region, self.service, self.token, when, unsigned_payload)
        if tamper:
            hdrs, body = tamper(hdrs, body)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            target = raw_path + (f"?{raw_query}" if raw_query else "")
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for n, v in hdrs:
                conn.putheader(n, v)
            if body or method in ("PUT", "POST"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
            resp = conn.getresponse()
            data = resp.read()
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
        finally:
            conn.close()


def _query(params):
    """[(name, value)] → 'a=b&c=' with UriEncode (str values are UTF-8)."""
    return "&".join(f"{uri_encode(n)}={uri_encode(v)}" for n, v in params)


class S3Client(_Client):
    """Path-style S3 requests; keys are bytes (str is UTF-8-encoded) and always UriEncoded."""
    service = "s3"

    @staticmethod
    def path(bucket, key=None):
        if key is None:
            return f"/{bucket}"
        return f"/{bucket}/" + uri_encode(key, keep_slash=True)

    def create_bucket(self, bucket):
        return self.request("PUT", self.path(bucket))

    def put_object(self, bucket, key, body=b"", headers=(), **kw):
        return self.request("PUT", self.path(bucket, key), headers=headers, body=body, **kw)

    def get_object(self, bucket, key, range_=None):
        return self.request("GET", self.path(bucket, key),
                            headers=[("Range", range_)] if range_ else ())

    def head_object(self, bucket, key):
        return self.request("HEAD", self.path(bucket, key))

    def delete_object(self, bucket, key):
        return self.request("DELETE", self.path(bucket, key))

    def list_objects_v2(self, bucket, **params):
        """params: prefix, delimiter, max_keys, continuation_token, start_after, encoding_type."""
        q = [("list-type", "2")] + [(k.replace("_", "-"), str(v)) for k, v in params.items()
                                    if v is not None]
        return self.request("GET", self.path(bucket), _query(q))

    def list_all(self, bucket, **params):
        """Every key (bytes) under the listing, following continuation tokens."""
        keys, token = [], None
        while True:
            r = self.list_objects_v2(bucket, continuation_token=token, **params)
            assert r.status == 200, r
            page = parse_list(r.body)
            keys += [c["Key"] for c in page["Contents"]]
            token = page.get("NextContinuationToken")
            if page["IsTruncated"] != "true":
                return keys

    def create_multipart_upload(self, bucket, key):
        r = self.request("POST", self.path(bucket, key), "uploads=")
        return r, _xml_text(r.body, b"UploadId")

    def upload_part(self, bucket, key, upload_id, number, data):
        return self.request("PUT", self.path(bucket, key),
                            _query([("partNumber", str(number)), ("uploadId", upload_id)]),
                            body=data)

    def complete_multipart_upload(self, bucket, key, upload_id, parts):
        body = "<CompleteMultipartUpload>" + "".join(
            f"<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>" for n, etag in parts
        ) + "</CompleteMultipartUpload>"
        return self.request("POST", self.path(bucket, key), _query([("uploadId", upload_id)]),
                            body=body.encode())

    def abort_multipart_upload(self, bucket, key, upload_id):
        return self.request("DELETE", self.path(bucket, key), _query([("uploadId", upload_id)]))

    def listen(self, bucket, events=("s3:ObjectCreated:*", "s3:ObjectRemoved:*"), prefix=None,
               suffix=None, ping=None, timeout=30):
        """Sends a MinIO ListenBucketNotification request; returns a ListenStream."""
        q = [("events", e) for e in events]
        q += [(k, v) for k, v in (("prefix", prefix), ("suffix", suffix),
                                  ("ping", None if ping is None else str(ping))) if v is not None]
        raw_path, raw_query = self.path(bucket), _query(q)
        hdrs = sign("GET", raw_path, raw_query, [("Host", f"{self.host}:{self.port}")], b"",
                    self.access_key, self.secret, self.region, "s3", self.token)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        conn.putrequest("GET", f"{raw_path}?{raw_query}", skip_host=True,
                        skip_accept_encoding=True)
        for n, v in hdrs:
            conn.putheader(n, v)
        conn.endheaders()
        return ListenStream(conn)


class ListenStream:
    """A listen request in flight. MinIO sends the response header only with the first body
    byte, so `response` and the reads block until the first event or keep-alive."""

    def __init__(self, conn):
        self.conn, self._resp = conn, None

    @property
    def response(self):
        if self._resp is None:
            self._resp = self.conn.getresponse()
        return self._resp

    def readline(self):
        return self.response.readline()

    def read(self, n):
        return self.response.read(n)

    def close(self):
        self.conn.close()


class SqsClient(_Client):
    """AWS JSON 1.0 SQS calls (POST / with X-Amz-Target)."""
    service = "sqs"

    def call(self, op, params, target_prefix="AmazonSQS.", **kw):
        body = json.dumps(params).encode()
        headers = [("Content-Type", "application/x-amz-json-1.0"),
                   ("X-Amz-Target", target_prefix + op)]
        return self.request("POST", "/", headers=headers, body=body, **kw)

    def get_queue_url(self, name):
        return self.call("GetQueueUrl", {"QueueName": name})

    def send_message(self, queue_url, body, params=None, **kw):
        """`params`: further SendMessage members; `kw`: request() options (when, tamper)."""
        return self.call("SendMessage", {"QueueUrl": queue_url, "MessageBody": body,
                                         **(params or {})}, **kw)

    def receive_message(self, queue_url, max_messages=None, wait=None, visibility=None,
                        attributes=("All",)):
        p = {"QueueUrl": queue_url, "MessageSystemAttributeNames": list(attributes)}
        for k, v in (("MaxNumberOfMessages", max_messages), ("WaitTimeSeconds", wait),
                     ("VisibilityTimeout", visibility)):
            if v is not None:
                p[k] = v
        return self.call("ReceiveMessage", p)

    def delete_message(self, queue_url, receipt):
        return self.call("DeleteMessage", {"QueueUrl": queue_url, "ReceiptHandle": receipt})

    def delete_message_batch(self, queue_url, entries):
        """entries: [(id, receipt handle)]"""
        return self.call("DeleteMessageBatch", {"QueueUrl": queue_url, "Entries": [
            {"Id": i, "ReceiptHandle": r} for i, r in entries]})

    def change_visibility(self, queue_url, receipt, timeout):
        return self.call("ChangeMessageVisibility", {"QueueUrl": queue_url,
                                                     "ReceiptHandle": receipt,
                                                     "VisibilityTimeout": timeout})

    def change_visibility_batch(self, queue_url, entries):
        """entries: [(id, receipt handle, timeout)]"""
        return self.call("ChangeMessageVisibilityBatch", {"QueueUrl": queue_url, "Entries": [
            {"Id": i, "ReceiptHandle": r, "VisibilityTimeout": t} for i, r, t in entries]})


# -- reading S3 XML at the byte level --------------------------------------------------------
# A listing without encoding-type=url may hold bytes no XML parser accepts (control characters,
# invalid UTF-8), so these helpers read the few elements tests need with regular expressions.
_ENTITIES = {b"lt": b"<", b"gt": b">", b"quot": b'"', b"apos": b"'", b"amp": b"&"}
_ENTITY = re.compile(rb"&(#x[0-9A-Fa-f]+|#[0-9]+|[a-z]+);")


def xml_unescape(data):
    def one(m):
        name = m.group(1)
        if name.startswith(b"#x"):
            return chr(int(name[2:], 16)).encode("utf-8")
        if name.startswith(b"#"):
            return chr(int(name[1:])).encode("utf-8")
        return _ENTITIES[name]
    return _ENTITY.sub(one, data)


def _xml_text(body, tag):
    m = re.search(b"<" + tag + b">(.*?)</" + tag + b">", body, re.S)
    return None if m is None else xml_unescape(m.group(1)).decode("latin-1")


def parse_list(body):
    """A ListBucketResult → {'Contents': [{'Key': bytes, 'Size': int, 'ETag', 'LastModified',
    'StorageClass'}], 'CommonPrefixes': [bytes], 'IsTruncated', 'KeyCount', ...}. Keys and
    prefixes are URL-decoded when the result says EncodingType url."""
    enc = _xml_text(body, b"EncodingType") == "url"

    def key(raw):
        raw = xml_unescape(raw)
        return urllib.parse.unquote_to_bytes(raw.replace(b"+", b" ")) if enc else raw
    out = {"Contents": [], "CommonPrefixes": []}
    for m in re.finditer(rb"<Contents>(.*?)</Contents>", body, re.S):
        c = m.group(1)
        item = {t.decode(): _xml_text(c, t) for t in (b"LastModified", b"ETag", b"StorageClass")}
        item["Key"] = key(re.search(rb"<Key>(.*?)</Key>", c, re.S).group(1))
        item["Size"] = int(_xml_text(c, b"Size"))
        out["Contents"].append(item)
    for m in re.finditer(rb"<CommonPrefixes><Prefix>(.*?)</Prefix></CommonPrefixes>", body, re.S):
        out["CommonPrefixes"].append(key(m.group(1)))
    rest = re.sub(rb"<(Contents|CommonPrefixes)>.*?</\1>", b"", body, flags=re.S)
    for t in (b"Name", b"KeyCount", b"MaxKeys", b"IsTruncated", b"NextContinuationToken",
              b"ContinuationToken", b"StartAfter", b"Delimiter", b"EncodingType"):
        v = _xml_text(rest, t)
        if v is not None:
            out[t.decode()] = v
    m = re.search(rb"<Prefix>(.*?)</Prefix>", rest, re.S)
    out["Prefix"] = key(m.group(1)) if m else None
    return out


def error_code(resp):
    """The error code of an S3 XML or SQS JSON error answer (None when it has none)."""
    if resp.headers.get("x-amzn-query-error"):
        return resp.headers["x-amzn-query-error"].split(";")[0]
    if resp.body[:1] == b"{":
        t = resp.json().get("__type", "")
        return t.rpartition("#")[2] or None
    return _xml_text(resp.body, b"Code")
