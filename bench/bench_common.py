"""What the Python bench sections share: reading sluice's /metrics, describing the run (date,
commit, cores, scheduling, load) and rewriting a section's results block in bench/README.md."""
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent


def metrics(port):
    """sluice's /metrics text, or "" while it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            return r.read().decode()
    except (OSError, urllib.error.URLError):
        return ""


def run_meta(bench):
    """The header facts of a section's results block, measured now."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=HERE).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True,
                           cwd=HERE).stdout.strip()
    sched = subprocess.run(["chrt", "-p", str(os.getpid())], capture_output=True,
                           text=True).stdout
    return {"bench": bench, "date": time.strftime("%Y-%m-%d %H:%M %Z"),
            "cores": os.cpu_count(), "commit": commit + ("+uncommitted changes" if dirty else ""),
            "sched": "SCHED_RR priority 1" if "SCHED_RR" in sched else "default scheduling policy",
            "load_before": " ".join(Path("/proc/loadavg").read_text().split()[:3])}


def update_readme(path, block, begin, end, after=("<!-- results:end -->\n",)):
    """Replaces the text between `begin` and `end` with `block` (which holds both markers); a
    README without them gets the block after the first of the `after` markers it has, or at
    its end."""
    text = Path(path).read_text()
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        for anchor in after:
            if anchor in text:
                head, tail = text.split(anchor, 1)
                text = head + anchor + "\n" + block + "\n" + tail
                break
        else:
            text = text.rstrip("\n") + "\n\n" + block + "\n"
    Path(path).write_text(text)
