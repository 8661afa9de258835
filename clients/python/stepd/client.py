"""The stepd HTTP client: sessions, steps, parameters, schedule, history, checkpoints."""

from __future__ import annotations

import os
import random
import time
import uuid
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Union

import numpy as np
import requests

from . import codec
from .errors import StepdError

DEFAULT_URL = "http://127.0.0.1:8080"

JSON = "application/json"
RAW = "application/octet-stream"
SAFETENSORS = "application/vnd.safetensors"

# q8 optimizer state applies to tensors of at least this many elements; smaller ones keep float32
# (bitsandbytes' min_8bit_size).
Q8_MIN_ELEMENTS = 4096

# Statuses worth another try: the server (or a proxy in front of it) was busy or restarting.
_RETRY_STATUSES = frozenset({502, 503, 504})


def default_url() -> str:
    """``STEPD_URL`` from the environment, else ``http://127.0.0.1:8080``."""
    return os.environ.get("STEPD_URL") or DEFAULT_URL


class Client:
    """A connection to one stepd server.

    ``url`` defaults to ``$STEPD_URL`` (else ``http://127.0.0.1:8080``), ``token`` to
    ``$STEPD_TOKEN`` (sent as ``Authorization: Bearer``). Requests that are safe to repeat
    (GET, PUT, PATCH, DELETE and steps, which carry an ``Idempotency-Key``) are retried up to
    ``retries`` times on connection errors and 502/503/504/500 answers, with exponential backoff
    starting at ``backoff`` seconds.
    """

    def __init__(self, url: Optional[str] = None, token: Optional[str] = None, *,
                 timeout: float = 60.0, retries: int = 3, backoff: float = 0.1,
                 http: Optional[requests.Session] = None):
        self.url = (url or default_url()).rstrip("/")
        self.token = token if token is not None else (os.environ.get("STEPD_TOKEN") or None)
        self.timeout = timeout
        self.retries = max(0, int(retries))
        self.backoff = backoff
        self.http = http or requests.Session()

    # -- plumbing -----------------------------------------------------------------------------

    def request(self, method: str, path: str, *, params: Optional[Mapping[str, Any]] = None,
                json_body: Any = None, data: Optional[bytes] = None,
                headers: Optional[Mapping[str, str]] = None, retry: bool = True,
                ok: Sequence[int] = ()) -> requests.Response:
        """One request with the client's auth, timeout and retry policy.

        Raises :class:`StepdError` for a 4xx/5xx answer (unless its status is in ``ok``) and,
        when every attempt failed to get an answer, for the network error (status ``None``).
        """
        h = {"User-Agent": "stepd-client-python/0.1"}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        if headers:
            h.update(headers)
        if json_body is not None:
            import json as _json
            data = _json.dumps(json_body, separators=(",", ":"), allow_nan=False).encode("utf-8")
            h.setdefault("Content-Type", JSON)
        url = self.url + path
        attempts = 1 + (self.retries if retry else 0)
        last_exc: Optional[BaseException] = None
        for attempt in range(attempts):
            if attempt:
                time.sleep(self.backoff * (2 ** (attempt - 1)) * (1 + 0.25 * random.random()))
            try:
                r = self.http.request(method, url, params=params, data=data, headers=h, timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as e:
                last_exc = e
                continue
            if r.status_code in _RETRY_STATUSES or (r.status_code == 500 and retry):
                last_exc = None
                if attempt + 1 < attempts:
                    continue
            if r.status_code >= 400 and r.status_code not in ok:
                raise StepdError.from_response(r)
            return r
        raise StepdError(None, "no answer from stepd", f"{type(last_exc).__name__}: {last_exc}",
                         method=method, url=url) from last_exc

    def get_json(self, path: str, **params: Any) -> Any:
        q = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=q or None, headers={"Accept": JSON}).json()

    # -- sessions -----------------------------------------------------------------------------

    def health(self) -> dict:
        """``GET /healthz``."""
        return self.get_json("/healthz")

    def metrics(self) -> str:
        """``GET /metrics`` (Prometheus text)."""
        return self.request("GET", "/metrics").text

    def sessions(self) -> List[dict]:
        """``GET /v1/sessions``: one dict per session (id, optimizer, step, param_count, bytes)."""
        return self.get_json("/v1/sessions")["sessions"]

    def __iter__(self) -> Iterator["Session"]:
        for s in self.sessions():
            yield self.session(s["id"])

    def session(self, session_id: str) -> "Session":
        """Attaches to an existing session (reads its config; 404 raises :class:`StepdError`)."""
        return Session(self, session_id)

    def create_session(self, **kwargs: Any) -> "Session":
        """Same as :meth:`Session.create` on this client."""
        return Session.create(client=self, **kwargs)

    def restore_checkpoint(self, session_id: str, data: bytes) -> "Session":
        """``PUT /v1/sessions/{id}/checkpoint`` with a file from :meth:`Session.checkpoint`:
        replaces that session, or creates it if there is none by that id."""
        r = self.request("PUT", f"/v1/sessions/{_quote(session_id)}/checkpoint", data=bytes(data),
                         headers={"Content-Type": SAFETENSORS, "Accept": JSON})
        return Session(self, session_id, r.json())

    def import_checkpoint(self, data: bytes, id: Optional[str] = None) -> "Session":
        """``POST /v1/sessions`` with a checkpoint body: a new session (409 if ``id`` is taken;
        without ``id``, the id stored in the checkpoint)."""
        r = self.request("POST", "/v1/sessions", params={"id": id} if id is not None else None, data=bytes(data),
                         headers={"Content-Type": SAFETENSORS, "Accept": JSON}, retry=False)
        return Session(self, r.json()["id"], r.json())


