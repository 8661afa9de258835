"""The Python client against a live stepd (see conftest.py)."""

import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
import requests

import stepd
from stepd import codec


def _id(prefix="py"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class AdamWReference:
    """torch.optim.AdamW (amsgrad off, maximize off) in float64 numpy, with torch's clip_grad_norm_."""

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01, max_norm=None):
        self.p = {k: np.asarray(v, np.float64).copy() for k, v in params.items()}
        self.m = {k: np.zeros_like(v) for k, v in self.p.items()}
        self.v = {k: np.zeros_like(v) for k, v in self.p.items()}
        self.lr, self.betas, self.eps, self.wd, self.max_norm = lr, betas, eps, weight_decay, max_norm
        self.t = 0

    def step(self, grads, lr=None):
        lr = self.lr if lr is None else lr
        g = {k: np.asarray(v, np.float64) for k, v in grads.items()}
        norm = float(np.sqrt(sum(float((x * x).sum()) for x in g.values())))
        if self.max_norm is not None:
            coef = min(1.0, self.max_norm / (norm + 1e-6))
            g = {k: x * coef for k, x in g.items()}
        self.t += 1
        b1, b2 = self.betas
        for k in self.p:
            self.p[k] *= 1 - lr * self.wd
            self.m[k] = b1 * self.m[k] + (1 - b1) * g[k]
            self.v[k] = b2 * self.v[k] + (1 - b2) * g[k] * g[k]
            bc1 = 1 - b1 ** self.t
            bc2 = 1 - b2 ** self.t
            denom = np.sqrt(self.v[k]) / np.sqrt(bc2) + self.eps
            self.p[k] -= (lr / bc1) * self.m[k] / denom
        return norm


def _close(a, b, tol=2e-5):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=tol, atol=tol)


