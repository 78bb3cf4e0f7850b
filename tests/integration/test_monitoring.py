"""The monitoring kit: config/prometheus-alerts.yaml and config/grafana-dashboard.json.

    SLUICE_BIN=build/sluice python3 -m unittest -v tests/integration/test_monitoring.py

- The rules pass `promtool check rules`, and their unit tests (tests/monitoring/alerts_test.yaml:
  series in, which alerts fire and which do not) pass `promtool test rules`. promtool comes from
  PATH or from scripts/install-promtool.sh (Debian's prometheus package, unpacked, no server);
  these tests skip, saying why, only when neither can provide it.
- Every metric name the rules and the dashboard use is one a running build/sluice exports, with
  the labels they group by, match on and print. One sluice runs a local source, a dCache source
  (fake_dcache), a MinIO push source (fake_s3) and a webhook and a supervisor sink (a fake
  nvidia-smi), so the per-source, per-sink, stream, ingress and supervisor series all exist.
  The one name that no input here can make appear is checked against the C++ sources instead
  (CONDITIONAL). That scrape, repeated over an hour, then goes through the rules: a healthy
  sluice fires nothing, and the same series with a nearly full queue, a closed stream and a
  dead-lettered delivery fire exactly the alerts for those, with sluice's own label sets.
- The dashboard is valid JSON for import (datasource input, variables) and every panel has a
  datasource and targets whose PromQL promtool parses.
"""
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # run from anywhere
from harness import REPO, SluiceTestCase, wait_until, write_file
from fake_dcache import FakeDcache
from fake_s3 import FakeS3
from push_senders import post

try:
    import yaml  # Debian: python3-yaml
except ImportError:  # the tests that need the rules' structure say so and skip
    yaml = None

RULES = REPO / "config" / "prometheus-alerts.yaml"
DASHBOARD = REPO / "config" / "grafana-dashboard.json"
ALERT_TESTS = REPO / "tests" / "monitoring" / "alerts_test.yaml"
INSTALL_PROMTOOL = REPO / "scripts" / "install-promtool.sh"

# Names the rules or the dashboard may use that the scrape below cannot show: each must still be
# registered by the C++ sources (a string literal there), and has the labels of the sibling
# series named here (registered by the same code, daemon/intake.cpp), which the scrape shows.
CONDITIONAL = {
    # Created on the first event the queue cannot encode exactly: no input here can cause that.
    "sluice_events_unencodable_total": "sluice_events_parked_total",
}
# Series Prometheus makes itself, not sluice; the labels each has.
PROMETHEUS_SERIES = {"up": {"job", "instance"}, "ALERTS": {"alertname", "alertstate"}}
TARGET_LABELS = {"job", "instance"}  # added by Prometheus to every scraped series

NAME_RE = re.compile(r"\b(sluice_[a-z0-9_]+|up)\b(?!\s*\()")
SELECTOR_RE = re.compile(r"\b(sluice_[a-z0-9_]+|up)\s*\{([^}]*)\}")
MATCHER_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"')
GROUPING_RE = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")

_promtool = None


def promtool(test):
    """promtool's path (PATH or scripts/install-promtool.sh, once), or skips `test`."""
    global _promtool
    if _promtool is None:
        found = shutil.which("promtool")
        if found:
            _promtool = found
        else:
            r = subprocess.run(["bash", str(INSTALL_PROMTOOL)], capture_output=True, text=True,
                               timeout=300, stdin=subprocess.DEVNULL)
            _promtool = r.stdout.strip().splitlines()[-1] if r.returncode == 0 and r.stdout.strip() \
                else "unavailable: " + (r.stderr.strip().splitlines() or ["no output"])[-1]
    if _promtool.startswith("unavailable: "):
        test.skipTest("promtool cannot be installed here (scripts/install-promtool.sh: "
                      f"{_promtool[13:]})")
    return _promtool


def run_promtool(test, *args, cwd=None):
    return subprocess.run([promtool(test), *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd, stdin=subprocess.DEVNULL)


def need_yaml(test):
    if yaml is None:
        test.skipTest("PyYAML is not installed (Debian: python3-yaml)")


def load_rules():
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]


def rules_text_without_comments():
    return "\n".join(line for line in RULES.read_text().splitlines()
                     if not line.lstrip().startswith("#"))


