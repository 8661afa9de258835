"""The examples in examples/ run against a live stepd (the stepd_server fixture) and succeed."""

import os
import re
import shutil
import subprocess
import sys
import time

import pytest


def _run(cmd, url, repo_root, timeout):
    env = dict(os.environ, STEPD_URL=url)
    env.pop("STEPD_TOKEN", None)
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
