"""One model's tensors over several stepd servers, stepped together as one session.

Placement: the declared tensors are cut into one contiguous run per server, balanced by bytes,
so each server's session holds its run in declared order and the servers, in the order given,
hold the whole declared order. That is the placement record: reopening with the same URLs in
the same order (:meth:`ShardedSession.open`) finds every tensor where it was.

A step is two-phase, because clipping needs the global norm before any server may update:
every server stores its part of the gradient and answers its per-tensor float64 sums of
squares (``POST .../steps?prepare=1``); the client adds them one by one in declared order
(exactly as one server adds its per-tensor sums) and commits the global norm everywhere
(``POST .../steps/commit``). The result equals one server holding the whole model, bit for bit.
A non-finite gradient anywhere is committed as a skip everywhere (``nonfinite: "skip"``, as on
one server) or aborted everywhere (``"error"``: the 422 is raised).
"""

from __future__ import annotations

import math
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from . import codec
from .client import JSON, RAW, Client, Session, StepResult
from .errors import StepdError


def place(sizes: Sequence[int], nodes: int) -> List[range]:
    """Cuts tensors of ``sizes`` bytes, in order, into ``nodes`` contiguous runs of about equal
    bytes (a run may be empty when there are fewer tensors than nodes)."""
    total = sum(sizes)
    runs: List[range] = []
    start = 0
    acc = 0
    for k in range(nodes - 1):
        target = total * (k + 1) / nodes
        end = start
        # Take tensors while that brings the running total closer to this cut's target.
        while end < len(sizes) - (nodes - 1 - k) and abs(acc + sizes[end] - target) <= abs(acc - target):
            acc += sizes[end]
            end += 1
        if end == start and end < len(sizes) - (nodes - 1 - k):
            acc += sizes[end]
            end += 1
        runs.append(range(start, end))
        start = end
    runs.append(range(start, len(sizes)))
    return runs


