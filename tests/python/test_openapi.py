"""openapi/openapi.yaml against the real server.

1. The spec is valid OpenAPI 3.1 (openapi-spec-validator).
2. Every operation, in every encoding, on its success path and its main error paths: the
   responses conform to the spec (status documented, media type, required headers, body schema).
3. schemathesis fuzzes every operation (documented examples, coverage cases, then generated
   data, valid and invalid) against its own stepd: no 5xx, and nothing that breaks the spec.

Most routes need a session, so the fuzzing server holds a small pool of sessions and most
generated requests are pointed at one of them (the rest keep their generated id and exercise
the 404 paths). Whatever a request did to a pool session (PATCH, DELETE, a checkpoint PUT) is
undone before the next one.

Bounds: STEPD_FUZZ_EXAMPLES generated cases per operation (default 25); the whole file runs in
about a minute on two cores.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import sys
from pathlib import Path
from typing import Dict, List, Optional

import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stepd_server import REPO_ROOT, StepdServer  # noqa: E402

import schemathesis  # noqa: E402  (tests/python/requirements.txt; a missing one fails, never skips)
from openapi_spec_validator import validate as validate_spec  # noqa: E402
from openapi_spec_validator.readers import read_from_filename  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

SPEC_PATH = REPO_ROOT / "openapi" / "openapi.yaml"
MAX_EXAMPLES = int(os.environ.get("STEPD_FUZZ_EXAMPLES", "25"))
SAFETENSORS = "application/vnd.safetensors"
RAW = "application/octet-stream"

# Binary bodies go as they are (schemathesis knows octet-stream, not safetensors).
schemathesis.serializer.alias(SAFETENSORS, RAW)


@schemathesis.check
def not_a_server_error_but_507(ctx, response, case):
    """No 5xx, except 507: stepd's documented refusal when a session or memory limit is reached."""
    if response.status_code >= 500 and response.status_code != 507:
        raise AssertionError(f"server error {response.status_code}: {response.content[:500]!r}")
    return None


CHECKS = [
    not_a_server_error_but_507,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    unsupported_method,
]

schema = schemathesis.openapi.from_path(str(SPEC_PATH))
schema.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True, database="none")


# ---------------------------------------------------------------- helpers

def safetensors_bytes(tensors: Dict[str, List[float]], shapes: Optional[Dict[str, List[int]]] = None,
                      metadata: Optional[Dict[str, str]] = None) -> bytes:
    """A minimal F32 safetensors file."""
    header: Dict[str, object] = {}
    if metadata:
        header["__metadata__"] = metadata
    data = b""
    for name, values in tensors.items():
        raw = struct.pack(f"<{len(values)}f", *values)
        shape = (shapes or {}).get(name, [len(values)])
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def pool_config(seed: int, accumulate: bool = False) -> dict:
    """A small session with tensors w [2, 2] and b [2] (what the spec's examples post)."""
    if accumulate:
        return {
            "optimizer": {"type": "sgd", "lr": 0.1, "momentum": 0.9},
            "schedule": {"type": "warmup_linear", "warmup_steps": 2, "total_steps": 50},
            "accumulation": {"micro_batches": 2, "workers": 2},
            "nonfinite": "error",
            "params": [
                {"name": "w", "shape": [2, 2], "init": {"type": "normal", "std": 0.5, "seed": seed}},
                {"name": "b", "shape": [2]},
            ],
        }
    return {
        "optimizer": {"type": "adamw", "lr": 0.01},
        "schedule": {"type": "warmup_cosine", "warmup_steps": 3, "total_steps": 100},
        "clip": {"max_norm": 1.0},
        "groups": [{"name": "no_decay", "weight_decay": 0}],
        "params": [
            {"name": "w", "shape": [2, 2], "values": [0.1, -0.2, 0.3, 0.4]},
            {"name": "b", "shape": [2], "init": {"type": "normal", "std": 0.1, "seed": seed}, "group": "no_decay"},
        ],
    }


