"""Helpers for sluice's integration tests: temp dirs, configs, the daemon as a subprocess, its
HTTP endpoints and its CLI. Nothing here sleeps blindly: waits go through wait_until()."""
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SLUICE_BIN = os.environ.get("SLUICE_BIN") or str(REPO / "build" / "sluice")
# Slow CI machines: SLUICE_TIMEOUT_SCALE=3 multiplies every deadline.
SCALE = float(os.environ.get("SLUICE_TIMEOUT_SCALE", "1"))

sys.path.insert(0, str(HERE))
from receiver import Receiver, event_of  # noqa: E402,F401  (re-exported for the tests)


def deadline(seconds):
    return seconds * SCALE


def wait_until(predicate, timeout=30.0, what="the condition", interval=0.05):
    """Returns predicate()'s first true value; raises AssertionError after `timeout` (scaled).
    Between checks it waits on a condition for at most `interval` seconds."""
    cond = threading.Condition()
    end = time.monotonic() + deadline(timeout)
    while True:
        value = predicate()
        if value:
            return value
        left = end - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out after {deadline(timeout):.0f}s waiting for {what}")
        with cond:
            cond.wait(min(interval, left))


def free_port():
    """A free port for sluice's http.listen (it cannot tell us the one it picked for :0).
    Chosen below the kernel's ephemeral range: a port from bind(0) may meanwhile become the
    local port of some outgoing connection (sluice's own, to the receiver) while sluice is
    down, and its restart then fails with "Address already in use"."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(10000, max(low, 10001))
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:  # fall back to any port
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- YAML ------------------------------------------------------------------------------------
def http_get(port, path, timeout=10):
    """(status, body text) of GET http://127.0.0.1:port/path."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        conn.close()


def _scalar(v):
    if v is True or v is False:
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(str(v))  # a JSON string is a valid YAML double-quoted scalar


def to_yaml(value, indent=0):
    """Block-style YAML for dicts and lists of dicts; flow style for lists of scalars."""
    pad = " " * indent
    lines = []
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, dict) and v:
                lines.append(f"{pad}{k}:")
                lines.append(to_yaml(v, indent + 2))
            elif isinstance(v, list) and v and isinstance(v[0], dict):
                lines.append(f"{pad}{k}:")
                lines.append(to_yaml(v, indent + 2))
            elif isinstance(v, list):
                lines.append(f"{pad}{k}: [" + ", ".join(_scalar(x) for x in v) + "]")
            elif isinstance(v, dict):
                lines.append(f"{pad}{k}: {{}}")
            else:
                lines.append(f"{pad}{k}: {_scalar(v)}")
    elif isinstance(value, list):
        for item in value:
            body = to_yaml(item, indent + 2).splitlines()
            lines.append(f"{pad}- " + body[0].lstrip())
            lines.extend(body[1:])
    return "\n".join(lines)


def webhook_config(state_dir, inbox, url, port, sink=None, source=None, delivery=None, **top):
    """A config dict with one local source `inbox` routed to one webhook sink `hook`."""
    cfg = {
        "state_dir": str(state_dir),
        "log": {"level": "debug", "format": "text"},
        "http": {"listen": f"127.0.0.1:{port}"},
        "delivery": {"max_attempts": 20, "timeout": "10s",
                     "backoff": {"initial": "100ms", "max": "500ms"}, **(delivery or {})},
        "sources": [{"name": "inbox", "type": "local", "path": str(inbox), "recursive": True,
                     "ignore": ["*.part", "*.tmp", ".*"], **(source or {})}],
        "sinks": [{"name": "hook", "type": "webhook", "url": url, **(sink or {})}],
        "routes": [{"from": ["inbox"], "to": ["hook"]}],
    }
    cfg.update(top)
    return cfg


# -- metrics ---------------------------------------------------------------------------------
def parse_metrics(text):
    """Prometheus text → {'name{labels}': value}."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        try:
            out[key] = float(value)
        except ValueError:
            pass
    return out


def metric(samples, name, **labels):
    """Sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    want = [f'{k}="{v}"' for k, v in labels.items()]
    for key, value in samples.items():
        base, _, rest = key.partition("{")
        if base == name and all(w in rest for w in want):
            total += value
    return total


