"""JAX's persistent compilation cache, which gridlab turns on where it runs Keras on JAX
(``backend.keep_compilations``): the same command in fresh processes with the cache off
(``JAX_ENABLE_COMPILATION_CACHE=false``, every process compiles everything) and on (an empty user cache filled by a
first run, then warm), taken in turn.

Run:  .venv/bin/python bench/jax_cache.py [--runs N] [--device cpu|gpu] [--check]

Commands, each in a fresh process with ``KERAS_BACKEND=jax`` in a folder of its own: ``gridlab train`` of seed001_cnn
on scikit-learn's digits for 2 epochs (report off), then ``gridlab predict`` of 20 PNG files with that run. Prints
the median CPU and wall seconds of N runs of each (after the one cold run that fills the cache) and writes
docs/benchmarks.md (section "jax-cache"; ``--device gpu`` writes section "jax-cache-gpu"; ``--check``, which
``bench/gpu.sh --cpu`` uses to try the script, writes nothing).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import _bench

TRAIN = ["train", "data=digits", "model=seed001_cnn", "epochs=2", "report=false", "name=d"]


def gridlab(args: list[str]) -> list[str]:
    """``python -m gridlab ARGS``."""
    return [sys.executable, "-m", "gridlab", *args]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    parser.add_argument("--check", action="store_true", help="print the table, write nothing")
    opts = parser.parse_args()
    import numpy as np
    from PIL import Image

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        files = tmp / "inbox"
        files.mkdir()
        for i, img in enumerate(np.random.default_rng(0).integers(0, 256, (20, 8, 8), dtype=np.uint8)):
            Image.fromarray(img).save(files / f"{i:02d}.png")
        jax_env = {"KERAS_BACKEND": "jax", **({"JAX_PLATFORMS": "cpu"} if opts.device == "cpu" else {})}
        envs = {way: _bench.child_env(drop=("JAX_COMPILATION_CACHE_DIR",), XDG_CACHE_HOME=str(tmp / f"cache-{way}"),
                                      **jax_env, **({"JAX_ENABLE_COMPILATION_CACHE": "false"} if way == "off" else {}))
                for way in ("off", "on")}
        times = {(way, cmd): [] for way in ("off", "cold", "on") for cmd in ("train", "predict")}

        def one(way: str, env: dict, i: int) -> None:
            folder = tmp / f"{way}-{i}"
            folder.mkdir()
            times[(way, "train")].append(_bench.timed(gridlab([*TRAIN, f"device={opts.device}"]), env, folder))
            # exit status 3 (errors.EXIT_SOME_FAILED): done, some files could not be read, the good ones predicted
            times[(way, "predict")].append(_bench.timed(gridlab(["predict", "runs/d", str(files)]), env, folder,
                                                        accept=(0, 3)))

        print("the cold run that fills the cache ...", flush=True)
        one("cold", envs["on"], 0)
        for i in range(opts.runs):
            for way in ("off", "on"):
                print(f"run {i + 1} of {opts.runs}, cache {way} ...", flush=True)
                one(way, envs[way], i + 1)
        kept = sum(p.stat().st_size for p in (tmp / "cache-on").rglob("*") if p.is_file())

    def med(way, cmd, k):
        return statistics.median(t[k] for t in times[(way, cmd)])

    text = ["| command | cache off: CPU s | wall s | cache on, warm: CPU s | wall s | warm against off, CPU | "
            "wall | first run (fills the cache): CPU s | wall s |", "|---|---|---|---|---|---|---|---|---|"]
    for cmd, label in (("train", "`gridlab train` seed001_cnn, digits, 2 epochs"),
                       ("predict", "`gridlab predict` of 20 PNG files")):
        text.append(f"| {label} | {med('off', cmd, 0):.2f} | {med('off', cmd, 1):.2f} | {med('on', cmd, 0):.2f} | "
                    f"{med('on', cmd, 1):.2f} | **{med('on', cmd, 0) / med('off', cmd, 0):.2f}x** | "
                    f"**{med('on', cmd, 1) / med('off', cmd, 1):.2f}x** | {med('cold', cmd, 0):.2f} | "
                    f"{med('cold', cmd, 1):.2f} |")
    print("\n".join(text))
    if opts.check:
        return 0
    section = "jax-cache" if opts.device == "cpu" else "jax-cache-gpu"
    _bench.write_section(section, "\n".join([
        f"## JAX's compilation cache, {opts.device.upper()} (`bench/jax_cache.py`)", "",
        f"Measured on: {_bench.machine()}, `--device {opts.device}`. Command: `.venv/bin/python bench/jax_cache.py "
        f"--runs {opts.runs} --device {opts.device}` ({time.perf_counter() - started:.0f} s). Each command in a "
        f"fresh process on Keras' JAX backend; medians of {opts.runs} runs, cache off and on in turn, after one "
        f"first run that fills an empty cache ({kept / 2**10:,.0f} KiB kept).", "", *text, "",
        "gridlab turns JAX's persistent compilation cache on where it runs Keras on JAX (`backend.keep_compilations`"
        ": in the user cache folder, one folder per machine, at most 2 GiB). A process then loads the programs an "
        "earlier one compiled (the train and predict steps, the initializers) instead of compiling them again: a "
        "second run, each trial of a sweep, a restarted server. `JAX_ENABLE_COMPILATION_CACHE=false` turns it off; "
        "`JAX_COMPILATION_CACHE_DIR` puts it elsewhere."]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
