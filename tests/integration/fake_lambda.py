"""A fake AWS Lambda Invoke endpoint (PROTOCOLS.md §5, SigV4 §6.1), as strict as AWS where
sluice can get it wrong.

    with FakeLambda(functions={"thumbnail": {"aliases": ["live"], "versions": ["1", "2"]}}) as fake:
        r = invoke(fake.url, "thumbnail:live", b'{"k": 1}')         # 200, the handler's bytes
        r = invoke(fake.url, fake.arn("thumbnail"), b"{}", invocation_type="Event")   # 202
        fake.throttle(seconds=5, retry_after=2); fake.function_error(1); fake.fail_next(500)
        fake.invocations[-1]["status"]; fake.retry_after_violations()

Test controls: throttle(seconds | until=monotonic | count=n, retry_after, reason), unthrottle,
function_error(n, kind, error_type, message), fail_next(status, count, error_type, body,
message), drop_next(count) (no answer), `delay` (seconds before every answer), add_function.
Observability: invocations (one dict per request to the Invoke path: function (bare name),
qualifier, invocation_type, payload, headers (lower-case), time (monotonic, arrival), status
(None when dropped), request_id, executed_version, function_error, error_type,
raw_function), throttled ({"time", "function", "payload", "retry_after"} per 429),
requests (every request as a dict), successful(), wait_invocations(n),
retry_after_violations(), wait_until. Answers go out in one write with TCP_NODELAY.

Faithful (botocore's model botocore/data/lambda/2015-03-31/service-2.json, rest-json):
- `POST /2015-03-31/functions/{FunctionName}/invocations[?Qualifier=Q]`, SigV4 (service
  "lambda", the fake's region) checked with aws_sigv4.verify: the non-S3 canonical URI
  normalises the path as sent and encodes it again, so botocore's `%3A` in an ARN signs as
  `%253A`. Every auth failure is 403 with a JSON `{"message"}` body and `x-amzn-ErrorType`:
  MissingAuthenticationTokenException (no Authorization), IncompleteSignatureException
  (malformed header, bad or missing X-Amz-Date), UnrecognizedClientException (unknown key or
  session token), InvalidSignatureException (scope, clock skew > 15 min with the "Signature
  expired" text, host unsigned, signature mismatch with the canonical request and string to
  sign in the message). These coral errors carry the coral suffix in the header, as AWS
  sends it: `InvalidSignatureException:http://internal.amazon.com/coral/com.amazon.coral.service/`
  (clients keep the part before ':'; see error_code()); Lambda's own errors do not.
- FunctionName (URL-decoded path segment): name, name:qualifier, partial ARN
  `ACCOUNT:function:name[:q]`, full ARN `arn:aws:lambda:REGION:ACCOUNT:function:name[:q]`,
  checked against the model's pattern and 256 characters (else 400 ValidationException). An
  ARN of another region → 404 ResourceNotFoundException "Functions from 'R' are not reachable
  in this region ('us-east-1')" (the text AWS sends); of another account → 403
  AccessDeniedException (IAM: no resource policy lets the caller in). Unknown function or
  qualifier → 404 ResourceNotFoundException `{"Type":"User","Message":"Function not found:
  arn:…"}` (`Message` capitalised, as the model's shape); a qualifier in the name and a
  different `?Qualifier=` → 400 InvalidParameterValueException "The derived qualifier from
  the function name does not match the specified qualifier.". Qualifiers: `$LATEST`, a
  version, an alias (runs the alias's version).
- X-Amz-Invocation-Type Event → 202 empty body; RequestResponse (also when absent) → 200 with
  the handler's bytes and X-Amz-Executed-Version; DryRun → 204 (no body, no Content-Length).
  Payload over 1,048,576 bytes (Event) or 6,291,456 (RequestResponse, DryRun) → 413
  RequestTooLargeException. X-Amz-Log-Type Tail on a sync call → X-Amz-Log-Result (base64).
- Throttling → 429 TooManyRequestsException, `Retry-After`, body
  `{"Reason":"CallerRateLimitExceeded","Type":"User","message":"Rate exceeded"}`.
- Function errors → 200 with `X-Amz-Function-Error: Unhandled|Handled` and
  `{"errorMessage","errorType","stackTrace"}` (also when a handler raises).
- Every answer has `x-amzn-RequestId` (a uuid4); JSON bodies `Content-Type: application/json`.

Simplified / our choices: one account and region; functions exist from construction (no
CreateFunction), aliases given as a list point at the highest version (or $LATEST);
Event invocations run the handler at once in the request thread (errors ignored), no retries,
no DLQ; no X-Amz-Client-Context checks; an invalid X-Amz-Invocation-Type or X-Amz-Log-Type →
400 InvalidParameterValueException [guess: AWS may say ValidationException]; the checks run
in a fixed order (auth, name/qualifier syntax, invocation type, size, throttle,
region/account, function, qualifier); only the Invoke operation exists (any other path or
method → 404 UnknownOperationException, after auth). Throttles are per fake, not per
function. [guess] Every auth failure is 403 (AWS documents IncompleteSignature as 400 for
some services); the 413 text "Request must be smaller than N bytes for the InvokeFunction
operation" is used for both limits; the AccessDeniedException text; X-Amz-Executed-Version
is sent on 200 answers only.
"""
import base64
import hashlib
import json
import re
import threading
import time
import traceback
import urllib.parse
import uuid

