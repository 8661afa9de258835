#!/usr/bin/env python3
"""Train a small character-level transformer language model through stepd.

The model (a 2-layer causal transformer, ~0.4M parameters) runs forward and backward here in
PyTorch on the CPU; `stepd.torch.StepdOptimizer` keeps the parameters and the AdamW state on the
server (warmup-cosine schedule, gradient clipping at norm 1, no weight decay on biases,
LayerNorms and embeddings, as a real run would), and copies the new parameters back after each
step.

    STEPD_URL=http://127.0.0.1:8080 python examples/char_lm.py --state-dtype q8

The text is on every Debian machine: the regular files under /usr/share/common-licenses
(symlinks skipped), concatenated in sorted name order. The last --val-chars characters are held
out as validation; the split does not depend on --seed, which only changes the initialization
and the order of the training batches.

Needs torch and the client (pip install ./clients/python). Prints progress every --log-every
steps and ends with `final_train_loss=... val_loss=...`; with --json the only output is one JSON
object:

    {"example": "char_lm", "state_dtype": "q8", "seed": 0, "steps": 600,
     "final_train_loss": ..., "train_eval_loss": ..., "val_loss": ..., "unigram_entropy": ..., "seconds": ...}

Losses are in nats per character. `final_train_loss` is the mean training loss of the last
--tail steps (the same batches for every --state-dtype at one seed), `train_eval_loss` and
`val_loss` the loss of the final parameters over the whole training text and the whole held-out
tail, and `unigram_entropy` the loss of predicting every character by its training frequency: a
model that learned anything ends well below it. The exit code is 1 if the validation loss is not
under the unigram entropy.
"""

import argparse
import collections
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

try:
    import stepd
except ImportError:  # run from a checkout without installing the client
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "clients" / "python"))
    import stepd
import stepd.torch  # noqa: E402  (the torch drop-in; `import stepd` alone does not import torch)

CORPUS_DIR = Path("/usr/share/common-licenses")


def load_corpus(directory=CORPUS_DIR):
    """The regular files of ``directory`` (symlinks skipped: they repeat a file), in sorted order."""
    parts = []
    for path in sorted(directory.iterdir()):
        if path.is_symlink() or not path.is_file():
            continue
        parts.append(path.read_text(encoding="utf-8", errors="replace"))
    if not parts:
        raise SystemExit(f"no text under {directory}")
    return "\n".join(parts)


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 4 * d)
        self.out = nn.Linear(4 * d, d)

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(a.transpose(1, 2).reshape(b, t, d))
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class CharTransformer(nn.Module):
    def __init__(self, vocab, d, layers, heads, context):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(context, d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() == 2:
                nn.init.normal_(p, std=0.02)
        for blk in self.blocks:  # GPT-2's scaling of the residual projections
            nn.init.normal_(blk.proj.weight, std=0.02 / math.sqrt(2 * layers))
            nn.init.normal_(blk.out.weight, std=0.02 / math.sqrt(2 * layers))

    def forward(self, idx):
        t = idx.shape[1]
        x = self.tok(idx) + self.pos(torch.arange(t, device=idx.device))
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln(x))