def load_dashboard():
    return json.loads(DASHBOARD.read_text())


def dashboard_panels(dash):
    """Every panel, the ones inside collapsed rows included."""
    for p in dash["panels"]:
        yield p
        yield from p.get("panels", [])


def dashboard_exprs(dash):
    """(where, PromQL) for every panel target and every query variable."""
    for p in dashboard_panels(dash):
        for t in p.get("targets", []):
            yield f"panel {p['title']!r} target {t.get('refId')}", t.get("expr", "")
    for v in dash["templating"]["list"]:
        if v["type"] == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            yield f"variable {v['name']}", q


def concrete(expr):
    """A dashboard expression with its Grafana variables replaced by what they could hold."""
    expr = expr.replace("$__rate_interval", "5m").replace("$__interval", "1m")
    expr = re.sub(r"\$\{?(\w+)\}?", ".*", expr)
    m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\)\s*", expr, re.S)
    return m.group(1) if m else expr  # label_values(METRIC, LABEL): Grafana's, not PromQL


def metric_names(expr):
    return set(NAME_RE.findall(expr))


def label_uses(expr):
    """Label names an expression matches on or groups by (`le` is the histogram's)."""
    used = set()
    for _, matchers in SELECTOR_RE.findall(expr):
        used |= set(MATCHER_RE.findall(matchers))
    for group in GROUPING_RE.findall(expr):
        used |= {x.strip() for x in group.split(",") if x.strip()}
    return used


