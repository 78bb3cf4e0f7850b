"""The SQS half of fake_s3.FakeS3: queues, messages and the AWS JSON 1.0 operations
(PROTOCOLS.md §4.2). HTTP, auth and faults live in fake_s3; this module is plain state behind
one lock, driven by an injectable clock so visibility tests need no sleeps.

Faithful: `X-Amz-Target: AmazonSQS.<Op>` dispatch; `{}` on an empty poll; long polls that
return as soon as a message is visible (a Condition, woken by sends, visibility changes and
ManualClock.advance); visibility timeouts, redelivery with a new ReceiptHandle and a higher
ApproximateReceiveCount; MD5OfBody; batch results split into Successful/Failed; errors as
HTTP 400 `{"__type": "com.amazonaws.sqs#<Shape>", "message"}` with the legacy code in
`x-amzn-query-error: <code>;Sender` (botocore's query-compatible parsing); parameter ranges
(MaxNumberOfMessages 1-10, WaitTimeSeconds 0-20, VisibilityTimeout 0-43200); a JSON number
where a number is due (else SerializationException).

Receipt handles (our choice, following the DeleteMessage docs: "the request succeeds, but the
message might not be deleted"): only the handle of the latest receive deletes or changes a
message. DeleteMessage with an older handle of a message that was received again answers 200
and leaves the message alone; with the handle of a message already deleted it answers 200;
with a string we never issued it answers ReceiptHandleIsInvalid. ChangeMessageVisibility with
an older handle answers InvalidParameterValue ("The receipt handle has expired"), and with the
latest handle of a message whose visibility already ran out, MessageNotInflight.

Simplified: standard queues only (no FIFO, no message groups or dedup), no retention period,
no dead-letter redrive, no MessageAttributes, no queue attributes beyond the visibility
timeout, messages come back in send order (real SQS only roughly keeps it), no query protocol.
[guess] Operations without output answer 200 with an empty body; InvalidParameterValue and
MissingParameter use the `com.amazonaws.sqs#` prefix like the modelled errors.
"""
import base64
import hashlib
import json
import os
import re
import threading
import time
import uuid

MAX_BODY = 1024 * 1024  # SQS raised the message size limit from 256 KiB to 1 MiB in 2025
_BATCH_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
# The characters SQS accepts in a body (XML 1.0 Char production).
_BAD_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
SYSTEM_ATTRIBUTES = ("SenderId", "SentTimestamp", "ApproximateReceiveCount",
                     "ApproximateFirstReceiveTimestamp")

# Legacy (query protocol) codes for the modelled errors (botocore service-2.json before the
# switch to JSON, commit 79c92132e); shapes without an entry use their own name.
QUERY_CODES = {
    "QueueDoesNotExist": "AWS.SimpleQueueService.NonExistentQueue",
    "EmptyBatchRequest": "AWS.SimpleQueueService.EmptyBatchRequest",
    "TooManyEntriesInBatchRequest": "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
    "BatchEntryIdsNotDistinct": "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
    "InvalidBatchEntryId": "AWS.SimpleQueueService.InvalidBatchEntryId",
    "MessageNotInflight": "AWS.SimpleQueueService.MessageNotInflight",
    "UnsupportedOperation": "AWS.SimpleQueueService.UnsupportedOperation",
    "QueueNameExists": "QueueAlreadyExists",
}
# Errors raised by the service framework (coral) rather than SQS itself.
CORAL = {"UnknownOperationException", "SerializationException", "InternalFailure",
         "ServiceUnavailable", "ThrottlingException", "AccessDeniedException",
         "MissingAuthenticationTokenException", "InvalidSignatureException",
         "UnrecognizedClientException", "IncompleteSignatureException", "RequestExpired"}