POOL = {"fuzz": pool_config(1), "fuzz-2": pool_config(2), "fuzz-acc": pool_config(3, accumulate=True)}


class Pool:
    """The sessions fuzzed requests are pointed at, put back as they were after a change."""

    def __init__(self, url: str):
        self.url = url
        self.http = requests.Session()
        for sid in POOL:
            self.reset(sid)

    def reset(self, sid: str) -> None:
        self.http.delete(f"{self.url}/v1/sessions/{sid}")
        r = self.http.post(f"{self.url}/v1/sessions", json={"id": sid, **POOL[sid]})
        assert r.status_code == 201, r.text

    def checkpoint(self, sid: str = "fuzz") -> bytes:
        r = self.http.get(f"{self.url}/v1/sessions/{sid}/checkpoint")
        assert r.status_code == 200, r.text
        return r.content


def requests_by_route(metrics: str) -> str:
    """`stepd_http_requests_total` lines as `METHOD route: status=count ...`, for the log."""
    import re
    table: Dict[str, Dict[str, int]] = {}
    for m in re.finditer(r'stepd_http_requests_total\{route="([^"]*)",method="([^"]*)",status="(\d+)"\} (\d+)', metrics):
        table.setdefault(f"{m.group(2)} {m.group(1)}", {})[m.group(3)] = int(m.group(4))
    return "\n".join(f"  {k}: " + " ".join(f"{s}={n}" for s, n in sorted(v.items())) for k, v in sorted(table.items()))


def pick_pool_id(case) -> Optional[str]:
    """Points three requests in four at a pool session, deterministically per case."""
    digest = hashlib.sha256(repr((case.operation.label, case.path_parameters, case.query, case.headers,
                                  str(case.body)[:200])).encode()).digest()
    ids = list(POOL)
    k = digest[0] % (len(ids) + 1)
    return ids[k] if k < len(ids) else None


def run(operation_label: str, *, path_parameters=None, query=None, headers=None, body=None, media_type=None):
    """Sends one hand-written request through schemathesis and runs every check on the answer."""
    method, path = operation_label.split(" ", 1)
    op = schema[path][method]
    kwargs = {}
    if body is not None:
        kwargs["body"] = body
        kwargs["media_type"] = media_type or "application/json"
    case = op.Case(path_parameters=path_parameters or {}, query=query or {}, headers=headers or {}, **kwargs)
    return case, Answer(case.call_and_validate(base_url=_server_url(), checks=CHECKS))


class Answer:
    """A schemathesis response with requests-like accessors (one value per header)."""

    def __init__(self, response):
        self.status_code = response.status_code
        self.headers = requests.structures.CaseInsensitiveDict(
            {k: (v[0] if isinstance(v, list) else v) for k, v in response.headers.items()})
        self.content = response.content
        self.text = response.content.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.content)


_SERVER: Dict[str, object] = {}


def _server_url() -> str:
    return _SERVER["url"]  # type: ignore[return-value]


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def api_server():
    """A stepd of its own (fuzzing creates and deletes sessions), with a small memory limit so
    generated shapes cannot make it allocate gigabytes."""
    with StepdServer(args=["--max-param-bytes", str(64 << 20), "--max-sessions", "500"]) as server:
        _SERVER["url"] = server.url
        _SERVER["server"] = server
        yield server
        _SERVER.clear()
        if server.proc is not None and server.proc.poll() is None:
            print("\nstepd requests by route and status (pytest -s shows this):")
            print(requests_by_route(requests.get(server.url + "/metrics").text))


@pytest.fixture(scope="module")
def pool(api_server):
    return Pool(api_server.url)


# ---------------------------------------------------------------- 1. the spec itself

def test_spec_is_valid_openapi_31():
    spec, _ = read_from_filename(str(SPEC_PATH))
    assert spec["openapi"].startswith("3.1")
    validate_spec(spec)


