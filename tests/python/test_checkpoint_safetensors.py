"""A checkpoint downloaded from stepd opens with the Python `safetensors` package, maps one to one
onto torch's state names, and loads back into a second session that then steps bit-identically."""

import json

import numpy as np
import requests
from safetensors import safe_open
from safetensors.numpy import load


def test_checkpoint_opens_with_python_safetensors_and_round_trips(stepd_url, tmp_path):
    body = {
        "id": "ckpt-py",
        "optimizer": {"type": "adamw", "lr": 0.01, "amsgrad": True},
        "groups": [{"name": "no_decay", "weight_decay": 0.0}],
        "params": [{"name": "w", "shape": [3, 4], "init": {"type": "normal", "std": 0.1, "seed": 3}},
                   {"name": "b", "shape": [4], "group": "no_decay", "init": "zeros"}],
    }
    assert requests.post(f"{stepd_url}/v1/sessions", json=body).status_code == 201
    rng = np.random.default_rng(0)
    grads = [{"w": rng.standard_normal(12).tolist(), "b": rng.standard_normal(4).tolist()} for _ in range(6)]
    for g in grads[:3]:
        assert requests.post(f"{stepd_url}/v1/sessions/ckpt-py/steps", json={"grads": g}).status_code == 200

    r = requests.get(f"{stepd_url}/v1/sessions/ckpt-py/checkpoint")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/vnd.safetensors"
    tensors = load(r.content)
    assert set(tensors) == {"params.w", "params.b"} | {f"state.{n}.{k}" for n in "wb" for k in ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")}
    assert tensors["params.w"].shape == (3, 4) and tensors["params.w"].dtype == np.float32
    params = requests.get(f"{stepd_url}/v1/sessions/ckpt-py/params").json()["params"]
    np.testing.assert_array_equal(tensors["params.w"].ravel(), np.array(params["w"], np.float32))
    path = tmp_path / "ckpt.safetensors"
    path.write_bytes(r.content)
    with safe_open(str(path), "np") as f:
        meta = f.metadata()
    assert meta["format"] == "stepd-session-v1" and meta["step"] == "3"
    assert json.loads(meta["config"])["optimizer"]["amsgrad"] is True

    # Into a second session; both then take the same steps and stay identical.
    put = requests.put(f"{stepd_url}/v1/sessions/ckpt-py-2/checkpoint", data=r.content,
                       headers={"Content-Type": "application/vnd.safetensors"})
    assert put.status_code == 201, put.text
    for g in grads[3:]:
        a = requests.post(f"{stepd_url}/v1/sessions/ckpt-py/steps", json={"grads": g}).json()
        b = requests.post(f"{stepd_url}/v1/sessions/ckpt-py-2/steps", json={"grads": g}).json()
        assert a["step"] == b["step"] and a["update_norm"] == b["update_norm"]
    raw = {s: requests.get(f"{stepd_url}/v1/sessions/{s}/params", headers={"Accept": "application/octet-stream"}).content
           for s in ("ckpt-py", "ckpt-py-2")}
    assert raw["ckpt-py"] == raw["ckpt-py-2"]
    for s in ("ckpt-py", "ckpt-py-2"):
        requests.delete(f"{stepd_url}/v1/sessions/{s}")
