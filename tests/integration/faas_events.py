"""FaaS Supervisor's event classifier written again (COMPAT.md §2.2, §2.3), so tests can say
what an OSCAR/Lambda function would make of the body sluice sends, plus OSCAR's
`echo $EVENT` hop (COMPAT.md §3.2 step 2).

    ev = classify(body)                 # ev.kind: MINIO, S3, ONEDATA, DCACHE, RUCIO, UNKNOWN
    ev.object_key, ev.file_name, ev.event_time, ev.bucket, ev.storage_provider, ev.env
    oscar_job_view(body)                # classify(what `echo $EVENT | supervisor` reads)

Faithful (read in grycap/faas-supervisor master 97b91f2 of 2025-07: faassupervisor/events/
__init__.py parse_event and the event classes): the same tests in the same order, done with
the same Python operations, so odd inputs behave alike:
  1. a non-dict is json.loads-ed; a ValueError → UNKNOWN (the raw value kept);
  2. 'httpMethod' in event → API Gateway: the body (`event.get('body') or ''`) is parsed again
     with the default storage provider; queryStringParameters → env CONT_VAR_<name>;
  3. 'event' and 'subscription' → DCACHE: file_name = event['event']['name'], event_time None,
     object_key = os.path.join(path of the FDL input whose storage_provider is exactly
     "webdav.dcache" (`inputs`), name) (no such input: the name), provider "dcache";
  4. 'event_type' in event and 'scope' in event['payload'] → RUCIO (object_key =
     payload.name, scope = payload.scope, provider "rucio");
  5. 'event' in event → the delegation wrapper: event['event'] parsed again with
     event['storage_provider'] when present, else "default";
  6. Records[0].eventSource aws:s3 → S3, minio:s3 → MINIO (bucket, bucket_arn, object_key =
     unquote_plus(s3.object.key), file_name = its basename, event_time = eventTime, provider
     as passed), OneTrigger → ONEDATA (object_key = event['Key'], file_name =
     Records[0].objectKey, event_time = Records[0].eventTime), rucio → RUCIO (from
     event['payload'], as the supervisor does, so a Records-only body crashes); storage events
     set env STORAGE_OBJECT_KEY, EVENT_TIME (both skipped when empty, set_env_var) and
     EVENT = json.dumps(event);
  7. anything else → UNKNOWN.
Wherever the supervisor would raise (e.g. 'httpMethod' in 5, a dCache body without `name`,
json.loads of a list), classify() returns kind "ERROR" with the exception in `error`: the
supervisor process dies there, so the OSCAR job fails.

Simplified: no downloads, no files, no logging; `env` holds only the variables parse_event
sets. echo_roundtrip() runs a real shell (dash on Debian, like most OSCAR images' /bin/sh) in
an empty temporary directory (the pod's working directory is the image's, so globs may match
other names there).
"""
import json
import os
import subprocess
import tempfile
from urllib.parse import unquote_plus

S3, MINIO, ONEDATA, RUCIO_SOURCE = "aws:s3", "minio:s3", "OneTrigger", "rucio"


class Event:
    """What parse_event returned: kind, object_key, file_name, event_time, bucket (name),
    bucket_arn, storage_provider (the provider_id the supervisor would use, None when the
    class has none), scope (Rucio), via (["APIGATEWAY", "DELEGATED", ...] wrappers crossed),
    env (variables parse_event sets), event (the object the class holds), error (kind ERROR)."""
    FIELDS = ("kind", "object_key", "file_name", "event_time", "bucket", "bucket_arn",
              "storage_provider", "scope", "via", "env", "event", "error")

    def __init__(self, kind, **fields):
        self.kind = kind
        for f in self.FIELDS[1:]:
            setattr(self, f, fields.get(f))
        self.via = self.via or []
        self.env = self.env or {}

    def as_dict(self):
        return {f: getattr(self, f) for f in self.FIELDS}

    def __getitem__(self, name):
        return getattr(self, name)

    def __repr__(self):
        return f"<Event {self.kind} key={self.object_key!r} provider={self.storage_provider!r}>"


def _set_env(env, key, value):
    if key and value:          # SysUtils.set_env_var skips empty values
        if not isinstance(value, str):   # os.environ[key] = value
            raise TypeError(f"str expected, not {type(value).__name__}")
        env[key] = value


def classify(body, storage_provider="default", inputs=None):
    """Classifies `body` (str, bytes or an already-decoded dict) as parse_event would.
    `inputs`: the FDL `input` list (only used for dCache paths)."""
    via, env = [], {}
    try:
        ev = _parse(body, storage_provider, inputs, via, env)
    except Exception as e:  # noqa: BLE001 - the supervisor crashes on whatever this is
        return Event("ERROR", via=via, env=env, event=body, error=f"{type(e).__name__}: {e}")
    ev.via, ev.env = via, env
    return ev


