#!/usr/bin/env python3
"""Final losses of training through stepd with float32, bfloat16 and 8-bit optimizer state.

    python bench/state_dtype_quality.py --stepd .build/release/stepd --seeds 0 1 2

Starts its own `stepd serve` on 127.0.0.1 (a free port, no data directory), runs
examples/digits_mlp.py and examples/char_lm.py with `--json` once per seed and state dtype,
interleaved (seed by seed, the dtypes one after another, so a load change on the machine spreads
over all of them), stops the server, and prints a Markdown table per example: for each dtype the
mean over seeds of the final training loss and the held-out loss, their difference relative to
f32's mean, the per-seed values, and the range of the per-seed paired differences (a seed's
bf16 or q8 run against the f32 run of the same seed, which shares its initialization and batch
order). The f32 row gives the seed-to-seed spread (max - min over the mean), the scale against
which the other differences can be judged.

--out FILE also writes every run's JSON summary, one per line. Runs take about 10 s (digits) and
1-2 min (char_lm, 600 steps) each on a 2-core machine.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "python"))
from stepd_server import StepdServer  # noqa: E402

# example name -> (script, key of the final training loss, key of the held-out loss, held-out name)
EXAMPLES = {
    "digits": ("examples/digits_mlp.py", "final_train_loss", "test_loss", "test"),
    "char_lm": ("examples/char_lm.py", "final_train_loss", "val_loss", "validation"),
}


def run(python, script, url, dtype, seed, extra):
    cmd = [python, str(REPO / script), "--url", url, "--state-dtype", dtype, "--seed", str(seed), "--json", *extra]
    env = dict(os.environ)
    env.pop("STEPD_TOKEN", None)
    # The client of this checkout, whatever `stepd` the interpreter has installed.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "clients" / "python"), env.get("PYTHONPATH")]))
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited with {out.returncode}:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def pct(x, ref):
    return f"{100.0 * (x - ref) / ref:+.2f}%"


def table(name, results, dtypes, seeds):
    script, train_key, held_key, held_name = EXAMPLES[name]
    f32 = {s: results[(name, "f32", s)] for s in seeds} if "f32" in dtypes else None
    lines = [f"{name} ({script}, seeds {' '.join(map(str, seeds))}; losses in nats, mean over seeds)", "",
             f"| state | final training loss | vs f32 | {held_name} loss | vs f32 | per seed: training | per seed: {held_name} "
             f"| paired vs f32, training | paired vs f32, {held_name} |",
             "|---|---|---|---|---|---|---|---|---|"]
    for dtype in dtypes:
        runs = [results[(name, dtype, s)] for s in seeds]
        tr = [r[train_key] for r in runs]
        he = [r[held_key] for r in runs]
        mtr, mhe = statistics.mean(tr), statistics.mean(he)
        if f32 is not None and dtype != "f32":
            ftr = statistics.mean(f32[s][train_key] for s in seeds)
            fhe = statistics.mean(f32[s][held_key] for s in seeds)
            vtr, vhe = pct(mtr, ftr), pct(mhe, fhe)
            ptr = [100.0 * (r[train_key] - f32[s][train_key]) / f32[s][train_key] for r, s in zip(runs, seeds)]
            phe = [100.0 * (r[held_key] - f32[s][held_key]) / f32[s][held_key] for r, s in zip(runs, seeds)]
            paired_tr = f"{min(ptr):+.2f}% to {max(ptr):+.2f}%"
            paired_he = f"{min(phe):+.2f}% to {max(phe):+.2f}%"
        else:
            vtr = vhe = "-"
            spread = lambda v: f"seed spread {100.0 * (max(v) - min(v)) / statistics.mean(v):.1f}%"
            paired_tr, paired_he = spread(tr), spread(he)
        lines.append(f"| {dtype} | {mtr:.5g} | {vtr} | {mhe:.5g} | {vhe} | {' / '.join(f'{v:.5g}' for v in tr)} "
                     f"| {' / '.join(f'{v:.5g}' for v in he)} | {paired_tr} | {paired_he} |")
    extra = []
    for key in ("test_accuracy", "train_eval_loss"):
        if key in results[(name, dtypes[0], seeds[0])]:
            extra.append(f"{key}: " + ", ".join(
                f"{d} {statistics.mean(results[(name, d, s)][key] for s in seeds):.5g}" for d in dtypes))
    secs = ", ".join(f"{d} {statistics.mean(results[(name, d, s)]['seconds'] for s in seeds):.0f} s" for d in dtypes)
    lines += ["", "mean " + "; ".join(extra + [f"seconds per run: {secs}"])]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--stepd", default=str(REPO / ".build" / "release" / "stepd"), help="the stepd binary")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--dtypes", nargs="+", default=["f32", "bf16", "q8"], choices=["f32", "bf16", "q8"])
    ap.add_argument("--examples", nargs="+", default=list(EXAMPLES), choices=list(EXAMPLES))
    ap.add_argument("--char-steps", type=int, help="--steps for char_lm (default: the example's)")
    ap.add_argument("--python", default=sys.executable, help="the interpreter that runs the examples")
    ap.add_argument("--out", help="also write every run's JSON summary to this file, one per line")
    a = ap.parse_args()
    if not Path(a.stepd).exists():
        raise SystemExit(f"no stepd binary at {a.stepd} (--stepd)")
    extra = {"digits": [], "char_lm": ["--steps", str(a.char_steps)] if a.char_steps else []}

    started = time.monotonic()
    server = StepdServer(binary=Path(a.stepd)).start()
    results = {}
    out = open(a.out, "w") if a.out else None
    try:
        print(f"stepd {a.stepd} at {server.url}", file=sys.stderr, flush=True)
        for seed in a.seeds:
            for name in a.examples:
                for dtype in a.dtypes:
                    r = run(a.python, EXAMPLES[name][0], server.url, dtype, seed, extra[name])
                    results[(name, dtype, seed)] = r
                    if out:
                        out.write(json.dumps(r) + "\n")
                        out.flush()
                    print(f"[{time.monotonic() - started:6.0f} s] {name} {dtype} seed {seed}: "
                          f"train {r[EXAMPLES[name][1]]:.5g}, {EXAMPLES[name][3]} {r[EXAMPLES[name][2]]:.5g} "
                          f"({r['seconds']:.0f} s)", file=sys.stderr, flush=True)
    finally:
        server.stop()
        if out:
            out.close()
    for name in a.examples:
        print(table(name, results, a.dtypes, a.seeds))
        print()
    print(f"{len(results)} runs in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