def test_import_does_not_import_torch():
    code = "import sys, stepd; assert 'torch' not in sys.modules, 'import stepd pulled in torch'; print('ok')"
    src = str(Path(stepd.__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": src, "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_default_url_from_env(monkeypatch):
    monkeypatch.setenv("STEPD_URL", "http://example.invalid:1234/")
    assert stepd.Client().url == "http://example.invalid:1234"
    monkeypatch.delenv("STEPD_URL")
    assert stepd.Client().url == "http://127.0.0.1:8080"


def test_adamw_round_trip_matches_numpy_reference(url):
    rng = np.random.default_rng(0)
    init = {"w": rng.standard_normal((5, 3)).astype(np.float32), "b": rng.standard_normal(3).astype(np.float32)}
    hyper = dict(lr=0.01, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.05)
    s = stepd.Session.create(url, optimizer={"type": "adamw", **{k: list(v) if isinstance(v, tuple) else v for k, v in hyper.items()}},
                             params=init, clip=1.0, id=_id("adamw"))
    try:
        assert s.layout == [("w", (5, 3)), ("b", (3,))]
        _close(s.params()["w"], init["w"], 0)           # uploaded values arrive exactly
        ref = AdamWReference(init, max_norm=1.0, **hyper)
        for t in range(1, 6):
            grads = {"w": rng.standard_normal((5, 3)).astype(np.float32) * (3 if t % 2 else 0.1),
                     "b": rng.standard_normal(3).astype(np.float32)}
            r = s.step(grads, loss=1.0 / t)
            norm = ref.step(grads)
            assert r.step == t and r.applied and not r.skipped and not r.replayed
            assert r.lr == pytest.approx(0.01)
            assert r.grad_norm == pytest.approx(norm, rel=1e-5)
            assert r.clipped == (norm > 1.0)
            got = s.params()
            assert set(got) == {"w", "b"} and got["w"].shape == (5, 3) and got["w"].dtype == np.float32
            for k in got:
                _close(got[k], ref.p[k])
        assert s.last_step == 5
        hist = s.history(last=2)
        assert [rec["step"] for rec in hist["records"]] == [4, 5]
        assert hist["records"][-1]["loss"] == pytest.approx(0.2)
        assert "health" in hist
    finally:
        s.delete()


def test_warmup_cosine_schedule_and_server_init(url):
    s = stepd.Session.create(
        url, optimizer={"type": "adamw", "lr": 0.1, "weight_decay": 0.0},
        schedule={"type": "warmup_cosine", "warmup_steps": 2, "total_steps": 6, "min_lr_ratio": 0.1},
        params={"w": {"shape": [4], "init": {"type": "normal", "std": 0.5, "seed": 7}}, "z": {"shape": [2, 2], "init": "zeros"}})
    try:
        p = s.params()
        assert np.all(p["z"] == 0) and np.any(p["w"] != 0)
        preview = s.schedule(preview=6)
        lrs = [row["lr"] for row in preview["preview"]]
        ref = AdamWReference(p, lr=0.0, weight_decay=0.0)
        seen = []
        for t in range(6):
            g = {"w": np.full(4, 0.5, np.float32), "z": np.ones((2, 2), np.float32)}
            r = s.step(g)
            seen.append(r.lr)
            ref.step(g, lr=r.lr)
        assert seen == pytest.approx(lrs)
        assert seen[-1] < seen[2] and seen[0] < seen[1]           # warmup, then decay
        for k, v in s.params().items():
            _close(v, ref.p[k])
    finally:
        s.delete()


def test_param_groups_and_patch(url):
    init = {"w": np.ones(3, np.float32), "b": np.ones(2, np.float32)}
    s = stepd.Session.create(url, optimizer={"type": "sgd", "lr": 0.1}, params=init,
                             groups={"slow": {"lr": 0.01}}, param_groups={"b": "slow"})
    try:
        r = s.step({"w": np.ones(3), "b": np.ones(2)})
        assert r.lr == pytest.approx(0.1)
        p = s.params()
        _close(p["w"], 0.9 * np.ones(3))
        _close(p["b"], 0.99 * np.ones(2))
        summary = s.patch(optimizer={"lr": 0.5})
        assert summary["config"]["optimizer"]["lr"] == 0.5
        r = s.step({"w": np.ones(3), "b": np.zeros(2)})
        assert r.lr == pytest.approx(0.5)
        _close(s.params(names=["w"])["w"], 0.4 * np.ones(3))
    finally:
        s.delete()


def test_set_params_full_and_subset(url):
    s = stepd.Session.create(url, optimizer={"type": "sgd", "lr": 0.1},
                             params={"a": np.zeros((2, 2), np.float32), "b": np.zeros(3, np.float32)})
    try:
        s.set_params({"a": np.arange(4).reshape(2, 2), "b": [1, 2, 3]})
        _close(s.params()["a"], np.arange(4).reshape(2, 2), 0)
        s.set_params({"b": np.array([7, 8, 9], np.float32)})           # a subset goes as safetensors
        got = s.params()
        _close(got["a"], np.arange(4).reshape(2, 2), 0)
        _close(got["b"], [7, 8, 9], 0)
        tensors, meta = codec.decode_safetensors(s.params_safetensors(names=["b"]))
        assert list(tensors) == ["b"] and meta.get("step") == "0"
        _close(tensors["b"], [7, 8, 9], 0)
        with pytest.raises(ValueError, match="unknown tensors"):
            s.set_params({"nope": [1.0]})
    finally:
        s.delete()


def test_errors_carry_problem_detail(url, client):
    with pytest.raises(stepd.StepdError) as e:
        stepd.Session.create(url, optimizer={"type": "adamw", "lr": "fast"}, params={"w": np.zeros(2)})
    err = e.value
    assert err.status == 422 and err.field == "optimizer.lr"
    assert "expected a number" in err.detail and err.title
    assert "optimizer.lr" in str(err)

    with pytest.raises(stepd.StepdError) as e:
        stepd.Session.create(url, optimizer={"type": "adamw", "betaz": [0.9, 0.99]}, params={"w": np.zeros(2)})
    assert e.value.status == 422 and "betaz" in (e.value.field or "") + e.value.detail

    with pytest.raises(stepd.StepdError) as e:
        client.session("no-such-session-" + uuid.uuid4().hex[:6])
    assert e.value.status == 404 and e.value.detail

    sid = _id("dup")
    s = stepd.Session.create(url, optimizer={"type": "sgd", "lr": 0.1}, params={"w": np.zeros(2)}, id=sid)
    try:
        with pytest.raises(stepd.StepdError) as e:
            stepd.Session.create(url, optimizer={"type": "sgd", "lr": 0.1}, params={"w": np.zeros(2)}, id=sid)
        assert e.value.status == 409
        s.step({"w": np.ones(2)})
        with pytest.raises(stepd.StepdError) as e:
            s.step({"w": np.ones(2)}, if_match=0)
        assert e.value.status == 412 and "step" in e.value.detail
        with pytest.raises(ValueError, match="3 elements"):
            s.step({"w": np.ones(3)})                      # caught before sending
        with pytest.raises(stepd.StepdError) as e:
            s.patch(params=[])
        assert e.value.status == 422 and e.value.field == "params"
        assert s.step_count == 1                         # nothing the server refused changed anything
    finally:
        s.delete()
    assert sid not in [x["id"] for x in client.sessions()]


def test_idempotency_key_replay_does_not_double_apply(url):
    s = stepd.Session.create(url, optimizer={"type": "sgd", "lr": 1.0}, params={"w": np.zeros(2, np.float32)})
    try:
        r1 = s.step({"w": np.ones(2)}, idempotency_key="fixed-key-1")
        r2 = s.step({"w": np.ones(2)}, idempotency_key="fixed-key-1")
        assert r1.step == 1 and not r1.replayed
        assert r2.step == 1 and r2.replayed
        _close(s.params()["w"], [-1, -1], 0)
        r3 = s.step({"w": np.ones(2)})                   # a fresh key is a new step
        assert r3.step == 2 and not r3.replayed
    finally:
        s.delete()


class _LoseFirstAnswer(requests.adapters.HTTPAdapter):
    """Delivers each step request to the server, then pretends the connection died (once per
    step URL), so the client must retry a step the server has already applied."""

    def __init__(self):
        super().__init__()
        self.lost = 0
        self.keys = []

    def send(self, request, *args, **kwargs):
        response = super().send(request, *args, **kwargs)
        if request.method == "POST" and request.url.split("?")[0].endswith("/steps"):
            self.keys.append(request.headers.get("Idempotency-Key"))
            if len(self.keys) % 2 == 1:
                self.lost += 1
                raise requests.ConnectionError("connection reset after the request was sent (simulated)")
        return response


class _FirstAttempt503(requests.adapters.HTTPAdapter):
    """Answers the first attempt of each step with 503 without sending it."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def send(self, request, *args, **kwargs):
        if request.method == "POST" and request.url.split("?")[0].endswith("/steps"):
            self.calls += 1
            if self.calls % 2 == 1:
                r = requests.Response()
                r.status_code = 503
                r.reason = "Service Unavailable"
                r.headers["Content-Type"] = "application/problem+json"
                r._content = b'{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"simulated"}'
                r.request = request
                r.url = request.url
                return r
        return super().send(request, *args, **kwargs)


def test_retry_after_lost_answer_is_safe(url):
    http = requests.Session()
    adapter = _LoseFirstAnswer()
    http.mount("http://", adapter)
    client = stepd.Client(url, http=http, retries=2, backoff=0.001)
    s = client.create_session(optimizer={"type": "sgd", "lr": 1.0}, params={"w": np.zeros(3, np.float32)})
    try:
        for t in range(1, 4):
            r = s.step({"w": np.ones(3)})
            assert r.step == t and r.replayed                 # the retry got the stored answer
        assert adapter.lost == 3
        assert adapter.keys[0] == adapter.keys[1] and adapter.keys[2] == adapter.keys[3] != adapter.keys[0]
        _close(s.params()["w"], [-3, -3, -3], 0)              # applied once per step, not twice
        assert s.history()["step"] == 3
    finally:
        s.delete()


def test_retry_on_5xx(url):
    http = requests.Session()
    adapter = _FirstAttempt503()
    http.mount("http://", adapter)
    client = stepd.Client(url, http=http, retries=1, backoff=0.001)
    s = client.create_session(optimizer={"type": "sgd", "lr": 1.0}, params={"w": np.zeros(1, np.float32)})
    try:
        assert s.step({"w": [2.0]}).step == 1
        assert adapter.calls == 2
        _close(s.params()["w"], [-2], 0)
        strict = stepd.Client(url, http=http, retries=0).session(s.id)
        with pytest.raises(stepd.StepdError) as e:
            strict.step({"w": [1.0]})
        assert e.value.status == 503 and e.value.detail == "simulated"
    finally:
        s.delete()


def test_no_server_raises_stepd_error():
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = stepd.Client(f"http://127.0.0.1:{port}", retries=1, backoff=0.001, timeout=2)
    with pytest.raises(stepd.StepdError) as e:
        client.sessions()
    assert e.value.status is None and "ConnectionError" in e.value.detail


@pytest.mark.parametrize("dtype", ["bf16", "f16"])
def test_half_precision_upload(url, dtype):
    grads = {"w": np.array([1.0, -2.0, 0.5, 3.0], np.float32), "b": np.array([0.25], np.float32)}  # exact in both
    sessions = [stepd.Session.create(url, optimizer={"type": "adamw", "lr": 0.01},
                                     params={"w": np.ones(4, np.float32), "b": np.zeros(1, np.float32)}) for _ in range(2)]
    try:
        a = sessions[0].step(grads)
        b = sessions[1].step(grads, dtype=dtype)
        assert a.grad_norm == pytest.approx(b.grad_norm)
        pa, pb = sessions[0].params(), sessions[1].params()
        for k in pa:
            _close(pa[k], pb[k], 0)
    finally:
        for s in sessions:
            s.delete()


def test_bf16_rounding():
    x = np.array([1.0, 1.00390625, 1.01171875, -2.5, 3.0e38, np.inf], np.float32)
    back = codec.bf16_bits_to_f32(codec.f32_to_bf16_bits(x))
    assert back[0] == 1.0 and back[1] == 1.0          # tie rounds to even
    assert back[2] == 1.015625 and back[3] == -2.5 and back[5] == np.inf
    assert np.isnan(codec.bf16_bits_to_f32(codec.f32_to_bf16_bits(np.array([np.nan], np.float32))))[0]


def test_accumulation_workers(url):
    s = stepd.Session.create(url, optimizer={"type": "sgd", "lr": 1.0}, params={"w": np.zeros(2, np.float32)},
                             accumulation={"micro_batches": 2, "workers": 1})
    try:
        r = s.step({"w": [1.0, 2.0]}, micro_batch=0)
        assert not r.applied and r.accumulated == 1 and r.needed == 2 and r.step == 0
        with pytest.raises(stepd.StepdError) as e:
            s.step({"w": [1.0, 2.0]}, micro_batch=0)
        assert e.value.status == 409
        r = s.step({"w": [3.0, 4.0]}, micro_batch=1)
        assert r.applied and r.step == 1
        _close(s.params()["w"], [-2, -3], 0)
    finally:
        s.delete()


def test_nonfinite_skip_and_loss_strings(url):
    s = stepd.Session.create(url, optimizer={"type": "sgd", "lr": 1.0}, params={"w": np.zeros(2, np.float32)})
    try:
        r = s.step({"w": [np.nan, 1.0]}, loss=float("nan"))
        assert r.skipped and r.step == 0
        _close(s.params()["w"], [0, 0], 0)
    finally:
        s.delete()


def test_listing_and_context_manager(client):
    with client.create_session(optimizer={"type": "sgd", "lr": 0.1}, params={"w": np.zeros(2)}, id=_id("ctx")) as s:
        ids = [x["id"] for x in client.sessions()]
        assert s.id in ids
        assert any(x.id == s.id for x in client)
        assert client.health()["status"] == "ok"
        assert "stepd" in client.metrics()
    assert s.id not in [x["id"] for x in client.sessions()]


def test_token_auth():
    from stepd_server import StepdServer
    with StepdServer(env={"STEPD_TOKEN": "sekret-token"}) as srv:
        with pytest.raises(stepd.StepdError) as e:
            stepd.Client(srv.url, token="wrong").sessions()
        assert e.value.status == 401
        s = stepd.Session.create(srv.url, token="sekret-token", optimizer={"type": "sgd", "lr": 0.1}, params={"w": np.zeros(2)})
        assert s.step({"w": np.ones(2)}).step == 1
        assert stepd.Client(srv.url, token="sekret-token").health()["status"] == "ok"


def test_checkpoint_round_trip(url):
    s = stepd.Session.create(url, optimizer={"type": "adamw", "lr": 0.05},
                             params={"w": np.linspace(-1, 1, 6).astype(np.float32)})
    try:
        g = lambda t: {"w": np.sin(np.arange(6) + t).astype(np.float32)}  # noqa: E731
        s.step(g(1))
        s.step(g(2))
        blob = s.checkpoint()
        assert blob[:8] and len(blob) > 8
        tensors, meta = codec.decode_safetensors(blob)
        at2 = s.params()
        s.step(g(3))
        after3 = s.params()
        s.step(g(4))
        s.restore_checkpoint(blob)
        assert s.step_count == 2
        _close(s.params()["w"], at2["w"], 0)
        s.step(g(3))                                       # same state, same gradient: same result
        _close(s.params()["w"], after3["w"], 0)

        copy = s.client.restore_checkpoint(_id("ckpt-put"), blob)   # PUT to a new id creates it
        imported = s.client.import_checkpoint(blob, id=_id("ckpt-post"))
        try:
            for other in (copy, imported):
                assert other.last_step == 2 and other.layout == s.layout
                _close(other.params()["w"], at2["w"], 0)
                other.step(g(3))
                _close(other.params()["w"], after3["w"], 0)
            with pytest.raises(stepd.StepdError) as e:
                s.client.import_checkpoint(blob, id=copy.id)
            assert e.value.status == 409
            with pytest.raises(stepd.StepdError) as e:
                s.restore_checkpoint(b"not a checkpoint")
            assert e.value.status == 422 and e.value.detail
            assert s.step_count == 3
        finally:
            copy.delete()
            imported.delete()
    finally:
        s.delete()


def test_half_precision_download_is_the_rounded_parameters(url):
    values = np.array([1.0, -2.5, 1.00390625, 0.1, 70000.0, 3.14159265], np.float32)
    s = stepd.Session.create(url, optimizer={"type": "sgd", "lr": 0.0}, params={"w": values})
    try:
        full = s.params()["w"]
        assert np.array_equal(full, values)
        bf16 = s.params(dtype="bf16")["w"]
        assert bf16.dtype == np.float32
        assert np.array_equal(bf16, codec.bf16_bits_to_f32(codec.f32_to_bf16_bits(values)))
        f16 = s.params(dtype="f16")["w"]
        assert np.array_equal(f16, values.astype(np.float16).astype(np.float32))
    finally:
        s.delete()


def _checkpoint_state_dtypes(blob):
    """Tensor name -> the dtype its optimizer state has in a checkpoint (U8 codes: q8)."""
    import json, struct
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    kinds = {"U8": "q8", "BF16": "bf16", "F32": "f32"}
    out = {}
    for key, v in header.items():
        if not key.startswith("state.") or key.rsplit(".", 1)[1].startswith(("absmax", "qmap")):
            continue
        out.setdefault(key.split(".")[1], set()).add(kinds[v["dtype"]])
    return {k: v.pop() for k, v in out.items() if len(v) == 1}


def test_state_dtypes_follow_groups_and_the_q8_size_floor(url):
    z = lambda *shape: np.zeros(shape, np.float32)  # noqa: E731
    s = stepd.Session.create(
        url, optimizer={"type": "adamw", "state_dtype": "q8"},
        groups={"no_decay": {"weight_decay": 0.0}, "half": {"state_dtype": "bf16"}, "hidden": {"type": "muon"}},
        param_groups={"bias": "no_decay", "vec": "no_decay", "half": "half", "muon": "hidden"},
        params={"big": z(64, 64), "small": z(64, 63), "bias": z(10), "vec": z(4096), "half": z(8), "muon": z(64, 64)})
    try:
        expected = {"big": "q8", "small": "f32", "bias": "f32", "vec": "q8", "half": "bf16", "muon": "f32"}
        assert s.state_dtypes() == expected
        s.step({n: np.ones(shape, np.float32) for n, shape in s.layout})
        assert _checkpoint_state_dtypes(s.checkpoint()) == expected   # what the server keeps
        s.patch(optimizer={"state_dtype": "bf16"})
        expected = {**expected, "big": "bf16", "small": "bf16", "bias": "bf16", "vec": "bf16"}
        assert s.state_dtypes() == expected
        assert _checkpoint_state_dtypes(s.checkpoint()) == expected
        other = stepd.Client(url).session(s.id)
        other.patch(optimizer={"state_dtype": "f32"})
        assert s.state_dtypes()["big"] == "bf16"                      # the config this object last saw
        assert s.state_dtypes(refresh=True) == {**expected, "big": "f32", "small": "f32", "bias": "f32", "vec": "f32"}
    finally:
        s.delete()
