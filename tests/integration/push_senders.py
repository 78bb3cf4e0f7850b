"""What storage systems POST to sluice's push ingress, built byte for byte: MinIO's webhook
target (PROTOCOLS.md §3.3) and Ceph RGW's HTTP push endpoint (§4.4), plus post() to send them
the way each sender authenticates.

Faithful: MinIO's envelope `{"EventName","Key","Records":[record]}` (Go field order, Go JSON
escaping), `Key` = bucket + "/" + the unescaped key, the record key `url.QueryEscape`d exactly
as Go does; `Authorization: Bearer <token>` (or the token as is when it already has two words).
RGW: `{"Records":[record]}` with the raw key, eventSource ceph:s3, eventVersion 2.2, µs
eventTime, unquoted eTag, 16-hex sequencer, bucket.id, metadata/tags lists, eventId and
opaqueData; no Authorization and no User-Agent; auth only through the endpoint's query
(`?token=`) or userinfo (Basic). RGW's JSON escaping follows Ceph's escape.cc: `"` `\\` TAB LF
escaped, other control bytes as \\u00XX, everything else (invalid UTF-8 too) raw.
Simplified: record values that §3.2/§4.4 leave open (request ids, owner ids, bucket id) are
plausible constants; RGW's record field order is that of rgw_pubsub's dump() [inferred].
"""
import base64
import http.client
import sys
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from s3_events import go_json, minio_record  # noqa: E402

_QUERY_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")


def go_query_escape(data):
    """Go's url.QueryEscape: unreserved bytes kept, space as '+', every other byte %XX
    (upper-case), '/' and '+' included."""
    b = data.encode("utf-8") if isinstance(data, str) else data
    return "".join(chr(c) if c in _QUERY_SAFE else "+" if c == 0x20 else "%%%02X" % c
                   for c in b)


def minio_webhook_body(bucket, key, event_name="s3:ObjectCreated:Put", *, size=None,
                       etag=None, content_type=None, user_metadata=None, sequencer=None,
                       event_time=None, principal="minioadmin", source_ip="127.0.0.1",
                       user_agent="MinIO (linux; amd64) minio-go/v7.0.70", request_id=None,
                       deployment_id="0b6c2c8e-6a6b-4d9a-9a77-5d1a2f3c4b5e",
                       endpoint="http://127.0.0.1:9000"):
    """The body MinIO's webhook target POSTs for one event (`key`: bytes or str). For
    ObjectCreated events without a size, a size of 0 and the empty-body ETag are used."""
    t = time.time() if event_time is None else event_time
    kb = key.encode("utf-8") if isinstance(key, str) else key
    created = event_name.startswith("s3:ObjectCreated")
    if created and size is None:
        size, etag = 0, etag or "d41d8cd98f00b204e9800998ecf8427e"
    record = minio_record(
        bucket, go_query_escape(kb), event_name, size=size, etag=etag,
        content_type=content_type, user_metadata=user_metadata,
        sequencer=sequencer or "%X" % int(t * 1e9), event_time=t, principal=principal,
        source_ip=source_ip, user_agent=user_agent,
        request_id=request_id or "%016X" % int(t * 1e9), host_id="dd9025bab4ad464b049177c9"
        "5eb6ebf374d3b3fd1af9251148b658df7ac2e3e8", deployment_id=deployment_id,
        endpoint=endpoint, content_length=0 if event_name == "s3:ObjectCreated:Put" else None)
    envelope = {"EventName": event_name, "Key": bucket.encode() + b"/" + kb,
                "Records": [record]}
    return go_json(envelope).encode("utf-8")


# -- Ceph RGW ------------------------------------------------------------------------------------
def ceph_json(value):
    """JSON the way Ceph's JSONFormatter writes it (bytes out; see the module docstring)."""
    if value is None:
        return b"null"
    if value is True or value is False:
        return b"true" if value else b"false"
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, (str, bytes)):
        b = value.encode("utf-8") if isinstance(value, str) else value
        out = bytearray(b'"')
        for c in b:
            if c == 0x22:
                out += b'\\"'
            elif c == 0x5C:
                out += b"\\\\"
            elif c == 0x09:
                out += b"\\t"
            elif c == 0x0A:
                out += b"\\n"
            elif c < 0x20 or c == 0x7F:
                out += b"\\u%04x" % c
            else:
                out.append(c)
        return bytes(out + b'"')
    if isinstance(value, dict):
        return b"{" + b",".join(ceph_json(k) + b":" + ceph_json(v)
                                for k, v in value.items()) + b"}"
    return b"[" + b",".join(ceph_json(v) for v in value) + b"]"