def test_spec_documents_every_route():
    """Every route the router registers (read from the Swift sources) is in the spec, and no more."""
    import re
    spec, _ = read_from_filename(str(SPEC_PATH))
    documented = {(m.upper(), p) for p, item in spec["paths"].items() for m in item
                  if m in ("get", "put", "post", "patch", "delete")}
    registered = set()
    for f in (REPO_ROOT / "Sources" / "StepServer").glob("*.swift"):
        for m in re.finditer(r'\br\.(get|put|post|patch|delete)\("([^"]+)"', f.read_text()):
            registered.add((m.group(1).upper(), m.group(2)))
    assert registered, "found no routes in Sources/StepServer"
    # The dashboard's pages, from its table (its assets are static files, not API).
    dashboard = (REPO_ROOT / "Sources" / "StepDashboard" / "Dashboard.swift").read_text()
    pages = re.search(r"pages: \[\(path: String, name: String, title: String\)\] = \[(.*?)\]", dashboard, re.S)
    assert pages, "found no page table in Sources/StepDashboard/Dashboard.swift"
    registered |= {("GET", p) for p in re.findall(r'\("(/[^"]*)", "[^"]+", "[^"]+"\)', pages.group(1))}
    assert registered - documented == set(), "routes missing from openapi.yaml"
    assert documented - registered == set(), "openapi.yaml documents routes the server does not have"


# ---------------------------------------------------------------- 2. every operation, by hand

def test_health_and_metrics(api_server):
    run("GET /healthz")
    _, r = run("GET /metrics")
    assert "stepd_http_requests_total" in r.text


def test_session_lifecycle_conforms(api_server, pool):
    cfg = {"id": "hand", **pool_config(7)}
    _, r = run("POST /v1/sessions", body=cfg)
    assert r.status_code == 201 and r.headers["Location"] == "/v1/sessions/hand"
    _, r = run("POST /v1/sessions", body=cfg)
    assert r.status_code == 409
    _, r = run("POST /v1/sessions", body={**pool_config(7), "optimizer": {"type": "adamw", "weight_decy": 1}})
    assert r.status_code == 422 and r.json()["field"] == "optimizer.weight_decy"
    _, r = run("POST /v1/sessions", body="{not json", media_type="application/json")
    assert r.status_code in (400, 422)
    for opt in ({"type": "adam"}, {"type": "sgd", "momentum": 0.9, "nesterov": True}, {"type": "rmsprop", "centered": True},
                {"type": "adagrad", "lr_decay": 0.01}):
        for sched in ({"type": "constant"}, {"type": "constant_with_warmup", "warmup_steps": 2},
                      {"type": "step", "step_size": 2}, {"type": "exponential", "gamma": 0.9},
                      {"type": "inverse_sqrt", "warmup_steps": 3}):
            _, r = run("POST /v1/sessions", body={"optimizer": opt, "schedule": sched,
                                                  "params": [{"name": "x", "shape": [3], "init": "normal"}]})
            assert r.status_code == 201, r.text
            run("DELETE /v1/sessions/{id}", path_parameters={"id": r.json()["id"]})
    run("GET /v1/sessions")
    _, r = run("GET /v1/sessions/{id}", path_parameters={"id": "hand"})
    assert r.headers["ETag"] == '"0"'
    run("GET /v1/sessions/{id}", path_parameters={"id": "nope"})
    _, r = run("PATCH /v1/sessions/{id}", path_parameters={"id": "hand"},
               body={"optimizer": {"lr": 0.5}, "clip": None, "schedule": {"type": "exponential", "gamma": 0.5}})
    assert r.status_code == 200 and r.json()["config"]["optimizer"]["lr"] == 0.5
    _, r = run("PATCH /v1/sessions/{id}", path_parameters={"id": "hand"}, body={"params": []})
    assert r.status_code == 422
    _, r = run("GET /v1/sessions/{id}/schedule", path_parameters={"id": "hand"}, query={"preview": 3})
    assert len(r.json()["preview"]) == 3
    run("GET /v1/sessions/{id}/schedule", path_parameters={"id": "hand"}, query={"preview": -1})
    _, r = run("DELETE /v1/sessions/{id}", path_parameters={"id": "hand"})
    assert r.status_code == 204
    _, r = run("DELETE /v1/sessions/{id}", path_parameters={"id": "hand"})
    assert r.status_code == 404


