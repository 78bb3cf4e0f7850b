"""sd_notify as systemd sees it: build/sluice run with a NOTIFY_SOCKET this test owns.

READY=1 once it runs, STATUS= with the queue depth and each source's state, WATCHDOG=1 at half
of WATCHDOG_USEC, RELOADING=1 on SIGHUP (then READY=1 from the re-executed daemon), STOPPING=1
on SIGTERM, and no WATCHDOG=1 while the event loop is stalled (fault injection), so systemd
would restart a hung daemon.
"""
import os
import signal
import socket
import threading
import time
import unittest

from harness import SluiceTestCase, wait_until, write_file


class NotifySocket:
    """A unix datagram socket collecting (monotonic time, message) pairs."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while not self.stop.is_set():
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.messages.append((time.monotonic(), data.decode("utf-8", "replace")))

    def close(self):
        self.stop.set()
        self.thread.join()
        self.sock.close()

    def lines(self, var):
        """(time, value) of every `VAR=value` line received, in order."""
        out = []
        with self.lock:
            for t, m in self.messages:
                for line in m.split("\n"):
                    if line.startswith(var + "="):
                        out.append((t, line[len(var) + 1:]))
        return out


class SystemdNotifyTest(SluiceTestCase):
    def start_with_notify(self, **kw):
        notify = NotifySocket(self.tmp / "notify.sock")
        self.addCleanup(notify.close)
        s = self.sluice(**kw)
        s.env = dict(os.environ, NOTIFY_SOCKET=notify.path, WATCHDOG_USEC="400000",
                     SLUICE_FAULT_INJECTION="stall-on-sigusr2")
        s.start()
        return s, notify

    def test_ready_status_watchdog_reload_stop(self):
        s, notify = self.start_with_notify()
        wait_until(lambda: notify.lines("READY"), 10, "READY=1")
        wait_until(lambda: len(notify.lines("WATCHDOG")) >= 3, 10, "three WATCHDOG=1 pings")
        status = wait_until(lambda: notify.lines("STATUS"), 10, "STATUS=")[-1][1]
        self.assertRegex(status, r"^\d+ pending, \d+ dead; sources: inbox ok$")

        # A receiver that refuses: the queue depth shows in STATUS.
        self.receiver.fail(503)
        write_file(self.path("a"), b"a")
        wait_until(lambda: any(v.startswith("1 pending") for _, v in notify.lines("STATUS")), 15,
                   "STATUS with 1 pending")

        # SIGHUP with a valid config: RELOADING=1, then READY=1 again from the same pid.
        ready_before = len(notify.lines("READY"))
        pid = s.proc.pid
        s.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: notify.lines("RELOADING"), 15, "RELOADING=1")
        wait_until(lambda: len(notify.lines("READY")) > ready_before, 30, "READY=1 after the reload")
        self.assertEqual(s.proc.pid, pid)
        self.assertTrue(s.alive())

        self.assertEqual(s.stop(), 0)
        self.assertTrue(notify.lines("STOPPING"), "no STOPPING=1 on SIGTERM")

    def test_a_stalled_event_loop_stops_the_watchdog_pings(self):
        s, notify = self.start_with_notify()
        wait_until(lambda: len(notify.lines("WATCHDOG")) >= 3, 10, "three WATCHDOG=1 pings")
        pings = [t for t, _ in notify.lines("WATCHDOG")]
        normal = max(b - a for a, b in zip(pings, pings[1:]))
        self.assertLess(normal, 1.5, f"pings every {normal:.2f}s with WATCHDOG_USEC=400000")

        sent = time.monotonic()
        s.proc.send_signal(signal.SIGUSR2)  # the loop blocks for 5 s
        wait_until(lambda: "stalling the event loop" in s.log_text(), 10, "the stall to begin")
        # Pings resume once the loop runs again.
        wait_until(lambda: any(t > sent + 4.0 for t, _ in notify.lines("WATCHDOG")), 20,
                   "pings after the stall")
        times = [sent] + [t for t, _ in notify.lines("WATCHDOG") if t > sent]
        gap = max(b - a for a, b in zip(times, times[1:]))
        # systemd (WatchdogSec = 0.4 s here) would have killed the daemon during this gap.
        self.assertGreater(gap, 3.0, f"pings went on during a 5 s stall (longest gap {gap:.2f}s)")
        self.assertTrue(s.alive())
        write_file(self.path("after"), b"x")
        self.wait_delivered([self.path("after")])


if __name__ == "__main__":
    unittest.main()