import aws_sigv4
from loopback_server import LoopbackHandler, LoopbackServer, read_chunked

MAX_EVENT_PAYLOAD = 1024 * 1024          # 1,048,576 bytes (model doc since 2025-10-28)
MAX_SYNC_PAYLOAD = 6 * 1024 * 1024       # 6,291,456 bytes
INVOCATION_TYPES = ("Event", "RequestResponse", "DryRun")
LOG_TYPES = ("None", "Tail")
CORAL = ":http://internal.amazon.com/coral/com.amazon.coral.service/"
_INVOKE_PATH = re.compile(r"/2015-03-31/functions/([^/]+)/invocations")
_NAME = re.compile(r"(arn:(aws[a-zA-Z-]*)?:lambda:)?"
                   r"(?P<region>[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
                   r"(?P<account>\d{12}:)?(function:)?(?P<name>[a-zA-Z0-9-_\.]+)"
                   r"(:(?P<qualifier>\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?")
_NAME_PATTERN_TEXT = ("(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-"
                      "\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST(\\."
                      "PUBLISHED)?|[a-zA-Z0-9-_]+))?")
_QUALIFIER = re.compile(r"[a-zA-Z0-9$_-]*")


class LambdaError(Exception):
    """An error answer: status, error type (x-amzn-ErrorType), JSON body members."""

    def __init__(self, status, error_type, members, headers=None, coral=False):
        super().__init__(f"{status} {error_type}")
        self.status, self.error_type, self.members = status, error_type, members
        self.headers, self.coral = headers or {}, coral

    def render(self):
        hdrs = {"x-amzn-ErrorType": self.error_type + (CORAL if self.coral else ""),
                "Content-Type": "application/json"}
        hdrs.update(self.headers)
        return self.status, hdrs, _compact(self.members)


def _compact(value):
    return json.dumps(value, separators=(",", ":")).encode()


def _user(status, error_type, message, key="message"):
    return LambdaError(status, error_type, {"Type": "User", key: message})


def _validation(value, member, constraint):
    return LambdaError(400, "ValidationException", {"message": (
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
        f"constraint: {constraint}")})


def _invalid(message):
    return _user(400, "InvalidParameterValueException", message)


def auth_error(e):
    """aws_sigv4.AuthError → LambdaError (403) as AWS's front end words it."""
    kind = e.kind
    if kind == "missing_auth":
        return LambdaError(403, "MissingAuthenticationTokenException",
                           {"message": "Missing Authentication Token"}, coral=True)
    if kind in ("unknown_key", "missing_token", "bad_token"):
        return LambdaError(403, "UnrecognizedClientException",
                           {"message": "The security token included in the request is "
                                       "invalid."}, coral=True)
    if kind in ("malformed", "unsupported", "missing_date", "bad_date", "scope_date"):
        return LambdaError(403, "IncompleteSignatureException", {"message": e.message},
                           coral=True)
    if kind == "scope_region":
        message = "Credential should be scoped to a valid region. "
    elif kind == "scope_service":
        message = "Credential should be scoped to correct service: 'lambda'. "
    elif kind == "skewed":
        req, srv = e.extra["RequestTime"], e.extra["ServerTime"]
        t_req, t_srv = aws_sigv4.parse_amz_date(req), aws_sigv4.parse_amz_date(srv)
        if t_req < t_srv:
            message = (f"Signature expired: {req} is now earlier than "
                       f"{aws_sigv4.amz_date(t_srv - aws_sigv4.MAX_SKEW_S)} ({srv} - 15 min.)")
        else:
            message = (f"Signature not yet current: {req} is still later than "
                       f"{aws_sigv4.amz_date(t_srv + aws_sigv4.MAX_SKEW_S)} ({srv} + 15 min.)")
    elif kind == "signature":
        message = ("The request signature we calculated does not match the signature you "
                   "provided. Check your AWS Secret Access Key and signing method. Consult the "
                   "service documentation for details.\n\nThe Canonical String for this "
                   f"request should have been\n'{e.extra['CanonicalRequest']}'\n\nThe "
                   f"String-to-Sign should have been\n'{e.extra['StringToSign']}'\n")
    else:
        message = e.message
    return LambdaError(403, "InvalidSignatureException", {"message": message}, coral=True)