def test_steps_in_three_encodings_conform(api_server, pool):
    pool.reset("fuzz")
    sid = {"id": "fuzz"}
    grads = {"w": [0.1, -0.2, 0.3, 0.0], "b": [0.5, -0.5]}
    _, r = run("POST /v1/sessions/{id}/steps", path_parameters=sid, body={"grads": grads, "loss": 1.5},
               headers={"If-Match": '"0"', "Idempotency-Key": "k1"})
    assert r.json()["step"] == 1 and r.headers["ETag"] == '"1"'
    _, r = run("POST /v1/sessions/{id}/steps", path_parameters=sid, body={"grads": grads, "loss": 1.5},
               headers={"Idempotency-Key": "k1"})
    assert r.json()["replayed"] is True
    _, r = run("POST /v1/sessions/{id}/steps", path_parameters=sid, body={"grads": grads}, headers={"If-Match": '"0"'})
    assert r.status_code == 412
    raw = struct.pack("<6f", 0.1, -0.2, 0.3, 0.0, 0.5, -0.5)
    _, r = run("POST /v1/sessions/{id}/steps", path_parameters=sid, body=raw, media_type=RAW, query={"loss": "nan"})
    assert r.json()["step"] == 2
    _, r = run("POST /v1/sessions/{id}/steps", path_parameters=sid, body=raw[:-2], media_type=RAW)
    assert r.status_code == 422
    half = struct.pack("<6e", 0.1, -0.2, 0.3, 0.0, 0.5, -0.5)
    _, r = run("POST /v1/sessions/{id}/steps", path_parameters=sid, body=half, media_type=RAW, query={"dtype": "f16"})
    assert r.json()["step"] == 3
    st = safetensors_bytes({"w": grads["w"], "b": grads["b"]}, {"w": [2, 2], "b": [2]})
    _, r = run("POST /v1/sessions/{id}/steps", path_parameters=sid, body=st, media_type=SAFETENSORS, query={"loss": 0.25})
    assert r.json()["step"] == 4
    _, r = run("POST /v1/sessions/{id}/steps", path_parameters=sid, body={"grads": {"w": ["nan", 0, 0, 0], "b": [0, 0]}})
    assert r.json()["skipped"] is True and r.json()["grad_norm"] is None
    _, r = run("POST /v1/sessions/{id}/steps", path_parameters=sid, body={"grads": {"w": [1, 2]}})
    assert r.status_code == 422
    _, r = run("POST /v1/sessions/{id}/steps", path_parameters=sid, body=b"x", media_type="text/plain")
    assert r.status_code == 415
    _, r = run("GET /v1/sessions/{id}/history", path_parameters=sid, query={"last": 3})
    assert len(r.json()["records"]) == 3
    # Accumulation: partial answers, the applied one, a duplicate (409), non-finite under "error" (422).
    pool.reset("fuzz-acc")
    acc = {"id": "fuzz-acc"}
    for k, (w, m) in enumerate([(0, 0), (0, 1), (1, 0)]):
        _, r = run("POST /v1/sessions/{id}/steps", path_parameters=acc,
                   body={"grads": grads, "worker": w, "micro_batch": m})
        assert r.json() == {"step": 0, "applied": False, "accumulated": k + 1, "needed": 4}
    _, r = run("POST /v1/sessions/{id}/steps", path_parameters=acc, body={"grads": grads, "worker": 1, "micro_batch": 0})
    assert r.status_code == 409
    _, r = run("POST /v1/sessions/{id}/steps", path_parameters=acc,
               body={"grads": {"w": ["inf", 0, 0, 0], "b": [0, 0]}, "worker": 1, "micro_batch": 1})
    assert r.status_code == 422
    _, r = run("POST /v1/sessions/{id}/steps", path_parameters=acc, body=raw, media_type=RAW,
               query={"worker": 1, "micro_batch": 1})
    assert r.json()["step"] == 1 and r.json()["accumulated"] == 4
    run("GET /v1/sessions/{id}", path_parameters=acc)


