"""A fake OSCAR Manager: the async (`POST /job/{svc}`) and sync (`POST /run/{svc}`) invocation
endpoints and the job tracking sluice uses after an invocation (COMPAT.md §3.2, §3.7), as
strict as OSCAR where sluice can get it wrong.

    with FakeOscar(services={"grayify": {}}, users={"oscar": "pw"}, oidc_tokens={"eyJ"}) as fake:
        tok = fake.service_token("grayify")
        c = OscarClient(fake.url)                                # oscar_client.py
        c.job("grayify", b'{"Records": []}', token=tok)          # 201, empty body
        c.job("grayify", b"x", token=tok, job_id="sluice-0001")  # name chosen by the client
        c.logs("grayify", basic=("oscar", "pw")).json()          # {"jobs": {...}, ...}
        fake.fail_next("/job/", 503); fake.fail_jobs(1); fake.rotate_token("grayify")

Test controls: fail_next(prefix, status, count, body), drop_next(prefix, count, after) (no
answer; with `after` the job is created first), `delay` (seconds before every answer),
rotate_token, fail_jobs, set_outcome, finish, set_run_output, set_logs, add_service.
Observability: jobs(svc), job(name), wait_jobs(n), runs, requests (Request objects),
counters (Counter: "<endpoint>", "<endpoint>:<status or dropped>", "jobs_created"; endpoints
job, run, logs, job_logs, delete_logs, delete_job, service, health, unknown), wait_until.
Answers go out in one write with TCP_NODELAY (no Nagle/delayed-ACK stalls on keep-alive).

Faithful (read in grycap/oscar master 7ade09e of 2026-06: main.go, pkg/handlers/job.go, run.go,
logs.go, read.go, health.go, pkg/types/jobinfo.go, pkg/utils/auth/*.go):
- `POST /job/{svc}` and `POST /run/{svc}` take only `Authorization: Bearer <token>` (Basic or
  anything else → 401). The token is TrimSpace'd; length 64 → compared with the token of the
  service of that name (wrong, or no such service → 401: OSCAR lists the services by name
  first and finds none, so the token matches nothing); any other length → an OIDC token
  (accepted when in `oidc_tokens`), then an unknown service → 404. /job answers an OIDC token
  it does not accept with 401, /run with 404 (run.go: `!IsAuthorised → 404`).
- /job: body stored verbatim (any bytes); `X-Delegated-Job-ID` (non-empty) is the Job name,
  otherwise `<svc, cut to 16 chars when len >= 25>-<uuid4>`; the Job gets env EVENT=<body>,
  JOB_UUID=<name>; success is 201 with an empty body (the name is not returned). A Job name
  that exists already → 500 `jobs.batch "NAME" already exists` (Kubernetes AlreadyExists, as
  OSCAR passes err.Error() on); an invalid name → 500 with Kubernetes' "is invalid" text.
- Status and error bodies as gin writes them: c.Status(...) → empty body (401, 404, 201),
  c.String → text/plain; charset=utf-8, c.JSON → compact JSON, application/json;
  charset=utf-8. Unknown routes → 404 "404 page not found".
- `/system/*` (group middleware): `Authorization: Bearer …` is OIDC only (a service token →
  401), anything else Basic (`users`); failures → 401 (Basic adds
  `WWW-Authenticate: Basic realm="Authorization Required"`, gin.BasicAuth). Then the service
  must exist (404).
- `GET /system/logs/{svc}` → `{"jobs": {name: {"status", "creation_time", "start_time",
  "finish_time"}}, "next_page", "remaining_jobs"}`: jobs map keys sorted (Go map encoding),
  times RFC 3339 (metav1.Time), absent times omitted, `next_page` / `remaining_jobs` omitted
  on the last page (`omitempty`; Kubernetes leaves RemainingItemCount nil without a continue
  token). `page_size` = JOB_LISTING_LIMIT, `?page=<next_page>` continues; a continue token
  that does not parse → 500 text. `GET /system/logs/{svc}/{job}`: 200 text logs; 404 when
  there is no such job or its container has not started (Pending: GetLogs fails → 404).
  `DELETE /system/logs/{svc}` (only Succeeded jobs; all with `?all=true`) → 204,
  `DELETE /system/logs/{svc}/{job}` → 204 / 404.
- `GET /system/services/{svc}` → 200 JSON service definition (types.Service field names,
  including `token`). `GET /health` → 200 "Ok", no auth.

Simplified:
- One namespace, no Kubernetes: a Job's status moves Pending → Running → Succeeded/Failed by
  reads, not by time, so tests never sleep: each `GET /system/logs/{svc}` page that lists a
  job advances it one step; the `polls_to_finish`-th listing shows it finished (default 2:
  1st read Running, 2nd read final; 0 = finished at creation; None = stays Running after the
  first read until finish()). The outcome comes from fail_jobs(n) (the next n jobs created
  fail) or set_outcome(fn) (default "Succeeded"); finish(name, status) forces any state.
- Jobs are paged in creation order (`page_order="creation"`, default); Kubernetes lists by
  name (`page_order="name"` does that). Every job of the service is listed whoever asks (no
  per-OIDC-user label filter), OIDC visibility/VO/MinIO-user checks are not modelled (an
  accepted OIDC token may do everything), `?owner=` is ignored, no federation/delegation, no
  Kueue, no TTL for finished jobs, no MinIO principal handling of the body.
- Job names must be RFC 1123 *labels* (lower-case alphanumerics and '-', alphanumeric at both
  ends, at most 63 characters): stricter than Kubernetes, which takes a subdomain with dots as
  a Job name (the 63-character limit comes from the job-name pod label) [our choice: sluice
  must send label-safe ids].
- The Authorization header must *start* with "Bearer " (and hold it once); OSCAR splits on
  "Bearer " anywhere [our choice: stricter].
- No trailing-slash redirects (gin answers 301/307); HEAD is 404 like every unknown route.
- `/run` answers with `run_output(body)` (set_run_output; default b"ran:" + sha256 hex of
  the body) as text/plain, instead of proxying to a Knative service.
"""
import base64
import binascii
import collections
import hashlib
import json
import re
import secrets
import threading
import time
import traceback
import urllib.parse
import uuid