class SqsError(Exception):
    def __init__(self, shape, message, status=400, query_code=None):
        super().__init__(message)
        self.shape, self.message, self.status = shape, message, status
        self.query_code = query_code or QUERY_CODES.get(shape, shape)

    def render(self):
        """(status, headers, body) of this error on the JSON protocol."""
        prefix = "com.amazon.coral.service#" if self.shape in CORAL else "com.amazonaws.sqs#"
        fault = "Sender" if self.status < 500 else "Receiver"
        body = json.dumps({"__type": prefix + self.shape, "message": self.message}).encode()
        return self.status, {"x-amzn-query-error": f"{self.query_code};{fault}"}, body


def invalid(name, value, reason):
    return SqsError("InvalidParameterValue", f"Value {value} for parameter {name} is invalid. "
                    f"Reason: {reason}", query_code="InvalidParameterValue")


class ManualClock:
    """A clock tests move by hand; FakeS3 registers to hear of each move (long polls re-check)."""

    def __init__(self, start=None):
        self._t = time.time() if start is None else float(start)
        self._lock = threading.Lock()
        self._listeners = []

    def __call__(self):
        with self._lock:
            return self._t

    def advance(self, seconds):
        with self._lock:
            self._t += seconds
            listeners = list(self._listeners)
        for fn in listeners:
            fn()

    def subscribe(self, fn):
        with self._lock:
            self._listeners.append(fn)


class Message:
    def __init__(self, body, sender, now, delay=0):
        self.id = str(uuid.uuid4())
        self.body = body
        self.md5 = hashlib.md5(body.encode("utf-8")).hexdigest()
        self.sender = sender
        self.sent_ms = int(now * 1000)
        self.first_receive_ms = None
        self.receive_count = 0
        self.visible_at = now + delay
        self.receipt = None        # the handle of the latest receive
        self.deleted = False


class Queue:
    def __init__(self, name, url, visibility_timeout):
        self.name, self.url, self.visibility_timeout = name, url, visibility_timeout
        self.messages = {}         # id → Message, in send order
        self.handles = {}          # every handle ever issued → Message


