#!/usr/bin/env python3
"""Train a small MLP on scikit-learn's digits through stepd.

The model and its gradients live here, in numpy; stepd holds the parameters and runs AdamW with a
warmup-cosine schedule and gradient clipping. Each step posts the gradients (binary float32) and
reads the new parameters back.

    STEPD_URL=http://127.0.0.1:8080 python examples/digits_mlp.py

Needs numpy, scikit-learn and the client (pip install ./clients/python). The digits data ships
inside scikit-learn: nothing is downloaded. Prints loss and accuracy per epoch; the last line is
`test_accuracy=0.NNN`, and the exit code is 1 if it is under 0.95.

The train/test split comes from --split-seed (default 0), not --seed, which only changes the
initialization and the batch order. With --json the only output is one JSON object:

    {"example": "digits_mlp", "state_dtype": "f32", "seed": 0, "steps": 315,
     "final_train_loss": ..., "test_loss": ..., "train_accuracy": ..., "test_accuracy": ..., "seconds": ...}

`final_train_loss` and `test_loss` are the mean cross-entropy of the final parameters over the
whole training set and the whole test set.
"""

import argparse
import collections
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

try:
    import stepd
except ImportError:  # run from a checkout without installing the client
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "clients" / "python"))
    import stepd


def load_split(split_seed):
    """The digits, split 3:1 (stratified) and standardized with the training set's statistics."""
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=split_seed, stratify=y)
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0) + 1e-3
    return (x_train - mean) / std, (x_test - mean) / std, y_train, y_test


def init_params(rng, d_in, d_hidden, d_out=10):
    """He-initialized hidden layer, LeCun-initialized output layer, zero biases."""
    return {
        "w1": (rng.standard_normal((d_in, d_hidden)) * np.sqrt(2.0 / d_in)).astype(np.float32),
        "b1": np.zeros(d_hidden, np.float32),
        "w2": (rng.standard_normal((d_hidden, d_out)) * np.sqrt(1.0 / d_hidden)).astype(np.float32),
        "b2": np.zeros(d_out, np.float32),
    }


def forward(p, x):
    h_pre = x @ p["w1"] + p["b1"]
    h = np.maximum(h_pre, 0.0)
    logits = h @ p["w2"] + p["b2"]
    return h_pre, h, logits


def loss_and_grads(p, x, y):
    """Mean softmax cross-entropy and its gradients for a one-hidden-layer ReLU MLP."""
    h_pre, h, logits = forward(p, x)
    z = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(z)
    probs /= probs.sum(axis=1, keepdims=True)
    n = x.shape[0]
    loss = float(-np.log(probs[np.arange(n), y] + 1e-12).mean())
    d_logits = probs
    d_logits[np.arange(n), y] -= 1.0
    d_logits /= n
    d_h = d_logits @ p["w2"].T
    d_h[h_pre <= 0] = 0.0
    grads = {
        "w1": x.T @ d_h, "b1": d_h.sum(axis=0),
        "w2": h.T @ d_logits, "b2": d_logits.sum(axis=0),
    }
    return loss, grads


def accuracy(p, x, y):
    return float((forward(p, x)[2].argmax(axis=1) == y).mean())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--url", default=os.environ.get("STEPD_URL", "http://127.0.0.1:8080"))
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=0, help="initialization and batch order (not the split)")
    ap.add_argument("--split-seed", type=int, default=0, help="the train/test split")
    ap.add_argument("--state-dtype", default="f32", choices=["f32", "bf16", "q8"],
                    help="how stepd keeps the optimizer state (q8 applies to tensors of 4096+ elements)")
    ap.add_argument("--keep", action="store_true", help="keep the session on the server afterwards")
    ap.add_argument("--json", action="store_true", help="print only a JSON summary")
    args = ap.parse_args()
    started = time.monotonic()
    log = (lambda *a, **k: None) if args.json else (lambda *a, **k: print(*a, **k, flush=True))

    x_train, x_test, y_train, y_test = load_split(args.split_seed)
    rng = np.random.default_rng(args.seed)
    init = init_params(rng, x_train.shape[1], args.hidden)
    batches = int(np.ceil(len(x_train) / args.batch))
    total = args.epochs * batches
    session = stepd.Session.create(
        args.url,
        optimizer={"type": "adamw", "lr": args.lr, "betas": [0.9, 0.999], "weight_decay": 0.01, "state_dtype": args.state_dtype},
        schedule={"type": "warmup_cosine", "warmup_steps": max(1, total // 20), "total_steps": total, "min_lr_ratio": 0.05},
        clip={"max_norm": 1.0},
        groups={"no_decay": {"weight_decay": 0.0}},
        param_groups={"b1": "no_decay", "b2": "no_decay"},
        params=init,
    )
    log(f"session {session.id} on {args.url}: {sum(v.size for v in init.values())} parameters, "
        f"{len(x_train)} train / {len(x_test)} test digits, {total} steps")
    try:
        params = session.params()
        clipped = 0
        for epoch in range(1, args.epochs + 1):
            order = rng.permutation(len(x_train))
            losses = []
            for b in range(batches):
                idx = order[b * args.batch:(b + 1) * args.batch]
                loss, grads = loss_and_grads(params, x_train[idx], y_train[idx])
                r = session.step(grads, loss=loss)
                clipped += bool(r.clipped)
                losses.append(loss)
                params = session.params()
            log(f"epoch {epoch:2d}/{args.epochs}  loss={np.mean(losses):.4f}  lr={r.lr:.5f}  "
                f"grad_norm={r.grad_norm:.3f}  train_acc={accuracy(params, x_train, y_train):.3f}  "
                f"test_acc={accuracy(params, x_test, y_test):.3f}")
        health = session.history(last=1)["health"]
        log(f"steps={session.last_step} clipped={clipped} health={health.get('status')} "
            f"seconds={time.monotonic() - started:.1f}")
        acc = accuracy(params, x_test, y_test)
        train_loss = loss_and_grads(params, x_train, y_train)[0]
        test_loss = loss_and_grads(params, x_test, y_test)[0]
        log(f"train_loss={train_loss:.5f} test_loss={test_loss:.5f}")
    finally:
        if not args.keep:
            session.delete()
    if args.json:
        print(json.dumps({
            "example": "digits_mlp", "state_dtype": args.state_dtype, "seed": args.seed,
            "split_seed": args.split_seed, "steps": total, "params": int(sum(v.size for v in init.values())),
            "state_tensors": dict(sorted(collections.Counter(session.state_dtypes().values()).items())),
            "final_train_loss": round(train_loss, 6), "test_loss": round(test_loss, 6),
            "train_accuracy": round(accuracy(params, x_train, y_train), 4), "test_accuracy": round(acc, 4),
            "clipped": clipped, "seconds": round(time.monotonic() - started, 1)}), flush=True)
    else:
        print(f"test_accuracy={acc:.3f}", flush=True)
    if acc < 0.95:
        print(f"test accuracy {acc:.3f} is under 0.95", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
