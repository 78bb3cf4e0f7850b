#!/usr/bin/env python3
"""Fallback HTTP load generator for bench/run.sh when wrk is not installed.

    loadgen.py --url URL --connections C --seconds S [--body-template FILE --slot S --tag T]

C threads, each with one keep-alive connection, POST in a loop: '{}' with a ce-subject header,
or (--body-template) the file's bytes with every --slot replaced by a key of its own per request
("T-<thread>-<n>", so that no two requests name the same object). Prints {"req_per_s",
"requests", "seconds", "errors", "non_2xx", "socket_errors", "p50_ms", "p99_ms"}. Python is far
slower than wrk, so this measures a lower bound of the server's capacity (the client is usually
the limit).
"""
import argparse
import http.client
import json
import threading
import time
import urllib.parse


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--body-template")
    ap.add_argument("--slot", default="@@KEY@@")
    ap.add_argument("--tag", default="k")
    a = ap.parse_args()
    u = urllib.parse.urlsplit(a.url)
    target = (u.path or "/") + (f"?{u.query}" if u.query else "")
    template = open(a.body_template, "rb").read() if a.body_template else None
    counts = [0] * a.connections
    errors = [0] * a.connections
    non_2xx = [0] * a.connections
    latencies = [[] for _ in range(a.connections)]
    stop = time.time() + a.seconds

    def worker(i):
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        headers = {"Content-Type": "application/json", "ce-subject": "/loadgen"}
        n = 0
        while time.time() < stop:
            n += 1
            body = b"{}"
            if template is not None:
                body = template.replace(a.slot.encode(), f"{a.tag}-{i}-{n}".encode())
            try:
                t0 = time.monotonic()
                conn.request("POST", target, body=body, headers=headers)
                r = conn.getresponse()
                r.read()
                latencies[i].append((time.monotonic() - t0) * 1000)
                counts[i] += 1
                if not 200 <= r.status < 300:
                    non_2xx[i] += 1
            except Exception:
                errors[i] += 1
                conn.close()
                conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)

    start = time.time()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(a.connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.time() - start
    lat = sorted(x for li in latencies for x in li)

    def pct(p):
        return lat[min(len(lat) - 1, int(p / 100 * len(lat)))] if lat else None
    print(json.dumps({"req_per_s": sum(counts) / secs, "requests": sum(counts), "seconds": secs,
                      "errors": sum(errors), "non_2xx": sum(non_2xx),
                      "socket_errors": sum(errors), "p50_ms": pct(50), "p99_ms": pct(99)}))


if __name__ == "__main__":
    main()
