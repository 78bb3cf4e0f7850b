"""The Debian package (`make package`): cpack builds it from the build dir that holds
$SLUICE_BIN without compiling anything; its contents, control data and maintainer scripts are
checked with dpkg-deb; then, as root, it is installed with dpkg, used (the config checked and a
file delivered by a job, both as the `sluice` user, without capabilities), reinstalled, and
purged, which must leave no user, state dir or file behind. Skipped, with the reason, where the
tools are missing, where not root (the install part), or where a `sluice` package or user
exists already (the purge would take what is not ours)."""
import grp
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import unittest
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # also when run by file path
from harness import REPO, SLUICE_BIN, free_port, wait_until  # noqa: E402

BUILD_DIR = Path(SLUICE_BIN).resolve().parent
CONFIG = "/etc/sluice/sluice.yaml"
STATE = Path("/var/lib/sluice")
INSTALLED = ["/usr/bin/sluice", "/lib/systemd/system/sluice.service",
             "/lib/systemd/system/sluice-once.service", "/lib/systemd/system/sluice-once.timer",
             CONFIG, "/usr/share/doc/sluice/README.md", "/usr/share/doc/sluice/config.md",
             "/usr/share/doc/sluice/systemd.md"]


def run(*args, check=True, timeout=300, **kw):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, args))} exited {r.returncode}:\n"
                             f"{r.stdout}{r.stderr}")
    return r


def missing_tools():
    need = {"cpack": "cmake", "dpkg-deb": "dpkg", "dpkg-shlibdeps": "dpkg-dev", "file": "file"}
    return [f"{tool} (package {pkg})" for tool, pkg in need.items() if not shutil.which(tool)]


def package_status(name):
    r = run("dpkg-query", "-W", "-f=${Status}", name, check=False)
    return r.stdout.strip() if r.returncode == 0 else ""


def installed_names():
    """Installed packages and what they provide (libspdlog1.10 provides libspdlog1.10-fmt9,
    the name its shlibs file gives dpkg-shlibdeps)."""
    out = run("dpkg-query", "-W", "-f=${db:Status-Abbrev}|${Package}|${Provides}\n").stdout
    names = set()
    for line in out.splitlines():
        status, package, provides = line.split("|", 2)
        if status.startswith("ii"):
            names.add(package)
            names.update(p.strip().split()[0] for p in provides.split(",") if p.strip())
    return names


def user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def group_exists(name):
    try:
        grp.getgrnam(name)
        return True
    except KeyError:
        return False


