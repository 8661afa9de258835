"""A ``torch.optim.Optimizer`` whose state and update rule live on a stepd server.

Change one line of a PyTorch loop::

    # opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    opt = stepd.torch.StepdOptimizer(model.named_parameters(), lr=1e-3, weight_decay=0.01)

``opt.step()`` sends the ``.grad`` of every parameter (binary float32, in one request, with an
Idempotency-Key so retries are safe), the server applies its optimizer, schedule and clipping,
and the new values are copied back into the parameter tensors in place. ``zero_grad()``,
closures and ``param_groups`` work as usual; a change to a group's ``lr`` or other
hyperparameter (by hand or by a ``torch.optim.lr_scheduler``) is sent to the server with a PATCH
before the next step. Prefer stepd's own ``schedule=`` to a torch scheduler: both at once
multiply.

Differences from torch.optim: a parameter whose ``.grad`` is None is sent a zero gradient (the
server's step covers every tensor, so weight decay and momentum still move it), and the optimizer
state is on the server (``opt.session``), so ``state_dict()`` holds only the hyperparameters: use
``opt.checkpoint()`` / ``opt.restore_checkpoint(data)`` for the whole state.

This module imports torch; ``import stepd`` alone does not.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Union

import numpy as np
import torch

from .client import Client, Session, StepResult

__all__ = ["StepdOptimizer"]

# Group keys that are optimizer hyperparameters (and so go to the server): every field of every
# optimizer in the server's catalogue (a test checks this against openapi/openapi.yaml), and a
# group's "type" (the group runs that optimizer, e.g. "muon" on the hidden matrices). Any other
# key a torch group carries (e.g. "initial_lr" from an lr_scheduler) stays local.
_HYPER_KEYS = ("type", "lr", "weight_decay", "betas", "eps", "momentum", "dampening", "nesterov", "alpha",
               "centered", "amsgrad", "maximize", "lr_decay", "initial_accumulator_value", "rho",
               "momentum_decay", "decoupled_weight_decay", "lambd", "t0", "etas", "step_sizes",
               "warmup_steps", "r", "weight_lr_power", "beta2_decay", "d", "eps_root", "ns_coefficients",
               "ns_steps", "adjust_lr_fn", "state_dtype")


def _identity(t: torch.Tensor) -> int:
    return id(t)  # a helper, because StepdOptimizer.__init__ has a parameter named ``id``


def _jsonable(v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        v = v.item() if v.numel() == 1 else v.tolist()
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.floating, np.integer, np.bool_)):
        return v.item()
    return v


class StepdOptimizer(torch.optim.Optimizer):
    """``torch.optim.Optimizer`` backed by a stepd session.

    ``params``: ``model.parameters()``, ``model.named_parameters()`` (names become the session's
    tensor names), or torch-style groups ``[{"params": [...], "weight_decay": 0.0}, ...]``
    (their entries may be tensors or ``(name, tensor)`` pairs). A group with hyperparameter
    overrides becomes a stepd group (named by its ``"name"`` key, else ``group<i>``). A group
    with a ``"type"`` runs that optimizer with its own defaults: what a torch user writes as
    ``torch.optim.Muon`` on the matrices plus ``AdamW`` on the rest is one optimizer here::

        StepdOptimizer([{"params": matrices, "type": "muon", "lr": 0.02},
                        {"params": others}], url, optimizer={"type": "adamw", "lr": 3e-4})

    (one step, one clip over all tensors, one schedule for both).

    ``optimizer``: the stepd optimizer config, e.g. ``{"type": "adamw", "lr": 1e-3}``; extra
    keyword arguments (``lr=``, ``weight_decay=``, ``betas=``...) are merged into it; the type
    defaults to "adamw". ``schedule``, ``clip``, ``accumulation``, ``nonfinite``, ``snapshot``
    and ``id`` are passed to :meth:`stepd.Session.create`.

    ``session``: attach to an existing session (a :class:`stepd.Session` or an id) instead of
    creating one; its parameters are then copied into the model.
    """

    def __init__(self, params: Iterable[Any], url: Optional[str] = None,
                 optimizer: Optional[Mapping[str, Any]] = None, *, schedule: Optional[Mapping[str, Any]] = None,
                 clip: Union[None, float, Mapping[str, Any]] = None, accumulation: Optional[Mapping[str, int]] = None,
                 nonfinite: Optional[str] = None, snapshot: Optional[Mapping[str, Any]] = None,
                 id: Optional[str] = None, session: Union[None, str, Session] = None, token: Optional[str] = None,
                 client: Optional[Client] = None, dtype: str = "f32", **hyper: Any):
        config: Dict[str, Any] = {"type": "adamw"}
        config.update({k: _jsonable(v) for k, v in dict(optimizer or {}).items()})
        config.update({k: _jsonable(v) for k, v in hyper.items()})
        self.dtype = dtype
        self.last_result: Optional[StepResult] = None

        named_groups = self._named_groups(params)
        self._names: List[str] = []
        self._tensors: List[torch.Tensor] = []
        torch_groups: List[Dict[str, Any]] = []
        stepd_groups: List[Dict[str, Any]] = []
        self._group_names: List[Optional[str]] = []   # stepd group of each torch group (None: default)
        param_groups: Dict[str, str] = {}
        for i, (pairs, options) in enumerate(named_groups):
            overrides = {k: _jsonable(v) for k, v in options.items() if k in _HYPER_KEYS}
            gname = str(options["name"]) if "name" in options else (f"group{i}" if overrides else None)
            if gname is not None:
                stepd_groups.append({"name": gname, **overrides})
            self._group_names.append(gname)
            for name, t in pairs:
                if gname is not None:
                    param_groups[name] = gname
                self._names.append(name)
                self._tensors.append(t)
            torch_groups.append({**options, "params": [t for _, t in pairs]})
        if len(set(self._names)) != len(self._names):
            raise ValueError("duplicate parameter names")
        if len({_identity(t) for t in self._tensors}) != len(self._tensors):
            raise ValueError("a parameter appears more than once")

        if client is None:
            client = session.client if isinstance(session, Session) else Client(url, token)
        self.client = client
        if session is not None:
            self.session = session if isinstance(session, Session) else client.session(session)
            declared = dict(self.session.layout)
            for name, t in zip(self._names, self._tensors):
                if name not in declared or tuple(declared[name]) != tuple(t.shape):
                    raise ValueError(f"session {self.session.id!r} declares {self.session.layout}; "
                                     f"the model has {name!r} of shape {tuple(t.shape)}")
        else:
            self.session = Session.create(
                client=client, optimizer=config, schedule=schedule, clip=clip, id=id,
                groups=stepd_groups or None, param_groups=param_groups or None, accumulation=accumulation,
                nonfinite=nonfinite, snapshot=snapshot,
                params={n: t.detach().to("cpu", torch.float32).numpy() for n, t in zip(self._names, self._tensors)})

        # The server's view of each group's hyperparameters (defaults filled in) becomes torch's.
        server = self.session.summary.get("config", {})
        server_opt = {k: v for k, v in server.get("optimizer", {}).items() if k != "type"}
        server_groups = {g["name"]: g for g in server.get("groups", [])}
        defaults = {k: (tuple(v) if isinstance(v, list) else v) for k, v in server_opt.items()}
        for g, gname in zip(torch_groups, self._group_names):
            if gname is not None:
                for k, v in server_groups.get(gname, {}).items():
                    if k in _HYPER_KEYS:
                        g[k] = tuple(v) if isinstance(v, list) else v
        super().__init__(torch_groups, defaults)
        # torch filled every group's missing keys from the session optimizer's defaults; a group
        # of another type keeps only the keys its own optimizer has (the server's echo).
        for g, gname in zip(self.param_groups, self._group_names):
            if "type" in g and gname is not None:
                own = server_groups.get(gname, {})
                for k in [k for k in g if k in _HYPER_KEYS and k not in own]:
                    del g[k]
        self._sent = [self._hyper_of(g) for g in self.param_groups]
        if session is not None:
            self.pull()

    # -- parameter naming ---------------------------------------------------------------------

    @staticmethod
    def _named_groups(params: Iterable[Any]) -> List[Tuple[List[Tuple[str, torch.Tensor]], Dict[str, Any]]]:
        if isinstance(params, torch.Tensor):
            raise TypeError("params must be an iterable of tensors, (name, tensor) pairs or dicts, got a Tensor")
        items = list(params)
        if not items:
            raise ValueError("StepdOptimizer got an empty parameter list")
        groups = items if isinstance(items[0], Mapping) else [{"params": items}]
        counter = 0
        out = []
        for g in groups:
            if not isinstance(g, Mapping):
                raise TypeError("mixing parameter groups (dicts) with bare parameters")
            entries = list(g["params"]) if not isinstance(g["params"], torch.Tensor) else [g["params"]]
            given = list(g.get("param_names", [])) or [None] * len(entries)
            pairs = []
            for entry, given_name in zip(entries, given):
                if isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[1], torch.Tensor):
                    name, t = str(entry[0]), entry[1]
                elif isinstance(entry, torch.Tensor):
                    name, t = (str(given_name) if given_name is not None else f"param{counter}"), entry
                else:
                    raise TypeError(f"expected a Tensor or a (name, Tensor) pair, got {type(entry).__name__}")
                counter += 1
                pairs.append((name, t))
            options = {k: v for k, v in g.items() if k not in ("params", "param_names")}
            out.append((pairs, options))
        return out

    # -- hyperparameters ----------------------------------------------------------------------

    @staticmethod
    def _hyper_of(group: Mapping[str, Any]) -> Dict[str, Any]:
        return {k: _jsonable(group[k]) for k in _HYPER_KEYS if k in group}

    def _sync_hyperparameters(self) -> None:
        """PATCHes the session if a group's hyperparameters changed since they were last sent."""
        now = [self._hyper_of(g) for g in self.param_groups]
        if now == self._sent:
            return
        patch: Dict[str, Any] = {}
        for hyper, before, gname in zip(now, self._sent, self._group_names):
            if gname is None and hyper != before:
                patch.setdefault("optimizer", {}).update({k: v for k, v in hyper.items() if before.get(k) != v})
        if any(h != b for h, b, n in zip(now, self._sent, self._group_names) if n is not None):
            # A merge patch replaces arrays whole: send every named group.
            base = now[self._group_names.index(None)] if None in self._group_names else {}
            groups = []
            for hyper, gname in zip(now, self._group_names):
                if gname is not None:
                    typed = "type" in hyper
                    groups.append({"name": gname, **{k: v for k, v in hyper.items() if typed or base.get(k) != v}})
            patch["groups"] = groups
        self.session.patch(patch)
        self._sent = now

    # -- the step -----------------------------------------------------------------------------

    def step(self, closure: Optional[Callable[[], Any]] = None) -> Any:  # type: ignore[override]
        """Sends every parameter's gradient, applies the server's step, copies params back."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._sync_hyperparameters()
        grads: Dict[str, np.ndarray] = {}
        for name, p in zip(self._names, self._tensors):
            g = p.grad
            if g is None:
                grads[name] = np.zeros(tuple(p.shape), np.float32)
            else:
                if g.is_sparse:
                    raise RuntimeError("StepdOptimizer does not support sparse gradients")
                grads[name] = g.detach().to("cpu", torch.float32).contiguous().numpy()
        loss_value = None
        if loss is not None:
            try:
                loss_value = float(loss.detach().item() if isinstance(loss, torch.Tensor) else loss)
            except (TypeError, ValueError, RuntimeError):
                loss_value = None
        self.last_result = self.session.step(grads, loss=loss_value, dtype=self.dtype)
        if self.last_result.applied and not self.last_result.skipped:
            self.pull()
        return loss

    def pull(self) -> None:
        """Copies the server's current parameters into the model's tensors, in place."""
        values = self.session.params()
        with torch.no_grad():
            for name, p in zip(self._names, self._tensors):
                p.copy_(torch.from_numpy(values[name]).reshape(p.shape).to(device=p.device, dtype=p.dtype))

    def push(self) -> None:
        """Uploads the model's current tensors as the session's parameters (PUT params)."""
        self.session.set_params({n: t.detach().to("cpu", torch.float32).numpy() for n, t in zip(self._names, self._tensors)})

    # -- whole-state save/restore -------------------------------------------------------------

    def checkpoint(self) -> bytes:
        """The whole session (params and optimizer state) as safetensors bytes."""
        return self.session.checkpoint()

    def restore_checkpoint(self, data: bytes) -> None:
        """Restores the session from :meth:`checkpoint` bytes and copies its params into the model."""
        self.session.restore_checkpoint(data)
        self.pull()

    @property
    def names(self) -> List[str]:
        """Session tensor names, in declared order."""
        return list(self._names)

    def __repr__(self) -> str:
        return f"StepdOptimizer(session={self.session.id!r}, url={self.client.url!r}, params={len(self._names)})"
