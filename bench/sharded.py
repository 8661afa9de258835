#!/usr/bin/env python3
"""One AdamW model of about 30M parameters, held by one stepd against split over three (each a
separate process on loopback): time per step (two-phase over three) and per full params fetch,
the two set-ups taken turn about in one run, with the median and the spread of each.

    python3 bench/sharded.py --stepd .build/release/stepd [--params 30000000] [--rounds 10]

Uses the Python client in clients/python (stepd.Session, stepd.ShardedSession), as a training
loop would: the gradient is encoded and posted in binary, parameters come back in binary. On
one machine the three nodes share its cores and memory bandwidth, so this shows the protocol's
cost (two round trips, three uploads in parallel) rather than the capacity gained.
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "clients" / "python"))
sys.path.insert(0, str(HERE.parent / "tests" / "python"))
import stepd  # noqa: E402
from stepd_server import StepdServer  # noqa: E402


def model(total: int) -> dict:
    """A transformer-ish list of tensors: embedding, 12 blocks of 4 matrices and 2 vectors, head."""
    d = 512
    blocks = 12
    per_block = 4 * d * d + 2 * d
    vocab = max(1, (total - blocks * per_block) // (2 * d))
    shapes = {"embed": (vocab, d)}
    for b in range(blocks):
        for m in ("q", "k", "v", "o"):
            shapes[f"h{b}.{m}"] = (d, d)
        shapes[f"h{b}.ln1"] = (d,)
        shapes[f"h{b}.ln2"] = (d,)
    shapes["head"] = (vocab, d)
    return {n: {"shape": list(s), "init": {"type": "normal", "std": 0.02, "seed": i}} for i, (n, s) in enumerate(shapes.items())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stepd", required=True)
    ap.add_argument("--params", type=int, default=30_000_000)
    ap.add_argument("--rounds", type=int, default=10)
    args = ap.parse_args()
    spec = model(args.params)
    n = sum(int(np.prod(p["shape"])) for p in spec.values())
    opts = dict(optimizer={"type": "adamw", "lr": 1e-3, "weight_decay": 0.1}, clip=1.0)
    servers = [StepdServer(binary=Path(args.stepd), args=["--max-param-bytes", str(4 << 30)]).start() for _ in range(4)]
    try:
        one = stepd.Session.create(client=stepd.Client(servers[0].url, timeout=600), id="one", params=spec, **opts)
        split = stepd.ShardedSession.create([s.url for s in servers[1:]], id="split", params=spec,
                                            client_options={"timeout": 600}, **opts)
        rng = np.random.default_rng(0)
        grads = {name: (rng.standard_normal(p["shape"]) * 0.01).astype(np.float32) for name, p in spec.items()}
        times = {k: [] for k in ("one step", "3 nodes step", "one params", "3 nodes params")}
        for r in range(args.rounds + 1):
            for label, s in (("one", one), ("3 nodes", split)) if r % 2 == 0 else (("3 nodes", split), ("one", one)):
                t = time.perf_counter()
                s.step(grads)
                t1 = time.perf_counter()
                s.params()
                t2 = time.perf_counter()
                if r > 0:  # the first round warms up
                    times[f"{label} step"].append(t1 - t)
                    times[f"{label} params"].append(t2 - t1)
        a, b = one.params(), split.params()
        same = all(a[k].tobytes() == b[k].tobytes() for k in a)
        print(f"{n} parameters ({n * 4 / 1e6:.0f} MB float32), AdamW with clipping, {args.rounds} rounds, turn about;"
              f" 3-node shares {[sum(int(np.prod(spec[t]['shape'])) for t in sh.names) for sh in split.shards]}")
        for k, v in times.items():
            print(f"  {k:15s} median {statistics.median(v) * 1e3:8.1f} ms  (min {min(v) * 1e3:.1f}, max {max(v) * 1e3:.1f})")
        print(f"  parameters of the two equal bit for bit: {same}")
        split.close()
    finally:
        for s in servers:
            s.stop()


if __name__ == "__main__":
    main()
