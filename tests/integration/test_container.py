"""sluice as a container: container/Dockerfile run with podman, and the Kubernetes examples.

ContainerImageTest builds the image's runtime stage around the binary under test (SLUICE_BIN,
stripped into a temp folder given as `--build-context binary=DIR`, so the compile stage is
skipped) on a Debian base made locally by scripts/container-base.sh (mmdebstrap; there is no
registry here), then runs it the way a sidecar runs: non-root, read-only root, no capabilities,
a mounted config, a state volume and a shared data folder. Podman settings: see
../shared/ENVIRONMENT.md. A machine that cannot run containers skips these tests with the
reason. SLUICE_IMAGE=NAME tests an image built already (`make image`) instead of building one.

KubernetesExamplesTest parses container/sidecar.yaml and container/oscar-example.yaml, checks
the sluice container's hardening against the image and the config, and runs `sluice check` on
the embedded sluice.yaml.

Run: SLUICE_BIN=build/sluice python3 -m unittest -v tests/integration/test_container.py
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # also run as a file path
from harness import REPO, SLUICE_BIN, SluiceTestCase, deadline, free_port, http_get, wait_until, write_file

CONTAINER_DIR = REPO / "container"
DOCKERFILE = CONTAINER_DIR / "Dockerfile"
EXAMPLES = [CONTAINER_DIR / "sidecar.yaml", CONTAINER_DIR / "oscar-example.yaml"]
BUILT_IMAGE = "localhost/sluice:test"


def dockerfile_arg(name):
    m = re.search(rf"^ARG {name}=(\d+)$", DOCKERFILE.read_text(), re.M)
    assert m, f"container/Dockerfile has no ARG {name}=<number>"
    return int(m.group(1))


UID, GID = dockerfile_arg("SLUICE_UID"), dockerfile_arg("SLUICE_GID")


def duration_s(text):
    """'30s', '1m30s', '500ms' → seconds (the config's duration syntax)."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    parts = re.findall(r"(\d+)(ms|s|m|h|d)", text)
    assert parts and "".join(n + u for n, u in parts) == text, f"not a duration: {text!r}"
    return sum(int(n) * units[u] for n, u in parts)


# -- podman ----------------------------------------------------------------------------------
# ../shared/ENVIRONMENT.md: crun refuses this kernel's hybrid cgroups (runc works); the default
# container ulimits exceed the host's hard limits; nothing can be pulled; host networking lets
# apt-get in a build reach the archive and the test reach the container's port on 127.0.0.1.
PODMAN = ["podman", "--runtime", "runc"]
LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]