class SqsState:
    """Queues and the operations; every method runs under `cond` (shared with FakeS3)."""

    def __init__(self, cond, clock, account_id, base_url):
        self.cond, self.clock, self.account_id, self.base_url = cond, clock, account_id, base_url
        self.queues = {}
        self.stopping = False
        self.polling = 0           # ReceiveMessage calls inside their wait loop now

    # -- test-side API ---------------------------------------------------------------------
    def create_queue(self, name, visibility_timeout=30):
        with self.cond:
            if name not in self.queues:
                url = f"{self.base_url()}/{self.account_id}/{name}"
                self.queues[name] = Queue(name, url, visibility_timeout)
            return self.queues[name].url

    def enqueue(self, name, body, sender="AIDAFAKESENDER", delay=0):
        """Puts a raw message body on queue `name` (as S3, SNS or a test would); returns it."""
        with self.cond:
            msg = Message(body, sender, self.clock(), delay)
            self.queues[name].messages[msg.id] = msg
            self.cond.notify_all()
            return msg

    def messages(self, name):
        """Messages not yet deleted (visible or in flight)."""
        with self.cond:
            return list(self.queues[name].messages.values())

    # -- dispatch --------------------------------------------------------------------------
    def call(self, op, params, principal):
        """Runs AmazonSQS.<op>; returns the result dict (None: empty body) or raises SqsError.
        May block (long poll); never holds the lock while waiting."""
        fn = getattr(self, "op_" + op, None)
        if fn is None:
            raise SqsError("UnknownOperationException", f"Operation {op} is not supported by "
                           "this fake" if op in _KNOWN_UNIMPLEMENTED else "")
        if not isinstance(params, dict):
            raise SqsError("SerializationException", "Start of structure or map found where "
                           "not expected.")
        return fn(params, principal)

    def _queue(self, params):
        url = _string(params, "QueueUrl", required=True)
        name = url.rstrip("/").rpartition("/")[2]
        q = self.queues.get(name)
        if q is None or not url.rstrip("/").endswith(f"/{self.account_id}/{name}"):
            raise SqsError("QueueDoesNotExist", "The specified queue does not exist.")
        return q

    def op_GetQueueUrl(self, p, principal):
        name = _string(p, "QueueName", required=True)
        with self.cond:
            if name not in self.queues:
                raise SqsError("QueueDoesNotExist", "The specified queue does not exist.")
            return {"QueueUrl": self.queues[name].url}

    def op_CreateQueue(self, p, principal):
        name = _string(p, "QueueName", required=True)
        attrs = p.get("Attributes") or {}
        vt = int(attrs.get("VisibilityTimeout", 30))
        return {"QueueUrl": self.create_queue(name, vt)}

    def op_SendMessage(self, p, principal):
        body = _string(p, "MessageBody", required=True)
        delay = _int(p, "DelaySeconds", 0, 900, 0)
        if not body:
            raise invalid("MessageBody", "", "Message must be at least one character.")
        if len(body.encode("utf-8")) > MAX_BODY:
            raise invalid("MessageBody", "(too long)", f"Message must be shorter than "
                          f"{MAX_BODY} bytes.")
        if _BAD_CHARS.search(body):
            raise SqsError("InvalidMessageContents", "Invalid binary character in the message "
                           "body; see the allowed character list.")
        with self.cond:
            q = self._queue(p)
            msg = Message(body, principal.access_key, self.clock(), delay)
            q.messages[msg.id] = msg
            self.cond.notify_all()
            return {"MD5OfMessageBody": msg.md5, "MessageId": msg.id}

    def op_ReceiveMessage(self, p, principal):
        n = _int(p, "MaxNumberOfMessages", 1, 10, 1,
                 reason="Must be between 1 and 10, if provided.")
        wait = _int(p, "WaitTimeSeconds", 0, 20, 0,
                    reason="Must be >= 0 and <= 20, if provided.")
        vis = _int(p, "VisibilityTimeout", 0, 43200, None)
        names = set(_strings(p, "AttributeNames") + _strings(p, "MessageSystemAttributeNames"))
        wanted = SYSTEM_ATTRIBUTES if "All" in names else [a for a in SYSTEM_ATTRIBUTES
                                                            if a in names]
        with self.cond:
            q = self._queue(p)
            real_end = time.monotonic() + wait
            fake_end = self.clock() + wait
            self.polling += 1
            try:
                while True:
                    got = self._take(q, n, q.visibility_timeout if vis is None else vis)
                    if got or self.stopping or wait == 0:
                        break
                    left = real_end - time.monotonic()
                    if left <= 0 or self.clock() >= fake_end:
                        break
                    # Woken by sends and clock moves; the 0.25 s cap covers a plain now().
                    self.cond.wait(min(left, 0.25))
            finally:
                self.polling -= 1
                self.cond.notify_all()
            if not got:
                return {}
            return {"Messages": [self._render(m, handle, wanted) for m, handle in got]}

    def _take(self, q, n, vis):
        now = self.clock()
        got = []
        for m in q.messages.values():
            if len(got) == n:
                break
            if m.visible_at <= now:
                m.receive_count += 1
                if m.first_receive_ms is None:
                    m.first_receive_ms = int(now * 1000)
                m.visible_at = now + vis
                m.receipt = _new_handle(m.id)
                q.handles[m.receipt] = m
                got.append((m, m.receipt))
        return got

    @staticmethod
    def _render(m, handle, wanted):
        values = {"SenderId": m.sender, "SentTimestamp": str(m.sent_ms),
                  "ApproximateReceiveCount": str(m.receive_count),
                  "ApproximateFirstReceiveTimestamp": str(m.first_receive_ms)}
        out = {"MessageId": m.id, "ReceiptHandle": handle, "MD5OfBody": m.md5, "Body": m.body}
        if wanted:
            out["Attributes"] = {a: values[a] for a in wanted}
        return out

    def _lookup(self, q, handle):
        m = q.handles.get(handle)
        if m is None:
            raise SqsError("ReceiptHandleIsInvalid", f'The input receipt handle "{handle}" is '
                           "not a valid receipt handle.")
        return m

    def _delete(self, q, handle):
        m = self._lookup(q, handle)
        if m.receipt == handle and not m.deleted:
            m.deleted = True
            del q.messages[m.id]

    def _change(self, q, handle, timeout):
        m = self._lookup(q, handle)
        if m.deleted or m.receipt != handle:
            raise invalid("ReceiptHandle", handle, "The receipt handle has expired.")
        now = self.clock()
        if m.visible_at <= now:
            raise SqsError("MessageNotInflight", "The message referred to is not in flight.")
        m.visible_at = now + timeout
        self.cond.notify_all()

    def op_DeleteMessage(self, p, principal):
        handle = _string(p, "ReceiptHandle", required=True)
        with self.cond:
            self._delete(self._queue(p), handle)
        return None

    def op_ChangeMessageVisibility(self, p, principal):
        handle = _string(p, "ReceiptHandle", required=True)
        timeout = _int(p, "VisibilityTimeout", 0, 43200, None, required=True)
        with self.cond:
            self._change(self._queue(p), handle, timeout)
        return None

    def _batch(self, p, each):
        entries = p.get("Entries")
        if entries is None:
            raise missing("Entries")
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise SqsError("SerializationException", "Entries must be a list of structures.")
        if not entries:
            raise SqsError("EmptyBatchRequest", "There should be at least one batch request "
                           "entry in the request.")
        if len(entries) > 10:
            raise SqsError("TooManyEntriesInBatchRequest", f"Maximum number of entries per "
                           f"request are 10. You have sent {len(entries)}.")
        ids = [_string(e, "Id", required=True) for e in entries]
        if len(set(ids)) != len(ids):
            raise SqsError("BatchEntryIdsNotDistinct", "Id " + next(
                i for i in ids if ids.count(i) > 1) + " repeated.")
        for i in ids:
            if not _BATCH_ID.fullmatch(i):
                raise SqsError("InvalidBatchEntryId", "A batch entry id can only contain "
                               "alphanumeric characters, hyphens and underscores. It can be at "
                               "most 80 letters long.")
        ok, failed = [], []
        with self.cond:
            q = self._queue(p)
            for e in entries:
                try:
                    each(q, e)
                    ok.append({"Id": e["Id"]})
                except SqsError as err:
                    failed.append({"Id": e["Id"], "SenderFault": True,
                                   "Code": err.query_code, "Message": err.message})
        return {"Successful": ok, "Failed": failed}

    def op_DeleteMessageBatch(self, p, principal):
        return self._batch(p, lambda q, e: self._delete(
            q, _string(e, "ReceiptHandle", required=True)))

    def op_ChangeMessageVisibilityBatch(self, p, principal):
        return self._batch(p, lambda q, e: self._change(
            q, _string(e, "ReceiptHandle", required=True),
            _int(e, "VisibilityTimeout", 0, 43200, None, required=True)))


