"""torch.optim.AdamW(fused=True) on CPU, driven by `stepd bench kernel --torch-python PY` so that
torch and stepd are measured in alternating rounds of one run (the machine's speed drifts by
±25% within minutes, so only interleaved figures compare).

Reads one request per line on stdin, `PARAMS THREADS SECONDS [clip]`, and answers each with one
JSON line: the median seconds per `opt.step()` over about SECONDS of steps, after one warm-up
step. With `clip`, each step is `clip_grad_norm_(max_norm=1.0)` then `opt.step()`, the usual
training step. By hand:

    echo "10000000 2 1.5" | python bench/torch_adamw.py
"""
import json
import sys
import time

import torch

current = None  # (params, optimizer): kept between requests of the same size

for line in sys.stdin:
    if not line.strip():
        continue
    n, threads, seconds, *flags = line.split()
    n, threads, seconds, clip = int(n), int(threads), float(seconds), "clip" in flags
    if current is None or current[0] != n:
        current = None  # free the previous size's tensors first
        p = torch.nn.Parameter(torch.full((n,), 0.5))
        p.grad = torch.full((n,), 0.01)
        current = (n, torch.optim.AdamW([p], lr=1e-3, weight_decay=0.01, fused=True))
    opt = current[1]
    params = opt.param_groups[0]["params"]
    torch.set_num_threads(threads)

    def step():
        if clip:
            torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()

    step()
    samples = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(samples) < 3:
        t0 = time.perf_counter()
        step()
        samples.append(time.perf_counter() - t0)
    s = sorted(samples)[len(samples) // 2]
    print(json.dumps({"optimizer": "torch_adamw_fused", "params": n, "threads": threads, "clip": clip, "torch": torch.__version__,
                      "seconds_per_step": s}), flush=True)