def ceph_record(bucket, key, event_name="ObjectCreated:Put", *, size=0, etag=None,
                sequencer=None, event_time=None, principal="testuser", source_ip="127.0.0.1",
                metadata=(), tags=(), opaque_data="", version_id="",
                bucket_id="c0ffee00-0000-4000-8000-000000000001.4137.1",
                config_id="sluice-notif", topic="sluice-topic"):
    """One RGW notification record (§4.4); `key` raw (bytes or str)."""
    t = time.time() if event_time is None else event_time
    etag = etag or "d41d8cd98f00b204e9800998ecf8427e"
    usec = round(t * 1e6) % 1000000
    return {
        "eventVersion": "2.2", "eventSource": "ceph:s3", "awsRegion": "",
        "eventTime": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % usec,
        "eventName": event_name,
        "userIdentity": {"principalId": principal},
        "requestParameters": {"sourceIPAddress": source_ip},
        "responseElements": {"x-amz-request-id": f"{bucket_id}.{int(t)}",
                             "x-amz-id-2": "1039-default-default"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": config_id,
               "bucket": {"name": bucket, "ownerIdentity": {"principalId": principal},
                          "arn": f"arn:aws:s3:::{bucket}", "id": bucket_id},
               "object": {"key": key, "size": size, "eTag": etag, "versionId": version_id,
                          "sequencer": sequencer or "%016X" % int(t * 1e9),
                          "metadata": [{"key": k, "val": v} for k, v in metadata],
                          "tags": [{"key": k, "val": v} for k, v in tags]}},
        "eventId": f"{int(t)}.{usec:06d}.{etag}",
        "opaqueData": opaque_data,
    }


def ceph_push_body(bucket, key, event_name="ObjectCreated:Put", **kw):
    """What RGW POSTs for one event: `{"Records":[one record]}`."""
    return ceph_json({"Records": [ceph_record(bucket, key, event_name, **kw)]})


# -- sending -------------------------------------------------------------------------------------
class Answer:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def __repr__(self):
        return f"<Answer {self.status} {self.body[:200]!r}>"


def post(url, body, token=None, how="bearer", content_type="application/json", timeout=10,
         headers=()):
    """POSTs `body` like a push sender. `how`:
    bearer — `Authorization: Bearer <token>` (MinIO's auth_token);
    raw    — `Authorization: <token>` (MinIO, when auth_token already has two words);
    basic  — `Authorization: Basic b64(token)`, token "user:pass" (RGW with user:TOKEN@host);
    query  — `?token=<token>` appended to the URL (RGW push-endpoint query; nothing else sent);
    none   — no credentials.
    No User-Agent is sent (RGW sends none); add one through `headers` to mimic MinIO's Go
    client."""
    u = urllib.parse.urlsplit(url)
    target = u.path or "/"
    query = u.query
    hdrs = [("Host", u.netloc), ("Content-Type", content_type)] + list(headers)
    if token is not None and how == "query":
        query = (query + "&" if query else "") + "token=" + urllib.parse.quote(token, safe="")
    elif token is not None and how == "bearer":
        hdrs.append(("Authorization", f"Bearer {token}"))
    elif token is not None and how == "raw":
        hdrs.append(("Authorization", token))
    elif token is not None and how == "basic":
        hdrs.append(("Authorization", "Basic " + base64.b64encode(token.encode()).decode()))
    elif how not in ("none", "bearer", "raw", "basic", "query"):
        raise ValueError(f"unknown auth style {how!r}")
    if query:
        target += "?" + query
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)
    try:
        conn.putrequest("POST", target, skip_host=True, skip_accept_encoding=True)
        for n, v in hdrs:
            conn.putheader(n, v)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()