_KNOWN_UNIMPLEMENTED = {"ListQueues", "DeleteQueue", "PurgeQueue", "GetQueueAttributes",
                        "SetQueueAttributes", "SendMessageBatch", "TagQueue", "ListQueueTags"}


def _new_handle(msg_id):
    # Opaque like SQS's (base64 of an encrypted blob); unique per receive.
    return base64.b64encode(msg_id.encode() + b"#" + os.urandom(24)).decode()


def missing(name):
    return SqsError("MissingParameter", f"The request must contain the parameter {name}.",
                    query_code="MissingParameter")


def _string(p, name, required=False):
    v = p.get(name)
    if v is None:
        if required:
            raise missing(name)
        return None
    if not isinstance(v, str):
        raise SqsError("SerializationException", f"{name}: expected a string")
    return v


def _strings(p, name):
    v = p.get(name) or []
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise SqsError("SerializationException", f"{name}: expected a list of strings")
    return v


def _int(p, name, lo, hi, default, reason=None, required=False):
    v = p.get(name)
    if v is None:
        if required:
            raise missing(name)
        return default
    if isinstance(v, bool) or not isinstance(v, int):
        raise SqsError("SerializationException", f"{name}: expected an integer, got {v!r}")
    if not lo <= v <= hi:
        raise invalid(name, v, reason or f"Must be between {lo} and {hi}.")
    return v
