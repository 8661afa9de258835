"""Past one machine, on loopback with real processes: sessions spread over nodes behind nginx
(scripts/cluster), moved between nodes, one model sharded over nodes with a two-phase step, and
gradients refused once too stale."""

from __future__ import annotations

import math
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stepd_server import REPO_ROOT, StepdServer, stepd_binary  # noqa: E402

sys.path.insert(0, str(REPO_ROOT / "clients" / "python"))
import stepd  # noqa: E402

CLUSTER = REPO_ROOT / "scripts" / "cluster"


def _free_port_run(n: int) -> int:
    """A base port P with P..P+n-1 all free on loopback."""
    rng = random.Random(os.getpid() ^ int(time.time()))
    for _ in range(200):
        base = rng.randrange(20000, 60000 - n)
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                s.bind(("127.0.0.1", p))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no run of free ports")


def _nginx() -> str:
    path = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(path):
        pytest.fail("nginx is not installed (scripts/test installs nginx-light)")
    return path


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    _nginx()
    d = tmp_path_factory.mktemp("cluster")
    port = _free_port_run(4)
    env = {**os.environ, "STEPD_BIN": str(stepd_binary())}
    up = subprocess.run([str(CLUSTER), "up", "3", "--port", str(port), "--dir", str(d)], env=env,
                        capture_output=True, text=True, timeout=120)
    assert up.returncode == 0, up.stdout + up.stderr
    lines = up.stdout.strip().splitlines()
    assert lines[-1] == f"http://127.0.0.1:{port}", "the nginx URL comes last"
    nodes = [f"http://127.0.0.1:{port + i}" for i in (1, 2, 3)]
    yield {"url": lines[-1], "nodes": nodes, "dir": d, "env": env}
    subprocess.run([str(CLUSTER), "down", "--dir", str(d)], env=env, capture_output=True, timeout=60)


def _config(i: int) -> dict:
    return dict(optimizer={"type": "adamw", "lr": 0.01}, clip=0.5, snapshot={"every_steps": 1},
                params={"w": {"shape": [16], "init": {"type": "normal", "std": 0.1, "seed": i}}})


def _grad(sid: str, step: int) -> dict:
    rng = np.random.default_rng(abs(hash((sid, step))) % (1 << 32))
    return {"w": rng.standard_normal(16).astype(np.float32)}


def test_sessions_spread_over_nodes_survive_kill_9_of_one(cluster):
    url, nodes, d = cluster["url"], cluster["nodes"], cluster["dir"]
    ids = [f"c{i:03d}" for i in range(300)]
    acked = {sid: 0 for sid in ids}
    tried = {sid: 0 for sid in ids}
    errors = []
    refused = []
    killed = threading.Event()
    rounds = 6

    def worker(t: int) -> None:
        client = stepd.Client(url, retries=0, timeout=30)
        mine = ids[t::8]
        sessions = {}
        for sid in mine:
            sessions[sid] = stepd.Session.create(client=client, id=sid, **_config(int(sid[1:])))
        for r in range(rounds):
            for sid in mine:
                tried[sid] += 1
                try:
                    res = sessions[sid].step(_grad(sid, r))
                    acked[sid] = res.step
                except stepd.StepdError as e:
                    if not killed.is_set() or e.status not in (None, 502, 504):
                        errors.append(f"{sid} round {r}: {e}")
                    refused.append(sid)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    # Under load: once steps are flowing, kill -9 node 2 (no shutdown snapshot, no goodbye).
    deadline = time.monotonic() + 60
    while sum(acked.values()) < 400 and time.monotonic() < deadline:
        time.sleep(0.01)
    victim = int((d / "node-2.pid").read_text())
    killed.set()
    os.kill(victim, signal.SIGKILL)
    for th in threads:
        th.join(timeout=300)
    assert not errors, errors[:5]

    restart = subprocess.run([str(CLUSTER), "restart", "2", "--dir", str(d)], env=cluster["env"],
                             capture_output=True, text=True, timeout=120)
    assert restart.returncode == 0, restart.stdout + restart.stderr

    # Every session lives on exactly one node, and the node nginx sends it to.
    listed = stepd.Cluster(nodes).sessions()
    homes = {}
    for s in listed:
        assert s["id"] not in homes, f"{s['id']} is on {homes[s['id']]} and {s['node']}"
        homes[s["id"]] = s["node"]
    assert sorted(homes) == ids
    assert len(set(homes.values())) == 3, "consistent hashing spreads 300 sessions over all three nodes"
    # Every acknowledged step is there (one more may have been applied and never answered).
    client = stepd.Client(url)
    for sid in ids:
        step = client.session(sid).step_count
        assert acked[sid] <= step <= tried[sid], (sid, acked[sid], step, tried[sid], homes[sid])
    lost_node = [sid for sid in ids if homes[sid] == nodes[1]]
    assert lost_node and any(acked[sid] > 0 for sid in lost_node)
    assert refused, "node 2 was killed while steps were still being sent"
    assert {homes[sid] for sid in refused} == {nodes[1]}, "only the killed node's sessions were refused"
    # The restarted node serves its sessions again, through nginx.
    assert client.session(lost_node[0]).step(_grad(lost_node[0], 99)).step == client.session(lost_node[0]).step_count


