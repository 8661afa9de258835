"""torch.optim.AdamW(fused=True) on CPU at the sizes `stepd bench kernel` uses, for a side-by-side
figure. Prints one JSON object per line in the same format as `stepd bench kernel --json`.

    python bench/torch_adamw.py --params 10000000 50000000 --threads 1 2
"""
import argparse
import json
import time

import torch

parser = argparse.ArgumentParser()
parser.add_argument("--params", type=int, nargs="+", default=[1_000_000, 10_000_000, 50_000_000])
parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
parser.add_argument("--seconds", type=float, default=1.5)
args = parser.parse_args()

for n in args.params:
    p = torch.nn.Parameter(torch.full((n,), 0.5))
    p.grad = torch.full((n,), 0.01)
    opt = torch.optim.AdamW([p], lr=1e-3, weight_decay=0.01, fused=True)
    for t in args.threads:
        torch.set_num_threads(t)
        opt.step()
        samples = []
        start = time.perf_counter()
        while time.perf_counter() - start < args.seconds or len(samples) < 3:
            t0 = time.perf_counter()
            opt.step()
            samples.append(time.perf_counter() - t0)
        s = sorted(samples)[len(samples) // 2]
        print(json.dumps({"optimizer": "torch_adamw_fused", "params": n, "threads": t, "seconds_per_step": round(s, 6),
                          "gparams_per_s": round(n / s / 1e9, 3), "gbytes_per_s": round(28 * n / s / 1e9, 2)}), flush=True)