def parse_exposition(text):
    """Prometheus text → [(name, label string without braces, value)]."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$", line)
        if m:
            out.append((m.group(1), m.group(2) or "", float(m.group(3))))
    return out


def executable(path, text):
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(path)


# -- (a), (b): the rules and their unit tests ------------------------------------------------
class AlertRulesTest(unittest.TestCase):
    def test_promtool_check_rules_passes(self):
        r = run_promtool(self, "check", "rules", str(RULES))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("SUCCESS", r.stdout)

    def test_promtool_unit_tests_pass(self):
        r = run_promtool(self, "test", "rules", str(ALERT_TESTS.name), cwd=ALERT_TESTS.parent)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("SUCCESS", r.stdout)

    def test_every_alert_has_severity_for_summary_and_description(self):
        need_yaml(self)
        rules = load_rules()
        names = [r["alert"] for r in rules if "alert" in r]
        self.assertEqual(len(names), len(rules), "only alerting rules in this file")
        self.assertEqual(len(names), len(set(names)), "alert names are unique")
        for r in rules:
            with self.subTest(alert=r["alert"]):
                self.assertRegex(r["alert"], r"^Sluice[A-Z][A-Za-z]+$")
                self.assertIn(r.get("labels", {}).get("severity"), {"critical", "warning", "info"})
                self.assertRegex(str(r.get("for", "")), r"^\d+[smh]$")
                ann = r.get("annotations", {})
                self.assertTrue(ann.get("summary"), "summary")
                self.assertTrue(ann.get("description"), "description")

    def test_every_alert_is_seen_firing_by_a_unit_test(self):
        need_yaml(self)
        fired = set()
        for case in yaml.safe_load(ALERT_TESTS.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                if check.get("exp_alerts"):
                    fired.add(check["alertname"])
        untested = {r["alert"] for r in load_rules()} - fired
        self.assertEqual(untested, set(), "alerts that no unit test sees firing")


# -- (d): the dashboard ----------------------------------------------------------------------
class DashboardTest(unittest.TestCase):
    def setUp(self):
        self.dash = load_dashboard()  # fails the test when it is not JSON

    def test_it_is_importable_with_a_prometheus_datasource_input_and_variables(self):
        d = self.dash
        self.assertGreaterEqual(d["schemaVersion"], 36)
        self.assertIsNone(d.get("id"), "an exported dashboard has no database id")
        self.assertTrue(d.get("uid") and d.get("title"))
        self.assertEqual([(i["name"], i["type"], i["pluginId"]) for i in d["__inputs"]],
                         [("DS_PROMETHEUS", "datasource", "prometheus")])
        variables = {v["name"]: v for v in d["templating"]["list"]}
        self.assertEqual(variables["DS_PROMETHEUS"]["type"], "datasource")
        self.assertEqual(variables["DS_PROMETHEUS"]["query"], "prometheus")
        for name in ("job", "instance"):
            self.assertEqual(variables[name]["type"], "query")
        used = set()
        for _, expr in dashboard_exprs(d):
            used |= set(re.findall(r"\$\{?(\w+)", expr))
        used -= {"__rate_interval", "__interval", "__range"}
        self.assertEqual(used - set(variables), set(), "variables used but not defined")

    def test_every_panel_has_a_datasource_and_a_target(self):
        ids, cells = set(), set()
        panels = list(dashboard_panels(self.dash))
        self.assertGreaterEqual(sum(p["type"] != "row" for p in panels), 10)
        for p in panels:
            with self.subTest(panel=p.get("title")):
                self.assertNotIn(p["id"], ids, "panel ids are unique")
                ids.add(p["id"])
                g = p["gridPos"]
                self.assertLessEqual(g["x"] + g["w"], 24)
                mine = {(x, y) for x in range(g["x"], g["x"] + g["w"])
                        for y in range(g["y"], g["y"] + g["h"])}
                self.assertFalse(mine & cells, "panels overlap")
                cells |= mine
                if p["type"] == "row":
                    continue
                self.assertEqual(p["datasource"], {"type": "prometheus", "uid": "${DS_PROMETHEUS}"})
                self.assertTrue(p.get("targets"), "no targets")
                refs = [t["refId"] for t in p["targets"]]
                self.assertEqual(len(refs), len(set(refs)), "refIds are unique in a panel")
                for t in p["targets"]:
                    self.assertEqual(t["datasource"]["uid"], "${DS_PROMETHEUS}")
                    self.assertTrue(t.get("expr", "").strip(), f"target {t['refId']} has no expr")

    def test_the_wanted_panels_are_there(self):
        exprs = " ".join(e for _, e in dashboard_exprs(self.dash))
        for name in ("sluice_events_received_total", "sluice_events_committed_total",
                     "sluice_deliveries_done_total", "sluice_deliveries_retried_total",
                     "sluice_deliveries_dead_total", "sluice_queue_pending", "sluice_queue_leased",
                     "sluice_queue_dead", "sluice_queue_oldest_pending_age_seconds",
                     "sluice_delivery_latency_seconds_bucket", "sluice_source_connected",
                     "sluice_queue_bytes", "sluice_queue_max_bytes",
                     "sluice_supervisor_jobs_running", "sluice_supervisor_gpus_idle"):
            self.assertIn(name, exprs)
        self.assertIn("histogram_quantile(0.99", exprs)

    def test_promtool_parses_every_expression(self):
        # Recording rules are the one way promtool checks PromQL without a server.
        exprs = list(dashboard_exprs(self.dash))
        lines = ["groups:", "  - name: dashboard", "    rules:"]
        for i, (_, expr) in enumerate(exprs):
            lines += [f"      - record: dashboard:expr_{i}", f"        expr: {json.dumps(concrete(expr))}"]
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write("\n".join(lines) + "\n")
        self.addCleanup(os.unlink, f.name)
        r = run_promtool(self, "check", "rules", f.name)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(f"SUCCESS: {len(exprs)} rules found", r.stdout)


# -- (c): the names exist in a running sluice ------------------------------------------------
class ExportedMetricsTest(SluiceTestCase):
    def start_everything(self):
        """One sluice with every kind of series the rules and the dashboard read; returns it
        after a local file went to both sinks and MinIO pushes were answered (200, 401)."""
        tmp = self.tmp
        # Supervisor sink: a fake nvidia-smi first on PATH reports two idle GPUs.
        bin_dir = tmp / "bin"
        bin_dir.mkdir()
        (tmp / "gpus.csv").write_text("0, GPU-00000000-aaaa, 81559, 1\n"
                                      "1, GPU-11111111-bbbb, 81559, 1\n")
        executable(bin_dir / "nvidia-smi", f"#!/bin/sh\nexec cat '{tmp / 'gpus.csv'}'\n")
        old_path = os.environ["PATH"]
        os.environ["PATH"] = f"{bin_dir}:{old_path}"
        self.addCleanup(os.environ.__setitem__, "PATH", old_path)
        job = executable(tmp / "job.sh", "#!/bin/sh\nexit 0\n")
        # dCache source: the fake frontend (change stream, listings).
        self.dcache = FakeDcache(tokens={"tok-1": "alice"}).start()
        self.addCleanup(self.dcache.stop, False)
        self.dcache.mkdir("/data/in", parents=True)
        dc_token = tmp / "dcache.token"
        dc_token.write_text("tok-1\n")
        dc_token.chmod(0o600)
        # MinIO source in push mode: ingress requests, a parked body, the bad-lines counter.
        self.s3 = FakeS3(credentials={"AKMON": "mon-secret"}, minio=True).start()
        self.addCleanup(self.s3.stop)
        self.assertEqual(self.s3.s3_client().create_bucket("images").status, 200)
        for name, text in (("minio.secret", "mon-secret"), ("ingress.token", "ingress-1")):
            (tmp / name).write_text(text + "\n")
            (tmp / name).chmod(0o600)

        cfg, port = self.config(queue={"max_size": "1GiB"})
        cfg["http"]["ingress_token_file"] = str(tmp / "ingress.token")
        cfg["sources"] += [
            {"name": "dc", "type": "dcache", "url": self.dcache.api_url,
             "webdav_url": self.dcache.webdav_url, "paths": ["/data/in"],
             "auth": {"bearer_file": str(dc_token)}},
            {"name": "m", "type": "minio", "endpoint": self.s3.url, "bucket": "images",
             "mode": "push", "region": "us-east-1", "access_key": "AKMON",
             "secret_key_file": str(tmp / "minio.secret")}]
        cfg["sinks"].append({"name": "gpu", "type": "supervisor", "command": [job],
                             "gpus": "auto", "gpus_per_job": 1, "concurrency": 1,
                             "timeout": "1m", "max_attempts": 1})
        cfg["routes"] = [{"from": ["inbox"], "to": ["hook", "gpu"]},
                         {"from": ["dc", "m"], "to": ["hook"]}]
        s = self.sluice(cfg, port).start()
        wait_until(s.ready, 30, "/readyz (dCache stream open, every source listed)")

        f = write_file(self.path("a.dat"), b"a")
        url = f"http://127.0.0.1:{port}/ingest/m"
        self.assertEqual(post(url, b"not JSON {", "wrong", "bearer").status, 401)
        self.assertEqual(post(url, b"not JSON {", "ingress-1", "bearer").status, 200)  # parked
        self.wait_delivered([f])
        wait_until(lambda: s.metric("sluice_deliveries_done_total", sink="gpu") >= 1, 30,
                   "the supervisor job done")
        self.wait_quiet(s, 2)  # a.dat and the parked body
        return s

    def scrape(self, s):
        status, body = s.get("/metrics")
        self.assertEqual(status, 200)
        samples = parse_exposition(body)
        labels = {}
        for name, lab, _ in samples:
            labels.setdefault(name, set()).update(re.findall(r'(\w+)="', lab))
        return samples, labels

    def test_every_name_in_the_rules_and_the_dashboard_is_exported(self):
        s = self.start_everything()
        samples, exported = self.scrape(s)
        known = {**exported, **{n: set() for n in PROMETHEUS_SERIES}}
        for name, sibling in CONDITIONAL.items():
            self.assertIn(sibling, exported)
            exported.setdefault(name, exported[sibling])

        dash = load_dashboard()
        uses = [("rules", rules_text_without_comments())] + list(dashboard_exprs(dash))
        cpp = "\n".join(p.read_text(errors="replace") for d in ("daemon", "connectors", "sinks")
                        for p in (REPO / d).rglob("*.cpp"))
        for where, expr in uses:
            for name in metric_names(expr):
                with self.subTest(where=where, metric=name):
                    if name in CONDITIONAL:
                        self.assertIn(f'"{name}"', cpp, f"{name} is registered nowhere")
                        continue
                    self.assertTrue(name in known, f"{name} is not exported by the sluice "
                                    f"on port {s.port}; it exports {sorted(exported)}")

        # The labels they match on, group by and print are the series' own.
        def available(names):
            out = set(TARGET_LABELS)
            for n in names:
                out |= exported.get(n, set()) | PROMETHEUS_SERIES.get(n, set())
            return out | {"le"}
        for where, expr in dashboard_exprs(dash):
            expr = concrete(expr)
            names = metric_names(expr)
            with self.subTest(where=where, check="labels"):
                self.assertEqual(label_uses(expr) - available(names), set(), expr)
        for p in dashboard_panels(dash):
            for t in p.get("targets", []):
                with self.subTest(panel=p["title"], legend=t.get("legendFormat")):
                    printed = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", t.get("legendFormat", "")))
                    self.assertEqual(printed - available(metric_names(t["expr"])), set())
        if yaml is None:
            self.skipTest("rule labels not checked: PyYAML is not installed (python3-yaml)")
        for r in load_rules():
            names = metric_names(r["expr"])
            with self.subTest(alert=r["alert"], check="labels"):
                self.assertEqual(label_uses(r["expr"]) - available(names), set(), r["expr"])
                text = " ".join(r["annotations"].values())
                printed = set(re.findall(r"\$labels\.(\w+)", text))
                self.assertEqual(printed - available(names) - set(r["labels"]), set(), text)

    def test_the_rules_on_sluices_own_series(self):
        """The scrape, repeated each minute for an hour, through the rules: healthy, nothing
        fires (pending counts too); with a nearly full queue, a closed dCache stream and dead
        letters growing, exactly those alerts fire, with the labels sluice's series carry."""
        promtool(self)  # skips before starting anything when there is none
        s = self.start_everything()
        samples, _ = self.scrape(s)
        instance = f"127.0.0.1:{s.port}"
        target = f'job="sluice",instance="{instance}"'
        minutes = 60

        def series(name, lab):
            return f"{name}{{{target}{',' if lab else ''}{lab}}}"

        def input_series(override=None):
            out = [{"series": f"up{{{target}}}", "values": f"1x{minutes}"}]
            for name, lab, value in samples:
                key = series(name, lab)
                values = (override or {}).get(key) or f"{value:.6f}x{minutes}"
                out.append({"series": key, "values": values})
            return out

        max_bytes = next(v for n, _, v in samples if n == "sluice_queue_max_bytes")
        self.assertEqual(max_bytes, 1 << 30)
        dc = series("sluice_source_connected", 'source="dc"')
        self.assertIn(dc, [series(n, lab) for n, lab, _ in samples])
        dead_total = series("sluice_deliveries_dead_total", 'sink="hook"')
        dead_gauge = series("sluice_queue_dead", 'sink="hook"')
        dead_now = next(v for n, lab, v in samples if series(n, lab) == dead_gauge)
        trouble = {series("sluice_queue_bytes", ""): f"{0.875 * max_bytes:.0f}x{minutes}",
                   dc: f"1x20 0x{minutes - 20}",
                   dead_total: f"0x50 1x{minutes - 50}",
                   dead_gauge: f"{dead_now:.0f}x50 {dead_now + 1:.0f}x{minutes - 50}"}

        def firing(alert, **labels):
            lab = {"alertname": alert, "alertstate": "firing", "job": "sluice",
                   "instance": instance, **labels}
            return {"labels": "ALERTS{" + ",".join(f'{k}="{v}"' for k, v in lab.items()) + "}",
                    "value": 1}

        tests = {
            "rule_files": [str(RULES)],
            "evaluation_interval": "1m",
            "tests": [
                {"name": "a healthy sluice", "interval": "1m", "input_series": input_series(),
                 "promql_expr_test": [{"expr": "ALERTS", "eval_time": f"{minutes - 1}m",
                                       "exp_samples": []}]},
                {"name": "the same sluice in trouble", "interval": "1m",
                 "input_series": input_series(trouble),
                 "promql_expr_test": [{"expr": 'ALERTS{alertstate="firing"}',
                                       "eval_time": f"{minutes - 1}m", "exp_samples": [
                     firing("SluiceQueueNearlyFull", severity="warning"),
                     firing("SluiceSourceDisconnected", severity="warning", source="dc"),
                     firing("SluiceDeadLettersGrowing", severity="warning", sink="hook")]}]},
            ],
        }
        path = self.tmp / "own_series_test.yaml"
        path.write_text(json.dumps(tests, indent=1))  # JSON is YAML
        r = run_promtool(self, "test", "rules", str(path))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
