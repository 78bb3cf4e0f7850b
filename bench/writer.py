#!/usr/bin/env python3
"""Writes files into a watched directory and records when each one was closed.

    writer.py --dir INBOX --count N [--rate R] [--size BYTES] --out WRITES.tsv

Each file is opened, written and closed; time.time() is taken right after close() (that is
the moment inotify reports IN_CLOSE_WRITE) and stored as "<close time>\t<path>" per line.
--rate R paces the files at R per second (on a fixed schedule, so a slow write does not shift
the ones after it); without it, files are written as fast as possible.

--stage DIR (a directory on the same file system, outside the watched tree) writes every file
there first, untimed, and then renames them into --dir as fast as possible (IN_MOVED_TO, the
"write to a temp name, then rename" pattern): a burst whose speed does not depend on how fast
this Python process can create and fill files. The recorded time is taken after the rename.
"""
import argparse
import os
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--rate", type=float, default=0.0)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--prefix", default="f")
    ap.add_argument("--stage")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    d = os.path.abspath(a.dir)
    payload = os.urandom(a.size)
    records = []
    if a.stage:
        stage = os.path.abspath(a.stage)
        os.makedirs(stage, exist_ok=True)
        names = ["%s-%07d.dat" % (a.prefix, i) for i in range(a.count)]
        for n in names:
            with open(os.path.join(stage, n), "wb") as f:
                f.write(payload)
        rename = os.rename
        for n in names:
            dst = d + "/" + n
            rename(stage + "/" + n, dst)
            records.append("%.6f\t%s\n" % (time.time(), dst))
        with open(a.out, "w") as out:
            out.writelines(records)
        return
    start = time.time()
    for i in range(a.count):
        if a.rate > 0:
            due = start + i / a.rate
            delay = due - time.time()
            if delay > 0:
                time.sleep(delay)
        path = "%s/%s-%07d.dat" % (d, a.prefix, i)
        with open(path, "wb") as f:
            f.write(payload)
        records.append("%.6f\t%s\n" % (time.time(), path))
    with open(a.out, "w") as out:
        out.writelines(records)


if __name__ == "__main__":
    main()
