"""Export: a finished run -> ONNX, LiteRT, SavedModel or .keras, each followed by a parity check on the run's test
split in the exported format's own runtime. The scaling is inside the model (its first layer); class names, the
input description and the binary threshold travel with the file (ONNX metadata, and a ``.gridlab.json`` beside every
export), so the exported file alone gives the same predictions."""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .. import quiet
from ..backend import installed, use
from ..errors import GridlabError, first_line
from ..files import atomic_path, check_output_file, write_json
from ..models.io import save_model
from ..prediction.ood import split_scored
from ..runs import EXPORT_SUFFIX, export_is_stale, export_path, export_sources, find_run, ood_export_path, record_export
from ..runtimes import FORMATS, load_runner, run_batched
from ..scopes import environment, keep_random_state

KERAS_FORMAT = {"onnx": "onnx", "litert": "litert", "saved_model": "tf_saved_model"}
# what Keras converts on its TensorFlow backend only (on JAX it wants jax2onnx, and has no LiteRT path); a
# SavedModel it also writes from JAX, through jax2tf
ON_TENSORFLOW = ("onnx", "litert")


class ExportError(GridlabError):
    """An export failed or its parity check did not pass."""


def metadata(info) -> dict:
    """What travels with an export (ONNX metadata and ``.gridlab.json``) from the run's ``RunInfo``."""
    keys = ("class_names", "input_shape", "input_dtype", "kind", "reader", "scaling", "threshold", "positive_class")
    return {"gridlab_export": 1, **{k: getattr(info, k) for k in keys}}


# tf2onnx deep-copies the whole graph before each pass of its optimizer, to roll the pass back should it raise ("catch
# errors", its default): without the copies an export takes 0.82-0.99x the CPU, the lower end on a larger graph and
# in a process that has traced much (bench/export_onnx.py). gridlab converts without them (the variable set for the
# conversion alone: tf2onnx turns them off whenever it is set, whatever its value) and converts again with them should
# that fail. A TF2ONNX_CATCH_ERRORS of the user's own is left alone.
CATCH_ERRORS = "TF2ONNX_CATCH_ERRORS"


def _convert_onnx(model, path: Path) -> None:
    """Keras' ONNX export of ``model`` to ``path`` (tf2onnx), without the optimizer's copies where they are not needed
    (``CATCH_ERRORS``)."""
    if CATCH_ERRORS not in os.environ:
        try:
            with environment({CATCH_ERRORS: "false"}):
                model.export(str(path), format="onnx", verbose=False)
            return
        except ImportError:
            raise
        except Exception:  # a pass that raised: converted again below, in the converter's careful mode
            pass
    model.export(str(path), format="onnx", verbose=False)


def _check_target(target: Path, fmt: str) -> None:
    """Refuse, before the conversion, a target the export could not write or must not replace: a folder where a file
    goes, or for a SavedModel (a folder, replaced whole) a folder that holds something other than a SavedModel."""
    if fmt != "saved_model":
        check_output_file(target, f"model{EXPORT_SUFFIX[fmt]}")
    elif target.is_file() or (target.is_dir() and any(target.iterdir()) and not (target / "saved_model.pb").is_file()):
        raise ExportError(f"{target}: a SavedModel export replaces its folder, and this one holds other files. Give "
                          "a new folder (or an empty one) for --out.")


def _write_model(model, fmt: str, target: Path, meta: dict, sample: np.ndarray) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "keras":
        save_model(model, target)
        return
    model(sample)  # ONNX export needs a model that has been called
    if fmt == "saved_model":
        staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
        try:
            model.export(str(staging / "m"), format="tf_saved_model", verbose=False)
            if target.exists():
                shutil.rmtree(target)
            (staging / "m").rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return
    with atomic_path(target) as tmp:
        if fmt != "onnx":
            model.export(str(tmp), format=KERAS_FORMAT[fmt], verbose=False)
            return
        _convert_onnx(model, tmp)
        import onnx

        proto = onnx.load(str(tmp))
        _flatten_trailing_ones(proto)
        _fold_flatten_transpose(proto)
        entry = proto.metadata_props.add()
        entry.key, entry.value = "gridlab", json.dumps(meta)
        onnx.save(proto, str(tmp))


