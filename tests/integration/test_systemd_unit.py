"""The systemd units as shipped: hardened (systemd-analyze security rates each service 2.0 or
lower, with the settings that matter in place), valid (systemd-analyze verify), and the drop-in
recipes of systemd/README.md still parse. Nothing here needs systemd as PID 1: both analyses
run offline. Skipped, with the reason, where systemd-analyze is not installed."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when run by file path
from harness import REPO, SLUICE_BIN  # noqa: E402

UNITS = REPO / "systemd"
SERVICES = ["sluice.service", "sluice-once.service"]
MAX_EXPOSURE = 2.0
ANALYZE = shutil.which("systemd-analyze")
ENV = dict(os.environ, SYSTEMD_COLORS="0", SYSTEMD_PAGER="", LC_ALL="C.UTF-8")


def analyze(*args):
    return subprocess.run([ANALYZE, *args], capture_output=True, text=True, env=ENV, timeout=120)


def security(path):
    """(overall exposure, {setting: exposure or None when the check passes}) of a unit file."""
    r = analyze("security", "--offline=true", "--no-pager", str(path))
    if r.returncode != 0:
        raise AssertionError(f"systemd-analyze security {path} failed:\n{r.stdout}{r.stderr}")
    m = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?) (\S+)", r.stdout)
    if not m:
        raise AssertionError(f"no overall exposure level in:\n{r.stdout}{r.stderr}")
    checks = {}
    for line in r.stdout.splitlines():
        # "✓ Name=   description" (passed) or "✗ Name=   description   0.2" (exposure)
        row = re.match(r"^([✓✗])\s+(\S+)\s.*?(\d+\.\d+)?\s*$", line)
        if row:
            checks[row.group(2)] = None if row.group(1) == "✓" else float(row.group(3) or 0)
    return float(m.group(1)), checks


def unit_settings(path):
    """The [Service] assignments of a unit file: {key: [values in order]}."""
    settings, section = {}, None
    for raw in Path(path).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
        elif section == "Service" and "=" in line:
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def runnable_copy(directory, names, extra=""):
    """Copies of the units in `directory`, ExecStart pointing at the build's binary when no
    /usr/bin/sluice exists (verify checks that the program is executable); `extra` is appended
    to every .service (a drop-in's [Service] section, as systemd merges it)."""
    binary = "/usr/bin/sluice" if os.access("/usr/bin/sluice", os.X_OK) else SLUICE_BIN
    paths = []
    for name in names:
        text = (UNITS / name).read_text().replace("/usr/bin/sluice", binary)
        if name.endswith(".service"):
            text += extra
        path = Path(directory) / name
        path.write_text(text)
        paths.append(path)
    return paths


@unittest.skipUnless(ANALYZE, "systemd-analyze is not installed (Debian package systemd)")
class SystemdUnitTest(unittest.TestCase):
    def test_services_rate_ok(self):
        for name in SERVICES:
            with self.subTest(unit=name):
                overall, checks = security(UNITS / name)
                self.assertLessEqual(overall, MAX_EXPOSURE, f"{name}: exposure {overall}")
                # The settings the rating rests on, each checked by systemd itself.
                for setting in ["User=/DynamicUser=", "NoNewPrivileges=", "ProtectSystem=",
                                "ProtectHome=", "PrivateTmp=", "PrivateDevices=",
                                "CapabilityBoundingSet=~CAP_SYS_ADMIN",
                                "CapabilityBoundingSet=~CAP_SET(UID|GID|PCAP)",
                                "SystemCallFilter=~@privileged", "SystemCallFilter=~@mount",
                                "SystemCallArchitectures=", "RestrictNamespaces=~user",
                                "RestrictAddressFamilies=~AF_PACKET", "MemoryDenyWriteExecute=",
                                "ProtectKernelModules=", "ProtectProc="]:
                    self.assertIn(setting, checks, f"{name}: systemd-analyze lists no {setting}")
                    self.assertIsNone(checks[setting], f"{name}: {setting} is not hardened")

    def test_services_keep_their_runtime_contract(self):
        common = {"User": ["sluice"], "Group": ["sluice"], "StateDirectory": ["sluice"],
                  "WorkingDirectory": ["/var/lib/sluice"], "ProtectSystem": ["strict"]}
        for name in SERVICES:
            s = unit_settings(UNITS / name)
            with self.subTest(unit=name):
                for key, value in common.items():
                    self.assertEqual(s.get(key), value, f"{name}: {key}")
                self.assertNotIn("DynamicUser", s, "the package creates a real user")
                self.assertRegex(s["ExecStart"][0], r"^/usr/bin/sluice (run|once) -c "
                                 r"/etc/sluice/sluice\.yaml$")
                # Only the state dir is writable; no capability is granted back.
                self.assertEqual(s.get("CapabilityBoundingSet"), [""])
                self.assertNotIn("ReadWritePaths", s)
        run = unit_settings(UNITS / "sluice.service")
        self.assertEqual(run["Type"], ["notify"])
        self.assertIn("WatchdogSec", run)
        self.assertIn("TimeoutStopSec", run)
        self.assertEqual(run["ExecReload"], ["/bin/kill -HUP $MAINPID"])
        self.assertEqual(run["ExecStartPre"], ["/usr/bin/sluice check -c /etc/sluice/sluice.yaml"])
        once = unit_settings(UNITS / "sluice-once.service")
        self.assertEqual(once["Type"], ["oneshot"])
        self.assertEqual(once["SuccessExitStatus"], ["0 1"])

    def verify(self, names, extra=""):
        if not os.access("/usr/bin/sluice", os.X_OK) and not os.access(SLUICE_BIN, os.X_OK):
            self.skipTest(f"no sluice binary at /usr/bin/sluice or {SLUICE_BIN} (verify needs one)")
        with tempfile.TemporaryDirectory() as d:
            paths = runnable_copy(d, names, extra)
            r = analyze("verify", "--man=no", *map(str, paths))
            # verify exits 0 on warnings about our units too (an unknown key is "ignoring"):
            # any line about them is a failure. Lines about the host's other units are not ours.
            ours = [line for line in (r.stdout + r.stderr).splitlines()
                    if d in line or "sluice" in line]
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual(ours, [], "\n".join(ours))

    def test_units_verify(self):
        self.verify(SERVICES + ["sluice-once.timer"])

    def test_readme_drop_ins_parse(self):
        """Every ```ini block of systemd/README.md that is a [Service] drop-in, merged with each
        service as systemd would, still verifies (no unknown key, no bad value)."""
        text = (UNITS / "README.md").read_text()
        drop_ins = [b for b in re.findall(r"```ini\n(.*?)```", text, re.S) if "[Service]" in b]
        self.assertGreaterEqual(len(drop_ins), 5, "the README's drop-in recipes went missing")
        for block in drop_ins:
            with self.subTest(drop_in=block.splitlines()[1] if "\n" in block else block):
                self.verify(SERVICES + ["sluice-once.timer"], extra="\n" + block)
                with tempfile.TemporaryDirectory() as d:
                    path = runnable_copy(d, ["sluice.service"], "\n" + block)[0]
                    overall, _ = security(path)
                    # Even root with the capabilities of `user:` stays below "EXPOSED" (5).
                    self.assertLess(overall, 5.0, block)


if __name__ == "__main__":
    unittest.main()
