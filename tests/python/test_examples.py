"""The examples in examples/ run against a live stepd (the stepd_server fixture) and succeed."""

import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _run(cmd, url, repo_root, timeout):
    env = dict(os.environ, STEPD_URL=url)
    env.pop("STEPD_TOKEN", None)
    # The examples run against this checkout's client, whatever `stepd` the interpreter has installed.
    client = str(Path(repo_root) / "clients" / "python")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [client, env.get("PYTHONPATH")]))
    started = time.monotonic()
    out = subprocess.run(cmd, cwd=repo_root, env=env, capture_output=True, text=True, timeout=timeout)
    elapsed = time.monotonic() - started
    print(out.stdout[-3000:])
    print(out.stderr[-3000:], file=sys.stderr)
    assert out.returncode == 0, (
        f"{' '.join(map(str, cmd))} exited with {out.returncode} after {elapsed:.1f}s\n"
        f"--- stdout\n{out.stdout[-3000:]}\n--- stderr\n{out.stderr[-3000:]}")
    return out, elapsed


def test_digits_mlp_reaches_95_percent(stepd_url, repo_root):
    out, elapsed = _run([sys.executable, "examples/digits_mlp.py"], stepd_url, repo_root, timeout=180)
    lines = out.stdout.strip().splitlines()
    m = re.fullmatch(r"test_accuracy=(0\.\d{3}|1\.000)", lines[-1])
    assert m, f"last line should be test_accuracy=0.NNN, got {lines[-1]!r}"
    assert float(m.group(1)) >= 0.95
    assert sum(1 for line in lines if line.startswith("epoch")) >= 5  # loss and accuracy per epoch
    assert elapsed < 60, f"digits took {elapsed:.1f}s"


def test_digits_mlp_json_summary(stepd_url, repo_root):
    out, _ = _run([sys.executable, "examples/digits_mlp.py", "--json", "--epochs", "3", "--state-dtype", "q8"],
                  stepd_url, repo_root, timeout=120)
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1, "--json prints one line"
    s = json.loads(lines[0])
    assert s["example"] == "digits_mlp" and s["state_dtype"] == "q8" and s["steps"] > 0
    assert s["state_tensors"] == {"f32": 3, "q8": 1}  # w1 (64x64) is the one tensor of 4096+ elements
    for key in ("final_train_loss", "test_loss", "test_accuracy", "seconds"):
        assert isinstance(s[key], float) and math.isfinite(s[key]), key
    assert s["final_train_loss"] < math.log(10) / 2 and s["test_accuracy"] > 0.8


def test_char_lm_trains_with_q8_state(stepd_url, repo_root):
    # Small and short (the default is 600 steps of a 128-wide model); the loss must still fall.
    cmd = [sys.executable, "examples/char_lm.py", "--json", "--state-dtype", "q8", "--steps", "200",
           "--d-model", "64", "--batch", "16", "--seed", "3"]
    out, elapsed = _run(cmd, stepd_url, repo_root, timeout=180)
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1, "--json prints one line"
    s = json.loads(lines[0])
    assert s["example"] == "char_lm" and s["state_dtype"] == "q8" and s["steps"] == 200 and s["seed"] == 3
    assert s["state_tensors"].get("q8", 0) >= 5, s["state_tensors"]  # q8 really applies
    for key in ("first_train_loss", "final_train_loss", "train_eval_loss", "val_loss", "unigram_entropy", "seconds"):
        assert isinstance(s[key], float) and math.isfinite(s[key]), key
    assert 2.5 < s["unigram_entropy"] < 4.5
    assert s["final_train_loss"] < s["first_train_loss"] - 0.5
    assert s["val_loss"] < s["unigram_entropy"] - 0.3
    assert elapsed < 60, f"char_lm took {elapsed:.1f}s"


def test_node_linear_converges(stepd_url, repo_root):
    node = shutil.which("node")
    assert node, "node (20 or newer, for the built-in fetch) is needed for examples/node_linear.mjs"
    out, _ = _run([node, "examples/node_linear.mjs"], stepd_url, repo_root, timeout=120)
    assert "converged: ok" in out.stdout


def test_curl_tour(stepd_url, repo_root):
    assert shutil.which("curl"), "curl is needed for examples/curl_tour.sh"
    out, _ = _run(["bash", "examples/curl_tour.sh"], stepd_url, repo_root, timeout=120)
    assert "all statuses as expected" in out.stdout
    assert "application/problem+json" in out.stdout
