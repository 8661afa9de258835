"""Resident memory of a served session after one step, per parameter, for each state_dtype.

    python bench/state_memory.py --stepd .build/release/stepd --params 50000000

Starts `stepd serve` (sessions in memory only) once per dtype, creates one AdamW session of
--params parameters (one tensor, zeros), posts one step of raw float32 gradients, and reads the
server's VmRSS from /proc. Prints one JSON line per dtype: rss bytes, bytes per parameter, and
the session's own accounting (`bytes` of GET /v1/sessions/{id}).
"""
import argparse, json, os, socket, subprocess, time, urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stepd", default=".build/release/stepd")
    ap.add_argument("--params", type=int, default=50_000_000)
    ap.add_argument("--state", nargs="+", default=["f32", "bf16", "q8"])
    a = ap.parse_args()
    grads = b"\x00\x00\x80\x3b" * a.params  # 2^-8 everywhere
    for dtype in a.state:
        port = free_port()
        proc = subprocess.Popen([a.stepd, "serve", "--port", str(port), "--data-dir", "", "--max-param-bytes", str(64 << 30)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    urllib.request.urlopen(base + "/healthz")
                    break
                except OSError:
                    time.sleep(0.1)
            idle = rss(proc.pid)
            body = {"id": "m", "optimizer": {"type": "adamw", "state_dtype": dtype},
                    "params": [{"name": "w", "shape": [a.params], "init": "zeros"}]}
            req = urllib.request.Request(base + "/v1/sessions", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
            urllib.request.urlopen(req).read()
            req = urllib.request.Request(base + "/v1/sessions/m/steps", data=grads,
                                         headers={"Content-Type": "application/octet-stream"}, method="POST")
            urllib.request.urlopen(req).read()
            used = rss(proc.pid)
            summary = json.load(urllib.request.urlopen(base + "/v1/sessions/m"))
            print(json.dumps({"state": dtype, "params": a.params, "rss_bytes": used, "rss_bytes_per_param": round(used / a.params, 3),
                              "idle_rss_bytes": idle, "session_bytes": summary.get("bytes")}), flush=True)
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