def podman(*args, timeout=60, check=False):
    r = subprocess.run([*PODMAN, *args], capture_output=True, encoding="utf-8",
                       errors="replace", timeout=deadline(timeout), stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise AssertionError(f"podman {' '.join(args[:3])} … failed ({r.returncode}):\n"
                             f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def without_systemd_noise(stderr):
    """podman logs an error per container when it cannot add a systemd timer for the
    HEALTHCHECK (no systemd here); `podman healthcheck run` works regardless."""
    return "\n".join(l for l in stderr.splitlines() if "systemd" not in l)


class ContainerImageTest(SluiceTestCase):
    """The runtime image, built around SLUICE_BIN, run as a sidecar would be."""

    image = None

    @classmethod
    def setUpClass(cls):
        missing = [t for t in ("podman", "runc") if shutil.which(t) is None]
        if missing:
            raise unittest.SkipTest(f"{' and '.join(missing)} not installed "
                                    "(apt-get install podman runc mmdebstrap)")
        info = podman("info", "--format", "{{.Host.OCIRuntime.Name}}", timeout=60)
        if info.returncode != 0:
            raise unittest.SkipTest("podman cannot run here: "
                                    + without_systemd_noise(info.stderr).strip()[-500:])
        if os.environ.get("SLUICE_IMAGE"):
            cls.image = os.environ["SLUICE_IMAGE"]
            r = podman("image", "inspect", cls.image)
            if r.returncode != 0:
                raise AssertionError(f"SLUICE_IMAGE={cls.image} not found: {r.stderr.strip()}")
            return
        if shutil.which("mmdebstrap") is None:
            raise unittest.SkipTest("mmdebstrap not installed: no base image can be made "
                                    "(apt-get install mmdebstrap)")
        t0 = time.monotonic()
        base = subprocess.run([str(REPO / "scripts" / "container-base.sh")], capture_output=True,
                              encoding="utf-8", errors="replace", timeout=deadline(300))
        if base.returncode != 0:
            raise AssertionError(f"scripts/container-base.sh failed ({base.returncode}):\n"
                                 f"{base.stderr[-3000:]}")
        # Can this machine run a container at all? (kernel, cgroups, user namespaces...)
        smoke = podman("run", "--rm", "--network", "host", *LIMITS, "--pull=never",
                       "localhost/debian:12", "true", timeout=120)
        if smoke.returncode != 0:
            raise unittest.SkipTest("podman cannot run a container on this machine: "
                                    + without_systemd_noise(smoke.stderr).strip()[-500:])
        cls.image = BUILT_IMAGE
        cls._build_runtime_stage()
        sys.stderr.write(f"\n  base image and runtime stage ready in {time.monotonic() - t0:.0f}s\n")

    @classmethod
    def _build_runtime_stage(cls):
        binary = Path(SLUICE_BIN)
        assert binary.is_file(), f"SLUICE_BIN {binary} does not exist: build sluice first"
        ctx = Path(tempfile.mkdtemp(prefix="sluice-binary-"))
        try:
            # The release binary with its debug info is ~140 MB; the image needs ~4 MB of it.
            staged = ctx / "sluice"
            if shutil.which("strip") is None or subprocess.run(
                    ["strip", "-o", str(staged), str(binary)], capture_output=True).returncode:
                shutil.copy2(binary, staged)
            staged.chmod(0o755)
            # Context: the repository (the runtime stage copies container/sluice.yaml from
            # it; .dockerignore keeps build*/ out). --format docker keeps the HEALTHCHECK.
            podman("build", "--format", "docker", "--pull=never", "--network", "host", *LIMITS,
                   "--build-context", f"binary={ctx}", "-f", str(DOCKERFILE),
                   "-t", cls.image, str(REPO), timeout=600, check=True)
        finally:
            shutil.rmtree(ctx, ignore_errors=True)

    # -- helpers ---------------------------------------------------------------------------
    def inspect_image(self):
        return json.loads(podman("image", "inspect", self.image, check=True).stdout)[0]

    def healthcheck(self):
        """The image's HEALTHCHECK (podman shows it beside Config, docker inside)."""
        img = self.inspect_image()
        return img.get("Healthcheck") or img["Config"].get("Healthcheck") or {}

    def run_once(self, *args, env=None, entrypoint=None):
        opts = ["--rm", "--network", "host", *LIMITS, "--pull=never", "--read-only",
                "--cap-drop", "ALL"]
        for k, v in (env or {}).items():
            opts += ["-e", f"{k}={v}"]
        if entrypoint:
            opts += ["--entrypoint", entrypoint]
        return podman("run", *opts, self.image, *args, timeout=60)

    def container_state(self, name):
        r = podman("inspect", name, "--format", "{{json .State}}")
        return json.loads(r.stdout) if r.returncode == 0 else {}

    def logs(self, name):
        r = podman("logs", name)
        return r.stdout + r.stderr

    def get(self, port, path):
        return http_get(port, path, 5)

    # -- tests -----------------------------------------------------------------------------
    def test_image_metadata_libraries_and_default_config(self):
        cfg = self.inspect_image()["Config"]
        self.assertEqual(cfg.get("User"), f"{UID}:{GID}", "numeric non-root USER")
        self.assertEqual(cfg.get("StopSignal"), "SIGTERM")
        self.assertIn("8787/tcp", cfg.get("ExposedPorts") or {})
        self.assertIn("/var/lib/sluice", cfg.get("Volumes") or {})
        health = " ".join(self.healthcheck().get("Test") or [])
        self.assertIn("/healthz", health, "HEALTHCHECK kept (podman build --format docker)")
        self.assertEqual(cfg.get("Entrypoint"), ["/usr/local/bin/sluice"])

        # Every library the binary links is in the image.
        ldd = self.run_once("/usr/local/bin/sluice", entrypoint="ldd")
        self.assertEqual(ldd.returncode, 0, ldd.stderr)
        self.assertNotIn("not found", ldd.stdout)
        self.assertIn("libwebsockets", ldd.stdout)

        # The state folder belongs to the sluice user; the process is not root.
        r = self.run_once("-c", "id -u; id -g; stat -c %u:%g:%a /var/lib/sluice",
                          entrypoint="/bin/sh")
        self.assertEqual(r.returncode, 0, r.stderr)
        uid, gid, state = r.stdout.split()
        self.assertEqual((int(uid), int(gid)), (UID, GID))
        self.assertEqual(state, f"{UID}:{GID}:750")

        # The built-in config takes its values from the environment: ok with the webhook URL
        # (the image's ENV gives the rest), an error naming the variable without it.
        ok = self.run_once("check", "-c", "/etc/sluice/sluice.yaml",
                           env={"SLUICE_WEBHOOK_URL": "https://example.org/hook"})
        self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
        bad = self.run_once("check", "-c", "/etc/sluice/sluice.yaml")
        self.assertEqual(bad.returncode, 2, bad.stdout + bad.stderr)
        self.assertIn("SLUICE_WEBHOOK_URL is not set", bad.stdout + bad.stderr)

    def test_sidecar_runs_non_root_and_delivers(self):
        token = "container-test-token"
        self.receiver.require_bearer(token)
        port = free_port()
        state = self.tmp / "state"
        state.mkdir()
        data = self.inbox                     # the folder the "storage client" (this test) fills
        data.chmod(0o755)
        etc = self.tmp / "etc"
        etc.mkdir()
        (etc / "sluice.yaml").write_text(f"""\
state_dir: /var/lib/sluice
log: {{level: debug, format: text}}
http: {{listen: "127.0.0.1:${{SLUICE_PORT}}"}}
delivery: {{timeout: 10s, backoff: {{initial: 100ms, max: 500ms}}}}
sources:
  - {{name: shared, type: local, path: /data, recursive: true, ignore: ["*.part", ".*"]}}
sinks:
  - name: hook
    type: webhook
    url: {self.receiver.url()}
    auth: {{bearer: "${{HOOK_TOKEN}}"}}
routes:
  - {{from: [shared], to: [hook]}}
""")
        (etc / "sluice.yaml").chmod(0o644)

        name = f"sluice-it-{uuid.uuid4().hex[:10]}"
        self.addCleanup(lambda: podman("rm", "--force", "--time", "0", name))
        t_start = time.monotonic()
        # As Kubernetes runs it (container/sidecar.yaml): read-only root, no capabilities, no
        # privilege escalation. `:U` gives the state folder to the image's user (uid 10001),
        # as `chown 10001:10001` or an fsGroup would.
        r = podman("run", "-d", "--name", name, "--network", "host", *LIMITS, "--pull=never",
                   "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
                   "-e", f"SLUICE_PORT={port}", "-e", f"HOOK_TOKEN={token}",
                   "-v", f"{state}:/var/lib/sluice:U",
                   "-v", f"{data}:/data:ro",
                   "-v", f"{etc / 'sluice.yaml'}:/etc/sluice/sluice.yaml:ro",
                   self.image, timeout=60)
        self.assertEqual(r.returncode, 0, without_systemd_noise(r.stderr))

        def up():
            st = self.container_state(name)
            if st and not st.get("Running"):
                raise AssertionError(f"the container exited ({st.get('ExitCode')}):\n"
                                     f"{self.logs(name)[-3000:]}")
            if " running: " not in self.logs(name):
                return False                  # the start-up scan is not done yet
            try:
                return self.get(port, "/healthz")[0] == 200
            except OSError:
                return False
        wait_until(up, 30, "/healthz from the host and the start-up scan")
        started_in = time.monotonic() - t_start

        # The process runs as the image's non-root user.
        top = podman("top", name, "huser", "args", check=True).stdout
        self.assertRegex(top, rf"(?m)^{UID}\s+/usr/local/bin/sluice run")
        ids = podman("exec", name, "id", "-u", check=True).stdout.split()
        self.assertEqual(ids, [str(UID)])

        # The image's HEALTHCHECK passes, and it is not a check that cannot fail: the same
        # command against a port nobody listens on fails.
        hc = podman("healthcheck", "run", name, timeout=30)
        self.assertEqual(hc.returncode, 0, hc.stdout + without_systemd_noise(hc.stderr))
        st = self.container_state(name)
        self.assertEqual((st.get("Health") or st.get("Healthcheck") or {}).get("Status"),
                         "healthy")
        test = self.healthcheck()["Test"]
        self.assertEqual(test[0], "CMD-SHELL")
        wrong = podman("exec", "-e", f"SLUICE_PORT={free_port()}", name, "/bin/sh", "-c",
                       test[1], timeout=30)
        self.assertNotEqual(wrong.returncode, 0, "the health check passes without sluice")

        # A file dropped into the shared folder is delivered (bearer from the environment).
        write_file(str(data / "hello.txt"), b"from the storage client")
        want = b"/data/hello.txt"
        if not self.receiver.wait_until(lambda: want in self.receiver.delivered_paths(),
                                        deadline(30)):
            self.fail(f"{want} not delivered; got {self.receiver.delivered_paths()}; "
                      f"log:\n{self.logs(name)[-3000:]}")
        self.assertEqual([r.status for r in self.receiver.requests if r.status != 200], [],
                         "every request carried the bearer token")

        # The queue lives in the state volume, owned by the sluice user.
        db = state / "queue.db"
        wait_until(db.exists, 10, "queue.db in the state volume")
        inside = podman("exec", name, "stat", "-c", "%u:%g", "/var/lib/sluice/queue.db",
                        check=True).stdout.strip()
        self.assertEqual(inside, f"{UID}:{GID}")
        if os.geteuid() == 0:                 # rootful: the ids on the host are the same
            self.assertEqual((db.stat().st_uid, db.stat().st_gid), (UID, GID))

        # `podman stop` sends the STOPSIGNAL; sluice drains and exits 0 well within the grace.
        t0 = time.monotonic()
        stop = podman("stop", "--time", "45", name, timeout=60)
        stopped_in = time.monotonic() - t0
        self.assertEqual(stop.returncode, 0, without_systemd_noise(stop.stderr))
        st = self.container_state(name)
        self.assertFalse(st.get("Running"))
        self.assertEqual(st.get("ExitCode"), 0, self.logs(name)[-3000:])
        self.assertLess(stopped_in, 30, "stopped by SIGTERM, not by the SIGKILL after the grace")
        logs = self.logs(name)
        self.assertIn("signal 15", logs)
        self.assertIn("stopped", logs.splitlines()[-1] if logs.strip() else "")
        print(f"\n  container: healthy {started_in:.1f}s after podman run, stopped in "
              f"{stopped_in:.1f}s", end=" ", flush=True)


class KubernetesExamplesTest(unittest.TestCase):
    """container/sidecar.yaml and container/oscar-example.yaml: parse, hardening, sluice check."""

    def setUp(self):
        try:
            import yaml  # Debian: python3-yaml
        except ImportError:
            raise AssertionError("PyYAML is not installed: run scripts/install-deps.sh test "
                                 "(Debian python3-yaml)") from None
        self.yaml = yaml
        self.tmp = Path(tempfile.mkdtemp(prefix="sluice-k8s-"))
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)

    def docs(self, path):
        docs = [d for d in self.yaml.safe_load_all(path.read_text()) if d is not None]
        for d in docs:
            self.assertIn("apiVersion", d, path.name)
            self.assertIn("kind", d, path.name)
            self.assertIn("name", d.get("metadata", {}), path.name)
        return docs

    def test_examples(self):
        for path in EXAMPLES:
            with self.subTest(example=path.name):
                self.check_example(path)

    def check_example(self, path):
        docs = self.docs(path)
        by_kind = {}
        for d in docs:
            by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
        deployments = list(by_kind.get("Deployment", {}).values())
        self.assertEqual(len(deployments), 1, "one Deployment per example")
        pod = deployments[0]["spec"]["template"]["spec"]
        containers = {c["name"]: c for c in pod["containers"]}
        self.assertIn("sluice", containers)
        self.assertGreaterEqual(len(containers), 2, "sluice next to a storage client")
        sluice = containers["sluice"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m for m in sluice["volumeMounts"]}

        # The config: a ConfigMap mounted where the args point.
        args = sluice["args"]
        self.assertEqual(args[:2], ["run", "-c"])
        conf_dir, conf_name = args[2].rsplit("/", 1)
        cm_volume = volumes[mounts[conf_dir]["name"]]
        config_map = by_kind["ConfigMap"][cm_volume["configMap"]["name"]]
        config_text = config_map["data"][conf_name]
        config = self.yaml.safe_load(config_text)

        # Probes reach http.listen from outside the container.
        host, port = config["http"]["listen"].rsplit(":", 1)
        self.assertEqual(host, "0.0.0.0", "the kubelet's probes do not come from localhost")
        ports = {p["name"]: p["containerPort"] for p in sluice["ports"]}
        for probe, want in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            get = sluice[probe]["httpGet"]
            self.assertEqual(get["path"], want)
            self.assertEqual(ports.get(get["port"], get["port"]), int(port))

        # Hardening, and the same user as the image.
        sc, psc = sluice["securityContext"], pod.get("securityContext", {})
        self.assertIs(sc["runAsNonRoot"], True)
        self.assertEqual(sc["runAsUser"], UID)
        self.assertEqual(sc.get("runAsGroup", GID), GID)
        self.assertIs(sc["readOnlyRootFilesystem"], True)
        self.assertIs(sc["allowPrivilegeEscalation"], False)
        self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
        self.assertEqual((sc.get("seccompProfile") or psc.get("seccompProfile"))["type"],
                         "RuntimeDefault")
        self.assertEqual(psc.get("fsGroup"), GID, "the state volume writable by the image's gid")
        self.assertIn("/tmp", mounts, "a writable /tmp under a read-only root (SQLite temp files)")
        self.assertIn("requests", sluice["resources"])
        self.assertIn("limits", sluice["resources"])

        # State on a persistent volume, at state_dir.
        state = volumes[mounts[config["state_dir"]]["name"]]
        claim = state["persistentVolumeClaim"]["claimName"]
        self.assertIn(claim, by_kind.get("PersistentVolumeClaim", {}))
        self.assertIs(mounts[config["state_dir"]].get("readOnly", False), False)

        # Each local source watches a volume the storage client mounts too.
        for src in config["sources"]:
            if src["type"] != "local":
                continue
            mount = next((m for p, m in mounts.items() if src["path"].startswith(p + "/")
                          or src["path"] == p), None)
            self.assertIsNotNone(mount, f"source {src['name']}: {src['path']} is not mounted")
            others = [c["name"] for c in pod["containers"] if c["name"] != "sluice"
                      and any(m["name"] == mount["name"] for m in c.get("volumeMounts", []))]
            self.assertTrue(others, f"source {src['name']}: the volume is shared with no client")

        # The pod's grace outlasts sluice's drain (the longest shutdown_grace, default 30s).
        graces = [config.get("delivery", {}).get("shutdown_grace", "30s")]
        graces += [s["shutdown_grace"] for s in config["sinks"] if "shutdown_grace" in s]
        drain = max(duration_s(g) for g in graces)
        self.assertGreater(pod["terminationGracePeriodSeconds"], drain + 5)

        # Secrets: every ${NAME} comes from the container's env; every *_file from a mount.
        env = {e["name"] for e in sluice.get("env", [])}
        names = set(re.findall(r"\$\{(\w+)\}", config_text))
        self.assertEqual(names - env, set(), "variables the container does not set")
        files = []

        def relocate(node):
            """*_file paths moved under the temp folder (with a dummy secret), for the check."""
            if isinstance(node, dict):
                for k, v in node.items():
                    if k.endswith("_file") and isinstance(v, str):
                        self.assertTrue(any(v.startswith(p + "/") for p in mounts),
                                        f"{k}: {v} is on no volume")
                        files.append(v)
                        local = self.tmp / "root" / v.lstrip("/")
                        local.parent.mkdir(parents=True, exist_ok=True)
                        local.write_text("0123456789abcdef\n")
                        local.chmod(0o600)
                        node[k] = str(local)
                    else:
                        relocate(v)
            elif isinstance(node, list):
                for v in node:
                    relocate(v)
        relocate(config)
        for f in files:
            vol = volumes[mounts[f.rsplit("/", 1)[0]]["name"]]
            self.assertIn("secret", vol, f"{f} comes from a Secret")
            self.assertEqual(vol["secret"].get("defaultMode", 0o644) & 0o007, 0,
                             f"{f}: a Secret file other users may read (sluice warns)")

        checked = self.tmp / f"{path.stem}.yaml"
        checked.write_text(self.yaml.safe_dump(config))
        r = subprocess.run([SLUICE_BIN, "check", "-c", str(checked)], capture_output=True,
                           encoding="utf-8", errors="replace", timeout=deadline(30),
                           env={**os.environ, **{n: "example" for n in names}})
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, out)
        self.assertNotIn("warning", out)


if __name__ == "__main__":
    unittest.main()
