"""The S3 operations of fake_s3.FakeS3 (a mixin) and the objects they keep: path-style
CreateBucket/HeadBucket/DeleteBucket, PutObject, GetObject (with Range), HeadObject,
DeleteObject, ListObjectsV2 and multipart uploads. See fake_s3's docstring for what is faithful
and what is simplified; this module only splits the file by role.

Every method runs in a handler thread, after SigV4 verification, and takes FakeS3's lock
(`self._cond`, re-entrant) around any access to buckets. Errors are raised as S3Reply and
rendered by FakeS3 in S3's XML shape.
"""
import base64
import hashlib
import os
import re
import time
import xml.etree.ElementTree as ET

from aws_sigv4 import parse_query, strict_decode, uri_encode
from s3_events import aws_form_encode, iso_ms

MiB = 1024 * 1024
S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
XML_HEAD = b'<?xml version="1.0" encoding="UTF-8"?>\n'
OWNER_ID = "A3NL1KOZZKExample"


class Obj:
    def __init__(self, data, etag, mtime, content_type, meta, seq_ns):
        self.data, self.etag, self.mtime = data, etag, mtime
        self.content_type, self.meta, self.seq_ns = content_type, meta, seq_ns


class Bucket:
    def __init__(self, name, ctime):
        self.name, self.ctime = name, ctime
        self.objects = {}    # key bytes → Obj
        self.uploads = {}    # upload id → {"key", "parts": {n: (data, md5hex)}, ...}
        self.sqs_rules = []  # (queue name, event names, prefix, suffix, config id)


class S3Reply(Exception):
    """An S3 error answer, raised from deep inside an operation."""

    def __init__(self, code, message=None, status=None, **extra):
        super().__init__(code)
        self.code, self.message, self.status, self.extra = code, message, status, extra


