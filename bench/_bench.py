"""What every bench script shares: the project root on ``sys.path`` (importing this module puts it there), the
environment of the child processes it starts, a child process timed, the result a child printed last, the machine
described, a marked section of docs/benchmarks.md replaced (and the result printed), calls timed in blocks, and
another commit's tree."""
from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
DOC = ROOT / "docs" / "benchmarks.md"
# `python -c CHANGE + CLI_RUN ARGS...`: gridlab's command line (``cli.run``) after CHANGE, a bench's one-line difference
CLI_RUN = "import sys\nsys.argv = ['gridlab', *sys.argv[1:]]\nfrom gridlab.cli import run\nrun()\n"


CACHE = ROOT / ".bench-cache"      # packages a baseline needs in another version than the virtual environment's


def baseline_path(requirement: str) -> Path:
    """A folder holding ``requirement`` alone (no dependencies), installed with pip into ``CACHE`` the first time (the
    package registry must be reachable then), to put before the virtual environment on a baseline's PYTHONPATH."""
    folder = CACHE / requirement.replace("==", "-").replace("/", "_")
    if not folder.is_dir():
        print(f"installing {requirement} into {folder} ...", flush=True)
        done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                               str(folder), requirement], capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(f"cannot install {requirement} for the baseline: {done.stderr.strip()[-500:]}")
    return folder


def child_env(drop=(), **extra) -> dict:
    """The environment for a child process: this one's, with TensorFlow's C++ logs and Ray's usage stats off, the
    names in ``drop`` removed and ``extra`` added."""
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", RAY_USAGE_STATS_ENABLED="0", **extra)
    return env


