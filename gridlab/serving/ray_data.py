"""Streaming prediction on Ray Data: ``gridlab predict RUN FOLDER_OR_GLOB --out X.parquet --ray`` (local Ray) or
``--address HOST:PORT`` (a cluster).

Files are read and decoded in parallel Ray tasks by ``Predictor.read_file`` (the readers and checks of every other
path), and predicted by a pool of actors that each hold one ONNX Runtime session of the run's export (made first
when missing, ``export.ensure_export``). The driver writes the rows as the same atomic Parquet shards as
``stream.predict_stream``, so the output, the resume rule and the summary are the same; on a cluster, every node
must reach the input files and the run folder, and have gridlab installed.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

_READER = {}


def read_batch(batch: dict, run: str) -> dict:
    """Ray task: decode a batch of files; an unreadable one gets a zero input and its error."""
    from ..prediction import Predictor

    predictor = _READER.get(run) or _READER.setdefault(run, Predictor(run))   # reads run.json only
    x, errors = predictor.read_files([str(f) for f in batch["file"]])
    xs = np.zeros((len(errors), *predictor.input_shape), np.float32)
    xs[np.asarray([e is None for e in errors], bool)] = x
    errors = [e or "" for e in errors]
    return {"file": batch["file"], "x": xs, "error": np.asarray(errors)}


class OnnxPredictor:
    """Ray actor: one ONNX Runtime session, reused for every batch it is given."""

    def __init__(self, run: str, top_k: int):
        from ..prediction import Predictor

        self.predictor, self.top_k = Predictor(run, "onnx"), top_k

    def __call__(self, batch: dict) -> dict:
        p = self.predictor
        proba, scores = p.predict_scored(batch["x"])
        labels = p.decide(proba)
        k = min(self.top_k, len(p.class_names))
        order = np.argsort(-proba, axis=1)[:, :k]
        names = np.asarray(p.class_names, dtype=object)
        ok = batch["error"] == ""
        return {"file": batch["file"], "class": np.where(ok, names[labels], None),
                "probability": np.where(ok, proba[np.arange(len(labels)), labels], np.nan),
                "top_k": names[order], "top_k_probability": np.take_along_axis(proba, order, axis=1),
                "ood_score": np.full(len(labels), np.nan) if scores is None else scores,
                "ood": (np.zeros(len(labels), bool) if scores is None else p.ood.flag(scores)),
                "ood_available": np.full(len(labels), scores is not None), "error": batch["error"]}


def _rows(batch: dict, threshold) -> list[dict]:
    """The actors' columns as shard rows (``stream.shard_row``)."""
    from ..prediction.stream import shard_row

    rows = []
    for i, f in enumerate(batch["file"]):
        error = str(batch["error"][i]) or None
        scored = bool(batch["ood_available"][i])
        rows.append(shard_row(f, threshold, error) if error else shard_row(
            f, threshold, None, str(batch["class"][i]), float(batch["probability"][i]),
            [str(c) for c in batch["top_k"][i]], [float(v) for v in batch["top_k_probability"][i]],
            float(batch["ood_score"][i]) if scored else None, bool(batch["ood"][i]) if scored else None))
    return rows


def predict_ray(run, inputs, out, top_k: int = 3, chunk: int = 1024, address: str | None = None,
                actors: int | None = None, progress=print) -> dict:
    """``stream.predict_stream`` with the reading and the predicting spread over Ray (see the module docstring)."""
    from .. import ray_cluster, runs
    from ..config import check_count
    from ..export import ensure_export
    from ..prediction import expand_inputs
    from ..prediction.stream import SHARD, done_files, summarize, write_shard, write_summary

    top_k, chunk = check_count("top_k", top_k), check_count("chunk", chunk)
    if actors is not None:
        check_count("actors", actors)
    folder = runs.find_run(run)
    ensure_export(folder, "onnx", progress)        # the Ray Data actors run the ONNX export
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = expand_inputs(inputs)
    done, shard = done_files(out)
    todo = [str(p) for p in files if str(p) not in done]
    if done:
        progress(f"{len(files) - len(todo):,} of {len(files):,} file(s) already in {out}: continuing with "
                 f"{len(todo):,}")
    ray_cluster.prepare(address, progress)
    import ray

    started = ray_cluster.start(address)
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        pool = actors or max(1, cpus // 2)
        threshold = runs.read_info(folder).threshold
        ds = (ray.data.from_items([{"file": f} for f in todo])
              .map_batches(read_batch, fn_kwargs={"run": str(folder)}, batch_size=256, batch_format="numpy")
              .map_batches(OnnxPredictor, fn_constructor_kwargs={"run": str(folder), "top_k": top_k},
                           concurrency=pool, batch_size=256, batch_format="numpy"))
        begun, written = time.perf_counter(), 0
        for batch in ds.iter_batches(batch_size=chunk, batch_format="numpy"):
            write_shard(out / SHARD.format(shard), _rows(batch, threshold))
            shard += 1
            written += len(batch["file"])
            rate = written / max(time.perf_counter() - begun, 1e-9)
            progress(f"{written:,}/{len(todo):,} files, {rate:,.0f} files/s, ETA {(len(todo) - written) / rate:,.0f} s"
                     f" (Ray Data: {pool} ONNX Runtime actor(s), {cpus} CPUs)")
    finally:
        if started:
            ray.shutdown()
    summary = summarize(out)
    write_summary(out, summary)
    return summary