class S3Operations:
    """Mixed into FakeS3; needs self._cond, self.buckets, self.clock, self.minio,
    self.minio_key_rules, self.region, self.min_part_size, self.url and the answer
    helpers self._s3_ok/_s3_error, self._listen and self._publish."""

    def _s3(self, h, rec, h_map):
        path = rec.raw_path.encode("latin-1")
        if not path.startswith(b"/"):
            raise S3Reply("InvalidURI")
        bucket_raw, _, key_raw = path[1:].partition(b"/")
        bucket = strict_decode(bucket_raw)
        key = strict_decode(key_raw)
        if bucket is None or key is None:
            raise S3Reply("InvalidURI")
        bucket = bucket.decode("latin-1")
        q = parse_query(rec.raw_query)
        names = {n for n, _ in q}
        qd = {}
        for n, v in q:
            qd.setdefault(n, v)
        m = rec.method
        if not bucket:
            if m == "GET" and b"events" in names and self.minio:
                rec.op = "ListenNotification"
                return self._listen(h, rec, None, q)
            if m == "GET":
                rec.op = "ListBuckets"
                return self._list_buckets(rec)
            raise S3Reply("MethodNotAllowed")
        if not key:
            return self._bucket_op(h, rec, bucket, q, names, qd, h_map)
        return self._object_op(rec, bucket, key, names, qd, h_map)

    def _bucket(self, name):
        b = self.buckets.get(name)
        if b is None:
            raise S3Reply("NoSuchBucket", BucketName=name)
        return b

    def _bucket_op(self, h, rec, bucket, q, names, qd, h_map):
        m = rec.method
        if m == "PUT" and not names:
            rec.op = "CreateBucket"
            if not _valid_bucket_name(bucket):
                raise S3Reply("InvalidBucketName", BucketName=bucket)
            with self._cond:
                if bucket in self.buckets and (self.minio or self.region != "us-east-1"):
                    raise S3Reply("BucketAlreadyOwnedByYou", BucketName=bucket)
                self.buckets.setdefault(bucket, Bucket(bucket, self.clock()))
            return self._s3_ok(rec, headers={"Location": f"/{bucket}"})
        if m == "HEAD" and not names:
            rec.op = "HeadBucket"
            with self._cond:
                if bucket not in self.buckets:
                    return self._s3_error(rec, "NoSuchBucket")
            return self._s3_ok(rec)
        if m == "DELETE" and not names:
            rec.op = "DeleteBucket"
            with self._cond:
                if self._bucket(bucket).objects:
                    raise S3Reply("BucketNotEmpty", BucketName=bucket)
                del self.buckets[bucket]
            return self._s3_ok(rec, 204)
        if m == "GET" and b"events" in names and self.minio:
            rec.op = "ListenBucketNotification"
            return self._listen(h, rec, bucket, q)
        if m == "GET" and qd.get(b"list-type") == b"2":
            rec.op = "ListObjectsV2"
            return self._list_v2(rec, bucket, qd)
        raise S3Reply("NotImplemented", "This fake implements ListObjectsV2 (list-type=2), "
                       "CreateBucket, HeadBucket, DeleteBucket and (MinIO) listen only.")

    def _check_key(self, key):
        if len(key) > 1024:
            raise S3Reply("KeyTooLongError")
        if not self.minio_key_rules:
            return
        segs = [s.strip() for s in key.strip().split(b"/")]
        bad = (b"." in segs or b".." in segs or b"//" in key or b"\0" in key
               or key.startswith(b"/") or key.endswith(b"/"))
        try:
            key.decode("utf-8")
        except UnicodeDecodeError:
            bad = True
        if bad:
            raise S3Reply("XMinioInvalidObjectName")

    def _object_op(self, rec, bucket, key, names, qd, h_map):
        m = rec.method
        upload_id = qd.get(b"uploadId", b"").decode("latin-1") or None
        if m == "PUT":
            if "x-amz-copy-source" in h_map:
                raise S3Reply("NotImplemented", "CopyObject is not implemented by this fake")
            if upload_id and b"partNumber" in names:
                rec.op = "UploadPart"
                return self._upload_part(rec, bucket, key, upload_id, qd[b"partNumber"], h_map)
            rec.op = "PutObject"
            return self._put(rec, bucket, key, h_map)
        if m in ("GET", "HEAD"):
            rec.op = "GetObject" if m == "GET" else "HeadObject"
            return self._get(rec, bucket, key, h_map)
        if m == "DELETE":
            if upload_id:
                rec.op = "AbortMultipartUpload"
                with self._cond:
                    b = self._bucket(bucket)
                    up = b.uploads.get(upload_id)
                    if up is None or up["key"] != key:
                        raise S3Reply("NoSuchUpload", UploadId=upload_id)
                    del b.uploads[upload_id]
                return self._s3_ok(rec, 204)
            rec.op = "DeleteObject"
            return self._delete(rec, bucket, key)
        if m == "POST" and b"uploads" in names:
            rec.op = "CreateMultipartUpload"
            return self._initiate(rec, bucket, key, h_map)
        if m == "POST" and upload_id:
            rec.op = "CompleteMultipartUpload"
            return self._complete(rec, bucket, key, upload_id)
        raise S3Reply("MethodNotAllowed")

    def _next_ns(self, t):
        with self._cond:
            self._last_ns = max(self._last_ns + 1, int(t * 1e9))
            return self._last_ns

    def _body_checks(self, rec, h_map):
        if "content-length" not in h_map:
            raise S3Reply("MissingContentLength")
        md5 = h_map.get("content-md5")
        if md5 is not None:
            try:
                want = base64.b64decode(md5, validate=True)
            except ValueError:
                raise S3Reply("InvalidDigest", **{"Content-MD5": md5}) from None
            if len(want) != 16:
                raise S3Reply("InvalidDigest", **{"Content-MD5": md5})
            if want != hashlib.md5(rec.body).digest():
                raise S3Reply("BadDigest", ExpectedDigest=md5)

    def _meta(self, h_map):
        meta = {k.title(): v for k, v in h_map.items() if k.startswith("x-amz-meta-")}
        ctype = h_map.get("content-type", "binary/octet-stream")
        return ctype, meta

    def _store(self, rec, bucket, key, data, etag, ctype, meta, event):
        t = self.clock()
        ns = self._next_ns(t)
        with self._cond:
            b = self._bucket(bucket)
            b.objects[key] = Obj(data, etag, t, ctype, meta, ns)
            self._publish(rec, b, key, event, b.objects[key], t, ns)

    def _put(self, rec, bucket, key, h_map):
        self._check_key(key)
        self._body_checks(rec, h_map)
        with self._cond:
            self._bucket(bucket)
        ctype, meta = self._meta(h_map)
        etag = hashlib.md5(rec.body).hexdigest()
        none_match, match = h_map.get("if-none-match"), h_map.get("if-match")
        if none_match is not None and none_match.strip() != "*":
            raise S3Reply("NotImplemented", "If-None-Match on PutObject takes only *")
        with self._cond:  # check and store in one step: one of two racing writers wins
            current = self._bucket(bucket).objects.get(key)
            if none_match is not None and current is not None:
                raise S3Reply("PreconditionFailed", Condition="If-None-Match")
            if match is not None:
                if current is None:
                    raise S3Reply("NoSuchKey", Key=key.decode("latin-1"))
                if match.strip().strip('"') != current.etag:
                    raise S3Reply("PreconditionFailed", Condition="If-Match")
            self._store(rec, bucket, key, rec.body, etag, ctype, meta, "ObjectCreated:Put")
        return self._s3_ok(rec, headers={"ETag": f'"{etag}"'})

    def _get(self, rec, bucket, key, h_map):
        with self._cond:
            obj = self._bucket(bucket).objects.get(key)
        if obj is None:
            raise S3Reply("NoSuchKey", Key=key.decode("latin-1"))
        hdrs = {"ETag": f'"{obj.etag}"', "Last-Modified": _http_date(obj.mtime),
                "Accept-Ranges": "bytes", "Content-Type": obj.content_type}
        hdrs.update(obj.meta)
        data, status = obj.data, 200
        rng = h_map.get("range")
        if rng:
            span = _parse_range(rng, len(obj.data))
            if span == "unsatisfiable":
                raise S3Reply("InvalidRange", RangeRequested=rng,
                               ActualObjectSize=str(len(obj.data)))
            if span:
                lo, hi = span
                data, status = obj.data[lo:hi + 1], 206
                hdrs["Content-Range"] = f"bytes {lo}-{hi}/{len(obj.data)}"
        return self._s3_ok(rec, status, data, hdrs, obj.content_type)

    def _delete(self, rec, bucket, key):
        t = self.clock()
        with self._cond:
            b = self._bucket(bucket)
            existed = b.objects.pop(key, None) is not None
            if existed:
                self._publish(rec, b, key, "ObjectRemoved:Delete", None, t, self._next_ns(t))
        return self._s3_ok(rec, 204)

    def _list_buckets(self, rec):
        with self._cond:
            items = sorted(self.buckets.values(), key=lambda b: b.name)
        body = ("<ListAllMyBucketsResult xmlns=\"%s\"><Owner><ID>%s</ID></Owner><Buckets>%s"
                "</Buckets></ListAllMyBucketsResult>" % (S3_NS, OWNER_ID, "".join(
                    f"<Bucket><Name>{b.name}</Name><CreationDate>{iso_ms(b.ctime)}"
                    "</CreationDate></Bucket>" for b in items)))
        return self._s3_ok(rec, body=XML_HEAD + body.encode())

    def _list_v2(self, rec, bucket, qd):
        enc = qd.get(b"encoding-type")
        if enc is not None and enc != b"url":
            raise S3Reply("InvalidArgument", "Invalid Encoding Method specified in Request",
                           ArgumentName="encoding-type", ArgumentValue=enc.decode("latin-1"))
        prefix = qd.get(b"prefix", b"")
        delim = qd.get(b"delimiter") or None
        raw_max = qd.get(b"max-keys", b"1000")
        try:
            max_keys = int(raw_max)
            if max_keys < 0:
                raise ValueError
        except ValueError:
            raise S3Reply("InvalidArgument", "Provided max-keys not an integer or within "
                           "integer range", ArgumentName="max-keys",
                           ArgumentValue=raw_max.decode("latin-1")) from None
        max_keys = min(max_keys, 1000)
        token = qd.get(b"continuation-token")
        start_after = qd.get(b"start-after")
        skip_prefix = None
        if token is not None:
            marker = _decode_token(token)
            if marker is None:
                raise S3Reply("InvalidArgument", "The continuation token provided is incorrect",
                               ArgumentName="continuation-token")
            kind, after = marker
            if kind == b"P":
                skip_prefix = after
        else:
            after = start_after or b""
        with self._cond:
            b = self._bucket(bucket)
            keys = sorted(k for k in b.objects if k.startswith(prefix) and k > after)
            objs = {k: b.objects[k] for k in keys}
        contents, prefixes, last, truncated = [], [], None, False
        for k in keys:
            if skip_prefix is not None and k.startswith(skip_prefix):
                continue
            cp = None
            if delim:
                i = k.find(delim, len(prefix))
                if i >= 0:
                    cp = k[:i + len(delim)]
            if cp is not None and last == (b"P", cp):
                continue
            if len(contents) + len(prefixes) >= max_keys:
                truncated = max_keys > 0
                break
            if cp is not None:
                prefixes.append(cp)
                last = (b"P", cp)
            else:
                contents.append(k)
                last = (b"K", k)

        def text(v):
            return aws_form_encode(v).encode() if enc else _xb(v)
        x = [b"<ListBucketResult xmlns=\"" + S3_NS.encode() + b"\">",
             b"<Name>" + bucket.encode() + b"</Name>", b"<Prefix>" + text(prefix) + b"</Prefix>",
             b"<KeyCount>%d</KeyCount>" % (len(contents) + len(prefixes)),
             b"<MaxKeys>%d</MaxKeys>" % max_keys]
        if delim:
            x.append(b"<Delimiter>" + text(delim) + b"</Delimiter>")
        x.append(b"<IsTruncated>" + (b"true" if truncated else b"false") + b"</IsTruncated>")
        if token is not None:
            x.append(b"<ContinuationToken>" + _xb(token) + b"</ContinuationToken>")
        if truncated:
            x.append(b"<NextContinuationToken>" + _encode_token(*last) +
                     b"</NextContinuationToken>")
        if start_after is not None:
            x.append(b"<StartAfter>" + text(start_after) + b"</StartAfter>")
        if enc:
            x.append(b"<EncodingType>url</EncodingType>")
        for k in contents:
            o = objs[k]
            x.append(b"<Contents><Key>" + text(k) + b"</Key><LastModified>" +
                     iso_ms(o.mtime).encode() + b"</LastModified><ETag>&quot;" + o.etag.encode() +
                     b"&quot;</ETag><Size>%d</Size><StorageClass>STANDARD</StorageClass>"
                     b"</Contents>" % len(o.data))
        for p in prefixes:
            x.append(b"<CommonPrefixes><Prefix>" + text(p) + b"</Prefix></CommonPrefixes>")
        x.append(b"</ListBucketResult>")
        return self._s3_ok(rec, body=XML_HEAD + b"".join(x))

    # multipart
    def _initiate(self, rec, bucket, key, h_map):
        self._check_key(key)
        ctype, meta = self._meta(h_map)
        upload_id = base64.urlsafe_b64encode(os.urandom(24)).decode()
        with self._cond:
            self._bucket(bucket).uploads[upload_id] = {"key": key, "parts": {},
                                                       "ctype": ctype, "meta": meta}
        body = (f'<InitiateMultipartUploadResult xmlns="{S3_NS}"><Bucket>{bucket}</Bucket>'
                ).encode() + b"<Key>" + _xb(key) + b"</Key><UploadId>" + upload_id.encode() + \
            b"</UploadId></InitiateMultipartUploadResult>"
        return self._s3_ok(rec, body=XML_HEAD + body)

    def _upload(self, bucket, key, upload_id):
        up = self._bucket(bucket).uploads.get(upload_id)
        if up is None or up["key"] != key:
            raise S3Reply("NoSuchUpload", UploadId=upload_id)
        return up

    def _upload_part(self, rec, bucket, key, upload_id, raw_number, h_map):
        try:
            number = int(raw_number)
            if not 1 <= number <= 10000:
                raise ValueError
        except ValueError:
            raise S3Reply("InvalidArgument", "Part number must be an integer between 1 and "
                           "10000, inclusive", ArgumentName="partNumber",
                           ArgumentValue=raw_number.decode("latin-1")) from None
        self._body_checks(rec, h_map)
        etag = hashlib.md5(rec.body).hexdigest()
        with self._cond:
            self._upload(bucket, key, upload_id)["parts"][number] = (rec.body, etag)
        return self._s3_ok(rec, headers={"ETag": f'"{etag}"'})

    def _complete(self, rec, bucket, key, upload_id):
        try:
            root = ET.fromstring(rec.body)
            wanted = []
            for part in root.iter():
                if part.tag.rpartition("}")[2] != "Part":
                    continue
                fields = {c.tag.rpartition("}")[2]: (c.text or "").strip() for c in part}
                wanted.append((int(fields["PartNumber"]), fields["ETag"].strip('"')))
        except (ET.ParseError, KeyError, ValueError):
            raise S3Reply("MalformedXML") from None
        if not wanted:
            raise S3Reply("MalformedXML")
        numbers = [n for n, _ in wanted]
        if numbers != sorted(set(numbers)):
            raise S3Reply("InvalidPartOrder", UploadId=upload_id)
        with self._cond:
            up = self._upload(bucket, key, upload_id)
            parts = []
            for n, etag in wanted:
                have = up["parts"].get(n)
                if have is None or have[1] != etag:
                    raise S3Reply("InvalidPart", UploadId=upload_id, PartNumber=str(n),
                                   ETag=etag)
                parts.append(have)
            for n, (data, _) in zip(numbers[:-1], parts[:-1]):
                if len(data) < self.min_part_size:
                    raise S3Reply("EntityTooSmall", ProposedSize=str(len(data)),
                                   MinSizeAllowed=str(self.min_part_size), PartNumber=str(n))
            del self._bucket(bucket).uploads[upload_id]
        data = b"".join(d for d, _ in parts)
        etag = hashlib.md5(b"".join(bytes.fromhex(e) for _, e in parts)).hexdigest() + \
            f"-{len(parts)}"
        self._store(rec, bucket, key, data, etag, up["ctype"], up["meta"],
                    "ObjectCreated:CompleteMultipartUpload")
        body = (f'<CompleteMultipartUploadResult xmlns="{S3_NS}"><Location>{self.url}/{bucket}/'
                f'{uri_encode(key, True)}</Location><Bucket>{bucket}</Bucket>').encode() + \
            b"<Key>" + _xb(key) + b"</Key><ETag>&quot;" + etag.encode() + \
            b"&quot;</ETag></CompleteMultipartUploadResult>"
        return self._s3_ok(rec, body=XML_HEAD + body)