class PackageTest(unittest.TestCase):
    """Builds the .deb once for all tests of the class."""

    @classmethod
    def setUpClass(cls):
        tools = missing_tools()
        if tools:
            raise unittest.SkipTest("missing " + ", ".join(tools))
        if not os.access(SLUICE_BIN, os.X_OK):
            raise unittest.SkipTest(f"no sluice binary at {SLUICE_BIN}")
        if not (BUILD_DIR / "CPackConfig.cmake").exists():
            raise unittest.SkipTest(f"{BUILD_DIR} was configured before cmake/packaging.cmake "
                                    "existed: run cmake there again (make build)")
        cls.tmp = tempfile.TemporaryDirectory(prefix="sluice-pkg-")
        out = Path(cls.tmp.name) / "out"
        before = os.stat(SLUICE_BIN).st_mtime_ns
        r = run("cpack", "-G", "DEB", "-B", str(out), cwd=BUILD_DIR, timeout=600)
        cls.cpack_log = r.stdout + r.stderr
        cls.binary_rebuilt = os.stat(SLUICE_BIN).st_mtime_ns != before
        debs = sorted(out.glob("*.deb"))
        if len(debs) != 1:
            cls.tmp.cleanup()
            raise AssertionError(f"cpack made {debs}, not one .deb:\n{cls.cpack_log}")
        cls.deb = debs[0]
        cls.tree = Path(cls.tmp.name) / "tree"
        run("dpkg-deb", "-x", str(cls.deb), str(cls.tree))
        cls.control = Path(cls.tmp.name) / "control"
        run("dpkg-deb", "-e", str(cls.deb), str(cls.control))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def field(self, name):
        return run("dpkg-deb", "-f", str(self.deb), name).stdout.strip()

    # --- the package file -------------------------------------------------------------------

    def test_cpack_packages_the_built_binary_without_compiling(self):
        self.assertFalse(self.binary_rebuilt, f"cpack relinked {SLUICE_BIN}:\n{self.cpack_log}")
        self.assertNotRegex(self.cpack_log, r"Building CXX|Linking CXX")
        # The packaged binary is the built one, stripped: same version, smaller file.
        packaged = self.tree / "usr/bin/sluice"
        version = run(str(packaged), "--version").stdout.strip()
        self.assertEqual(version, run(SLUICE_BIN, "--version").stdout.strip())
        self.assertLessEqual(packaged.stat().st_size, os.stat(SLUICE_BIN).st_size)

    def test_control_fields(self):
        self.assertEqual(self.field("Package"), "sluice")
        arch = run("dpkg", "--print-architecture").stdout.strip()
        self.assertEqual(self.field("Architecture"), arch)
        self.assertIn(self.deb.name, {f"sluice_{self.field('Version')}_{arch}.deb"})
        depends = [d.strip().split()[0] for d in self.field("Depends").split(",")]
        # adduser for the maintainer scripts, and what dpkg-shlibdeps found in the binary.
        for pkg in ["adduser", "libc6", "libstdc++6", "libsqlite3-0", "libsystemd0", "libcurl4",
                    "libssl3"]:
            self.assertIn(pkg, depends)
        present = installed_names()
        for pkg in depends:  # so that dpkg -i on this machine finds every dependency
            self.assertIn(pkg, present, "not installed, nor provided by an installed package")

    def test_files_and_modes(self):
        listing = run("dpkg-deb", "-c", str(self.deb)).stdout
        entries = {}
        for line in listing.splitlines():
            mode, owner, _size, _date, _time, path = line.split(None, 5)
            entries[path.lstrip(".")] = (mode, owner)
        for path in INSTALLED:
            self.assertIn(path, entries)
            self.assertEqual(entries[path][1], "root/root", path)
        self.assertEqual(entries["/usr/bin/sluice"][0], "-rwxr-xr-x")
        self.assertEqual(entries[CONFIG][0], "-rw-r--r--")
        self.assertFalse([p for p in entries if p.startswith("/var/")],
                         "the state dir is made by postinst, not shipped")
        # The units and the config are the repository's, unchanged.
        for name in ["sluice.service", "sluice-once.service", "sluice-once.timer"]:
            self.assertEqual((self.tree / "lib/systemd/system" / name).read_text(),
                             (REPO / "systemd" / name).read_text(), name)
        self.assertEqual((self.tree / "etc/sluice/sluice.yaml").read_text(),
                         (REPO / "packaging/sluice.yaml").read_text())

    def test_conffile_and_maintainer_scripts(self):
        self.assertEqual((self.control / "conffiles").read_text().split(), [CONFIG])
        for script in ["postinst", "prerm", "postrm"]:
            path = self.control / script
            self.assertTrue(path.exists(), script)
            self.assertTrue(path.stat().st_mode & stat.S_IXUSR, f"{script} is not executable")
            self.assertEqual(path.read_text(), (REPO / "packaging/deb" / script).read_text())
            run("sh", "-n", str(path))

    def test_shipped_config_passes_check(self):
        r = run(str(self.tree / "usr/bin/sluice"), "check", "-c",
                str(self.tree / "etc/sluice/sluice.yaml"), check=False)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("ok", r.stdout + r.stderr)

    # --- installed on this machine ----------------------------------------------------------

    def test_install_use_and_purge(self):
        if os.geteuid() != 0:
            self.skipTest("installing with dpkg -i needs root")
        for tool in ["dpkg", "runuser", "setpriv", "adduser"]:
            if not shutil.which(tool):
                self.skipTest(f"{tool} is not installed")
        status = package_status("sluice")
        if status and "not-installed" not in status:
            self.skipTest(f"a package named sluice is already here ({status}): not touching it")
        if user_exists("sluice") or group_exists("sluice") or STATE.exists():
            self.skipTest("a sluice user, group or /var/lib/sluice exists already: purging the "
                          "package would remove it")
        try:
            self.install_and_use()
            self.purge_removes_everything()
        finally:
            if package_status("sluice"):
                run("dpkg", "--purge", "sluice", check=False)

    def install_and_use(self):
        r = run("dpkg", "-i", str(self.deb))
        self.assertIn("not started", r.stdout, "postinst tells the admin to edit the config")
        self.assertIn("install ok installed", package_status("sluice"))
        for path in INSTALLED:
            self.assertTrue(os.path.exists(path), path)

        user = pwd.getpwnam("sluice")
        group = grp.getgrnam("sluice")
        self.assertEqual(user.pw_gid, group.gr_gid)
        self.assertEqual(user.pw_dir, str(STATE))
        self.assertRegex(user.pw_shell, r"(nologin|false)$")
        self.assertLess(user.pw_uid, 1000, "a system user")
        st = STATE.stat()
        self.assertEqual((st.st_uid, st.st_gid), (user.pw_uid, group.gr_gid))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o750)

        conffiles = run("dpkg-query", "-W", "-f=${Conffiles}", "sluice").stdout
        self.assertRegex(conffiles, rf"^\s*{re.escape(CONFIG)} [0-9a-f]{{32}}\s*$")

        for who in ([], ["runuser", "-u", "sluice", "--"]):
            r = run(*who, "/usr/bin/sluice", "check", "-c", CONFIG, check=False)
            self.assertEqual(r.returncode, 0, f"{who}: {r.stdout}{r.stderr}")

        self.run_as_service_user()

        # Reinstalling (an upgrade's postinst) keeps the user and the state.
        (STATE / "keep").write_text("x")
        run("dpkg", "-i", str(self.deb))
        self.assertEqual(pwd.getpwnam("sluice").pw_uid, user.pw_uid)
        self.assertTrue((STATE / "keep").exists())

    def run_as_service_user(self):
        """The daemon as the unit runs it, as far as that goes without systemd: user sluice,
        no capabilities, no new privileges, UMask=0027, state in /var/lib/sluice. A file in a
        watched folder reaches a supervisor job, whose output lands in the state dir."""
        port = free_port()
        work = Path(tempfile.mkdtemp(prefix="sluice-svc-"))
        try:
            inbox = work / "inbox"
            inbox.mkdir()
            for p in (work, inbox):
                p.chmod(0o755)
            config = work / "sluice.yaml"
            config.write_text(
                f"state_dir: {STATE}\n"
                f"http: {{listen: '127.0.0.1:{port}'}}\n"
                f"sources:\n  - {{name: inbox, type: local, path: {inbox}}}\n"
                "sinks:\n"
                "  - name: job\n    type: supervisor\n"
                "    command: [/bin/sh, -c, 'id -un > \"$TMP_OUTPUT_DIR/who\"']\n"
                f"    outputs: [{{path: {STATE}/results}}]\n"
                "routes:\n  - {from: inbox, to: job}\n")
            config.chmod(0o644)
            log = open(work / "sluice.log", "wb")
            proc = subprocess.Popen(
                ["setpriv", "--reuid=sluice", "--regid=sluice", "--init-groups",
                 "--no-new-privs", "--bounding-set=-all", "--inh-caps=-all",
                 "/usr/bin/sluice", "run", "-c", str(config)],
                stdout=log, stderr=subprocess.STDOUT, preexec_fn=lambda: os.umask(0o027))
            try:
                def healthy():
                    try:
                        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz",
                                                    timeout=2) as r:
                            return r.status == 200
                    except OSError:
                        return proc.poll() is not None and self.fail(
                            f"sluice exited {proc.returncode}: {self.log_of(work)}")
                wait_until(healthy, timeout=30, what="/healthz of sluice running as sluice")
                (inbox / "a.dat").write_bytes(b"data")
                who = STATE / "results" / "who"
                wait_until(who.exists, timeout=30, what="the job's output in the state dir")
                self.assertEqual(who.read_text().strip(), "sluice")
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=60)
                log.close()
            self.assertEqual(proc.returncode, 0, self.log_of(work))
            uid = pwd.getpwnam("sluice").pw_uid
            for p in [STATE / "queue.db", STATE / "jobs", who]:
                self.assertEqual(p.stat().st_uid, uid, p)
                self.assertFalse(p.stat().st_mode & 0o007, f"{p} is open to other users")
        finally:
            shutil.rmtree(work, ignore_errors=True)

    @staticmethod
    def log_of(work):
        try:
            return (work / "sluice.log").read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def purge_removes_everything(self):
        run("dpkg", "--purge", "sluice")
        self.assertEqual(package_status("sluice"), "")
        for path in INSTALLED + ["/etc/sluice", "/usr/share/doc/sluice", str(STATE)]:
            self.assertFalse(os.path.lexists(path), f"{path} is still there")
        self.assertFalse(user_exists("sluice"), "user sluice is still there")
        self.assertFalse(group_exists("sluice"), "group sluice is still there")


if __name__ == "__main__":
    unittest.main()