class Function:
    def __init__(self, name, versions=(), aliases=(), handler=None):
        self.name = name
        self.versions = [str(v) for v in versions]
        if isinstance(aliases, dict):
            self.aliases = {a: str(v) for a, v in aliases.items()}
        else:
            top = max(self.versions, key=lambda v: int(v) if v.isdigit() else -1,
                      default="$LATEST")
            self.aliases = {a: top for a in aliases}
        self.handler = handler or self._default_handler

    def _default_handler(self, payload):
        try:
            echo = json.loads(payload)
        except ValueError:
            echo = payload.decode("utf-8", "replace")
        return _compact({"ok": True, "function": self.name, "size": len(payload),
                         "sha256": hashlib.sha256(payload).hexdigest(), "echo": echo})

    def resolve(self, qualifier):
        """The version a qualifier runs, None when unknown."""
        if qualifier in (None, "$LATEST"):
            return "$LATEST"
        if qualifier in self.versions:
            return qualifier
        return self.aliases.get(qualifier)


class FakeLambda(LoopbackServer):
    poll_interval = wait_step = 0.05

    def __init__(self, region="us-east-1", account="123456789012", credentials=None,
                 functions=None, delay=0.0, host="127.0.0.1", port=0, clock=time.time):
        """`credentials`: {access key: secret or (secret, session token)} (default
        {"AKIDEXAMPLE": "secret"}); `functions`: {name: {"aliases": [..] or {alias: version},
        "versions": [..], "handler": fn(payload bytes) → bytes}}; `delay`: seconds added
        before every answer (an attribute); `clock`: wall time for the SigV4 skew check."""
        self.region, self.account = region, account
        self.credentials = dict(credentials if credentials is not None
                                else {"AKIDEXAMPLE": "secret"})
        self.delay, self.clock = delay, clock
        self.host, self._want_port, self.port = host, port, None
        self._cond = threading.Condition(threading.RLock())
        self.functions = {}
        for name, spec in (functions or {}).items():
            self.add_function(name, **(spec or {}))
        self.requests = []        # aws_sigv4-style RecordedRequest-like dicts of every request
        self.invocations = []     # one dict per request to the Invoke path (see _new_invocation)
        self.throttled = []       # {"time", "function", "payload", "retry_after"} per 429
        self._throttle = None
        self._function_errors = []
        self._faults = []
        self._init_loopback()

    def start(self):
        return self._serve_on(_Handler)

    # -- set-up and control ------------------------------------------------------------------
    def add_function(self, name, aliases=(), versions=(), handler=None):
        with self._cond:
            self.functions[name] = Function(name, versions, aliases, handler)

    def arn(self, name, qualifier=None):
        base = f"arn:aws:lambda:{self.region}:{self.account}:function:{name}"
        return base + (f":{qualifier}" if qualifier else "")

    def throttle(self, seconds=None, retry_after=2, until=None, count=None,
                 reason="CallerRateLimitExceeded"):
        """Answers invocations with 429 (Retry-After: `retry_after`) for `seconds` from now,
        or until time.monotonic() reaches `until`, or for the next `count` invocations."""
        if seconds is None and until is None and count is None:
            raise ValueError("give seconds, until or count")
        if seconds is not None:
            until = time.monotonic() + seconds
        with self._cond:
            self._throttle = {"until": until, "count": count, "retry_after": retry_after,
                              "reason": reason}

    def unthrottle(self):
        with self._cond:
            self._throttle = None

    def function_error(self, n=1, kind="Unhandled", error_type="RuntimeError",
                       message="function failed on purpose"):
        """The next `n` RequestResponse invocations answer 200 with X-Amz-Function-Error."""
        with self._cond:
            self._function_errors += [(kind, error_type, message)] * n

    def fail_next(self, status, count=1, error_type=None, body=None, message=None):
        """The next `count` requests get `status` before anything else is looked at. Without
        `body`, a JSON error of `error_type` (default by status: 500 ServiceException, 502
        ResourceNotReadyException, 429 TooManyRequestsException, else ServiceException)."""
        self._add_fault("fail", count, status=status, error_type=error_type, body=body,
                        message=message)

    def drop_next(self, count=1):
        """The next `count` requests get no answer at all: the connection is closed."""
        self._add_fault("drop", count)

    # -- inspection --------------------------------------------------------------------------
    def successful(self, function=None):
        """Invocations answered 200/202/204 without a function error."""
        with self._cond:
            return [i for i in self.invocations if i["status"] in (200, 202, 204)
                    and not i["function_error"]
                    and (function is None or i["function"] == function)]

    def wait_invocations(self, n, timeout=10.0, ok_only=True):
        """Waits until `n` invocations were answered (successful ones with ok_only)."""
        def count():
            if ok_only:
                return len(self.successful())
            return sum(1 for i in self.invocations if i["status"] is not None)
        self.wait_until(lambda: count() >= n, timeout)
        return count()

    def retry_after_violations(self):
        """[(throttle record, invocation)] where an invocation of a throttled payload (same
        function and bytes) succeeded before that 429's Retry-After had passed."""
        with self._cond:
            return [(t, i) for t in self.throttled for i in self.successful()
                    if i["function"] == t["function"] and i["payload"] == t["payload"]
                    and t["time"] <= i["time"] < t["time"] + t["retry_after"]]

    # -- request entry -----------------------------------------------------------------------
    def _new_invocation(self, rec):
        return {"function": None, "qualifier": None, "invocation_type": None,
                "payload": rec["body"], "headers": rec["headers"], "time": rec["time"],
                "status": None, "request_id": rec["request_id"], "executed_version": None,
                "function_error": None, "error_type": None, "raw_function": None}

    def _dispatch(self, rec):
        """(status, headers, body) or None (drop the connection)."""
        inv = None
        with self._cond:
            self.requests.append(rec)
            m = _INVOKE_PATH.fullmatch(rec["path"])
            if m and rec["method"] == "POST":
                inv = self._new_invocation(rec)
                self.invocations.append(inv)
            self._cond.notify_all()
        fail, drop = self._take_faults_where(lambda f: True)
        if drop:
            return self._done(rec, inv, None)
        try:
            if fail:
                raise self._fault_error(fail)
            answer = self._invoke(rec, inv, m)
        except LambdaError as e:
            answer = e.render()
            if inv is not None:
                inv["error_type"] = e.error_type
        except Exception as e:  # noqa: BLE001 - a bug or a test's callback: say so loudly
            traceback.print_exc()
            answer = LambdaError(500, "ServiceException", {"Type": "Service",
                                                           "Message": f"fake_lambda: {e!r}"}
                                 ).render()
        if self.delay and self._stopping.wait(self.delay):
            return self._done(rec, inv, None)
        status, headers, body = answer
        headers = {"x-amzn-RequestId": rec["request_id"], **headers}
        return self._done(rec, inv, (status, headers, body))

    def _take_faults_where(self, applies):
        with self._cond:
            fail = drop = None
            for f in self._faults:
                if f["left"] > 0 and fail is None and drop is None:
                    f["left"] -= 1
                    fail, drop = (f, None) if f["kind"] == "fail" else (None, f)
            self._faults = [f for f in self._faults if f["left"] > 0]
            return fail, drop

    @staticmethod
    def _fault_error(f):
        status = f["status"]
        if f["body"] is not None:
            hdrs = {"x-amzn-ErrorType": f["error_type"]} if f["error_type"] else {}
            return _RawReply(status, hdrs, f["body"])
        etype = f["error_type"] or {502: "ResourceNotReadyException",
                                    429: "TooManyRequestsException"}.get(status,
                                                                         "ServiceException")
        key = "Message" if etype == "ServiceException" else "message"
        kind = "Service" if status >= 500 else "User"
        return LambdaError(status, etype, {"Type": kind, key: f["message"] or
                                           f"injected failure {status}"})

    def _done(self, rec, inv, answer):
        with self._cond:
            rec["status"] = answer[0] if answer else None
            if inv is not None:
                inv["status"] = rec["status"]
            self._cond.notify_all()
        return answer

    def _invoke(self, rec, inv, m):
        try:
            aws_sigv4.verify(rec["method"], rec["path"], rec["query"], rec["header_list"],
                             rec["body"], self.credentials, self.region, "lambda",
                             now=self.clock())
        except aws_sigv4.AuthError as e:
            raise auth_error(e)
        if inv is None:
            raise LambdaError(404, "UnknownOperationException", {"message": None}, coral=True)
        raw_name = urllib.parse.unquote(m.group(1), errors="surrogateescape")
        inv["raw_function"] = raw_name
        fn_name, name_q, region, account = self._parse_name(raw_name)
        query = urllib.parse.parse_qs(rec["query"], keep_blank_values=True)
        query_q = query.get("Qualifier", [None])[-1]
        if query_q is not None and (len(query_q) > 128 or not _QUALIFIER.fullmatch(query_q)):
            raise _validation(query_q, "qualifier", "Member must satisfy regular expression "
                                                    "pattern: (|[a-zA-Z0-9$_-]+)")
        query_q = query_q or None
        if name_q and query_q and name_q != query_q:
            raise _invalid("The derived qualifier from the function name does not match the "
                           "specified qualifier.")
        qualifier = name_q or query_q
        inv["function"], inv["qualifier"] = fn_name, qualifier
        itype = rec["headers"].get("x-amz-invocation-type", "RequestResponse")
        inv["invocation_type"] = itype
        if itype not in INVOCATION_TYPES:
            raise _invalid(f"1 validation error detected: Value '{itype}' at 'invocationType' "
                           "failed to satisfy constraint: Member must satisfy enum value set: "
                           "[Event, RequestResponse, DryRun]")
        log_type = rec["headers"].get("x-amz-log-type", "None")
        if log_type not in LOG_TYPES:
            raise _invalid(f"1 validation error detected: Value '{log_type}' at 'logType' "
                           "failed to satisfy constraint: Member must satisfy enum value set: "
                           "[None, Tail]")
        limit = MAX_EVENT_PAYLOAD if itype == "Event" else MAX_SYNC_PAYLOAD
        if len(rec["body"]) > limit:
            raise _user(413, "RequestTooLargeException", f"Request must be smaller than "
                        f"{limit} bytes for the InvokeFunction operation")
        self._check_throttle(fn_name, rec["body"])
        if region and region != self.region:
            raise _user(404, "ResourceNotFoundException", f"Functions from '{region}' are not "
                        f"reachable in this region ('{self.region}')", key="Message")
        if account and account != self.account:
            raise LambdaError(403, "AccessDeniedException", {"Message": (
                f"User: arn:aws:iam::{self.account}:user/caller is not authorized to perform: "
                f"lambda:InvokeFunction on resource: arn:aws:lambda:{self.region}:{account}:"
                f"function:{fn_name} because no resource-based policy allows the "
                "lambda:InvokeFunction action")})
        with self._cond:
            fn = self.functions.get(fn_name)
        version = fn.resolve(qualifier) if fn else None
        if version is None:
            raise _user(404, "ResourceNotFoundException",
                        f"Function not found: {self.arn(fn_name, qualifier)}", key="Message")
        inv["executed_version"] = version
        if itype == "DryRun":
            return 204, {}, b""
        if itype == "Event":
            try:
                fn.handler(rec["body"])
            except Exception:  # noqa: BLE001 - Lambda would retry; the fake forgets it
                pass
            return 202, {}, b""
        headers = {"X-Amz-Executed-Version": version, "Content-Type": "application/json"}
        if log_type == "Tail":
            rid = rec["request_id"]
            log = (f"START RequestId: {rid} Version: {version}\nEND RequestId: {rid}\n"
                   f"REPORT RequestId: {rid}\tDuration: 1.00 ms\n")
            headers["X-Amz-Log-Result"] = base64.b64encode(log.encode()).decode()
        with self._cond:
            error = self._function_errors.pop(0) if self._function_errors else None
        if error is None:
            try:
                return 200, headers, bytes(fn.handler(rec["body"]))
            except Exception as e:  # noqa: BLE001 - an unhandled error in the function
                error = ("Unhandled", type(e).__name__, str(e))
        kind, etype, message = error
        inv["function_error"] = kind
        headers["X-Amz-Function-Error"] = kind
        return 200, headers, _compact({"errorMessage": message, "errorType": etype,
                                       "stackTrace": [f'  File "/var/task/handler.py", line 3,'
                                                      f' in handler\n    raise {etype}()\n']})

    def _parse_name(self, raw):
        """(name, qualifier, region, account) of a FunctionName, or ValidationException."""
        m = _NAME.fullmatch(raw) if len(raw) <= 256 else None
        if m is None:
            constraint = ("Member must have length less than or equal to 256" if len(raw) > 256
                          else f"Member must satisfy regular expression pattern: "
                               f"{_NAME_PATTERN_TEXT}")
            raise _validation(raw, "functionName", constraint)
        region = (m.group("region") or "").rstrip(":") or None
        account = (m.group("account") or "").rstrip(":") or None
        return m.group("name"), m.group("qualifier"), region, account

    def _check_throttle(self, fn_name, payload):
        with self._cond:
            th = self._throttle
            if th is None:
                return
            if th["count"] is not None:
                if th["count"] <= 0:
                    return
                th["count"] -= 1
            elif time.monotonic() >= th["until"]:
                return
            self.throttled.append({"time": time.monotonic(), "function": fn_name,
                                   "payload": payload, "retry_after": th["retry_after"]})
        ra = th["retry_after"]
        ra = str(int(ra)) if float(ra).is_integer() else str(ra)
        raise LambdaError(429, "TooManyRequestsException",
                          {"Reason": th["reason"], "Type": "User", "message": "Rate exceeded"},
                          headers={"Retry-After": ra})


