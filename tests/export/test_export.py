"""Every export format, checked in its own runtime; what travels with the exported file."""
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import gridlab
from gridlab.errors import RunError
from gridlab.export import FORMATS, export, export_path

# one worker runs this module (pytest-xdist): its trained runs are built once, not once per worker
pytestmark = pytest.mark.xdist_group("export")


@pytest.fixture(scope="module")
def binary_run(tmp_path_factory):
    """A binary sensor-grid run, so the threshold and the float32 input path are exercised."""
    from tests.conftest import write_grid_set

    root = tmp_path_factory.mktemp("export")
    folder = write_grid_set(root / "grids", n_per_class=(16, 6))
    return gridlab.train(data=str(folder), grid_skip_rows=2, model="gridlab_cnn", epochs=2, batch=4,
                         project=str(root / "runs"), verbose=False, report=False).folder


@pytest.mark.slow
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_passes_parity_in_its_runtime(binary_run, fmt, capfd):
    capfd.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")                         # every warning a user would see, every time
        warnings.simplefilter("ignore", DeprecationWarning)     # (Python hides these outside __main__)
        report = export(binary_run, fmt)
    # in library use the converters' lines and warnings are not the caller's (quiet.conversion), and gridlab's own
    # models call cleanly (a list-of-one input made Keras warn "The structure of `inputs` doesn't match")
    assert capfd.readouterr() == ("", "") and [f"{w.category.__name__}: {w.message}" for w in caught] == []
    assert report["passed"] and report["argmax_agreement"] == 1.0 and report["max_abs_diff"] < 1e-4
    assert export_path(binary_run, fmt).exists()
    side = json.loads((export_path(binary_run, fmt).parent / (export_path(binary_run, fmt).name + ".gridlab.json"))
                      .read_text())
    assert side["class_names"] == ["face", "other"] and side["threshold"] is not None
    assert side["scaling"]["kind"] == "standardize"
    log = json.loads((binary_run / "export.json").read_text())
    assert log[fmt]["passed"] is True


@pytest.mark.slow
def test_where_keras_runs_on_jax_the_export_is_refused_before_anything_is_written(binary_run, tmp_path):
    """The converters work on TensorFlow. A process that has not imported Keras converts there, also on a GPU machine
    where gridlab trains on JAX; one where Keras runs on JAX (a notebook on KERAS_BACKEND=jax, as a user's, with no
    TF_CPP_MIN_LOG_LEVEL) gets one line naming the fix, and nothing else of TensorFlow's: Keras imports it on JAX
    too, to seed it."""
    pytest.importorskip("jax")
    import shutil

    folder = "runs/binary"       # a copy of the module's run, without the exports other tests made
    shutil.copytree(binary_run, tmp_path / folder, ignore=shutil.ignore_patterns("export", "export.json"))
    script = ("import gridlab\n"
              "from gridlab.export import ExportError, export\n"
              f"try:\n    export({folder!r}, 'onnx')\nexcept ExportError as e:\n    print(e)\n")
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "PYTEST_CURRENT_TEST")}
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=tmp_path,
                       env={**env, "KERAS_BACKEND": "jax"})
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout == (f"{folder}: export to onnx converts on Keras' TensorFlow backend, and Keras runs on jax in "
                        f"this process. Export from a fresh process without KERAS_BACKEND=jax: gridlab export {folder} "
                        "--format onnx (it converts on TensorFlow, on the CPU); or serve the Keras model: "
                        "serve_runtime=keras.\n")
    assert sorted(p.name for p in (tmp_path / folder).iterdir()) == sorted(
        p.name for p in binary_run.iterdir() if p.name not in ("export", "export.json"))