def test_a_moved_session_continues_bit_for_bit(cluster):
    a, b = cluster["nodes"][0], cluster["nodes"][2]
    cfg = _config(7)
    twin = stepd.Session.create(a, id="move-twin", **cfg)
    mover = stepd.Session.create(a, id="move-me", **cfg)
    for r in range(3):
        g = _grad("move", r)
        twin.step(g, loss=1.0 / (r + 1))
        mover.step(g, loss=1.0 / (r + 1))
    out = subprocess.run([sys.executable, "-m", "stepd", "move", "move-me", "--from", a, "--to", b],
                         cwd=REPO_ROOT / "clients" / "python", capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert stepd.Cluster(cluster["nodes"]).find("move-me") == b
    # The old home refuses, and says where the session went.
    r = requests.post(f"{a}/v1/sessions/move-me/steps", json={"grads": {"w": [0.0] * 16}})
    assert r.status_code == 409 and r.headers["Location"] == f"{b}/v1/sessions/move-me"
    assert r.headers["Content-Type"].startswith("application/problem+json") and b in r.json()["detail"]
    moved = stepd.Client(b).session("move-me")
    for r in range(3, 6):
        g = _grad("move", r)
        twin.step(g)
        moved.step(g)
    p, q = twin.params(), moved.params()
    assert p["w"].tobytes() == q["w"].tobytes()
    assert [x["grad_norm"] for x in twin.history()["records"]] == [x["grad_norm"] for x in moved.history()["records"]]


def test_a_move_freezes_the_source_until_done_or_cancelled(stepd_url):
    s = stepd.Session.create(stepd_url, id="frozen", **_config(3))
    try:
        r = requests.post(f"{stepd_url}/v1/sessions/frozen/move", json={"to": "ftp://elsewhere"})
        assert r.status_code == 422 and r.json()["field"] == "to"
        r = requests.post(f"{stepd_url}/v1/sessions/frozen/move", json={"to": "http://10.1.2.3:8080"})
        assert r.status_code == 200
        r = requests.post(f"{stepd_url}/v1/sessions/frozen/steps", json={"grads": {"w": [0.1] * 16}})
        assert r.status_code == 409 and r.headers["Location"] == "http://10.1.2.3:8080/v1/sessions/frozen"
        assert requests.patch(f"{stepd_url}/v1/sessions/frozen", json={"optimizer": {"lr": 0.1}}).status_code == 409
        ckpt = requests.get(f"{stepd_url}/v1/sessions/frozen/checkpoint")
        assert ckpt.status_code == 200
        # Replacing a frozen session would thaw it while its copy may already serve elsewhere.
        r = requests.put(f"{stepd_url}/v1/sessions/frozen/checkpoint", data=ckpt.content,
                         headers={"Content-Type": "application/vnd.safetensors"})
        assert r.status_code == 409 and r.headers["Location"] == "http://10.1.2.3:8080/v1/sessions/frozen"
        assert requests.delete(f"{stepd_url}/v1/sessions/frozen/move").status_code == 200
        assert s.step(_grad("f", 0)).step == 1
    finally:
        s.delete()


def test_put_creates_by_id_and_a_retry_is_answered_200(stepd_url):
    body = {"optimizer": {"type": "sgd", "lr": 0.1}, "params": [{"name": "w", "shape": [3]}]}
    u = f"{stepd_url}/v1/sessions/put-me"
    r = requests.put(u, json=body)
    assert r.status_code == 201 and r.headers["Location"] == "/v1/sessions/put-me"
    try:
        r = requests.put(u, json=body)
        assert r.status_code == 200 and r.json()["id"] == "put-me"
        r = requests.put(u, json={**body, "optimizer": {"type": "sgd", "lr": 0.2}})
        assert r.status_code == 409 and r.headers["Content-Type"].startswith("application/problem+json")
        r = requests.put(f"{stepd_url}/v1/sessions/other", json={**body, "id": "put-me"})
        assert r.status_code == 422 and r.json()["field"] == "id"
        assert requests.get(f"{stepd_url}/v1/sessions/other").status_code == 404
    finally:
        requests.delete(u)


# ----------------------------------------------------------------- one model over three nodes

@pytest.fixture(scope="module")
def three_nodes():
    servers = [StepdServer().start() for _ in range(3)]
    try:
        yield [s.url for s in servers]
    finally:
        for s in servers:
            s.stop()


def _model(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    shapes = {"embed": (300, 256), "h0.w": (256, 256), "h0.b": (256,), "h1.w": (256, 300), "h1.b": (300,),
              "ln": (256,), "head": (70_001,)}
    return {n: (rng.standard_normal(s) * 0.05).astype(np.float32) for n, s in shapes.items()}


def test_a_model_sharded_over_three_nodes_steps_bit_for_bit_as_on_one(three_nodes, stepd_url):
    init = _model(1)
    opts = dict(optimizer={"type": "adamw", "lr": 0.01, "weight_decay": 0.1}, clip=1.0,
                schedule={"type": "warmup_cosine", "warmup_steps": 2, "total_steps": 20},
                groups={"no_decay": {"weight_decay": 0.0}}, param_groups={"h0.b": "no_decay", "ln": "no_decay"})
    one = stepd.Session.create(three_nodes[0], id="whole", params=init, **opts)
    sharded = stepd.ShardedSession.create(three_nodes, id="split", params=init, **opts)
    try:
        assert [len(s.names) for s in sharded.shards] != [7, 0, 0] and all(s.names for s in sharded.shards)
        assert sharded.names == list(init), "the shards hold the declared order, in server order"
        rng = np.random.default_rng(2)
        for k in range(6):
            grads = {n: (rng.standard_normal(v.shape) * (3.0 if k % 2 else 0.01)).astype(np.float32) for n, v in init.items()}
            if k == 3:
                grads["head"][5] = np.nan  # on the last node only: skipped everywhere, as on one node
            a = one.step(grads, loss=float(k))
            b = sharded.step(grads, loss=float(k))
            assert (a.step, a.skipped, a.clipped) == (b.step, b.skipped, b.clipped), k
            assert a.grad_norm == b.grad_norm and a.clip_coef == b.clip_coef, k
            # Diagnostics, summed per chunk of each server's buffer: equal to float32 rounding.
            assert math.isclose(a.update_norm, b.update_norm, rel_tol=1e-6)
        assert one.history()["records"][3]["skipped"] and sharded.history()["records"][3]["skipped"]
        assert any(r["clipped"] for r in one.history()["records"]), "the norm was clipped on some steps"
        p, q = one.params(), sharded.params()
        for n in init:
            assert p[n].tobytes() == q[n].tobytes(), n
        # After a fetch of the whole model its steps say what they were computed from.
        assert sharded.step(grads).staleness == 0 and one.step(grads).staleness == 0
        p, q = one.params(), sharded.params()
        assert all(p[n].tobytes() == q[n].tobytes() for n in init)
        # Reopened from the servers alone (a server without a shard among them), the placement
        # is found again.
        again = stepd.ShardedSession.open([*three_nodes[:2], stepd_url, three_nodes[2]], "split")
        assert again.names == list(init) and again.params()["head"].tobytes() == p["head"].tobytes()
    finally:
        one.delete()
        sharded.delete()


def test_a_prepared_step_blocks_others_until_committed_or_aborted(stepd_url):
    s = stepd.Session.create(stepd_url, id="two-phase", optimizer={"type": "sgd", "lr": 0.1},
                             params={"a": np.ones(3, np.float32), "b": np.ones(2, np.float32)})
    try:
        base = f"{stepd_url}/v1/sessions/two-phase"
        r = requests.post(base + "/steps/commit", json={"norm": 1.0})
        assert r.status_code == 409
        r = requests.post(base + "/steps?prepare=1", json={"grads": {"a": [1, 2, 2], "b": [0, 4]}})
        assert r.status_code == 200, r.text
        assert r.json()["tensor_sums"] == {"a": 9.0, "b": 16.0} and r.json()["step"] == 0
        assert requests.post(base + "/steps", json={"grads": {"a": [1, 2, 2], "b": [0, 4]}}).status_code == 409
        assert requests.post(base + "/steps?prepare=1", json={"grads": {"a": [1, 2, 2], "b": [0, 4]}}).status_code == 409
        r = requests.post(base + "/steps/commit", json={"norm": 1.0, "skip": True})
        assert r.status_code == 422 and r.json()["field"] == "norm"
        assert requests.post(base + "/steps/abort").json() == {"step": 0, "aborted": True}
        assert requests.post(base + "/steps/abort").json()["aborted"] is False
        r = requests.post(base + "/steps?prepare=1", json={"grads": {"a": [1, 2, 2], "b": [0, 4]}})
        r = requests.post(base + "/steps/commit", json={"norm": 5.0})
        assert r.status_code == 200 and r.json()["step"] == 1 and r.json()["grad_norm"] == 5.0
    finally:
        s.delete()


# ----------------------------------------------------------------- workers that fall behind

def test_gradients_older_than_max_staleness_are_refused(stepd_url):
    s = stepd.Session.create(stepd_url, id="stale", optimizer={"type": "sgd", "lr": 0.1},
                             params={"w": np.zeros(4, np.float32)}, max_staleness=1)
    try:
        g = {"w": np.ones(4, np.float32)}
        s.params()  # step 0: the client now sends based_on=0 with its steps
        assert s.step(g).staleness == 0
        assert s.step(g).staleness == 1
        with pytest.raises(stepd.StepdError) as e:
            s.step(g)
        assert e.value.status == 409 and e.value.field == "based_on"
        assert e.value.problem["based_on"] == 0 and e.value.problem["step"] == 2 and e.value.problem["max_staleness"] == 1
        assert s.step_count == 2
        s.params()
        assert s.step(g).staleness == 0
        # JSON steps say it in the body; PATCH raises the bound.
        r = requests.post(f"{stepd_url}/v1/sessions/stale/steps", json={"grads": {"w": [1, 1, 1, 1]}, "based_on": 0})
        assert r.status_code == 409 and "3 steps behind" in r.json()["detail"]
        s.patch(max_staleness=5)
        r = requests.post(f"{stepd_url}/v1/sessions/stale/steps", json={"grads": {"w": [1, 1, 1, 1]}, "based_on": 0})
        assert r.status_code == 200 and r.json()["staleness"] == 3
        r = requests.post(f"{stepd_url}/v1/sessions/stale/steps", json={"grads": {"w": [1, 1, 1, 1]}, "based_on": 9})
        assert r.status_code == 422 and r.json()["field"] == "based_on"
        records = s.history()["records"]
        assert [x.get("staleness") for x in records] == [0, 1, 0, 3]
        metrics = requests.get(f"{stepd_url}/metrics").text
        count = int(float(re.search(r"^stepd_step_staleness_steps_count (\S+)$", metrics, re.M).group(1)))
        within_1 = int(float(re.search(r'^stepd_step_staleness_steps_bucket\{le="1.0"\} (\S+)$', metrics, re.M).group(1)))
        assert count >= 4 and within_1 >= 3 and count - within_1 >= 1  # 0, 1, 0 and the 3
    finally:
        s.delete()
