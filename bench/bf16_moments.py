#!/usr/bin/env python3
"""Which AdamW moment, kept in bfloat16, moves the digits example's final training loss?

    python bench/bf16_moments.py --seeds 0 1 2 --beta2 0.999 0.99

stepd's bf16 state rounds both moments to nearest even after every update, and the digits MLP
(examples/digits_mlp.py) then ends with a training loss about 3.5% above float32's while its test
loss stays within 1% (bench/state_dtype_quality.py). stepd keeps both moments in one dtype, so
this takes them apart outside it: the same model, data, batches, warmup-cosine schedule,
clipping and AdamW in numpy float32, with exp_avg, exp_avg_sq or both rounded to bfloat16 (by
torch's `.to(torch.bfloat16)`, as stepd's kernels are tested against) after each update. It prints,
per seed and beta2, the float32 emulation's final training loss and each variant against it.

An emulation, not stepd, though a faithful one: its float32 losses equal stepd's f32 runs' to the
six decimals digits_mlp.py --json prints (0.006346, 0.006394, 0.006564 for seeds 0-2), and its
both-in-bf16 variant lands within 0.1% of stepd's bf16 runs. Each variant is compared with the
emulation's own float32 run of the same seed.
"""

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from digits_mlp import init_params, load_split, loss_and_grads  # noqa: E402


def to_bf16(a):
    return torch.from_numpy(a).to(torch.bfloat16).to(torch.float32).numpy()


def train(seed, beta2, m_bf16, v_bf16, epochs=15, batch=64, hidden=64, lr=0.01, weight_decay=0.01):
    """digits_mlp.py's run: AdamW(betas=(0.9, beta2)), warmup-cosine to 5%, clip at norm 1, no decay on biases."""
    x_train, _, y_train, _ = load_split(0)
    rng = np.random.default_rng(seed)
    p = init_params(rng, x_train.shape[1], hidden)
    m = {k: np.zeros_like(a) for k, a in p.items()}
    v = {k: np.zeros_like(a) for k, a in p.items()}
    batches = math.ceil(len(x_train) / batch)
    total = epochs * batches
    warmup = max(1, total // 20)
    b1, b2 = np.float32(0.9), np.float32(beta2)
    t = 0
    for _ in range(epochs):
        order = rng.permutation(len(x_train))
        for b in range(batches):
            idx = order[b * batch:(b + 1) * batch]
            _, g = loss_and_grads(p, x_train[idx], y_train[idx])
            norm = math.sqrt(sum(float(np.square(a, dtype=np.float64).sum()) for a in g.values()))
            clip = np.float32(min(1.0, 1.0 / (norm + 1e-6)))
            if t < warmup:
                factor = t / warmup
            else:
                progress = min(1.0, (t - warmup) / max(1, total - warmup))
                factor = 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress))
            step_lr = lr * factor
            t += 1
            for k in p:
                gk = g[k].astype(np.float32) * clip
                decay = 0.0 if k.startswith("b") else weight_decay
                p[k] = p[k] * np.float32(1 - step_lr * decay)
                m[k] = b1 * m[k] + (1 - b1) * gk
                v[k] = b2 * v[k] + (1 - b2) * gk * gk
                if m_bf16:
                    m[k] = to_bf16(m[k])
                if v_bf16:
                    v[k] = to_bf16(v[k])
                m_hat = m[k] / np.float32(1 - 0.9 ** t)
                v_hat = v[k] / np.float32(1 - beta2 ** t)
                p[k] = p[k] - np.float32(step_lr) * m_hat / (np.sqrt(v_hat) + np.float32(1e-8))
    return loss_and_grads(p, x_train, y_train)[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--beta2", type=float, nargs="+", default=[0.999, 0.99])
    a = ap.parse_args()
    print("| beta2 | seed | f32 final training loss | exp_avg in bf16 | exp_avg_sq in bf16 | both in bf16 |")
    print("|---|---|---|---|---|---|")
    for beta2 in a.beta2:
        for seed in a.seeds:
            f32 = train(seed, beta2, False, False)
            cells = []
            for m_bf16, v_bf16 in ((True, False), (False, True), (True, True)):
                loss = train(seed, beta2, m_bf16, v_bf16)
                cells.append(f"{100 * (loss - f32) / f32:+.2f}%")
            print(f"| {beta2} | {seed} | {f32:.6f} | {' | '.join(cells)} |", flush=True)


if __name__ == "__main__":
    main()