class ShardedSession:
    """The shards of one model: ``shards[i]`` is a :class:`Session` on the i-th server."""

    def __init__(self, shards: Sequence[Session]):
        self.shards = list(shards)
        self.id = self.shards[0].id
        self.last_step = self.shards[0].last_step
        self._pool = ThreadPoolExecutor(max_workers=len(self.shards), thread_name_prefix="stepd-shard")

    # -- making and finding ------------------------------------------------------------------

    @classmethod
    def create(cls, urls: Sequence[str], *, optimizer: Mapping[str, Any], params: Mapping[str, Any], id: str,
               param_groups: Optional[Mapping[str, str]] = None, token: Optional[str] = None,
               client_options: Optional[Mapping[str, Any]] = None, **session_options: Any) -> "ShardedSession":
        """Places ``params`` (name → values or spec, declared order = mapping order) over the
        servers at ``urls`` and creates session ``id`` on each with its share; every other
        option (``clip``, ``schedule``, ``groups``, ``nonfinite``, ``snapshot``,
        ``max_staleness``...) goes to every shard, as :meth:`Session.create` takes it."""
        names = list(params)
        sizes = [_nbytes(params[n]) for n in names]
        runs = place(sizes, len(urls))
        groups_of = dict(param_groups or {})
        shards: List[Session] = []
        try:
            for url, run in zip(urls, runs):
                own = {names[i]: params[names[i]] for i in run}
                shards.append(Session.create(client=Client(url, token, **dict(client_options or {})), optimizer=optimizer,
                                             params=own, id=id, param_groups={n: g for n, g in groups_of.items() if n in own},
                                             **session_options))
        except BaseException:
            for s in shards:
                try:
                    s.delete()
                except StepdError:
                    pass
            raise
        return cls(shards)

    @classmethod
    def open(cls, urls: Sequence[str], id: str, token: Optional[str] = None, **client_options: Any) -> "ShardedSession":
        """The sharded session ``id`` on those of the servers at ``urls`` that hold a shard of it
        (others are passed over), in the order the model was created with."""
        shards = []
        for u in urls:
            try:
                shards.append(Client(u, token, **client_options).session(id))
            except StepdError as e:
                if e.status != 404:
                    raise
        if not shards:
            raise StepdError(404, "Not Found", f"no server of {list(urls)} holds a shard of {id!r}")
        return cls(shards)

    # -- reading ------------------------------------------------------------------------------

    @property
    def layout(self) -> codec.Layout:
        return [t for s in self.shards for t in s.layout]

    @property
    def names(self) -> List[str]:
        return [n for n, _ in self.layout]

    def _each(self, fn: Callable[[Session], Any]) -> List[Any]:
        return list(self._pool.map(fn, self.shards))

    def params(self, names: Optional[Sequence[str]] = None, dtype: str = "f32") -> Dict[str, np.ndarray]:
        """Every tensor (or ``names``), fetched from all servers at once, in declared order."""
        want = set(names) if names is not None else None

        def fetch(s: Session) -> Dict[str, np.ndarray]:
            own = s.names if want is None else [n for n in s.names if n in want]
            return s.params(own, dtype=dtype) if own else {}
        out: Dict[str, np.ndarray] = {}
        for part in self._each(fetch):
            out.update(part)
        if want is not None and set(out) != want:
            raise ValueError(f"unknown tensors {sorted(want - set(out))}; the model declares {self.names}")
        return out

    def history(self, last: Optional[int] = None) -> dict:
        """One record per step, as one server would keep it: the global grad norm and clipping
        (every shard has the same), update and parameter norms over all shards."""
        parts = self._each(lambda s: s.history(last=last))
        records = []
        for rows in zip(*(p["records"] for p in parts)):
            r = dict(rows[0])
            for key in ("update_norm", "param_norm"):
                total = 0.0
                for row in rows:
                    total += float(row[key]) ** 2
                r[key] = math.sqrt(total)
            r["update_ratio"] = r["update_norm"] / r["param_norm"] if r["param_norm"] > 0 else 0.0
            records.append(r)
        return {"step": parts[0]["step"], "records": records, "health": parts[0]["health"]}

    # -- stepping -----------------------------------------------------------------------------

    def step(self, grads: Mapping[str, Any], loss: Optional[float] = None, *, based_on: Optional[int] = None) -> StepResult:
        """One step of the whole model: prepare on every server, add the per-tensor sums in
        declared order, commit the global norm (or a skip) everywhere. ``based_on`` defaults to
        the step of the last :meth:`params` fetch of every shard, as for :meth:`Session.step`."""
        key = uuid.uuid4().hex
        if based_on is None:
            fetched = {s.params_step for s in self.shards}
            if len(fetched) == 1:
                based_on = fetched.pop()
        bodies = [codec.encode_raw(s.layout, {n: grads[n] for n in s.names}) if s.layout else b"" for s in self.shards]
        query: Dict[str, Any] = {"prepare": 1}
        if loss is not None:
            query["loss"] = repr(float(loss))
        if based_on is not None:
            query["based_on"] = int(based_on)

        def prepare(i: int) -> Tuple[Optional[dict], Optional[BaseException]]:
            s = self.shards[i]
            try:
                r = s.client.request("POST", s.path + "/steps", params=query, data=bodies[i],
                                     headers={"Content-Type": RAW, "Accept": JSON, "Idempotency-Key": key})
                return r.json(), None
            except BaseException as e:  # noqa: BLE001 (re-raised below, after aborting the others)
                return None, e
        answers = list(self._pool.map(prepare, range(len(self.shards))))
        failed = [e for _, e in answers if e is not None]
        if failed:
            self._each(lambda s: s.client.request("POST", s.path + "/steps/abort", headers={"Accept": JSON}))
            raise failed[0]
        prepared = [a for a, _ in answers]
        if all(p["finite"] for p in prepared):
            total = 0.0
            for s, p in zip(self.shards, prepared):
                sums = p["tensor_sums"]
                for n in s.names:  # declared order, one addition at a time (no compensated sum())
                    total += sums[n]
            commit: Dict[str, Any] = {"norm": math.sqrt(total)}
        else:
            commit = {"skip": True}
        expected = prepared[0]["step"]

        def do_commit(s: Session) -> dict:
            try:
                return s.client.request("POST", s.path + "/steps/commit", json_body=commit, headers={"Accept": JSON}).json()
            except StepdError as e:
                # A retried commit whose first attempt was applied finds nothing prepared.
                if e.status == 409 and commit.get("skip") is None and s.step_count == expected + 1:
                    return s.history(last=1)["records"][-1]
                raise
        results = self._each(do_commit)
        out = StepResult(results[0])
        for key_ in ("update_norm", "param_norm"):
            if key_ in out:
                total = 0.0
                for r in results:
                    total += float(r[key_]) ** 2
                out[key_] = math.sqrt(total)
        if out.get("param_norm"):
            out["update_ratio"] = out["update_norm"] / out["param_norm"]
        self.last_step = int(out.get("step", self.last_step))
        return out

    def delete(self) -> None:
        self._each(lambda s: s.delete())

    def close(self) -> None:
        self._pool.shutdown(wait=False)

    def __repr__(self) -> str:
        return f"<stepd.ShardedSession {self.id!r} over {[s.client.url for s in self.shards]} step={self.last_step}>"


def _nbytes(value: Any) -> int:
    if isinstance(value, Mapping):
        return 4 * int(np.prod(value.get("shape", [])))
    return 4 * int(np.asarray(value).size)
