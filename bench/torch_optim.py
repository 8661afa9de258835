"""torch's (or the reference package's) implementation of a stepd optimizer on CPU, driven by
`stepd bench kernel --torch-python PY` so that torch and stepd are measured in alternating
rounds of one run (the machine's speed drifts by ±25% within minutes, so only interleaved
figures compare).

Reads one request per line on stdin and answers each with one JSON line:

    paths OPTIMIZER
        -> {"optimizer": ..., "paths": [...]}: the implementations this torch runs on CPU, of
           `forloop` (foreach=False), `foreach` (foreach=True) and `fused` (fused=True), each
           tried on a small tensor first. lion (lion-pytorch's Lion) has only `forloop`.
    PARAMS THREADS SECONDS [OPTIMIZER [PATH]] [clip] [shape=AxB...] [CONFIG]
        -> {..., "seconds_per_step": S}: the median seconds per `opt.step()` over about SECONDS
           of steps (at least three), after one warm-up step, on one float32 tensor of PARAMS
           elements (0.5, with a gradient of 0.01; muon's is random), of the given shape (default: a vector; for
           adafactor and muon a matrix 1000 wide, as `stepd bench kernel` measures them). With `clip`, each step is `clip_grad_norm_(max_norm=1.0)` then
           `opt.step()`, the usual training step. CONFIG, the rest of the line from its `{`, is a
           JSON object of constructor arguments (stepd's hyperparameter names are torch's);
           without it the constructor's defaults apply. OPTIMIZER defaults to adamw, PATH to
           fused.

OPTIMIZER is a stepd optimizer type: adamw adam sgd rmsprop adagrad adadelta adamax nadam radam
asgd rprop adafactor muon (torch.optim; muon has only `forloop`), lion (lion_pytorch.Lion),
schedule_free_adamw (schedulefree.AdamWScheduleFree, put in train mode) or lamb (optax.lamb,
its update and apply_updates jitted into one XLA computation on CPU, path `jit`; XLA runs on
its own thread pool, so THREADS does not apply to it, and `clip` is refused). lion_pytorch and schedulefree are imported
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
    "rprop": "Rprop", "adafactor": "Adafactor",
}
# Optimizers that take no foreach/fused argument: their one path is the loop.
LOOP_ONLY = {"lion", "muon"}
# Optimizers measured on matrices by default (they factor over, or need, two dimensions).
MATRIX = {"adafactor", "muon"}
PATHS = {"forloop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def constructor(name):
    """The optimizer class, and the paths it can be asked for (by its arguments)."""
    if name in TORCH_OPTIM:
        return getattr(torch.optim, TORCH_OPTIM[name]), ["forloop", "foreach", "fused"]
    if name == "lion":
        from lion_pytorch import Lion
        return Lion, ["forloop"]
    if name == "muon":
        return torch.optim.Muon, ["forloop"]
    if name == "lamb":
        return OptaxLamb, ["jit"]
    if name == "schedule_free_adamw":
        from schedulefree import AdamWScheduleFree
        return AdamWScheduleFree, ["forloop", "foreach"]
    raise ValueError(f"unknown optimizer {name!r}")


class OptaxLamb:
    """optax.lamb on the tensor's values as a jax array, stepped by one jitted call (its inputs
    donated, as a training loop would), with the torch gradient's values."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, eps_root=0.0, weight_decay=0.0):
        import jax
        import jax.numpy as jnp
        import optax
        p = params[0]
        tx = optax.lamb(lr, b1=betas[0], b2=betas[1], eps=eps, eps_root=eps_root, weight_decay=weight_decay)
        self.params = jnp.asarray(p.detach().numpy())
        self.grads = jnp.asarray(p.grad.numpy())
        self.state = tx.init(self.params)

        def step(params, state, grads):
            updates, state = tx.update(grads, state, params)
            return optax.apply_updates(params, updates), state
        self._step = jax.jit(step, donate_argnums=(0, 1))

    def step(self):
        self.params, self.state = self._step(self.params, self.state, self.grads)
        self.params.block_until_ready()


def default_shape(name, n):
    if name in MATRIX:
        return (n // 1000, 1000) if n % 1000 == 0 and n >= 1000 else (n // 8, 8)
    return (n,)


def make(name, path, n, config, shape=None):
    """A fresh parameter of n elements (in `shape`) with its gradient, and its optimizer on `path`."""
    cls, paths = constructor(name)
    if path not in paths:
        raise ValueError(f"{name} has no {path} path here (it has {', '.join(paths)})")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}
    if name not in LOOP_ONLY and path in PATHS:
        kwargs.update(PATHS[path])
    shape = tuple(shape or default_shape(name, n))
    p = torch.nn.Parameter(torch.full(shape, 0.5))
    p.grad = torch.full(shape, 0.01)
    if name == "muon":
        # A constant matrix has rank 1; Newton-Schulz's products run measurably faster on it
        # than on a real update, so muon gets a random gradient (as `stepd bench muon` does).
        p.grad = (torch.rand(shape, generator=torch.Generator().manual_seed(1)) - 0.5) * 0.02
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


current = {}  # (n, optimizer, config text, shape) -> {path: (param, optimizer)}; one key at a time


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
        shape = next((tuple(int(d) for d in w[6:].split("x")) for w in words if w.startswith("shape=")), None)
        words = [w for w in words if w != "clip" and not w.startswith("shape=")]
        n, threads, seconds = int(words[0]), int(words[1]), float(words[2])
        name = words[3] if len(words) > 3 else "adamw"
        path = words[4] if len(words) > 4 else "fused"
        config_text = (brace + rest).strip()
        key = (n, name, config_text, shape)
        if key not in current:
            current.clear()  # free the previous size's or optimizer's tensors first
            current[key] = {}
        if clip and name == "lamb":
            raise ValueError("lamb (optax) is measured without clip")
        paths = current[key]
        if path not in paths:
            paths[path] = make(name, path, n, json.loads(config_text) if config_text else {}, shape)
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
    # "torch" names the implementation measured: optax's version for lamb.
    version = torch.__version__
    if name == "lamb":
        import jax
        import optax
        version = f"optax {optax.__version__}, jax {jax.__version__}"
    answer({"optimizer": name, "path": path, "params": n, "threads": threads, "clip": clip, "torch": version,
            "seconds_per_step": s})