def test_params_in_three_encodings_conform(api_server, pool):
    pool.reset("fuzz-2")
    sid = {"id": "fuzz-2"}
    for accept in ("application/json", RAW, SAFETENSORS, "*/*", "application/*"):
        _, r = run("GET /v1/sessions/{id}/params", path_parameters=sid, headers={"Accept": accept})
        assert r.status_code == 200 and r.headers["ETag"] == '"0"'
    _, r = run("GET /v1/sessions/{id}/params", path_parameters=sid, query={"names": "b,w"})
    assert list(r.json()["params"]) == ["b", "w"]
    _, r = run("GET /v1/sessions/{id}/params", path_parameters=sid, query={"names": "nope"})
    assert r.status_code == 422
    _, r = run("GET /v1/sessions/{id}/params", path_parameters=sid, headers={"Accept": "text/html"})
    assert r.status_code == 406
    _, r = run("PUT /v1/sessions/{id}/params", path_parameters=sid, body={"params": {"w": [1, 2, 3, 4]}},
               headers={"If-Match": '"0"'})
    assert r.status_code == 200
    _, r = run("PUT /v1/sessions/{id}/params", path_parameters=sid, body=struct.pack("<6f", *range(6)), media_type=RAW)
    assert r.json()["replaced"] == ["w", "b"]
    _, r = run("PUT /v1/sessions/{id}/params", path_parameters=sid, body=struct.pack("<6H", *range(6)),
               media_type=RAW, query={"dtype": "bf16"})
    assert r.status_code == 200
    _, r = run("PUT /v1/sessions/{id}/params", path_parameters=sid, body=safetensors_bytes({"b": [7, 8]}),
               media_type=SAFETENSORS)
    assert r.status_code == 200
    _, r = run("PUT /v1/sessions/{id}/params", path_parameters=sid, body={"params": {"b": ["inf", 0]}})
    assert r.status_code == 422
    _, r = run("PUT /v1/sessions/{id}/params", path_parameters=sid, body={"params": {"b": [0, 0]}},
               headers={"If-Match": '"9"'})
    assert r.status_code == 412
    _, r = run("GET /v1/sessions/{id}/params", path_parameters=sid, query={"names": "b"})
    assert r.json()["params"]["b"] == [7, 8]


def test_checkpoints_and_snapshots_conform(api_server, pool):
    pool.reset("fuzz")
    run("POST /v1/sessions/{id}/steps", path_parameters={"id": "fuzz"},
        body={"grads": {"w": [0.1, -0.2, 0.3, 0.0], "b": [0.5, -0.5]}})
    _, r = run("GET /v1/sessions/{id}/checkpoint", path_parameters={"id": "fuzz"})
    ckpt = r.content
    assert r.headers["ETag"] == '"1"' and ckpt[8:9] == b"{"
    _, r = run("PUT /v1/sessions/{id}/checkpoint", path_parameters={"id": "restored"}, body=ckpt, media_type=SAFETENSORS)
    assert r.status_code == 201 and r.json()["step"] == 1
    _, r = run("PUT /v1/sessions/{id}/checkpoint", path_parameters={"id": "restored"}, body=ckpt, media_type=SAFETENSORS)
    assert r.status_code == 200
    _, r = run("PUT /v1/sessions/{id}/checkpoint", path_parameters={"id": "restored"}, body=b"garbage",
               media_type=SAFETENSORS)
    assert r.status_code == 422
    _, r = run("PUT /v1/sessions/{id}/checkpoint", path_parameters={"id": "restored"}, body={}, media_type="application/json")
    assert r.status_code == 415
    _, r = run("POST /v1/sessions", query={"id": "from-file"}, body=ckpt, media_type=SAFETENSORS)
    assert r.status_code == 201 and r.headers["Location"] == "/v1/sessions/from-file"
    _, r = run("POST /v1/sessions", query={"id": "from-file"}, body=ckpt, media_type=SAFETENSORS)
    assert r.status_code == 409
    for sid in ("restored", "from-file"):
        run("DELETE /v1/sessions/{id}", path_parameters={"id": sid})
    _, r = run("POST /v1/sessions/{id}/snapshots", path_parameters={"id": "fuzz"})
    assert r.status_code == 409  # memory-only server
    _, r = run("GET /v1/sessions/{id}/snapshots", path_parameters={"id": "fuzz"})
    assert r.json() == {"snapshots": []}