# -- the daemon ------------------------------------------------------------------------------
class Sluice:
    """One sluice state dir + config; the daemon runs as a subprocess logging to sluice.log."""

    def __init__(self, workdir, config, port=None):
        self.dir = Path(workdir)
        self.config_path = self.dir / "sluice.yaml"
        self.log_path = self.dir / "sluice.log"
        self.port = port
        self.proc = None
        self.env = None  # the daemon's environment (None: this process's)
        self.write_config(config)

    def write_config(self, config):
        text = config if isinstance(config, str) else to_yaml(config) + "\n"
        self.config_path.write_text(text, encoding="utf-8")

    # process control
    def start(self, wait=True):
        assert self.proc is None or self.proc.poll() is not None, "sluice already runs"
        with open(self.log_path, "ab") as log:
            log.write(f"==== sluice run (at {time.strftime('%H:%M:%S')}) ====\n".encode())
            log.flush()
            self.proc = subprocess.Popen([SLUICE_BIN, "run", "-c", str(self.config_path)],
                                         cwd=self.dir, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=self.env)
        if wait:
            self.wait_healthy()
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=30):
        """SIGTERM and wait; returns the exit status."""
        if not self.alive():
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(deadline(timeout))
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"sluice did not stop within {deadline(timeout)}s of SIGTERM")

    def kill(self):
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def wait_healthy(self, timeout=30):
        """Waits for /healthz and for the "running" log line of this start: /healthz answers
        before the startup scan ends, and a test's files must not race with that scan."""
        def up():
            if not self.alive():
                raise AssertionError(f"sluice exited with {self.proc.returncode}:\n{self.log_tail()}")
            if " running: " not in self.log_text().rpartition("==== sluice run")[2]:
                return False  # this start has not finished its startup scan
            try:
                return self.get("/healthz")[0] == 200
            except OSError:
                return False
        wait_until(up, timeout, "sluice /healthz and its startup scan")

    # HTTP endpoints
    def get(self, path, timeout=10):
        return http_get(self.port, path, deadline(timeout))

    def metrics(self):
        status, body = self.get("/metrics")
        assert status == 200, f"/metrics answered {status}"
        return parse_metrics(body)

    def metric(self, name, **labels):
        return metric(self.metrics(), name, **labels)

    def ready(self):
        return self.get("/readyz")[0] == 200

    # the CLI
    def cli(self, *args, timeout=60, env=None):
        """Runs `sluice ARGS -c CONFIG`; returns CompletedProcess with text stdout/stderr."""
        return subprocess.run([SLUICE_BIN, *args, "-c", str(self.config_path)], cwd=self.dir,
                              capture_output=True, timeout=deadline(timeout), env=env,
                              stdin=subprocess.DEVNULL, encoding="utf-8", errors="replace")

    def once(self, timeout=120):
        return self.cli("once", timeout=timeout)

    def check(self):
        return self.cli("check")

    def queue(self, *args):
        return self.cli("queue", *args)

    def queue_json(self, cmd, *args):
        r = self.queue(cmd, "--json", *args)
        assert r.returncode == 0, f"sluice queue {cmd} failed ({r.returncode}): {r.stderr}"
        return json.loads(r.stdout)

    def pending(self, sink="hook"):
        """Pending deliveries per `sluice queue stats --json` (works with the daemon down)."""
        return self.queue_json("stats")["sinks"].get(sink, {}).get("pending", 0)

    def log_text(self):
        try:
            return self.log_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=60):
        return "\n".join(self.log_text().splitlines()[-lines:])


# -- files -----------------------------------------------------------------------------------
def write_file(path, data=b"x"):
    """Written in place: one open, write, close (str or bytes path)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    return path


def write_renamed(path, data=b"x"):
    """Written as PATH.part, then renamed into place."""
    part = path + (b".part" if isinstance(path, bytes) else ".part")
    write_file(part, data)
    os.rename(part, path)
    return path


# -- the test base ---------------------------------------------------------------------------
class SluiceTestCase(unittest.TestCase):
    """A fresh temp dir, inbox and receiver per test; sluice logs printed when a test fails."""

    receiver_format = "cloudevents"

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="sluice-it-"))
        self.inbox = self.tmp / "inbox"
        self.inbox.mkdir()
        self.receiver = Receiver(fmt=self.receiver_format).start()
        self.addCleanup(self._cleanup_tmp)
        self.addCleanup(self.receiver.stop)
        self._instances = []
        self._problems_before = self._problems()

    def _problems(self):
        result = getattr(getattr(self, "_outcome", None), "result", None)
        return len(getattr(result, "failures", [])) + len(getattr(result, "errors", []))

    def tearDown(self):
        failed = self._problems() > self._problems_before
        for s in self._instances:
            s.kill()
            if failed:
                sys.stderr.write(f"\n---- {s.log_path} (tail) ----\n{s.log_tail(80)}\n----\n")

    def _cleanup_tmp(self):
        if os.environ.get("SLUICE_KEEP_TMP"):
            sys.stderr.write(f"kept {self.tmp}\n")
            return
        subprocess.run(["rm", "-rf", str(self.tmp)], check=False)

    def config(self, **kw):
        port = kw.pop("port", None) or free_port()
        url = kw.pop("url", None) or self.receiver.url()
        cfg = webhook_config(self.tmp / "state", self.inbox, url, port, **kw)
        return cfg, port

    def sluice(self, config=None, port=None, **kw):
        """A Sluice (not started) for `config` or for self.config(**kw)."""
        if config is None:
            config, port = self.config(**kw)
        s = Sluice(self.tmp, config, port)
        self._instances.append(s)
        return s

    def path(self, *parts):
        return str(self.inbox.joinpath(*parts))

    def wait_delivered(self, paths, timeout=30):
        """Waits until every path (str or bytes) has been accepted by the receiver."""
        want = {os.fsencode(p) for p in paths}
        missing = lambda: want - set(self.receiver.delivered_paths())  # noqa: E731
        if self.receiver.wait_until(lambda: not missing(), deadline(timeout)):
            return
        self.fail(f"not delivered within {deadline(timeout)}s: {sorted(missing())[:10]}")

    def wait_quiet(self, s, committed, sink="hook", timeout=30):
        """Waits until `committed` events are stored and nothing is pending for `sink`."""
        def quiet():  # /metrics caches queue figures for a second: ask the queue itself
            if s.metric("sluice_events_committed_total") < committed:
                return False
            r = s.queue("stats", "--json")
            if r.returncode != 0 and "database is locked" in r.stderr:
                return False  # a known sluice bug, tested on its own in test_operations.py
            assert r.returncode == 0, f"sluice queue stats failed ({r.returncode}): {r.stderr}"
            stats = json.loads(r.stdout)["sinks"].get(sink, {})
            return stats.get("pending", 0) == 0 and stats.get("leased", 0) == 0
        wait_until(quiet, timeout, f"{committed} events committed and none pending")
        return s.metrics()