class _RawReply(LambdaError):
    def __init__(self, status, headers, body):
        super().__init__(status, headers.get("x-amzn-ErrorType"), None, headers)
        self.body = body

    def render(self):
        return self.status, dict(self.headers), self.body


class _Handler(LoopbackHandler):
    def _handle(self):
        raw_path, raw_query, headers = self._raw_target()
        try:
            if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                body = read_chunked(self.rfile)
            else:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length > 0 else b""
                if len(body) != max(length, 0):
                    raise ValueError("short body")
        except ValueError:
            self.close_connection = True
            return self._answer(400, {"Connection": "close"}, b"bad request body\n")
        hdict = {}
        for n, v in headers:
            hdict.setdefault(n.lower(), v)
        rec = {"method": self.command, "path": raw_path, "query": raw_query,
               "header_list": headers, "headers": hdict, "body": body,
               "time": time.monotonic(), "request_id": str(uuid.uuid4()), "status": None}
        reply = self.server.fake._dispatch(rec)
        if reply is None:
            self.close_connection = True
            return None
        return self._answer(*reply)

    no_length_statuses = (204, 304)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _handle


# -- a small signing client for tests ----------------------------------------------------------
class LambdaClient(aws_sigv4._Client):
    """Signed Invoke requests as botocore sends them (FunctionName percent-encoded with only
    '-._~' safe, the payload without Content-Type)."""
    service = "lambda"

    @staticmethod
    def path(function):
        return f"/2015-03-31/functions/{aws_sigv4.uri_encode(function)}/invocations"

    def invoke(self, function, payload=b"", invocation_type=None, qualifier=None,
               log_type=None, headers=(), **kw):
        """kw: aws_sigv4._Client.request options (when, tamper, sign_it)."""
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        hdrs = list(headers)
        if invocation_type is not None:
            hdrs.append(("X-Amz-Invocation-Type", invocation_type))
        if log_type is not None:
            hdrs.append(("X-Amz-Log-Type", log_type))
        query = "" if qualifier is None else f"Qualifier={aws_sigv4.uri_encode(qualifier)}"
        return self.request("POST", self.path(function), query, headers=hdrs, body=payload,
                            **kw)


def invoke(url, function, payload=b"", access_key="AKIDEXAMPLE", secret="secret",
           region="us-east-1", invocation_type=None, qualifier=None, token=None, **kw):
    """One signed Invoke on a new connection → aws_sigv4.Response (status, headers with
    lower-case names, body, json())."""
    return LambdaClient(url, access_key, secret, region, token).invoke(
        function, payload, invocation_type, qualifier, **kw)


def error_code(resp_headers):
    """The error code of an answer as botocore reads it (x-amzn-ErrorType before ':')."""
    value = {k.lower(): v for k, v in resp_headers.items()}.get("x-amzn-errortype")
    return value.split(":")[0] if value else None

