#!/usr/bin/env python3
"""Fallback HTTP load generator for bench/run.sh when wrk is not installed.

    loadgen.py --url URL --connections C --seconds S

C threads, each with one keep-alive connection, POST '{}' with a ce-subject header in a loop.
Prints {"req_per_s": ..., "requests": ..., "errors": ...}. Python is far slower than wrk, so
this measures a lower bound of the receiver's capacity (the client is usually the limit).
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
    a = ap.parse_args()
    u = urllib.parse.urlsplit(a.url)
    counts = [0] * a.connections
    errors = [0] * a.connections
    stop = time.time() + a.seconds

    def worker(i):
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        headers = {"Content-Type": "application/json", "ce-subject": "/loadgen"}
        while time.time() < stop:
            try:
                conn.request("POST", u.path or "/", body=b"{}", headers=headers)
                r = conn.getresponse()
                r.read()
                counts[i] += 1
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
    print(json.dumps({"req_per_s": sum(counts) / secs, "requests": sum(counts),
                      "errors": sum(errors)}))


if __name__ == "__main__":
    main()