def test_snapshots_on_disk_conform(tmp_path):
    """The 201 path of POST .../snapshots needs a data directory."""
    with StepdServer(args=["--data-dir", str(tmp_path)]) as server:
        saved = _SERVER.get("url")
        _SERVER["url"] = server.url
        try:
            run("POST /v1/sessions", body={"id": "disk", **pool_config(1)})
            _, r = run("POST /v1/sessions/{id}/snapshots", path_parameters={"id": "disk"})
            assert r.status_code == 201, r.text
            _, r = run("GET /v1/sessions/{id}/snapshots", path_parameters={"id": "disk"})
            assert len(r.json()["snapshots"]) >= 1
        finally:
            _SERVER["url"] = saved


def test_auth_errors_conform():
    with StepdServer(env={"STEPD_TOKEN": "s3cret"}) as server:
        saved = _SERVER.get("url")
        _SERVER["url"] = server.url
        try:
            _, r = run("GET /v1/sessions")
            assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
            _, r = run("GET /v1/sessions", headers={"Authorization": "Bearer wrong"})
            assert r.status_code == 401 and "invalid_token" in r.headers["WWW-Authenticate"]
            _, r = run("GET /v1/sessions", headers={"Authorization": "Bearer s3cret"})
            assert r.status_code == 200
            run("GET /healthz")
        finally:
            _SERVER["url"] = saved


def test_limits_conform(tmp_path):
    with StepdServer(args=["--max-body-bytes", "1000", "--max-sessions", "1"]) as server:
        saved = _SERVER.get("url")
        _SERVER["url"] = server.url
        try:
            _, r = run("POST /v1/sessions", body={"id": "one", **pool_config(1)})
            assert r.status_code == 201
            _, r = run("POST /v1/sessions", body={"id": "two", **pool_config(1)})
            assert r.status_code == 507
            _, r = run("POST /v1/sessions/{id}/steps", path_parameters={"id": "one"}, body=b"\0" * 2000, media_type=RAW)
            assert r.status_code == 413 and r.json()["limit"] == 1000
        finally:
            _SERVER["url"] = saved


def test_partial_params_put_reports_only_the_tensors_sent(api_server, pool):
    pool.reset("fuzz-2")
    _, r = run("PUT /v1/sessions/{id}/params", path_parameters={"id": "fuzz-2"}, body={"params": {"b": [1, 2]}})
    assert r.status_code == 200
    assert r.json()["replaced"] == ["b"]