# -- helpers ---------------------------------------------------------------------------------------
_XML_ESC = {0x26: b"&amp;", 0x3C: b"&lt;", 0x3E: b"&gt;", 0x27: b"&apos;", 0x22: b"&quot;"}


def _xb(v):
    """XML text from raw bytes the way S3 writes listings (Ceph RGW's escape.cc, which copies
    it: "we escape control characters ... Amazon does it in their XML responses"): control bytes
    but TAB and LF as &#xNN; (not well-formed XML 1.0 for most), other bytes as they are."""
    out = bytearray()
    for c in v:
        if c in _XML_ESC:
            out += _XML_ESC[c]
        elif (c < 0x20 and c not in (0x09, 0x0A)) or c == 0x7F:
            out += b"&#x%02x;" % c
        else:
            out.append(c)
    return bytes(out)


def _encode_token(kind, key):
    return base64.urlsafe_b64encode(kind + key)


def _decode_token(token):
    try:
        raw = base64.urlsafe_b64decode(token)
    except ValueError:
        return None
    if raw[:1] not in (b"K", b"P") or base64.urlsafe_b64encode(raw) != token:
        return None
    return raw[:1], raw[1:]


def _valid_bucket_name(name):
    return bool(re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", name)) and ".." not in name


def _http_date(t):
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(t))


def _parse_range(value, size):
    """(first, last) for a single 'bytes=' range, None to ignore it, or 'unsatisfiable'."""
    unit, _, spec = value.partition("=")
    if unit.strip() != "bytes" or "," in spec:
        return None
    lo, _, hi = spec.strip().partition("-")
    try:
        if lo == "":
            n = int(hi)
            return (max(size - n, 0), size - 1) if n > 0 and size else "unsatisfiable"
        lo = int(lo)
        hi = int(hi) if hi else size - 1
    except ValueError:
        return None
    if lo >= size or hi < lo:
        return "unsatisfiable"
    return lo, min(hi, size - 1)