def test_an_out_path_it_must_not_write_is_refused_before_the_conversion(binary_run, tmp_path):
    """A folder where a file goes; a folder of other files where a SavedModel (which replaces its folder) goes: refused
    in one line, the folder's files kept."""
    from gridlab.errors import GridlabError

    keep = tmp_path / "documents"
    keep.mkdir()
    (keep / "precious.txt").write_text("mine")
    with pytest.raises(GridlabError, match=r"documents: expected a file name to write, and a folder is there\. "
                                           r"Give a file path, for example .*documents/model\.onnx\."):
        export(binary_run, "onnx", out=keep)
    with pytest.raises(GridlabError, match="a SavedModel export replaces its folder, and this one holds other files"):
        export(binary_run, "saved_model", out=keep)
    assert [p.name for p in keep.iterdir()] == ["precious.txt"] and (keep / "precious.txt").read_text() == "mine"


def test_onnx_metadata_and_predict_runtime(binary_run):
    import onnx

    export(binary_run, "onnx")
    meta = {p.key: p.value for p in onnx.load(str(export_path(binary_run, "onnx"))).metadata_props}
    carried = json.loads(meta["gridlab"])
    assert carried["class_names"] == ["face", "other"] and carried["input_dtype"] == "float32"
    frames = sorted(str(p) for p in (binary_run.parent.parent / "grids").rglob("*.txt"))[:4]
    by_keras = gridlab.predict(binary_run, frames, runtime="keras")
    by_onnx = gridlab.predict(binary_run, frames, runtime="onnx")
    assert [r["class"] for r in by_keras] == [r["class"] for r in by_onnx]
    assert np.allclose([r["probability"] for r in by_keras], [r["probability"] for r in by_onnx], atol=1e-5)
    assert all(r["threshold"] == carried["threshold"] for r in by_onnx)


def test_onnx_conversion_skips_the_converters_graph_copies_and_converts_again_with_them_when_a_pass_raises(
        tmp_path, monkeypatch):
    """tf2onnx converts without copying its graph before each optimizer pass (``export.CATCH_ERRORS``, set for the
    conversion alone). A pass that raises there makes gridlab convert again in tf2onnx's careful mode, which rolls
    that pass back; a TF2ONNX_CATCH_ERRORS of the user's own is left alone."""
    import keras
    import onnxruntime
    from tf2onnx import optimizer
    from tf2onnx.optimizer.optimizer_base import GraphOptimizerBase

    from gridlab.export import CATCH_ERRORS, _convert_onnx

    modes = []

    class RaisesWithoutCopies(GraphOptimizerBase):
        def _optimize(self, graph):
            modes.append(os.environ.get(CATCH_ERRORS))
            if CATCH_ERRORS in os.environ:
                raise RuntimeError("a pass that fails")
            return graph

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    x = np.ones((1, 3), np.float32)
    model(x)
    monkeypatch.delenv(CATCH_ERRORS, raising=False)
    monkeypatch.setitem(optimizer._optimizers, "raises_without_copies", RaisesWithoutCopies)
    _convert_onnx(model, tmp_path / "m.onnx")
    assert modes[0] == "false" and set(modes[1:]) == {None}       # without the copies, then again with them
    assert CATCH_ERRORS not in os.environ
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
    assert np.allclose(session.run(None, {session.get_inputs()[0].name: x})[0], model(x), atol=1e-6)
    modes.clear()
    monkeypatch.setenv(CATCH_ERRORS, "anything")
    with pytest.raises(RuntimeError, match="a pass that fails"):      # tf2onnx's copies off, as the user chose
        _convert_onnx(model, tmp_path / "again.onnx")
    assert modes == ["anything"] and os.environ[CATCH_ERRORS] == "anything"


def _slow_patterns(proto):
    """What ``export._flatten_trailing_ones`` and ``_fold_flatten_transpose`` rewrite: elementwise ops on a tensor
    whose last axis is 1, and channels-last transposes that feed a Flatten's Reshape."""
    from gridlab.export import _shapes

    shapes, consumers = _shapes(proto), {}
    for node in proto.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node.op_type)
    elementwise = [n.name for n in proto.graph.node if n.op_type in ("Mul", "Add", "Sub", "Div")
                   and any(len(shapes.get(i) or []) >= 3 and shapes[i][-1] == 1 for i in n.input)]
    transposes = [n.name for n in proto.graph.node if n.op_type == "Transpose"
                  and [list(a.ints) for a in n.attribute] == [[0, 2, 3, 1]]
                  and consumers.get(n.output[0]) == ["Reshape"]]
    return elementwise, transposes