def test_scale_out_operations_conform(api_server, pool):
    """PUT create (and its retry), a move's freeze and thaw, a two-phase step, based_on."""
    cfg = pool_config(9)
    _, r = run("PUT /v1/sessions/{id}", path_parameters={"id": "by-path"}, body=cfg)
    assert r.status_code == 201 and r.headers["Location"] == "/v1/sessions/by-path"
    _, r = run("PUT /v1/sessions/{id}", path_parameters={"id": "by-path"}, body=cfg)
    assert r.status_code == 200
    _, r = run("PUT /v1/sessions/{id}", path_parameters={"id": "by-path"}, body={**cfg, "clip": {"max_norm": 2.0}})
    assert r.status_code == 409
    step = {"grads": {"w": [0.1, -0.2, 0.3, 0.0], "b": [0.5, -0.5]}}
    _, r = run("POST /v1/sessions/{id}/move", path_parameters={"id": "by-path"}, body={"to": "http://10.9.9.9:8080"})
    assert r.status_code == 200
    _, r = run("POST /v1/sessions/{id}/steps", path_parameters={"id": "by-path"}, body=step)
    assert r.status_code == 409 and r.headers["Location"] == "http://10.9.9.9:8080/v1/sessions/by-path"
    _, r = run("DELETE /v1/sessions/{id}/move", path_parameters={"id": "by-path"})
    assert r.status_code == 200
    _, r = run("POST /v1/sessions/{id}/steps", path_parameters={"id": "by-path"}, query={"prepare": 1}, body=step)
    assert r.status_code == 200 and set(r.json()["tensor_sums"]) == {"w", "b"}
    _, r = run("POST /v1/sessions/{id}/steps/commit", path_parameters={"id": "by-path"}, body={"norm": 0.9})
    assert r.status_code == 200 and r.json()["step"] == 1
    _, r = run("POST /v1/sessions/{id}/steps/commit", path_parameters={"id": "by-path"}, body={"norm": 0.9})
    assert r.status_code == 409
    _, r = run("POST /v1/sessions/{id}/steps/abort", path_parameters={"id": "by-path"})
    assert r.status_code == 200 and r.json()["aborted"] is False
    _, r = run("PATCH /v1/sessions/{id}", path_parameters={"id": "by-path"}, body={"max_staleness": 0})
    assert r.status_code == 200 and r.json()["config"]["max_staleness"] == 0
    _, r = run("POST /v1/sessions/{id}/steps", path_parameters={"id": "by-path"}, body={**step, "based_on": 0})
    assert r.status_code == 409 and r.json()["max_staleness"] == 0
    _, r = run("POST /v1/sessions/{id}/steps", path_parameters={"id": "by-path"}, body={**step, "based_on": 1})
    assert r.status_code == 200 and r.json()["staleness"] == 0
    _, r = run("GET /v1/sessions/{id}/history", path_parameters={"id": "by-path"})
    assert [x.get("staleness") for x in r.json()["records"]] == [None, 0]
    _, r = run("DELETE /v1/sessions/{id}", path_parameters={"id": "by-path"})
    assert r.status_code == 204


# ---------------------------------------------------------------- 3. schemathesis

@pytest.fixture(scope="module")
def fuzz_target(api_server, pool):
    return api_server, pool


@schema.parametrize()
def test_fuzz_api(case, fuzz_target):
    server, pool = fuzz_target
    if server.proc is None or server.proc.poll() is not None:
        pytest.fail(f"stepd is not running (crashed earlier?):\n{server.logs()}")
    target = None
    if case.path_parameters and "id" in case.path_parameters:
        target = pick_pool_id(case)
        if target is not None:
            case.path_parameters["id"] = target
    response = None
    try:
        response = case.call(base_url=server.url, timeout=30)
        case.validate_response(response, checks=CHECKS)
    finally:
        if server.proc is not None and server.proc.poll() is not None:
            pytest.fail(f"stepd died on this request:\n{server.logs()}")
        # Undo what the request may have done to a pool session.
        # (a move freezes it, a prepared step blocks the next ones: anything but a read or a
        # plain step is undone).
        changed = response is not None and 200 <= response.status_code < 300
        method = case.method.upper()
        if target is not None and changed and method != "GET" and not (
                method == "POST" and case.path.endswith("/steps") and str((case.query or {}).get("prepare", "0")) != "1"):
            pool.reset(target)
