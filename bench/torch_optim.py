"""torch's (or the reference package's) implementation of a stepd optimizer on CPU, driven by
`stepd bench kernel --torch-python PY` so that torch and stepd are measured in alternating
rounds of one run (the machine's speed drifts by ±25% within minutes, so only interleaved
figures compare).

Reads one request per line on stdin and answers each with one JSON line:

    paths OPTIMIZER
        -> {"optimizer": ..., "paths": [...]}: the implementations this torch runs on CPU, of
           `forloop` (foreach=False), `foreach` (foreach=True) and `fused` (fused=True), each
           tried on a small tensor first. lion (lion-pytorch's Lion) has only `forloop`.
    PARAMS THREADS SECONDS [OPTIMIZER [PATH]] [clip] [CONFIG]
        -> {..., "seconds_per_step": S}: the median seconds per `opt.step()` over about SECONDS
           of steps, after one warm-up step, on one float32 tensor of PARAMS elements (0.5, with
           a gradient of 0.01). With `clip`, each step is `clip_grad_norm_(max_norm=1.0)` then
           `opt.step()`, the usual training step. CONFIG, the rest of the line from its `{`, is a
           JSON object of constructor arguments (stepd's hyperparameter names are torch's);
           without it the constructor's defaults apply. OPTIMIZER defaults to adamw, PATH to
           fused.

OPTIMIZER is a stepd optimizer type: adamw adam sgd rmsprop adagrad adadelta adamax nadam radam
asgd rprop (torch.optim), lion (lion_pytorch.Lion) or schedule_free_adamw
(schedulefree.AdamWScheduleFree, put in train mode). lion_pytorch and schedulefree are imported
only when asked for. Every path keeps its own parameter tensor and optimizer between requests
of the same size, optimizer and config, so its step count and state advance as in training.
The script ends when its input closes. By hand:

    echo "10000000 2 1.5 sgd fused {\"momentum\":0.9}" | python bench/torch_optim.py
"""
import json
import sys
import time

import torch

TORCH_OPTIM = {
    "adamw": "AdamW", "adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop", "adagrad": "Adagrad",
    "adadelta": "Adadelta", "adamax": "Adamax", "nadam": "NAdam", "radam": "RAdam", "asgd": "ASGD",
    "rprop": "Rprop",
}
PATHS = {"forloop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def constructor(name):
    """The optimizer class, and the paths it can be asked for (by its arguments)."""
    if name in TORCH_OPTIM:
        return getattr(torch.optim, TORCH_OPTIM[name]), ["forloop", "foreach", "fused"]
    if name == "lion":
        from lion_pytorch import Lion
        return Lion, ["forloop"]
    if name == "schedule_free_adamw":
        from schedulefree import AdamWScheduleFree
        return AdamWScheduleFree, ["forloop", "foreach"]
    raise ValueError(f"unknown optimizer {name!r}")


def make(name, path, n, config):
    """A fresh parameter of n elements with its gradient, and its optimizer on `path`."""
    cls, paths = constructor(name)
    if path not in paths:
        raise ValueError(f"{name} has no {path} path here (it has {', '.join(paths)})")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}
    if name != "lion":
        kwargs.update(PATHS[path])
    p = torch.nn.Parameter(torch.full((n,), 0.5))
    p.grad = torch.full((n,), 0.01)
    opt = cls([p], **kwargs)
    if hasattr(opt, "train"):
        opt.train()  # schedule-free: steps are taken at the training point y
    return p, opt


def available(name):
    """The paths that construct and step on a small CPU tensor with this torch."""
    _, paths = constructor(name)
    ok = []
    for path in paths:
        try:
            _, opt = make(name, path, 64, {})
            opt.step()
            ok.append(path)
        except Exception:  # e.g. fused=True for an optimizer without a CPU fused kernel
            pass
    return ok


current = {}  # (n, optimizer, config text) -> {path: (param, optimizer)}; one key at a time


def answer(obj):
    print(json.dumps(obj), flush=True)


for line in sys.stdin:
    if not line.strip():
        continue
    head, brace, rest = line.partition("{")
    words = head.split()
    try:
        if words[0] == "paths":
            answer({"optimizer": words[1], "paths": available(words[1])})
            continue
        clip = "clip" in words
        words = [w for w in words if w != "clip"]
        n, threads, seconds = int(words[0]), int(words[1]), float(words[2])
        name = words[3] if len(words) > 3 else "adamw"
        path = words[4] if len(words) > 4 else "fused"
        config_text = (brace + rest).strip()
        key = (n, name, config_text)
        if key not in current:
            current.clear()  # free the previous size's or optimizer's tensors first
            current[key] = {}
        paths = current[key]
        if path not in paths:
            paths[path] = make(name, path, n, json.loads(config_text) if config_text else {})
        p, opt = paths[path]
    except Exception as e:
        answer({"error": f"{type(e).__name__}: {e}", "request": line.strip()})
        continue
    torch.set_num_threads(threads)

    def step():
        if clip:
            torch.nn.utils.clip_grad_norm_([p], 1.0)
        opt.step()

    step()
    samples = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds or len(samples) < 3:
        t0 = time.perf_counter()
        step()
        samples.append(time.perf_counter() - t0)
    s = sorted(samples)[len(samples) // 2]
    answer({"optimizer": name, "path": path, "params": n, "threads": threads, "clip": clip, "torch": torch.__version__,
            "seconds_per_step": s})