def test_onnx_export_rewrites_what_onnx_runtime_runs_slowly_and_answers_the_same(tmp_path):
    """seed001_cnn on scaled one-channel images: the converter's graph scales a tensor whose last axis is 1 and
    transposes the last map back to channels-last before its Flatten; the written file does neither, and ONNX
    Runtime gives Keras' probabilities."""
    import onnx

    from gridlab.export import _write_model
    from gridlab.models import build_model
    from gridlab.runtimes import load_runner

    model = build_model("seed001_cnn", (28, 28, 1), 3, scaling={"kind": "fixed", "scale": 1 / 255, "offset": 0.0},
                        input_dtype="uint8")
    x = np.random.default_rng(0).integers(0, 256, (64, 28, 28, 1)).astype(np.uint8)
    model(x[:1])
    model.export(str(tmp_path / "raw.onnx"), format="onnx", verbose=False)
    raw_elementwise, raw_transposes = _slow_patterns(onnx.load(str(tmp_path / "raw.onnx")))
    assert raw_elementwise and raw_transposes
    _write_model(model, "onnx", tmp_path / "model.onnx", {}, x[:1])
    assert _slow_patterns(onnx.load(str(tmp_path / "model.onnx"))) == ([], [])
    np.testing.assert_allclose(load_runner("onnx", tmp_path / "model.onnx")(x), model.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-6)


def test_an_export_older_than_the_model_is_not_served(binary_run, tmp_path):
    """A run trained again into its folder (exist_ok=true) after an export: ONNX Runtime refuses the old export in
    one line, and the "export if missing" of serve and Ray Data exports again, once, from the model the run holds."""
    import shutil

    import keras

    from gridlab import runs
    from gridlab.evaluation import run_dataset
    from gridlab.export import ensure_export
    from gridlab.prediction import Predictor

    run = tmp_path / "run"
    shutil.copytree(binary_run, run)
    export(run, "onnx")
    x = run_dataset(Predictor(run)).x_test
    assert not runs.export_is_stale(run, "onnx") and Predictor(run, "onnx").predict_arrays(x).shape[0] == len(x)
    model = keras.saving.load_model(run / runs.MODEL)         # the run trained again: other weights, same folder
    last = model.layers[-1]
    last.set_weights([w + np.random.default_rng(0).normal(0, 1.0, w.shape) for w in last.get_weights()])
    model.save(run / runs.MODEL)
    with pytest.raises(RunError, match=r"exported from an earlier model.keras or ood.npz \(the run was trained again "
                                       r"after the export\). Run `gridlab export .* --format onnx` again"):
        Predictor(run, "onnx")
    lines = []
    ensure_export(run, "onnx", lines.append)
    assert len(lines) == 1 and lines[0].startswith("the run was trained again after its export: exported again")
    np.testing.assert_allclose(Predictor(run, "onnx").predict_arrays(x), Predictor(run).predict_arrays(x),
                               rtol=1e-4, atol=1e-5)
    ensure_export(run, "onnx", lines.append)
    assert len(lines) == 1                                      # current now: nothing to do
    record = json.loads((run / runs.EXPORTS).read_text())
    del record["onnx"]["source"]                                # an export.json written before sources were kept
    (run / runs.EXPORTS).write_text(json.dumps(record))
    last.set_weights([w * 2 for w in last.get_weights()])
    model.save(run / runs.MODEL)
    assert not runs.export_is_stale(run, "onnx")                # unknown sources: trusted, as before


def test_onnx_runtime_needs_an_export(tmp_path, idx_dir):
    run = gridlab.train(data="mnist", data_dir=str(idx_dir), model="seed002_mlp", epochs=1, verbose=False,
                        report=False)
    with pytest.raises(RunError, match=r"no ONNX export yet. Run `gridlab export .* --format onnx` first"):
        gridlab.predict(run.folder, [], runtime="onnx")