from loopback_server import LoopbackHandler, LoopbackServer, read_body

TOKEN_LENGTH = 64
STATUSES = ("Pending", "Running", "Succeeded", "Failed")
FINAL = ("Succeeded", "Failed")
TEXT = "text/plain; charset=utf-8"
JSON = "application/json; charset=utf-8"
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or "
              "'-', and must start and end with an alphanumeric character (e.g. 'my-name',  or "
              "'123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')")


def rfc3339(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def compact(value):
    """JSON as Go's json.Marshal writes it (compact, '<', '>', '&' escaped)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .encode("utf-8"))


def job_name_error(name):
    """None when `name` is a valid Job name here, else the Kubernetes-style error text."""
    problems = []
    if len(name) > 63:
        problems.append("must be no more than 63 characters")
    if not _LABEL.fullmatch(name):
        problems.append(_LABEL_MSG)
    if not problems:
        return None
    quoted = json.dumps(name)
    details = ", ".join(f"metadata.name: Invalid value: {quoted}: {p}" for p in problems)
    return f"Job.batch {quoted} is invalid: [{details}]" if len(problems) > 1 else \
        f"Job.batch {quoted} is invalid: {details}"


# -- state -------------------------------------------------------------------------------------
class Request:
    """One request as received: method, path (raw), query (raw), headers {lower name: value}
    (first value of a repeated header), header_list [(name, value)], body, time (monotonic),
    endpoint ("job", "run", "logs", "job_logs", "delete_logs", "delete_job", "service",
    "health", "unknown"), status (once answered)."""

    def __init__(self, method, path, query, header_list, body):
        self.method, self.path, self.query, self.body = method, path, query, body
        self.header_list = header_list
        self.headers = {}
        for n, v in header_list:
            self.headers.setdefault(n.lower(), v)
        self.time = time.monotonic()
        self.endpoint = self.status = None

    def __repr__(self):
        query = f"?{self.query}" if self.query else ""
        return f"<{self.method} {self.path}{query} → {self.status}>"


class Job:
    """A Kubernetes Job created by POST /job: name, service, body (bytes), headers (lower-case
    dict), env (what the pod gets: EVENT, JOB_UUID), delegated (named by X-Delegated-Job-ID),
    creation_time / start_time / finish_time (epoch seconds or None), created (monotonic),
    status, reads (listings that showed it), forced (final status set by fail_jobs)."""

    def __init__(self, name, service, body, headers, seq, delegated):
        self.name, self.service, self.body, self.headers = name, service, body, headers
        self.seq, self.delegated = seq, delegated
        self.env = {"EVENT": body.decode("utf-8", "replace"), "JOB_UUID": name}
        self.creation_time, self.created = time.time(), time.monotonic()
        self.start_time = self.finish_time = None
        self.status = "Pending"
        self.reads = 0
        self.forced = None

    def info(self):
        out = {"status": self.status, "creation_time": rfc3339(self.creation_time)}
        if self.start_time is not None:
            out["start_time"] = rfc3339(self.start_time)
        if self.finish_time is not None:
            out["finish_time"] = rfc3339(self.finish_time)
        return out

    def __repr__(self):
        return f"<Job {self.name} {self.status}>"


class Reply(Exception):
    """An answer raised from inside a request: status, body (bytes), content type."""

    def __init__(self, status, body=b"", content_type=None, headers=None):
        super().__init__(status)
        self.status, self.body = status, body
        self.content_type, self.headers = content_type, headers or {}


def _text(status, message):
    return Reply(status, message.encode("utf-8"), TEXT)


def service_definition(name, spec, token):
    """The JSON OSCAR returns for a service (types.Service), with `spec` overriding."""
    d = {"name": name, "cluster_id": "oscar-fake", "memory": "256Mi", "cpu": "0.2",
         "total_memory": "", "total_cpu": "", "ephemeral_storage_request": "",
         "enable_gpu": False, "enable_sgx": False, "image_prefetch": False,
         "synchronous": {"min_scale": 0, "max_scale": 0}, "log_level": "INFO",
         "image": "ghcr.io/grycap/cowsay", "alpine": False, "token": token,
         "file_stage_in": False,
         "input": [{"storage_provider": "minio.default", "path": f"{name}/in"}],
         "output": [{"storage_provider": "minio.default", "path": f"{name}/out"}],
         "script": "#!/bin/sh\necho \"$EVENT\"\n", "expose": {"min_scale": 1, "max_scale": 10,
                                                            "cpu_threshold": 80},
         "environment": {"variables": None, "secrets": None}, "annotations": None, "vo": "",
         "labels": {"oscar_service": name}, "owner": "cluster_admin",
         "interlink_node_name": "", "visibility": "private", "allowed_users": None,
         "isolation_level": "", "bucket_list": None,
         "mount": {"storage_provider": "", "path": ""}}
    d.update({k: v for k, v in spec.items() if k != "token"})
    d["token"] = token
    return d


class FakeOscar(LoopbackServer):
    poll_interval = wait_step = 0.05

    def __init__(self, services=None, users=None, oidc_tokens=None, page_size=50, delay=0.0,
                 polls_to_finish=2, page_order="creation", host="127.0.0.1", port=0):
        """`services`: {name: definition overrides, optionally "token": 64 hex chars (random
        when absent)}; `users`: {name: password} for Basic on /system/* (default
        {"oscar": "oscar"}); `oidc_tokens`: accepted OIDC bearer tokens (their length must not
        be 64); `page_size`: jobs per /system/logs page (0 = all); `delay`: seconds added
        before every answer (an attribute, may change at any time)."""
        self.host, self._want_port, self.port = host, port, None
        self.users = dict(users if users is not None else {"oscar": "oscar"})
        self.oidc_tokens = set(oidc_tokens or ())
        for t in self.oidc_tokens:
            if len(t) == TOKEN_LENGTH:
                raise ValueError(f"an OIDC token of length {TOKEN_LENGTH} reads as a service "
                                 "token in OSCAR")
        if page_order not in ("creation", "name"):
            raise ValueError("page_order must be 'creation' or 'name'")
        self.page_size, self.delay, self.polls_to_finish = page_size, delay, polls_to_finish
        self.page_order = page_order
        self._cond = threading.Condition(threading.RLock())
        self._services, self._tokens = {}, {}
        for name, spec in (services or {}).items():
            self.add_service(name, **(spec or {}))
        self.requests = []
        self.runs = []                  # [(service, body, headers dict)] of answered /run calls
        self.counters = collections.Counter()
        self._jobs = {}                 # name → Job, creation order
        self._seq = 0
        self._fail_jobs = 0
        self._outcome = lambda job: "Succeeded"
        self._run_output = lambda body: b"ran:" + hashlib.sha256(body).hexdigest().encode()
        self._logs = lambda job: job.env["EVENT"] + "\n"
        self._faults = []
        self._init_loopback()

    def start(self):
        return self._serve_on(_Handler)

    # -- services ----------------------------------------------------------------------------
    def add_service(self, name, **spec):
        token = spec.get("token") or secrets.token_hex(TOKEN_LENGTH // 2)
        if len(token) != TOKEN_LENGTH:
            raise ValueError(f"a service token has {TOKEN_LENGTH} characters")
        with self._cond:
            self._services[name] = dict(spec)
            self._tokens[name] = token
        return token

    def service_token(self, name):
        with self._cond:
            return self._tokens[name]

    def rotate_token(self, name):
        """Gives service `name` a new random token (returned); the old one stops working."""
        with self._cond:
            if name not in self._tokens:
                raise KeyError(name)
            self._tokens[name] = secrets.token_hex(TOKEN_LENGTH // 2)
            return self._tokens[name]

    def service(self, name):
        """The definition GET /system/services/{name} returns (a dict), or None."""
        with self._cond:
            if name not in self._services:
                return None
            return service_definition(name, self._services[name], self._tokens[name])

    # -- jobs: inspection and control --------------------------------------------------------
    def jobs(self, svc=None):
        """The Jobs (creation order), of service `svc` only when given."""
        with self._cond:
            return [j for j in self._jobs.values() if svc is None or j.service == svc]

    def job(self, name):
        with self._cond:
            return self._jobs.get(name)

    def wait_jobs(self, n, svc=None, timeout=10.0):
        """Waits until at least `n` jobs exist (of `svc` when given); returns the jobs."""
        self.wait_until(lambda: len(self.jobs(svc)) >= n, timeout)
        return self.jobs(svc)

    def set_outcome(self, fn):
        """fn(job) → "Succeeded" or "Failed", asked when a job finishes (not for forced ones)."""
        with self._cond:
            self._outcome = fn

    def fail_jobs(self, n):
        """The next `n` jobs created end Failed."""
        with self._cond:
            self._fail_jobs += n

    def finish(self, name, status="Succeeded"):
        """Forces job `name` into `status` (any of STATUSES). Its progress restarts from
        there: Pending counts as never read, Running as read once."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        with self._cond:
            job = self._jobs[name]
            self._set_status(job, status)
            if status in ("Pending", "Running"):
                job.reads = 0 if status == "Pending" else 1
            self._cond.notify_all()

    def set_run_output(self, fn):
        """fn(body bytes) → bytes (200) or (status, bytes): the answer of POST /run."""
        with self._cond:
            self._run_output = fn

    def set_logs(self, fn):
        """fn(job) → str: the text of GET /system/logs/{svc}/{job} (default: EVENT + '\\n')."""
        with self._cond:
            self._logs = fn

    def _set_status(self, job, status):
        now = time.time()
        if status == "Pending":
            job.start_time = job.finish_time = None
        else:
            job.start_time = job.start_time or now
            job.finish_time = now if status in FINAL else None
        job.status = status

    def _advance(self, job):
        """One listing read of `job` (under the lock)."""
        job.reads += 1
        if job.status in FINAL:
            return
        if self.polls_to_finish is not None and job.reads >= self.polls_to_finish:
            self._finish_job(job)
        else:
            self._set_status(job, "Running")

    def _finish_job(self, job):
        status = job.forced or self._outcome(job)
        if status not in FINAL:
            raise ValueError(f"an outcome is one of {FINAL}, not {status!r}")
        self._set_status(job, status)

    # -- faults ------------------------------------------------------------------------------
    def fail_next(self, path_prefix, status, count=1, body=b""):
        """The next `count` requests whose path starts with `path_prefix` get `status` with
        `body` (text/plain) and do nothing else."""
        self._add_fault("fail", count, prefix=path_prefix, status=status, body=body)

    def drop_next(self, path_prefix, count=1, after=False):
        """The next `count` such requests get no answer: the connection is closed. With
        `after`, the request is carried out first (a job is created) and the answer lost."""
        self._add_fault("drop", count, prefix=path_prefix, after=after)

    def _take_fault(self, path):
        with self._cond:
            for f in self._faults:
                if f["left"] > 0 and path.startswith(f["prefix"]):
                    f["left"] -= 1
                    self._faults = [g for g in self._faults if g["left"] > 0]
                    return f
        return None

    # -- request entry (handler threads) -----------------------------------------------------
    def _dispatch(self, rec):
        """(status, headers, body), or None to close the connection without an answer."""
        path = urllib.parse.unquote(rec.path)
        parts = path.split("/")[1:]
        rec.endpoint = self._endpoint(rec.method, parts)
        with self._cond:
            self.requests.append(rec)
            self.counters[rec.endpoint] += 1
            self._cond.notify_all()
        fault = self._take_fault(rec.path)
        if fault is not None and fault["kind"] == "fail":
            reply = Reply(fault["status"], fault["body"], TEXT if fault["body"] else None)
        elif fault is not None and not fault["after"]:
            return self._finish_rec(rec, None)
        else:
            try:
                reply = self._route(rec, parts)
            except Reply as r:
                reply = r
            except Exception as e:  # noqa: BLE001 - a test's callback failed: say so loudly
                traceback.print_exc()
                reply = _text(500, f"fake_oscar: {e!r}")
            if fault is not None:   # drop after carrying out
                return self._finish_rec(rec, None)
        if self.delay and self._stopping.wait(self.delay):
            return self._finish_rec(rec, None)
        headers = dict(reply.headers)
        if reply.content_type:
            headers["Content-Type"] = reply.content_type
        return self._finish_rec(rec, (reply.status, headers, reply.body))

    def _finish_rec(self, rec, answer):
        with self._cond:
            rec.status = answer[0] if answer else None
            self.counters[f"{rec.endpoint}:{rec.status or 'dropped'}"] += 1
            self._cond.notify_all()
        return answer

    @staticmethod
    def _endpoint(method, parts):
        n = len(parts)
        if method == "GET" and parts == ["health"]:
            return "health"
        if method == "POST" and n == 2 and parts[0] in ("job", "run") and parts[1]:
            return parts[0]
        if n >= 3 and parts[0] == "system" and all(parts[1:]):
            if parts[1] == "logs" and n in (3, 4) and method in ("GET", "DELETE"):
                return {("GET", 3): "logs", ("GET", 4): "job_logs",
                        ("DELETE", 3): "delete_logs", ("DELETE", 4): "delete_job"}[method, n]
            if parts[1] == "services" and n == 3 and method == "GET":
                return "service"
        return "unknown"

    def _route(self, rec, parts):
        ep = rec.endpoint
        if ep == "health":
            raise _text(200, "Ok")
        if ep == "unknown":
            raise _text(404, "404 page not found")
        if ep in ("job", "run"):
            svc = self._invoke_auth(rec, parts[1], ep)
            return self._create_job(rec, svc) if ep == "job" else self._run(rec, svc)
        self._system_auth(rec)
        svc = parts[2]
        with self._cond:
            if svc not in self._services:
                raise Reply(404)
        if ep == "service":
            raise Reply(200, compact(self.service(svc)), JSON)
        if ep == "logs":
            return self._list_jobs(rec, svc)
        if ep == "delete_logs":
            query = urllib.parse.parse_qs(rec.query)
            everything = query.get("all", ["false"])[-1].lower() in ("1", "t", "true")
            with self._cond:
                for j in self.jobs(svc):
                    if everything or j.status == "Succeeded":
                        del self._jobs[j.name]
            raise Reply(204)
        with self._cond:
            job = self._jobs.get(parts[3])
            if job is None or job.service != svc:
                raise Reply(404)
            if ep == "delete_job":
                del self._jobs[job.name]
                raise Reply(204)
            if job.status == "Pending":
                raise Reply(404)
            raise _text(200, self._logs(job))

    def _invoke_auth(self, rec, svc, ep):
        """The service name for /job and /run, or Reply(401/404)."""
        authz = rec.headers.get("authorization", "")
        if not authz.startswith("Bearer ") or authz.count("Bearer ") != 1:
            raise Reply(401)
        token = authz[len("Bearer "):].strip()
        with self._cond:
            if len(token) == TOKEN_LENGTH:
                if self._tokens.get(svc) != token:
                    raise Reply(401)
                return svc
            if token not in self.oidc_tokens:
                raise Reply(401 if ep == "job" else 404)
            if svc not in self._services:
                raise Reply(404)
            return svc

    def _system_auth(self, rec):
        authz = rec.headers.get("authorization", "")
        if authz.startswith("Bearer "):
            if authz[len("Bearer "):].strip() in self.oidc_tokens:
                return
            raise Reply(401)
        unauthorized = Reply(401, headers={"WWW-Authenticate":
                                           'Basic realm="Authorization Required"'})
        scheme, _, cred = authz.partition(" ")
        if scheme != "Basic":
            raise unauthorized
        try:
            user, _, pw = base64.b64decode(cred.strip(), validate=True).decode().partition(":")
        except (binascii.Error, ValueError):
            raise unauthorized
        if user not in self.users or self.users[user] != pw:
            raise unauthorized

    def _create_job(self, rec, svc):
        delegated = rec.headers.get("x-delegated-job-id", "")
        if delegated:
            name = delegated
            error = job_name_error(name)
            if error:
                raise _text(500, error)
        else:
            name = (svc[:16] if len(svc) >= 25 else svc) + "-" + str(uuid.uuid4())
        with self._cond:
            if name in self._jobs:
                raise _text(500, f'jobs.batch "{name}" already exists')
            self._seq += 1
            job = Job(name, svc, rec.body, dict(rec.headers), self._seq, bool(delegated))
            if self._fail_jobs > 0:
                self._fail_jobs -= 1
                job.forced = "Failed"
            self._jobs[name] = job
            self.counters["jobs_created"] += 1
            if self.polls_to_finish == 0:
                self._finish_job(job)
            self._cond.notify_all()
        raise Reply(201)

    def _run(self, rec, svc):
        with self._cond:
            fn = self._run_output
        out = fn(rec.body)
        status, body = out if isinstance(out, tuple) else (200, out)
        with self._cond:
            self.runs.append((svc, rec.body, dict(rec.headers)))
        raise Reply(status, body, TEXT)

    def _list_jobs(self, rec, svc):
        page = urllib.parse.parse_qs(rec.query).get("page", [""])[-1]
        with self._cond:
            key = (lambda j: j.seq) if self.page_order == "creation" else (lambda j: j.name)
            jobs = sorted(self.jobs(svc), key=key)
            if page:
                after = _parse_continue(page, self.page_order)
                if after is None:
                    raise _text(500, "continue key is not valid: illegal base64 data at "
                                     "input byte 0")
                jobs = [j for j in jobs if key(j) > after]
            shown = jobs[:self.page_size] if self.page_size > 0 else jobs
            rest = len(jobs) - len(shown)
            for j in shown:
                self._advance(j)
            out = {"jobs": {j.name: j.info() for j in sorted(shown, key=lambda j: j.name)}}
            if rest:
                out["next_page"] = _make_continue(key(shown[-1]), self.page_order)
                out["remaining_jobs"] = rest
            self._cond.notify_all()
        raise Reply(200, compact(out), JSON)


def _make_continue(after, order):
    raw = json.dumps({"v": "meta.k8s.io/v1", "order": order, "after": after}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _parse_continue(token, order):
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        doc = json.loads(raw)
        after = doc["after"]
    except (ValueError, TypeError, KeyError, binascii.Error):
        return None
    if doc.get("order") != order or not isinstance(after, int if order == "creation" else str):
        return None
    return after


class _Handler(LoopbackHandler):
    no_length_statuses = (204, 304)

    def _handle(self):
        raw_path, raw_query, headers = self._raw_target()
        try:
            body = read_body(self)
        except ValueError:
            self.close_connection = True
            return self._answer(400, {"Connection": "close"}, b"bad request body\n")
        reply = self.server.fake._dispatch(Request(self.command, raw_path, raw_query, headers,
                                                   body))
        if reply is None:
            self.close_connection = True
            return None
        return self._answer(*reply)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _handle
