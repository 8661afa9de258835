#!/usr/bin/env python3
"""What one large request body costs the server: peak and remaining resident memory, and how
long a new client's /healthz waits meanwhile.

Starts a stepd (memory only, on a free loopback port), creates a session of N parameters,
then sends one step body of those N gradients as JSON (or as safetensors), and reads the
server's VmHWM (peak) and VmRSS from /proc before and after. A /healthz is timed from another
thread while the body is being handled.

    python3 bench/body_memory.py --stepd .build/release/stepd --params 5000000 --encoding json
"""
import argparse
import json
import os
import re
import socket
import struct
import subprocess
import threading
import time
import urllib.request


def proc_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M).group(1))


def start(binary, extra):
    p = subprocess.Popen([binary, "serve", "--port", "0", "--data-dir", "", *extra],
                         stderr=subprocess.PIPE, text=True)
    for line in p.stderr:
        m = re.search(r"listening on https?://127\.0\.0\.1:(\d+)", line)
        if m:
            threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
            return p, int(m.group(1))
    raise SystemExit("stepd did not start")


def request(port, method, path, body=None, ctype=None, timeout=600):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method)
    if ctype:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except urllib.error.URLError as e:  # refused early (413) while the body was still going out
        return None, str(e.reason).encode()


def safetensors(name, values):
    raw = struct.pack(f"<{len(values)}f", *values)
    header = json.dumps({name: {"dtype": "F32", "shape": [len(values)], "data_offsets": [0, len(raw)]}}).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + raw


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stepd", default=".build/release/stepd")
    ap.add_argument("--params", type=int, default=5_000_000)
    ap.add_argument("--encoding", choices=["json", "safetensors"], default="json")
    ap.add_argument("--max-body-bytes", type=int, default=1 << 30)
    ap.add_argument("--short", action="store_true",
                    help="gradients of 0 and 1 written as '0,': the most numbers per body byte")
    args, extra = ap.parse_known_args()
    n = args.params
    proc, port = start(args.stepd, ["--max-body-bytes", str(args.max_body_bytes), *extra])
    try:
        create = {"id": "m", "optimizer": {"type": "sgd", "lr": 0.1},
                  "params": [{"name": "w", "shape": [n], "init": "zeros"}]}
        status, body = request(port, "POST", "/v1/sessions", json.dumps(create).encode(), "application/json")
        assert status == 201, body
        grads = [i & 1 for i in range(n)] if args.short else [((i * 7919) % 1000) / 997.0 - 0.5 for i in range(n)]
        if args.encoding == "json":
            payload = json.dumps({"grads": {"w": grads}}, separators=(",", ":")).encode()
            ctype = "application/json"
        else:
            payload = safetensors("w", grads)
            ctype = "application/vnd.safetensors"
        del grads
        time.sleep(0.5)
        steady = proc_kib(proc.pid, "VmRSS")
        waits = []

        def probe():
            time.sleep(0.2)
            t = time.monotonic()
            request(port, "GET", "/healthz", timeout=120)
            waits.append(time.monotonic() - t)

        prober = threading.Thread(target=probe)
        prober.start()
        t0 = time.monotonic()
        status, body = request(port, "POST", "/v1/sessions/m/steps", payload, ctype)
        took = time.monotonic() - t0
        prober.join()
        time.sleep(0.5)
        peak, after = proc_kib(proc.pid, "VmHWM"), proc_kib(proc.pid, "VmRSS")
        print(json.dumps({
            "encoding": args.encoding, "params": n, "body_mb": round(len(payload) / 1e6, 1), "status": status,
            "detail": body.decode()[:160] if status != 200 else None,
            "request_s": round(took, 3), "healthz_wait_s": round(waits[0], 3) if waits else None,
            "steady_rss_mb": round(steady / 1024, 1), "peak_rss_mb": round(peak / 1024, 1),
            "after_rss_mb": round(after / 1024, 1),
            "peak_over_body": round((peak - steady) * 1024 / len(payload), 1),
        }))
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
