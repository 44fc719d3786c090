"""Streaming prediction for large inputs: ``gridlab predict RUN FOLDER_OR_GLOB --out predictions.parquet``.

Files are read, checked and predicted a chunk at a time (memory stays bounded by the chunk, whatever the number of
files) with the same readers and checks as ``Predictor.predict_files``. Each chunk becomes one Parquet shard in the
output folder, written atomically (``part-00000.parquet``, ...); a killed job loses at most the chunk in flight, and
the same command again skips every file a shard already holds. A file that cannot be read is a row with its
``error`` and no class: it is reported, never stops the job. The summary (counts per class, files refused and why)
is printed at the end and written to ``_summary.json`` (the leading underscore keeps Parquet readers from taking it for
data: ``pandas.read_parquet(out)`` reads the shards).
"""
from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

from ..errors import GridlabError
from ..files import remove_stale_temporaries, shown, write_bytes, write_text

SHARD = "part-{:05d}.parquet"


def done_files(out: Path) -> tuple[set, int]:
    """Files already written by earlier shards, and the next shard number."""
    import pyarrow.parquet as pq

    shards = sorted(out.glob("part-*.parquet"))
    done = set()
    for shard in shards:
        done.update(pq.read_table(shard, columns=["file"]).column("file").to_pylist())
    return done, (int(shards[-1].stem.split("-")[1]) + 1) if shards else 0


def shard_row(file, threshold, error: str | None = None, cls: str | None = None, probability: float | None = None,
              top_k=(), top_k_probability=(), ood_score: float | None = None, ood: bool | None = None) -> dict:
    """One row of a shard: a prediction (with its OOD score and flag, None where unavailable), or (with ``error``)
    a file that could not be read."""
    return {"file": str(file), "class": None if error else cls, "probability": None if error else probability,
            "threshold": threshold, "top_k": [] if error else list(top_k),
            "top_k_probability": [] if error else list(top_k_probability),
            "ood_score": None if error else ood_score, "ood": None if error else ood, "error": error}


def _rows(predictor, paths, top_k: int) -> list[dict]:
    """One shard row per file, in order (``Predictor.rows``: a file that cannot be read is a row with its error)."""
    x, errors = predictor.read_files(paths)
    proba, scores = predictor.predict_scored(x)
    return [shard_row(r["file"], r["threshold"], r["error"], r["class"], r["probability"],
                      [t["class"] for t in r["top_k"]], [t["probability"] for t in r["top_k"]], r["ood_score"],
                      r["ood"])
            for r in predictor.rows(paths, errors, proba, top_k, scores)]


def write_shard(path: Path, rows: list[dict]) -> None:
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist(rows, schema=pa.schema([
        ("file", pa.string()), ("class", pa.string()), ("probability", pa.float64()), ("threshold", pa.float64()),
        ("top_k", pa.list_(pa.string())), ("top_k_probability", pa.list_(pa.float64())),
        ("ood_score", pa.float64()), ("ood", pa.bool_()), ("error", pa.string())]))
    buf = io.BytesIO()
    pq.write_table(table, buf)
    write_bytes(path, buf.getvalue())          # atomically: a killed job leaves no half shard


def predict_stream(run, inputs, out, top_k: int = 3, runtime: str = "keras", chunk: int = 1024,
                   progress=print) -> dict:
    """Predict every file of ``inputs`` (files, folders, globs) into Parquet shards in the folder ``out``; skip
    files earlier shards hold. Returns the summary (also ``out/_summary.json``)."""
    from ..config import check_count
    from . import Predictor, expand_inputs

    top_k, chunk = check_count("top_k", top_k), check_count("chunk", chunk)
    predictor = Predictor(run, runtime)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise GridlabError(f"{out}: expected a folder for the Parquet shards, received a file. Give a new path, "
                           "e.g. --out predictions.parquet.")
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out)              # a shard a killed job was writing
    files = expand_inputs(inputs)
    done, shard = done_files(out)
    todo = [p for p in files if shown(p) not in done]      # as the shards name them
    if done:
        progress(f"{len(files) - len(todo):,} of {len(files):,} file(s) already in {out}: continuing with "
                 f"{len(todo):,}")
    started = time.perf_counter()
    for lo in range(0, len(todo), chunk):
        write_shard(out / SHARD.format(shard), _rows(predictor, todo[lo:lo + chunk], top_k))
        shard += 1
        finished = min(lo + chunk, len(todo))
        rate = finished / max(time.perf_counter() - started, 1e-9)
        progress(f"{finished:,}/{len(todo):,} files, {rate:,.0f} files/s, ETA {(len(todo) - finished) / rate:,.0f} s")
    summary = summarize(out)
    write_summary(out, summary)
    return summary


def write_summary(out: Path, summary: dict) -> None:
    write_text(Path(out) / "_summary.json", json.dumps(summary, indent=1) + "\n")


def summarize(out: Path) -> dict:
    """Counts per class and the refused files with their reasons, over every shard."""
    import pyarrow.parquet as pq

    counts, refused, total = Counter(), [], 0
    for shard in sorted(Path(out).glob("part-*.parquet")):
        table = pq.read_table(shard, columns=["file", "class", "error"]).to_pylist()
        total += len(table)
        for r in table:
            if r["error"] is None:
                counts[r["class"]] += 1
            else:
                refused.append({"file": r["file"], "error": r["error"]})
    return {"files": total, "per_class": dict(sorted(counts.items())), "refused": refused}