def timed(argv: list[str], env: dict, cwd: Path, accept: tuple[int, ...] = (0,)) -> tuple[float, float, float]:
    """(CPU seconds, wall seconds, peak memory in MiB) of one child process (its own CPU, user + system, and its
    largest resident set, from ``os.wait4``); a child that exits with a status not in ``accept`` stops the bench
    with its last lines. Its stderr goes to a file, so a child that writes much cannot block on a full pipe."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode not in accept:
            err.seek(0)
            raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {err.read().decode()[-3000:]}")
    return usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss / 1024


def process_bench(doc: str, name: str) -> tuple[int, Path, dict]:
    """The start of a bench that times fresh gridlab processes: ``--rounds`` from its command line (default 7; ``doc``
    is the script's docstring), a new work folder (``gridlab-NAME-`` in the temporary folder), the children's
    environment (Keras' backend and the lean import left to each child) and, in the folder, ``small_run``'s run and
    PNG. Returns (rounds, folder, environment)."""
    import argparse

    from gridlab.backend import LEAN_VAR

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    rounds = parser.parse_args().rounds
    work = Path(tempfile.mkdtemp(prefix=f"gridlab-{name}-"))
    env = child_env(drop=("KERAS_BACKEND", LEAN_VAR))
    print("training a small run to predict with ...", flush=True)
    small_run(work, env)
    return rounds, work, env


def taken_in_turn(rounds: int, cases, ways, measure) -> dict:
    """{(case, way): [measure(case, way), one per round]}: in each round every case, and for each case every way, one
    after another (so a machine that speeds up or slows down touches all ways alike), with a line per round."""
    results = {(case, way): [] for case in cases for way in ways}
    for r in range(rounds):
        print(f"round {r + 1} of {rounds} ...", flush=True)
        for case in cases:
            for way in ways:
                results[(case, way)].append(measure(case, way))
    return results


def small_run(work: Path, env: dict) -> None:
    """A small run to predict with, ``work/runs/s`` (digits, one epoch, no report), and one 8x8 PNG:
    ``work/one.png``."""
    subprocess.run([sys.executable, "-m", "gridlab", "train", "data=digits", "model=seed003_mlp", "epochs=1",
                    "limit=400", "report=false", "audit=false", "name=s"], env=env, cwd=work, check=True,
                   capture_output=True)
    import numpy as np
    from PIL import Image

    Image.fromarray(np.zeros((8, 8), np.uint8)).save(work / "one.png")


def medians(rounds: list) -> list[float]:
    """The median over ``rounds`` of each measure, for ``rounds`` a list of equal-length tuples (one per round, such
    as ``timed``'s (CPU s, wall s, peak MiB))."""
    return [statistics.median(v) for v in zip(*rounds)]


def side_by_side(script: str, rounds: int, results: dict, cases, new: str, old: str, labels: tuple) -> list[str]:
    """The table of a bench that runs two ways side by side: the machine and the command, then one row per case
    with the medians of (CPU s, wall s) in ``results[(case, new)]`` and ``[(case, old)]``, and new against old.
    ``labels``: the two ways as the header names them, at length and short."""
    new_long, old_long, new_short, old_short = labels
    rows = [f"Measured on: {machine()}. Command: `.venv/bin/python bench/{script} --rounds {rounds}`. Median of "
            f"{rounds} fresh processes each, the two ways taken in turn.", "",
            f"| process | CPU s, {new_long} | CPU s, {old_long} | wall s, {new_short} | wall s, {old_short} | "
            f"{new_short} against {old_short} |", "|---|---|---|---|---|---|"]
    for case in cases:
        now, then = medians(results[(case, new)]), medians(results[(case, old)])
        rows.append(f"| {case} | {now[0]:.2f} | {then[0]:.2f} | {now[1]:.2f} | {then[1]:.2f} | "
                    f"**{now[0] / then[0]:.2f}x** CPU, {now[1] / then[1]:.2f}x wall |")
    return rows


def child_result(argv: list[str], env: dict, cwd: Path | None = None, what: str | None = None):
    """The result a child process printed on its last line (``last_line``); a child that fails stops the bench with
    ``what`` it was (else its command) and its last lines."""
    out = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{what or ' '.join(argv)} failed:\n{out.stderr[-3000:]}")
    return last_line(out.stdout)


def last_line(stdout: str, as_json: bool = True):
    """The last line a child printed (its result), parsed as JSON unless ``as_json`` is false."""
    line = stdout.strip().splitlines()[-1]
    return json.loads(line) if as_json else line


def machine() -> str:
    """The CPU kind (gridlab.hardware.read_cpu), cores, memory, Python and Keras with its backend."""
    from gridlab.hardware import read_cpu

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    from gridlab.backend import use

    use()       # Keras imported as gridlab imports it (its backend choice, TensorFlow's start-up lines kept off)
    import keras

    return (f"{read_cpu().kind}, {os.cpu_count()} cores, {mem:.0f} GiB; Python {platform.python_version()}, "
            f"Keras {keras.__version__} ({keras.backend.backend()} backend)")


def write_section(name: str, text: str) -> None:
    """Replace the text between ``<!-- name:start -->`` and ``<!-- name:end -->`` (appended when missing)."""
    from gridlab.files import write_text

    doc = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    block = f"<!-- {name}:start -->\n{text.rstrip()}\n<!-- {name}:end -->"
    pattern = re.compile(rf"<!-- {name}:start -->.*?<!-- {name}:end -->", re.S)
    doc = pattern.sub(lambda _: block, doc) if pattern.search(doc) else doc.rstrip() + "\n\n" + block + "\n"
    write_text(DOC, doc)


def publish(name: str, lines: list[str], heading: str = "") -> None:
    """Print a bench's result (``lines``) and write it as docs/benchmarks.md section ``name``, under ``heading``."""
    text = "\n".join(lines)
    print(text)
    write_section(name, f"{heading}\n\n{text}" if heading else text)


def in_blocks(calls: dict, blocks: int = 3, per_block: int = 5) -> dict:
    """Seconds of each call in ``calls`` ({key: function}), after one warm-up call each: ``blocks`` rounds in turn,
    each of ``per_block`` calls of one function in a row. Not call by call: ONNX Runtime's and NumPy's worker threads
    spin for a while after a call, and the next call of another kind ran up to 1.5x slower beside them."""
    for fn in calls.values():
        fn()
    times = {key: [] for key in calls}
    for _ in range(blocks):
        for key, fn in calls.items():
            for _ in range(per_block):
                start = time.perf_counter()
                fn()
                times[key].append(time.perf_counter() - start)
    return times


def against_parser(doc: str, commit: str):
    """The arguments of a bench that runs this tree against another commit: ``--against`` (default ``commit``) and
    ``--rounds`` (default 3); ``doc`` is the script's docstring."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--against", default=commit)
    parser.add_argument("--rounds", type=int, default=3)
    return parser.parse_args()


def train_runs(work: Path, runs: dict, env: dict, *extra: str) -> None:
    """Each of ``runs`` ({name: `gridlab train` arguments}) trained into ``work/runs/NAME`` with ``extra`` arguments
    added; ``data=thermal`` is `gridlab make-thermal`'s frames, made first in ``work/thermal``."""
    if any("data=thermal" in argv for argv in runs.values()):
        subprocess.run([sys.executable, "-m", "gridlab", "make-thermal", "thermal", "--faces", "300", "--not-faces",
                        "80"], cwd=work, env=env, check=True, capture_output=True)
    for name, argv in runs.items():
        print(f"training {name} ...", flush=True)
        argv = [a if a != "data=thermal" else f"data={work / 'thermal'}" for a in argv]
        subprocess.run([sys.executable, "-m", "gridlab", "train", *argv, f"name={name}", *extra], cwd=work, env=env,
                       check=True, capture_output=True)


def rounds_in_trees(timer: str, trees: dict, work: Path, names, env: dict, rounds: int) -> dict:
    """{(tree label, run name): [what ``timer`` printed for that run, one per round]}: ``trees`` ({label: folder of
    the code}) each get a copy of ``work/runs``; round after round, one process per tree runs the Python code
    ``timer`` with that tree's code on its copies of the runs ``names`` (their folders as arguments), and prints
    ``{folder: result}`` as JSON on its last line."""
    import shutil

    copies = {label: work / f"runs-{tree.name}" for label, tree in trees.items()}
    for copy in copies.values():
        shutil.copytree(work / "runs", copy)
    results = {(label, name): [] for label in trees for name in names}
    for r in range(rounds):
        print(f"round {r + 1} of {rounds} ...", flush=True)
        for label, tree in trees.items():
            done = subprocess.run([sys.executable, "-c", timer, *[str(copies[label] / n) for n in names]], cwd=work,
                                  env={**env, "PYTHONPATH": str(tree)}, capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"{label}: {done.stderr[-1500:]}")
            for folder, result in last_line(done.stdout).items():
                results[(label, Path(folder).name)].append(result)
    return results


@contextlib.contextmanager
def other_tree(commit: str, work: Path):
    """``commit`` checked out into a git worktree in ``work`` while the body runs (removed after): its path."""
    tree = work / "old-tree"
    subprocess.run(["git", "worktree", "add", "--detach", str(tree), commit], cwd=ROOT, check=True,
                   capture_output=True)
    try:
        yield tree
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)