def _quote(session_id: str) -> str:
    return requests.utils.quote(str(session_id), safe="")


class StepResult(dict):
    """The server's answer to a step, a dict with attribute access (``r.step``, ``r.lr``...).

    Keys: step, applied, lr, grad_norm, clip_coef, clipped, skipped, update_norm, param_norm,
    update_ratio, lrs, loss (if sent), accumulated/needed (with accumulation), replayed (a
    retried Idempotency-Key answered from the server's record).
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            if name in ("replayed", "skipped", "clipped"):
                return False
            if name in ("lr", "grad_norm", "clip_coef", "update_norm", "param_norm", "update_ratio",
                        "loss", "lrs", "accumulated", "needed"):
                return None
            raise AttributeError(name) from None


ParamSpec = Union[np.ndarray, Sequence[float], Mapping[str, Any]]


class Session:
    """One optimizer session on a stepd server.

    Make one with :meth:`Session.create` (new) or ``Client(url).session(id)`` (existing).
    ``session.layout`` is the list of ``(name, shape)`` in declared order, which is also the
    order of binary bodies.
    """

    def __init__(self, client: Client, session_id: str, summary: Optional[dict] = None):
        self.client = client
        self.id = session_id
        self.path = f"/v1/sessions/{_quote(session_id)}"
        self.summary: dict = {}
        self.layout: codec.Layout = []
        self.last_step: int = 0
        # The step of the parameters this client last fetched (or set): what its next gradient
        # is computed from, sent as based_on so the server can refuse it once too old.
        self.params_step: Optional[int] = None
        self._apply_summary(summary if summary is not None else self.client.get_json(self.path))

    def _apply_summary(self, summary: dict) -> None:
        self.summary = summary
        self.id = summary.get("id", self.id)
        self.last_step = int(summary.get("step", self.last_step))
        params = summary.get("config", {}).get("params", [])
        self.layout = [(p["name"], tuple(int(d) for d in p["shape"])) for p in params]

    def __repr__(self) -> str:
        return f"<stepd.Session {self.id!r} at {self.client.url} step={self.last_step}>"

    @property
    def names(self) -> List[str]:
        return [n for n, _ in self.layout]

    @property
    def shapes(self) -> Dict[str, tuple]:
        return dict(self.layout)

    # -- create -------------------------------------------------------------------------------

    @classmethod
    def create(cls, url: Optional[str] = None, *, optimizer: Mapping[str, Any],
               params: Mapping[str, ParamSpec], schedule: Optional[Mapping[str, Any]] = None,
               clip: Union[None, float, Mapping[str, Any]] = None,
               groups: Union[None, Sequence[Mapping[str, Any]], Mapping[str, Mapping[str, Any]]] = None,
               param_groups: Optional[Mapping[str, str]] = None, id: Optional[str] = None,
               accumulation: Optional[Mapping[str, int]] = None, nonfinite: Optional[str] = None,
               snapshot: Optional[Mapping[str, Any]] = None, history: Optional[Mapping[str, Any]] = None,
               max_staleness: Optional[int] = None, exist_ok: bool = False,
               token: Optional[str] = None, client: Optional[Client] = None, **client_options: Any) -> "Session":
        """Creates a session and uploads the initial parameters.

        Without ``id``: ``POST /v1/sessions``, sent once. With ``id``: ``PUT /v1/sessions/{id}``,
        which a proxy routes by the id and which is retried like any PUT; a session already
        there with the same config answers 200, which raises a 409 :class:`StepdError` unless
        ``exist_ok`` (then that session is returned as it is, and nothing is uploaded).

        - ``optimizer``: e.g. ``{"type": "adamw", "lr": 1e-3, "weight_decay": 0.01}``.
        - ``params``: name → initial values (an ndarray, uploaded in binary right after the
          create), or name → a spec dict ``{"shape": [...], "init": "zeros" |
          {"type": "normal", "std": 0.02, "seed": 1}}`` made on the server. Declared order is
          the mapping's order.
        - ``schedule``: e.g. ``{"type": "warmup_cosine", "warmup_steps": 100, "total_steps":
          1000, "min_lr_ratio": 0.1}``; ``clip``: a max norm (float) or ``{"max_norm": 1.0}``.
        - ``groups``: ``[{"name": "no_decay", "weight_decay": 0.0}, ...]`` or
          ``{"no_decay": {"weight_decay": 0.0}}``; ``param_groups``: tensor name → group name.
          A group with a ``"type"`` runs that optimizer with its own defaults, e.g.
          ``{"matrices": {"type": "muon", "lr": 0.02}}`` next to an AdamW session optimizer.
        - ``accumulation``: ``{"micro_batches": K, "workers": W}``; ``nonfinite``: "skip" or
          "error"; ``snapshot``, ``history``: passed through; ``max_staleness``: refuse
          gradients computed from parameters more than that many steps old.
        - ``url``/``token``/``client_options`` build a :class:`Client` unless ``client`` is given.
        """
        if client is None:
            client = Client(url, token, **client_options)
        param_groups = dict(param_groups or {})
        unknown = sorted(set(param_groups) - set(params))
        if unknown:
            raise ValueError(f"param_groups names tensors that are not in params: {unknown}")
        specs = []
        uploads: Dict[str, np.ndarray] = {}
        for name, value in params.items():
            if isinstance(value, Mapping):
                spec = {"name": name, **value}
                if "shape" in spec:
                    spec["shape"] = [int(d) for d in spec["shape"]]
            else:
                a = np.asarray(value, dtype=np.float32)
                spec = {"name": name, "shape": [int(d) for d in a.shape], "init": "zeros"}
                uploads[name] = a
            if name in param_groups:
                spec["group"] = param_groups[name]
            specs.append(spec)
        body: Dict[str, Any] = {"optimizer": dict(optimizer), "params": specs}
        if id is not None:
            body["id"] = id
        if schedule is not None:
            body["schedule"] = dict(schedule)
        if clip is not None:
            body["clip"] = {"max_norm": float(clip)} if isinstance(clip, (int, float)) else dict(clip)
        if groups is not None:
            if isinstance(groups, Mapping):
                body["groups"] = [{"name": g, **dict(o)} for g, o in groups.items()]
            else:
                body["groups"] = [dict(g) for g in groups]
        for key, value in (("accumulation", accumulation), ("nonfinite", nonfinite),
                           ("snapshot", snapshot), ("history", history), ("max_staleness", max_staleness)):
            if value is not None:
                body[key] = dict(value) if isinstance(value, Mapping) else value
        if id is not None:
            del body["id"]
            r = client.request("PUT", f"/v1/sessions/{_quote(id)}", json_body=body, headers={"Accept": JSON})
            if r.status_code == 200:
                if exist_ok:
                    return cls(client, id, r.json())
                raise StepdError(409, "Conflict", f"session {id!r} already exists (with this config); pass exist_ok=True to attach to it",
                                 method="PUT", url=client.url + f"/v1/sessions/{_quote(id)}")
        else:
            # A POST is sent once: after a lost answer, a blind retry could make a second session.
            r = client.request("POST", "/v1/sessions", json_body=body, headers={"Accept": JSON}, retry=False)
        session = cls(client, r.json()["id"], r.json())
        if uploads:
            try:
                session.set_params(uploads, if_match=0)
            except BaseException:
                try:
                    session.delete()
                except StepdError:
                    pass
                raise
        return session

    # -- reading ------------------------------------------------------------------------------

    def info(self) -> dict:
        """``GET /v1/sessions/{id}``: config, step, lr, last grad norm, health."""
        self._apply_summary(self.client.get_json(self.path))
        return self.summary

    def state_dtypes(self, refresh: bool = False) -> Dict[str, str]:
        """Tensor name → how the server keeps its optimizer state: ``"f32"``, ``"bf16"`` or ``"q8"``.

        Read from the session's config (the last one this object saw; ``refresh=True`` fetches
        it first): a tensor's group's ``state_dtype``, else the session optimizer's for a group
        without a ``type`` of its own (a typed group starts from f32), and q8 keeps tensors
        under ``Q8_MIN_ELEMENTS`` (4096, bitsandbytes' ``min_8bit_size``) in float32."""
        config = (self.info() if refresh else self.summary).get("config", {})
        default = config.get("optimizer", {}).get("state_dtype", "f32")
        groups = {}
        for g in config.get("groups", []):
            groups[g["name"]] = g.get("state_dtype", "f32" if "type" in g else default)
        out: Dict[str, str] = {}
        for p in config.get("params", []):
            dtype = groups.get(p.get("group"), default)
            count = int(np.prod([int(d) for d in p["shape"]], dtype=np.int64))
            out[p["name"]] = "f32" if dtype == "q8" and count < Q8_MIN_ELEMENTS else dtype
        return out

    @property
    def step_count(self) -> int:
        """The session's step counter, as the server has it now."""
        return int(self.info()["step"])

    def params(self, names: Optional[Sequence[str]] = None, view: Optional[str] = None,
               dtype: str = "f32") -> Dict[str, np.ndarray]:
        """``GET .../params`` in binary: name → float32 array of its declared shape.

        ``dtype="bf16"`` or ``"f16"`` downloads half the bytes (the server rounds to nearest
        even); the arrays come back as float32 holding the rounded values.

        ``view``: one of the optimizer's views instead of the parameters: ``"average"`` (asgd's
        averaged iterate) or ``"eval"`` (schedule_free_adamw's evaluation point x; the
        parameters are the training point y)."""
        layout = self.layout
        query: Dict[str, str] = {}
        if names is not None:
            names = list(names)
            unknown = [n for n in names if n not in self.shapes]
            if unknown:
                raise ValueError(f"unknown tensors {unknown}; the session declares {self.names}")
            order = set(names)
            layout = [(n, s) for n, s in self.layout if n in order]
            query["names"] = ",".join(names)
        if view is not None:
            query["view"] = view
        if dtype != "f32":
            query["dtype"] = dtype
        r = self.client.request("GET", self.path + "/params", params=query or None, headers={"Accept": RAW})
        self._note_etag(r, fetched=view is None)
        return codec.decode_raw(layout, r.content, dtype)

    def params_safetensors(self, names: Optional[Sequence[str]] = None) -> bytes:
        """``GET .../params`` as a safetensors file (bytes)."""
        query = {"names": ",".join(names)} if names is not None else None
        r = self.client.request("GET", self.path + "/params", params=query, headers={"Accept": SAFETENSORS})
        self._note_etag(r, fetched=True)
        return r.content

    def schedule(self, preview: Optional[int] = None) -> dict:
        """``GET .../schedule``: step, lr, lrs per group, the schedule, ``preview`` next lrs."""
        return self.client.get_json(self.path + "/schedule", preview=preview)

    def history(self, last: Optional[int] = None) -> dict:
        """``GET .../history``: ``{"step", "records": [...], "health": {...}}``."""
        return self.client.get_json(self.path + "/history", last=last)

    def checkpoint(self) -> bytes:
        """``GET .../checkpoint``: the whole session (config, step, params, state) as safetensors."""
        return self.client.request("GET", self.path + "/checkpoint", headers={"Accept": SAFETENSORS}).content

    # -- writing ------------------------------------------------------------------------------

    def step(self, grads: Mapping[str, Any], loss: Optional[float] = None, *, worker: Optional[int] = None,
             micro_batch: Optional[int] = None, dtype: str = "f32", if_match: Optional[int] = None,
             idempotency_key: Optional[str] = None, based_on: Optional[int] = None) -> StepResult:
        """Posts one gradient batch (binary, every tensor in declared order) and returns the answer.

        Each call carries an ``Idempotency-Key`` (a fresh one unless given), so the automatic
        retries after a lost connection or a 5xx can never apply the same gradients twice: the
        server answers a repeat with the original result (``replayed`` True). ``dtype`` "bf16" or
        "f16" halves the upload; ``if_match`` refuses the step (412) unless the session is at
        that step; ``worker``/``micro_batch`` tag a contribution to an accumulated step.
        ``based_on``: the step of the parameters the gradient was computed from; by default the
        step of the last :meth:`params` fetch, if any (a session's ``max_staleness`` refuses
        gradients too old, 409).
        """
        body = codec.encode_raw(self.layout, grads, dtype)
        query: Dict[str, Any] = {}
        if based_on is None:
            based_on = self.params_step
        if based_on is not None:
            query["based_on"] = int(based_on)
        if dtype not in ("f32", "float32"):
            query["dtype"] = dtype
        if loss is not None:
            loss = float(loss)
            query["loss"] = repr(loss) if np.isfinite(loss) else ("nan" if np.isnan(loss) else ("inf" if loss > 0 else "-inf"))
        if worker is not None:
            query["worker"] = int(worker)
        if micro_batch is not None:
            query["micro_batch"] = int(micro_batch)
        headers = {"Content-Type": RAW, "Accept": JSON, "Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        if if_match is not None:
            headers["If-Match"] = f'"{int(if_match)}"'
        r = self.client.request("POST", self.path + "/steps", params=query or None, data=body, headers=headers)
        result = StepResult(r.json())
        self.last_step = int(result.get("step", self.last_step))
        return result

    def step_json(self, grads: Mapping[str, Any], loss: Optional[float] = None, **fields: Any) -> StepResult:
        """The same step as a JSON body (small tensors, debugging). No automatic key/retry."""
        body: Dict[str, Any] = {"grads": {n: np.asarray(g, dtype=np.float32).reshape(-1).tolist() for n, g in grads.items()}}
        if loss is not None:
            body["loss"] = float(loss)
        body.update({k: v for k, v in fields.items() if v is not None})
        r = self.client.request("POST", self.path + "/steps", json_body=body, headers={"Accept": JSON}, retry=False)
        result = StepResult(r.json())
        self.last_step = int(result.get("step", self.last_step))
        return result

    def set_params(self, values: Mapping[str, Any], *, if_match: Optional[int] = None) -> dict:
        """``PUT .../params``: all tensors go as raw float32, a subset as safetensors."""
        headers = {"Accept": JSON}
        if if_match is not None:
            headers["If-Match"] = f'"{int(if_match)}"'
        if set(values) == set(self.names):
            headers["Content-Type"] = RAW
            body = codec.encode_raw(self.layout, values)
        else:
            unknown = sorted(set(values) - set(self.names))
            if unknown:
                raise ValueError(f"unknown tensors {unknown}; the session declares {self.names}")
            headers["Content-Type"] = SAFETENSORS
            shapes = self.shapes
            body = codec.encode_safetensors(
                (n, codec.to_f32(n, values[n], shapes[n]).reshape(shapes[n])) for n in self.names if n in values)
        r = self.client.request("PUT", self.path + "/params", data=body, headers=headers)
        self._note_etag(r)
        return r.json()

    def patch(self, changes: Optional[Mapping[str, Any]] = None, **fields: Any) -> dict:
        """``PATCH`` a JSON merge patch: ``patch(optimizer={"lr": 1e-4})``, ``patch({"clip": None})``."""
        body = dict(changes or {})
        body.update(fields)
        r = self.client.request("PATCH", self.path, json_body=body, headers={"Content-Type": "application/merge-patch+json", "Accept": JSON})
        self._apply_summary(r.json())
        return self.summary

    def restore_checkpoint(self, data: bytes) -> dict:
        """``PUT .../checkpoint`` with bytes from :meth:`checkpoint`; returns the new summary."""
        r = self.client.request("PUT", self.path + "/checkpoint", data=bytes(data),
                                headers={"Content-Type": SAFETENSORS, "Accept": JSON})
        self._apply_summary(r.json())
        return self.summary

    def delete(self) -> None:
        """``DELETE /v1/sessions/{id}``: the session and its snapshots are gone."""
        self.client.request("DELETE", self.path, ok=())

    def _note_etag(self, r: requests.Response, fetched: bool = False) -> None:
        tag = r.headers.get("ETag", "").strip('W/"')
        if tag.isdigit():
            self.last_step = int(tag)
            if fetched:
                self.params_step = int(tag)

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.delete()
