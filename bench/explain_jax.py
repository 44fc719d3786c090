"""Saliency on JAX: each method's calls, this tree against another commit's code, in fresh processes taken in turn.

Run:  .venv/bin/python bench/explain_jax.py [--against COMMIT] [--rounds 3]   (COMMIT defaults to 6e54aac, the
      last commit whose saliency ran the layers and their gradients eagerly on JAX)

Trains one run here (seed001_cnn, one epoch on 3,000 Fashion-MNIST images; TensorFlow trains, the saved model is
the same on every backend), checks COMMIT out into a git worktree, and then, round after round, starts one process
per tree on Keras' JAX backend, each with an empty compilation cache, that loads the run once (``Predictor``),
predicts once (the predict program compiled before any timing), and times its saliency calls one after another on
test images: Grad-CAM on 16 (the first call), on the same 16 again, on 5 and on 64 (new batch sizes); integrated
gradients on 16 (32 steps), first and again; occlusion on 16. Prints the medians of each call's CPU and wall
seconds and the ratio, and writes docs/benchmarks.md (section "explain-jax").
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _bench import ROOT, against_parser, child_env, last_line, machine, other_tree, publish, taken_in_turn

CALLS = [("gradcam", 16, "Grad-CAM, 16 images, first call"), ("gradcam", 16, "Grad-CAM, the same 16 again"),
         ("gradcam", 5, "Grad-CAM, 5 images (a new size)"), ("gradcam", 64, "Grad-CAM, 64 images (a new size)"),
         ("integrated_gradients", 16, "integrated gradients, 16 images, first call"),
         ("integrated_gradients", 16, "integrated gradients, the same 16 again"),
         ("occlusion", 16, "occlusion, 16 images (forward passes only)")]
TIMER = """
import json, sys, time
from gridlab import load_dataset
from gridlab.prediction import Predictor
p = Predictor(sys.argv[1])
x = load_dataset(data="fashion-mnist", limit=3000).x_test
p.predict_arrays(x[:16])
out = []
for method, n in json.loads(sys.argv[2]):
    cpu, wall = time.process_time(), time.perf_counter()
    p.explain(x[:n], method=method, steps=32)
    out.append((time.process_time() - cpu, time.perf_counter() - wall))
print(json.dumps(out))
"""


def main() -> None:
    args = against_parser(__doc__, "6e54aac")
    work = Path(tempfile.mkdtemp(prefix="gridlab-explain-jax-"))
    env = child_env(drop=("PYTHONPATH", "KERAS_BACKEND"))
    print("training the run to explain ...", flush=True)
    subprocess.run([sys.executable, "-m", "gridlab", "train", "data=fashion-mnist", "model=seed001_cnn", "epochs=1",
                    "limit=3000", "report=false", "audit=false", "ood=none", "name=e"], cwd=work, env=env,
                   check=True, capture_output=True)
    calls = [[method, n] for method, n, _ in CALLS]
    count = iter(range(10**6))
    with other_tree(args.against, work) as old:
        trees = {"this tree": ROOT, args.against: old}

        def measure(_, label):
            cache = work / f"cache-{next(count)}"          # an empty compilation cache for every process
            done = subprocess.run([sys.executable, "-c", TIMER, str(work / "runs" / "e"), json.dumps(calls)],
                                  cwd=work, capture_output=True, text=True,
                                  env={**env, "PYTHONPATH": str(trees[label]), "KERAS_BACKEND": "jax",
                                       "XDG_CACHE_HOME": str(cache)})
            if done.returncode:
                raise SystemExit(f"{label}: {done.stderr[-1500:]}")
            return last_line(done.stdout)

        results = taken_in_turn(args.rounds, ["explain"], list(trees), measure)
    now, then = results[("explain", "this tree")], results[("explain", args.against)]
    lines = [f"Measured on: {machine()}; the calls on Keras' JAX backend (CPU). Command: `.venv/bin/python "
             f"bench/explain_jax.py --against {args.against} --rounds {args.rounds}`. Medians of {args.rounds} fresh "
             f"processes per tree, taken in turn, each with an empty compilation cache; the calls one after another "
             f"in each, in this order, on one loaded model.", "",
             f"| call | CPU s, this tree | CPU s, {args.against} | wall s, this tree | wall s, {args.against} | "
             "this tree against it, CPU |", "|---|---|---|---|---|---|"]
    for i, (_, _, label) in enumerate(CALLS):
        a = [statistics.median(r[i][k] for r in now) for k in (0, 1)]
        b = [statistics.median(r[i][k] for r in then) for k in (0, 1)]
        lines.append(f"| {label} | {a[0]:.2f} | {b[0]:.2f} | {a[1]:.2f} | {b[1]:.2f} | **{a[0] / b[0]:.2f}x** |")
    publish("explain-jax", lines, "## Saliency on JAX (`bench/explain_jax.py`)")


if __name__ == "__main__":
    main()