def _parse(event, storage_provider, inputs, via, env):
    if not isinstance(event, dict):
        try:
            event = json.loads(event)
        except ValueError:
            return Event("UNKNOWN", event=event)
    if "httpMethod" in event:                                  # _is_api_gateway_event
        via.append("APIGATEWAY")
        _records(event)                                        # UnknownEvent.__init__
        body = event.get("body") or ""
        params = event.get("queryStringParameters") if "queryStringParameters" in event \
            else None
        if params:
            for key, value in params.items():
                _set_env(env, f"CONT_VAR_{key}", value)
        return _parse(body, "default", inputs, via, env)
    if "event" in event and "subscription" in event:            # _is_dcache_event
        dcache = [x for x in (inputs if inputs is not None else "")   # read_cfg_var: ''
                  if x["storage_provider"] == "webdav.dcache"]
        path = dcache[0]["path"] if dcache else ""
        inner = event.get("event") or event                    # DCacheEvent.__init__
        _records(inner)
        name = inner["name"]
        return Event("DCACHE", object_key=os.path.join(path, name), file_name=name,
                     event_time=None, storage_provider="dcache", event=inner)
    if "event_type" in event and "scope" in event["payload"]:    # _is_rucio_event
        return _rucio(event, "rucio")
    if "event" in event:                                         # _is_delegated_event
        via.append("DELEGATED")
        if "storage_provider" in event:
            return _parse(event["event"], event["storage_provider"], inputs, via, env)
        return _parse(event["event"], "default", inputs, via, env)
    if "Records" in event and event["Records"] and "eventSource" in event["Records"][0]:
        source = event["Records"][0]["eventSource"]
        if source in (S3, MINIO, ONEDATA, RUCIO_SOURCE):
            ev = _storage(event, source, storage_provider)
            _set_env(env, "STORAGE_OBJECT_KEY", ev.object_key)
            _set_env(env, "EVENT_TIME", ev.event_time)
            _set_env(env, "EVENT", json.dumps(event))
            return ev
    return Event("UNKNOWN", event=event)


def _records(event):
    """UnknownEvent.__init__: event_records = Records[0] when a dict has truthy Records."""
    if isinstance(event, dict):
        records = event.get("Records")
        if records:
            return records[0]
    return None


def _rucio(event, provider):
    inner = event.get("event") or event
    _records(inner)
    return Event("RUCIO", object_key=inner["payload"]["name"],
                 scope=inner["payload"]["scope"], event_time=None, storage_provider=provider,
                 event=inner)


def _storage(event, source, storage_provider):
    if source == ONEDATA:
        rec = _records(event)
        key = event["Key"]
        return Event("ONEDATA", object_key=key, file_name=rec["objectKey"],
                     event_time=rec["eventTime"], storage_provider=None, event=event)
    if source == RUCIO_SOURCE:
        return _rucio(event, storage_provider)
    inner = event.get("event") or event
    rec = _records(inner)
    bucket_arn = rec["s3"]["bucket"]["arn"]
    bucket = rec["s3"]["bucket"]["name"]
    key = unquote_plus(rec["s3"]["object"]["key"])
    return Event("S3" if source == S3 else "MINIO", object_key=key,
                 file_name=os.path.basename(key), event_time=rec["eventTime"], bucket=bucket,
                 bucket_arn=bucket_arn, storage_provider=storage_provider, event=inner)


def echo_roundtrip(body, shell="/bin/sh", cwd=None, timeout=10):
    """What `echo $EVENT` prints in an OSCAR job pod for EVENT=`body` (unquoted: fields split
    on IFS and joined by single spaces, globs expanded, and with dash's echo backslash
    escapes interpreted), without the final newline. Runs in an empty temporary directory
    unless `cwd` is given. A NUL in `body` cannot be in an environment: ValueError."""
    if "\0" in body:
        raise ValueError("an environment variable cannot hold NUL")
    env = {"EVENT": body, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    with tempfile.TemporaryDirectory() as empty:
        out = subprocess.run([shell, "-c", "echo $EVENT"], env=env, cwd=cwd or empty,
                             stdout=subprocess.PIPE, check=True, timeout=timeout).stdout
    text = out.decode("utf-8", "surrogateescape")
    return text[:-1] if text.endswith("\n") else text


def oscar_job_view(body, storage_provider="default", inputs=None, **echo_kw):
    """classify() of what the supervisor reads on stdin in an OSCAR async job:
    `echo $EVENT | supervisor` (the echo's newline included, as SysUtils.get_stdin reads it).
    `body`: bytes (decoded as UTF-8, as Kubernetes would hold it) or str."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    return classify(echo_roundtrip(body, **echo_kw) + "\n", storage_provider, inputs)
