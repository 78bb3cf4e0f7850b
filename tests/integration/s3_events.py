"""What S3, MinIO and SNS/EventBridge emit about object changes, as bytes: Go's JSON encoding
(MinIO is written in Go), MinIO event records (PROTOCOLS.md §3.2), AWS S3 event records for SQS
(§4.1), the s3:TestEvent message, and SNS- and EventBridge-shaped bodies for parser tests.
Used by fake_s3 (listen stream, S3 → SQS) and push_senders (MinIO webhook bodies).

Faithful: field order (Go struct order; Go maps sorted), Go ≥ 1.22 string escaping (HTML
characters as \u003c…, invalid UTF-8 byte by byte as \ufffd, U+2028/2029 escaped, \b \f),
`s3:` prefixes (MinIO) or none (AWS), eventVersion 2.0 (MinIO) / 2.1 (AWS), ms event times.
Simplified: the SNS and EventBridge shapes are built from the AWS docs' field lists, not from
captures (their Signature and ids are placeholders); AWS's key encoding is form style with '/'
kept [inferred: Java's URLEncoder set, which keeps '*' and encodes '~'].
"""
import base64
import os
import time
import uuid

OWNER_ID = "A3NL1KOZZKExample"


# -- Go-compatible JSON (MinIO's encoding/json) ------------------------------------------------
def _utf8_len(b, i):
    """Length of the valid UTF-8 sequence at b[i] (non-ASCII lead), 0 when invalid (as Go's
    utf8.DecodeRune: no overlongs, surrogates or code points past U+10FFFF)."""
    c = b[i]
    n = 2 if 0xC2 <= c <= 0xDF else 3 if 0xE0 <= c <= 0xEF else 4 if 0xF0 <= c <= 0xF4 else 0
    if n == 0 or i + n > len(b):
        return 0
    try:
        b[i:i + n].decode("utf-8")
    except UnicodeDecodeError:
        return 0
    return n


_GO_ESC = {0x22: '\\"', 0x5C: "\\\\", 0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r",
           0x09: "\\t"}


def go_string(data):
    """A JSON string exactly as Go ≥ 1.22 writes it with HTML escaping on (the default)."""
    b = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    out, i = ['"'], 0
    while i < len(b):
        c = b[i]
        if c < 0x80:
            if c in _GO_ESC:
                out.append(_GO_ESC[c])
            elif c < 0x20 or c in (0x3C, 0x3E, 0x26):
                out.append("\\u%04x" % c)
            else:
                out.append(chr(c))
            i += 1
            continue
        n = _utf8_len(b, i)
        if n == 0:
            out.append("\\ufffd")  # each invalid byte on its own, as Go does
            i += 1
            continue
        ch = b[i:i + n].decode("utf-8")
        out.append("\\u%04x" % ord(ch) if ch in "\u2028\u2029" else ch)
        i += n
    out.append('"')
    return "".join(out)


def go_json(value):
    """Compact JSON like Go's json.Marshal; dicts keep their order (build them in struct
    order, and sort the ones that are Go maps)."""
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (str, bytes)):
        return go_string(value)
    if isinstance(value, dict):
        return "{" + ",".join(go_string(k) + ":" + go_json(v) for k, v in value.items()) + "}"
    return "[" + ",".join(go_json(v) for v in value) + "]"