def _shapes(proto) -> dict[str, list]:
    """Each tensor's shape as far as ONNX's shape inference knows it (None for an unknown axis, the batch); none where
    the inference fails, so that the rewrites leave such a graph as the converter wrote it."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(proto).graph
    except Exception:  # an optimisation must never cost the export
        return {}
    return {info.name: [d.dim_value if d.HasField("dim_value") else None for d in info.type.tensor_type.shape.dim]
            for info in (*inferred.value_info, *inferred.input, *inferred.output)}


def _flatten_trailing_ones(proto) -> None:
    """Run each Mul, Add, Sub or Div of a tensor whose last axis is 1 by a scalar on a 2-d view of that tensor (a
    Reshape before and after, which ONNX Runtime does without copying). ONNX Runtime 1.32 steps through such a
    tensor's last axis one element at a time: a one-channel model's input scaling took 3.5 ms per 1,024 28x28 images
    instead of 0.1 ms (2-core Intel Xeon). Exact: the same operation on the same numbers; the export's parity check
    runs on the rewritten file."""
    from onnx import helper, numpy_helper

    graph, shapes = proto.graph, _shapes(proto)
    scalars = {init.name for init in graph.initializer if int(np.prod(init.dims)) == 1}
    nodes = []
    for node in graph.node:
        data = [name for name in node.input if name not in scalars]
        shape = shapes.get(data[0]) if node.op_type in ("Mul", "Add", "Sub", "Div") and len(data) == 1 else None
        if not shape or len(shape) < 3 or shape[-1] != 1 or not all(shape[1:]):
            nodes.append(node)
            continue
        name = node.name or node.output[0]
        flat, back = f"{name}/flat_shape", f"{name}/shape"
        graph.initializer.extend([numpy_helper.from_array(np.array([-1, int(np.prod(shape[1:]))], np.int64), flat),
                                  numpy_helper.from_array(np.array([-1, *shape[1:]], np.int64), back)])
        nodes.append(helper.make_node("Reshape", [data[0], flat], [f"{name}/flat_in"], name=f"{name}/flatten"))
        inputs = [f"{name}/flat_in" if i == data[0] else i for i in node.input]
        nodes.append(helper.make_node(node.op_type, inputs, [f"{name}/flat_out"], name=name))
        nodes.append(helper.make_node("Reshape", [f"{name}/flat_out", back], list(node.output),
                                      name=f"{name}/unflatten"))
    del graph.node[:]
    graph.node.extend(nodes)


def _fold_flatten_transpose(proto) -> None:
    """Fold Keras' Flatten of a channels-last map into the Dense weights after it. ONNX Runtime keeps maps channels
    first, so the converter transposes the last map back before flattening it (Transpose, Reshape, MatMul): a pass
    over the whole map, 14% of a `fast` model's time. Flattening the channels-first map and permuting the weight
    rows to match gives the same products (summed in another order: the parity check's tolerance)."""
    from onnx import numpy_helper

    graph, shapes = proto.graph, _shapes(proto)
    consumers, weights = {}, {init.name: init for init in graph.initializer}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    for node in list(graph.node):
        perm = next((list(a.ints) for a in node.attribute if a.name == "perm"), None)
        shape = shapes.get(node.input[0]) if node.op_type == "Transpose" else None
        if perm != [0, 2, 3, 1] or not shape or len(shape) != 4 or not all(shape[1:]):
            continue
        after = consumers.get(node.output[0], [])
        if len(after) != 1 or after[0].op_type != "Reshape" or len(shapes.get(after[0].output[0], [])) != 2:
            continue
        reshape = after[0]
        after = consumers.get(reshape.output[0], [])
        if len(after) != 1 or after[0].op_type != "MatMul" or after[0].input[1] not in weights:
            continue
        matmul, (_, c, h, w) = after[0], shape
        kernel = numpy_helper.to_array(weights[matmul.input[1]])
        if kernel.shape[0] != c * h * w:
            continue
        permuted = kernel.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(c * h * w, -1)
        name = f"{matmul.name or matmul.output[0]}/channels_first"
        graph.initializer.extend([numpy_helper.from_array(np.ascontiguousarray(permuted), f"{name}/kernel"),
                                  numpy_helper.from_array(np.array([-1, c * h * w], np.int64), f"{name}/shape")])
        reshape.input[:] = [node.input[0], f"{name}/shape"]
        matmul.input[1] = f"{name}/kernel"
        graph.node.remove(node)
    used = {name for node in graph.node for name in node.input} | {out.name for out in graph.output}
    unused = [init for init in graph.initializer if init.name not in used]     # the replaced kernel and shape
    for init in unused:
        graph.initializer.remove(init)


def ensure_export(run, fmt: str = "onnx", progress=print) -> Path:
    """The run's export in ``fmt``, made (and checked) first when it is missing, or when it was made from an earlier
    model (the run was trained again into its folder: ``export_is_stale``): the one "export if missing" that
    ``gridlab serve``, ``gridlab predict --ray`` and ``serving.ray_data.predict_ray`` share. ``progress`` hears one
    line when an export is made."""
    folder = find_run(run)
    path = export_path(folder, fmt)
    stale = path.is_file() and export_is_stale(folder, fmt)
    if stale or not path.is_file():
        report = export(run, fmt)
        why = "the run was trained again after its export: exported again" if stale else "exported"
        progress(f"{why} {report['path']} (parity on {report['examples']:,} test examples: argmax agreement "
                 f"{report['argmax_agreement']:.2%})")
    return path


def export(run, fmt: str = "onnx", out: str | Path | None = None, check: bool = True) -> dict:
    """Export a run and check parity. Returns the report that is also written to ``export.json``. The converters
    draw from Python's random stream; the caller's is put back afterwards. Their log lines and warnings are kept
    off the caller's output (``quiet.conversion``).

    Raises:
        ExportError: the parity check failed (argmax agreement below 100% for float exports).
    """
    with keep_random_state(), quiet.conversion():
        return _export(run, fmt, out, check)


def _export(run, fmt: str, out, check: bool) -> dict:
    from ..evaluation import run_dataset
    from ..prediction import Predictor

    if fmt not in FORMATS:
        raise ExportError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}.")
    if fmt != "keras" and not installed("tensorflow"):
        raise ExportError(f"export to {fmt} converts through TensorFlow (tf2onnx, the LiteRT converter), which is not "
                          "installed here: pip install tensorflow-cpu 'gridlab[export]' (or --format keras, which "
                          "needs no converter).")
    if fmt in ON_TENSORFLOW:
        _on_tensorflow(run, fmt)
    predictor = Predictor(run)
    target = Path(out) if out else export_path(predictor.folder, fmt)
    _check_target(target, fmt)
    # what the run's own export is made from (``runs.export_is_stale``); one written elsewhere records nothing
    own = target.resolve() == export_path(predictor.folder, fmt).resolve()
    sources = {"source": export_sources(predictor.folder)} if own else {}
    meta = metadata(predictor.info)
    dataset = run_dataset(predictor)
    x = dataset.x_test
    started = time.perf_counter()
    try:
        _write_model(predictor.model, fmt, target, meta, x[:1])
    except GridlabError:
        raise
    except ImportError as exc:
        raise ExportError(f"{target}: export to {fmt} needs {exc.name or 'a converter'}, which is not installed. "
                          "Install the export extras: pip install 'gridlab[export]'.") from None
    except Exception as exc:  # converters raise many types; report them on one line
        raise ExportError(f"{target}: export to {fmt} failed ({first_line(exc, with_type=True)}).") from None
    write_json(Path(str(target) + ".gridlab.json"), meta)
    seconds = time.perf_counter() - started
    report = {"format": fmt, "path": str(target), "export_seconds": round(seconds, 2),
              "bytes": _size(target), "examples": int(len(x)), **sources}
    if check:
        reference = predictor.predict_arrays(x)
        try:
            got = run_batched(load_runner(fmt, target), x)
        except GridlabError:
            raise
        except Exception as exc:  # runtimes raise many types; report them on one line
            raise ExportError(f"{target}: the {fmt} runtime could not run the export "
                              f"({first_line(exc, with_type=True)}).") from None
        agree = float(np.mean(predictor.decide(got) == predictor.decide(reference)))
        report.update({"argmax_agreement": agree, "max_abs_diff": float(np.max(np.abs(got - reference))),
                       "passed": agree == 1.0})
    if fmt == "onnx" and predictor.ood is not None:
        report["ood"] = _export_ood(predictor, x, meta, check)
        report["passed"] = report.get("passed", True) and report["ood"].get("passed", True)
    record_export(predictor.folder, fmt, report)
    if check and report.get("ood", {}).get("passed") is False:
        raise ExportError(f"{report['ood']['path']}: parity check failed: its OOD flags agree with Keras on "
                          f"{report['ood']['flag_agreement']:.2%} of {len(x)} test examples; the file is kept for "
                          "inspection.")
    if check and not report["passed"]:
        raise ExportError(f"{target}: parity check failed: the {fmt} export agrees with Keras on "
                          f"{report['argmax_agreement']:.2%} of {len(x)} test examples (max probability "
                          f"difference {report['max_abs_diff']:.2e}); the file is kept for inspection.")
    return report