@torch.no_grad()
def eval_loss(model, data, context, batch=64):
    """Mean next-character loss over ``data`` cut into consecutive windows of ``context``."""
    n = (len(data) - 1) // context
    x = data[:n * context].view(n, context)
    y = data[1:n * context + 1].view(n, context)
    total = 0.0
    for i in range(0, n, batch):
        logits = model(x[i:i + batch])
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y[i:i + batch].reshape(-1), reduction="sum").item()
    return total / (n * context)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--url", default=os.environ.get("STEPD_URL", "http://127.0.0.1:8080"))
    ap.add_argument("--state-dtype", default="f32", choices=["f32", "bf16", "q8"],
                    help="how stepd keeps the optimizer state (q8 applies to tensors of 4096+ elements)")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0, help="initialization and batch order (not the split)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--context", type=int, default=64)
    ap.add_argument("--d-model", type=int, default=128)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--val-chars", type=int, default=32768, help="held-out tail of the text")
    ap.add_argument("--tail", type=int, default=0,
                    help="final_train_loss averages the last TAIL steps (default: a tenth of --steps, at least 1)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (the server wants a core too)")
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--json", action="store_true", help="print only the JSON summary")
    ap.add_argument("--keep", action="store_true", help="keep the session on the server afterwards")
    args = ap.parse_args()
    started = time.monotonic()
    torch.set_num_threads(args.threads)
    log = (lambda *a, **k: None) if args.json else (lambda *a, **k: print(*a, **k, flush=True))

    text = load_corpus()
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([index[c] for c in text], dtype=torch.long)
    if args.val_chars <= args.context or args.val_chars >= len(data) // 2:
        raise SystemExit(f"--val-chars must be between {args.context + 1} and {len(data) // 2}")
    train, val = data[:-args.val_chars], data[-args.val_chars:]
    counts = torch.bincount(train, minlength=len(chars)).double()
    freq = counts / counts.sum()
    unigram = float(-(freq[freq > 0] * freq[freq > 0].log()).sum())

    torch.manual_seed(args.seed)
    model = CharTransformer(len(chars), args.d_model, args.layers, args.heads, args.context)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.dim() == 2 and not name.startswith(("tok.", "pos.")) else no_decay).append((name, p))
    warmup = max(1, args.steps // 20)
    opt = stepd.torch.StepdOptimizer(
        [{"params": decay}, {"params": no_decay, "name": "no_decay", "weight_decay": 0.0}], args.url,
        optimizer={"type": "adamw", "lr": args.lr, "betas": [0.9, 0.999], "weight_decay": args.weight_decay,
                   "state_dtype": args.state_dtype},
        schedule={"type": "warmup_cosine", "warmup_steps": warmup, "total_steps": args.steps, "min_lr_ratio": 0.1},
        clip={"max_norm": 1.0})
    gen = torch.Generator().manual_seed(args.seed)
    tail = args.tail or max(1, args.steps // 10)
    losses = []
    try:
        n_params = sum(p.numel() for p in model.parameters())
        kept = collections.Counter(opt.session.state_dtypes().values())  # q8 skips tensors under 4096 elements
        log(f"session {opt.session.id} on {args.url}: {n_params} parameters in {len(opt.names)} tensors, state kept as "
            f"{', '.join(f'{d} in {n}' for d, n in sorted(kept.items()))}; {len(train)} train / {len(val)} "
            f"validation characters, vocabulary {len(chars)}, unigram entropy {unigram:.3f}")
        for step in range(1, args.steps + 1):
            starts = torch.randint(0, len(train) - args.context - 1, (args.batch,), generator=gen)
            x = torch.stack([train[s:s + args.context] for s in starts.tolist()])
            y = torch.stack([train[s + 1:s + args.context + 1] for s in starts.tolist()])
            logits = model(x)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step(lambda: loss)
            losses.append(loss.item())
            r = opt.last_result
            if step % args.log_every == 0 or step == args.steps:
                log(f"step {step:4d}/{args.steps}  loss={np.mean(losses[-args.log_every:]):.4f}  "
                    f"lr={r.lr:.5f}  grad_norm={r.grad_norm:.3f}  clipped={bool(r.clipped)}")
        model.eval()
        val_loss = eval_loss(model, val, args.context)
        train_eval_loss = eval_loss(model, train, args.context)
    finally:
        if not args.keep:
            opt.session.delete()
    summary = {
        "example": "char_lm", "state_dtype": args.state_dtype, "seed": args.seed, "steps": args.steps,
        "params": n_params, "state_tensors": dict(sorted(kept.items())),
        "first_train_loss": round(float(np.mean(losses[:tail])), 5),
        "final_train_loss": round(float(np.mean(losses[-tail:])), 5), "tail_steps": tail,
        "train_eval_loss": round(train_eval_loss, 5), "val_loss": round(val_loss, 5), "unigram_entropy": round(unigram, 5),
        "seconds": round(time.monotonic() - started, 1),
    }
    if args.json:
        print(json.dumps(summary), flush=True)
    else:
        log(f"first_train_loss={summary['first_train_loss']:.4f} train_eval_loss={train_eval_loss:.4f} "
            f"unigram_entropy={unigram:.4f} seconds={summary['seconds']}")
        log(f"final_train_loss={summary['final_train_loss']:.4f} val_loss={val_loss:.4f}")
    if not val_loss < unigram:
        print(f"validation loss {val_loss:.3f} is not under the unigram entropy {unigram:.3f}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
