"""On a machine with an NVIDIA GPU: a job built with nvcc (tests/gpu/kernel_job.cu) runs a
kernel on the GPU sluice gave it, under build/sluice, and the commit-to-start latency is
measured. Without a working `nvidia-smi` and `nvcc` every test here skips, saying why (CI has
no GPU).

    cd tests/integration && SLUICE_BIN=../../build/sluice python3 -m unittest -v test_gpu_device

Prints one line `gpu-check: ...` with the figures (for the issue note and bench/README.md).
"""
import json
import os
import shutil
import statistics
import subprocess
import unittest

from harness import REPO, SluiceTestCase, wait_until, write_file


def gpus_here():
    """The UUIDs nvidia-smi lists, or (None, why)."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return None, "no nvidia-smi on PATH"
    r = subprocess.run([smi, "--query-gpu=uuid", "--format=csv,noheader"], capture_output=True,
                       text=True, timeout=60)
    uuids = [u.strip() for u in r.stdout.splitlines() if u.strip()]
    if r.returncode != 0 or not uuids:
        return None, f"nvidia-smi lists no GPU ({r.returncode}: {r.stderr.strip()[:200]})"
    return uuids, ""


class GpuDeviceTest(SluiceTestCase):
    def setUp(self):
        super().setUp()
        self.uuids, why = gpus_here()
        if not self.uuids:
            self.skipTest(why)
        nvcc = shutil.which("nvcc") or ("/usr/local/cuda/bin/nvcc"
                                        if os.access("/usr/local/cuda/bin/nvcc", os.X_OK) else None)
        if not nvcc:
            self.skipTest("no nvcc to build the kernel job")
        self.job = self.tmp / "kernel_job"
        subprocess.run([nvcc, "-O2", "-o", str(self.job), str(REPO / "tests/gpu/kernel_job.cu")],
                       check=True, timeout=300)

    def test_each_job_runs_its_kernel_on_the_one_gpu_it_was_given(self):
        log = self.tmp / "kernel.jsonl"
        n_jobs = max(4, 2 * len(self.uuids))
        cfg, port = self.config()
        cfg["sinks"] = [{"name": "gpu", "type": "supervisor", "command": [str(self.job)],
                         "gpus": "auto", "gpus_per_job": 1, "concurrency": len(self.uuids) * 2,
                         "timeout": "5m", "max_attempts": 1, "env": {"KERNEL_LOG": str(log)}}]
        cfg["routes"] = [{"from": ["inbox"], "to": ["gpu"]}]
        s = self.sluice(cfg, port).start()
        for i in range(n_jobs):
            write_file(self.path(f"frame{i}.raw"), b"x")
        wait_until(lambda: s.metric("sluice_deliveries_done_total", sink="gpu") == n_jobs, 300,
                   f"{n_jobs} GPU jobs")
        rows = [json.loads(line) for line in log.read_text().splitlines()]
        self.assertEqual(len(rows), n_jobs)
        for r in rows:
            self.assertTrue(r["ok"], r)
            self.assertEqual(r["devices"], 1, r)       # it sees exactly the GPU it was given
            self.assertEqual(r["uuid"], r["given"], r)  # and that one is the one named
            self.assertIn(r["uuid"], self.uuids)
        latency = sorted(r["start_us"] / 1000 - r["committed_ms"] for r in rows)
        p99 = latency[min(len(latency) - 1, int(0.99 * len(latency)))]
        print(f"\ngpu-check: {n_jobs} jobs on {len(self.uuids)} GPU(s) "
              f"({len({r['uuid'] for r in rows})} used); commit-to-start latency "
              f"p50 {statistics.median(latency):.1f} ms, p99 {p99:.1f} ms, max {latency[-1]:.1f} ms")


if __name__ == "__main__":
    unittest.main()