# -- event records -----------------------------------------------------------------------------
def iso_ms(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % (int(t * 1000) % 1000)


def aws_form_encode(key):
    """S3's event-key encoding: form style (space → '+'), '/' left alone [inferred: Java's
    URLEncoder set, which keeps '*' and encodes '~']."""
    key = key.encode("utf-8") if isinstance(key, str) else key
    safe = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.*/"
    return "".join("+" if c == 0x20 else chr(c) if c in safe else "%%%02X" % c for c in key)


def minio_record(bucket, key, event_name, *, size=None, etag=None, content_type=None,
                 user_metadata=None, sequencer, event_time, principal="minioadmin",
                 source_ip="127.0.0.1", user_agent="", request_id="", host_id="",
                 region="", deployment_id="", endpoint="", content_length=None):
    """One MinIO event record in Go struct order (§3.2); `key` goes in as given (raw bytes for
    the listen stream, QueryEscape'd for webhooks). Size and friends are omitted when None."""
    resp = {"x-amz-id-2": host_id, "x-amz-request-id": request_id,
            "x-minio-deployment-id": deployment_id, "x-minio-origin-endpoint": endpoint}
    if content_length is not None:
        resp["content-length"] = str(content_length)
    obj = {"key": key}
    if size is not None:
        obj["size"] = size
    if etag:
        obj["eTag"] = etag
    if content_type:
        obj["contentType"] = content_type
    if user_metadata:
        obj["userMetadata"] = dict(sorted(user_metadata.items()))
    obj["sequencer"] = sequencer
    return {
        "eventVersion": "2.0", "eventSource": "minio:s3", "awsRegion": region,
        "eventTime": iso_ms(event_time), "eventName": event_name,
        "userIdentity": {"principalId": principal},
        "requestParameters": {"principalId": principal, "region": region,
                              "sourceIPAddress": source_ip},
        "responseElements": dict(sorted(resp.items())),
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "Config",
               "bucket": {"name": bucket, "ownerIdentity": {"principalId": principal},
                          "arn": f"arn:aws:s3:::{bucket}"},
               "object": obj},
        "source": {"host": source_ip, "port": "", "userAgent": user_agent},
    }


def aws_record(bucket, key, event_name, *, size=None, etag=None, sequencer, event_time,
               region="us-east-1", principal="AWS:AIDAFAKEUSER", source_ip="127.0.0.1",
               request_id="", host_id="", config_id="sluice"):
    """One S3 → SQS record (§4.1, eventVersion 2.1): `event_name` without 's3:', key
    form-encoded; size/eTag absent for deletes."""
    obj = {"key": aws_form_encode(key)}
    if size is not None:
        obj.update(size=size, eTag=etag)
    obj["sequencer"] = sequencer
    return {
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": region,
        "eventTime": iso_ms(event_time), "eventName": event_name,
        "userIdentity": {"principalId": principal},
        "requestParameters": {"sourceIPAddress": source_ip},
        "responseElements": {"x-amz-request-id": request_id, "x-amz-id-2": host_id},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": config_id,
               "bucket": {"name": bucket, "ownerIdentity": {"principalId": OWNER_ID},
                          "arn": f"arn:aws:s3:::{bucket}"},
               "object": obj},
    }


def s3_test_event(bucket, t=None):
    """The s3:TestEvent S3 sends once when a notification configuration is set (§4.1)."""
    return go_json({"Service": "Amazon S3", "Event": "s3:TestEvent",
                    "Time": iso_ms(time.time() if t is None else t), "Bucket": bucket,
                    "RequestId": request_id(), "HostId": host_id()})


def sns_envelope(message, topic_arn="arn:aws:sns:us-east-1:123456789012:sluice-topic",
                 t=None):
    """An S3 → SNS → SQS body without raw delivery: `Message` holds the S3 JSON as a string.
    [constructed from the SNS docs' field list; Signature is a placeholder]"""
    return go_json({"Type": "Notification", "MessageId": _uuid(), "TopicArn": topic_arn,
                    "Subject": "Amazon S3 Notification", "Message": message,
                    "Timestamp": iso_ms(time.time() if t is None else t),
                    "SignatureVersion": "1", "Signature": "RkFLRQ==",
                    "SigningCertURL": "https://sns.us-east-1.amazonaws.com/fake.pem",
                    "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"})


def eventbridge_event(bucket, key, size=0, etag="", sequencer="0", t=None,
                      detail_type="Object Created", reason="PutObject"):
    """An EventBridge-shaped S3 event (different from §4.1: `detail-type`, `detail.object`).
    [constructed from the AWS docs' example; the key is form-encoded as in S3 events (guess)]"""
    return go_json({
        "version": "0", "id": _uuid(), "detail-type": detail_type, "source": "aws.s3",
        "account": "123456789012", "time": iso_ms(time.time() if t is None else t)[:19] + "Z",
        "region": "us-east-1", "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {"version": "0", "bucket": {"name": bucket},
                   "object": {"key": aws_form_encode(key), "size": size, "etag": etag,
                              "sequencer": sequencer},
                   "request-id": request_id(), "requester": "123456789012",
                   "source-ip-address": "127.0.0.1", "reason": reason}})


def request_id():
    return base64.b16encode(os.urandom(8)).decode()


def host_id():
    return base64.b64encode(os.urandom(48)).decode()


def _uuid():
    return str(uuid.uuid4())