def _on_tensorflow(run, fmt: str) -> None:
    """The ONNX and LiteRT converters (tf2onnx, the LiteRT converter) work on Keras' TensorFlow backend. A process
    that has not imported Keras yet converts on the CPU backend, TensorFlow, also on a GPU machine, where gridlab
    trains on JAX (``gridlab export``, and ``gridlab serve`` exporting first). Where Keras already runs on another
    backend (JAX: trained on the GPU in this notebook, or KERAS_BACKEND=jax) the export is refused before anything is
    written: Keras would want jax2onnx (which gridlab does not install, and whose graphs its ONNX rewrites were not
    made for) or, for LiteRT, has no path at all."""
    folder = find_run(run)
    if "keras" not in sys.modules:
        use("cpu")
    import keras

    running = keras.backend.backend()
    if running != "tensorflow":
        raise ExportError(f"{folder}: export to {fmt} converts on Keras' TensorFlow backend, and Keras runs on "
                          f"{running} in this process. Export from a fresh process without KERAS_BACKEND={running}: "
                          f"gridlab export {folder} --format {fmt} (it converts on TensorFlow, on the CPU); or serve "
                          "the Keras model: serve_runtime=keras.")


def _export_ood(predictor, x: np.ndarray, meta: dict, check: bool) -> dict:
    """``model-ood.onnx`` beside the ONNX export: the model with the run's OOD score as one more column of its output
    (``ood.scoring_model``), so that ONNX Runtime (``gridlab serve``, ``--runtime onnx``, Ray Data) computes it in
    the same pass; its scores and flags are checked against Keras'."""
    target = ood_export_path(predictor.folder)
    try:
        _write_model(predictor.scoring_model, "onnx", target, meta, x[:1])
    except Exception as exc:  # converters raise many types; report them on one line
        raise ExportError(f"{target}: export of the OOD scoring model failed "
                          f"({first_line(exc, with_type=True)}).") from None
    out = {"path": str(target), "bytes": _size(target)}
    if check:
        _, reference = predictor.predict_scored(x)
        runner = load_runner("onnx", target, all_outputs=True)
        got = split_scored(runner(x), predictor.ood)[1]
        agree = float(np.mean(predictor.ood.flag(got) == predictor.ood.flag(reference)))
        scale = float(np.max(np.abs(reference))) or 1.0
        out.update({"flag_agreement": agree, "max_score_diff": float(np.max(np.abs(got - reference))),
                    "passed": agree >= 0.999 and float(np.max(np.abs(got - reference))) <= 1e-3 * scale})
    return out


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size
