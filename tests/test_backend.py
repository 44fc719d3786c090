"""The device and backend choice (gridlab.backend): every combination of GPU seen or not, a backend chosen by the
user or not, TensorFlow installed or not; the device=gpu refusal; ``import gridlab`` leaving the environment alone;
and a process without TensorFlow that trains, predicts, explains and reports on JAX."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gridlab import backend
from gridlab.backend import Machine, choose
from gridlab.errors import ConfigError
from tests.conftest import HIDE_TENSORFLOW


def machine(gpus=0, jax_cuda=False, tensorflow=True, jax=True, user=None):
    return Machine(gpus, jax_cuda, tensorflow, jax, user, "KERAS_BACKEND is set" if user else "")


@pytest.mark.parametrize("gpu", [False, True])
@pytest.mark.parametrize("user", [None, "tensorflow", "jax"])
@pytest.mark.parametrize("tensorflow", [True, False])
def test_auto_for_every_combination(gpu, user, tensorflow):
    m = machine(gpus=int(gpu), jax_cuda=gpu, tensorflow=tensorflow, user=user)
    c = choose("auto", m)
    if user:                                   # the user's backend is never overridden
        assert c.backend == user and c.why == "your choice: KERAS_BACKEND is set"
        assert c.device == ("gpu" if gpu and user == "jax" else "cpu")
    elif gpu:
        assert (c.backend, c.device) == ("jax", "gpu")
    else:
        assert (c.backend, c.device) == ("tensorflow" if tensorflow else "jax", "cpu")


def test_a_gpu_without_jax_cuda_stays_on_the_cpu_and_says_why():
    c = choose("auto", machine(gpus=1, jax_cuda=False))
    assert (c.backend, c.device) == ("tensorflow", "cpu") and "pip install 'gridlab[cuda]'" in c.why


def test_device_cpu_on_a_gpu_machine_uses_tensorflow():
    c = choose("cpu", machine(gpus=1, jax_cuda=True))
    assert (c.backend, c.device) == ("tensorflow", "cpu")


@pytest.mark.parametrize("m, says", [
    (machine(gpus=0), "device=gpu: no NVIDIA GPU is visible"),
    (machine(gpus=1, jax_cuda=False), "device=gpu: a GPU is visible but JAX has no CUDA plugin. pip install "
                                      "'gridlab[cuda]'"),
    (machine(gpus=1, jax_cuda=True, user="tensorflow"), "device=gpu runs on Keras' JAX backend, but the backend is "
                                                        "'tensorflow' (KERAS_BACKEND is set); set KERAS_BACKEND=jax"),
])
def test_device_gpu_refusals(m, says):
    with pytest.raises(ConfigError) as err:
        choose("gpu", m)
    assert str(err.value).startswith(says) and "\n" not in str(err.value)


def test_device_gpu_is_refused_before_anything_is_written(tmp_path):
    import gridlab

    if backend.visible_gpus():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigError, match="device=gpu: no NVIDIA GPU is visible"):
        gridlab.train(data="digits", device="gpu", epochs=1, verbose=False)
    assert not (tmp_path / "runs").exists()


def test_data_parallel_needs_jax():
    assert choose("auto", machine(), need_jax=True).backend == "jax"
    with pytest.raises(ConfigError, match="needs JAX"):
        choose("auto", machine(jax=False), need_jax=True)


def test_import_gridlab_changes_only_the_documented_variable():
    probe = ("import json, os; before = dict(os.environ); import gridlab; after = dict(os.environ); "
             "print(json.dumps({k: after.get(k) for k in set(before) | set(after) if before.get(k) != after.get(k)}))")
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "TF_ENABLE_ONEDNN_OPTS",
                                                          "TF_CPP_MIN_LOG_LEVEL")}
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    changed = json.loads(out.stdout)
    assert set(changed) <= {"TF_ENABLE_ONEDNN_OPTS"}, changed


# a process gridlab owns imports Keras on TensorFlow: none of the packages for integrations gridlab never calls comes
# with it, nothing stays declined, Keras did not note SciPy or JAX as missing, and gridlab's own later imports work
LEAN = """
import sys
from gridlab import backend
backend.use("cpu")
from keras.src.utils import module_utils
from keras.src.wrappers import fixes
print(sorted(name for name in backend.EXTRAS if name in sys.modules))
assert not [finder for finder in sys.meta_path if isinstance(finder, backend._DeclineExtras)]
assert module_utils.scipy._available is None and module_utils.jax._available is None
import gc, matplotlib.figure, sklearn.metrics
print(fixes.sklearn is None, sklearn.metrics.accuracy_score([0, 1], [0, 1]))
print(gc.get_freeze_count() > 100_000)       # the import's objects stay frozen (backend.collector_paused)
"""


@pytest.mark.slow
def test_gridlab_s_own_processes_import_keras_without_the_integrations_it_never_calls():
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    out = subprocess.run([sys.executable, "-c", LEAN], env={**env, backend.LEAN_VAR: "1"}, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.splitlines() == ["[]", "True 1.0", "True"]


def test_the_command_line_owns_its_process_and_a_library_caller_keeps_every_integration(monkeypatch, capsys):
    from gridlab import cli

    monkeypatch.delenv(backend.LEAN_VAR, raising=False)
    assert not backend.lean_imports()            # a library caller: Keras comes with all it imports
    monkeypatch.setattr(sys, "argv", ["gridlab"])
    with pytest.raises(SystemExit):
        cli.run()
    assert backend.lean_imports()
    monkeypatch.setenv(backend.LEAN_VAR, "0")   # the user's choice wins
    with pytest.raises(SystemExit):
        cli.run()
    assert not backend.lean_imports()
    capsys.readouterr()


@pytest.fixture
def collector():
    """Python's collector as in a process that froze nothing (the test session froze what its imports made:
    conftest), with a list of the generations of the collections that start; put back as it was after."""
    import gc

    was_frozen, was_enabled, runs = gc.get_freeze_count(), gc.isenabled(), []
    callback = lambda phase, info: runs.append(info["generation"]) if phase == "start" else None  # noqa: E731
    gc.unfreeze()
    gc.callbacks.append(callback)
    try:
        yield runs
    finally:
        gc.callbacks.remove(callback)
        gc.unfreeze()
        (gc.enable if was_enabled else gc.disable)()
        if was_frozen:
            gc.freeze()


@pytest.mark.parametrize("enabled", [True, False])
def test_keras_is_imported_with_the_collector_paused_and_nothing_left_frozen(enabled, collector):
    import gc

    runs = collector
    (gc.enable if enabled else gc.disable)()
    with backend.collector_paused():
        made = [[i] for i in range(50_000)]        # 50,000 young objects: about 70 collections otherwise
    assert runs == [] and gc.isenabled() is enabled     # none ran in the body; then the state is as it was
    assert gc.get_freeze_count() == 0
    if enabled:        # what the body made waits among the oldest, not in the young generation
        assert gc.get_count()[0] < 1_000, gc.get_count()
    del made
    kept = [[0]]                                       # what the process froze itself stays frozen
    gc.freeze()
    frozen = gc.get_freeze_count()
    with backend.collector_paused():
        made = [[i] for i in range(1_000)]
    assert gc.get_freeze_count() == frozen and gc.isenabled() is enabled
    del made, kept


@pytest.mark.parametrize("enabled", [True, False])
def test_in_gridlab_s_own_process_what_the_import_made_stays_frozen(enabled, collector):
    import gc

    runs = collector
    (gc.enable if enabled else gc.disable)()
    with backend.collector_paused(keep_frozen=True):
        made = [[i] for i in range(50_000)]
    assert runs == [] and gc.isenabled() is enabled
    assert gc.get_freeze_count() >= 50_000        # out of the collector's sight, also when the process ends
    gc.collect()
    assert gc.get_freeze_count() >= 50_000 and runs == [2]
    del made


# one process, as a user's session: the command line's train (the backend chosen in it), predict --explain and
# export, then every saliency method through the library (model and saliency code use only keras / keras.ops and
# the backend's own gradient, so every method works on JAX). "--- STEP" lines on stderr part the output.
ON_JAX = """
import sys
import numpy as np
import gridlab
from gridlab.cli import main
print("--- train", file=sys.stderr)
assert main(["train", "data=digits", "model=seed000_cnn", "epochs=2", "limit=500", "name=jx"]) == 0
np.save("x.npy", np.full((8, 8), 9.0))
print("--- predict", file=sys.stderr)
assert main(["predict", "runs/jx", "x.npy", "--explain"]) == 0
print("--- export", file=sys.stderr, flush=True)
print("export returned", main(["export", "runs/jx", "--format", "onnx"]))
print("--- library", file=sys.stderr)
x = gridlab.load_dataset(data="digits").x_test[:3]
for method in ("gradcam", "occlusion", "integrated_gradients"):
    s = gridlab.explain("runs/jx", x, method=method, steps=4)
    assert s.maps.shape == (3, 8, 8) and abs(float(s.maps.max()) - 1.0) < 1e-6, (method, s.maps.max())
# the compiled programs, made once per model, read its weights at every call: new weights, new maps
p = gridlab.Predictor("runs/jx")
before = p.explain(x, classes=[0, 1, 2], method="gradcam").maps
rng = np.random.default_rng(0)
p.model.set_weights([rng.normal(0, 0.5, w.shape).astype(w.dtype) for w in p.model.get_weights()])
assert not np.allclose(before, p.explain(x, classes=[0, 1, 2], method="gradcam").maps)
import jax, keras
print("compilations kept in", jax.config.values["jax_compilation_cache_dir"])
print("explained on", keras.backend.backend())
"""


# Keras on JAX, TensorFlow installed: inside ``tensorflow_unasked`` seeding, configs, cloning and saving work without
# importing TensorFlow, the seed still decides the initial weights, and once something imports TensorFlow Keras'
# checks see it (a TensorShape serializes as Keras writes it); after the body Keras' own handles are back
UNASKED = """
import sys
import numpy as np
from gridlab import backend
backend.use("cpu", need_jax=True)
import keras
from keras.src.saving import serialization_lib
from keras.src.utils import module_utils, rng_utils

def first_weights(seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    return model, model.get_weights()[0]

with backend.tensorflow_unasked():
    model, a = first_weights(3)
    _, b = first_weights(3)
    _, c = first_weights(4)
    model.save("m.keras")
    keras.models.clone_model(model).get_config()
    print(keras.backend.backend(), "tensorflow" in sys.modules, np.array_equal(a, b), np.array_equal(a, c))
    import tensorflow as tf
    print(serialization_lib.serialize_keras_object(tf.TensorShape([2, 3])))
print(rng_utils.tf is module_utils.tensorflow and serialization_lib.tf is module_utils.tensorflow)
"""


@pytest.mark.slow
def test_on_jax_seeding_and_saving_leave_tensorflow_unimported(tmp_path):
    pytest.importorskip("jax")
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    out = subprocess.run([sys.executable, "-c", UNASKED], env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.splitlines() == ["jax False True False", "[2, 3]", "True"]
    assert (tmp_path / "m.keras").is_file()


@pytest.mark.slow
def test_without_tensorflow_gridlab_trains_predicts_and_reports_on_jax(tmp_path):
    """TensorFlow made unimportable, no KERAS_BACKEND: gridlab picks JAX, and the run works end to end (every
    saliency method included); export says in one line what to install; the child's environment never names a
    backend."""
    pytest.importorskip("jax")
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "TF_CPP_MIN_LOG_LEVEL")}
    # every compilation kept, however fast this machine compiles (gridlab's own threshold: the test below)
    env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    env[backend.LEAN_VAR] = "1"     # as under gridlab's command line: Keras imported without what gridlab never calls
    r = subprocess.run([sys.executable, str(HIDE_TENSORFLOW), "-c", ON_JAX], env=env, cwd=tmp_path,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    steps = dict(part.split("\n", 1) for part in r.stderr.split("--- ")[1:])
    assert "device: CPU, backend jax (device=auto: TensorFlow is not installed, JAX is)" in steps["train"]
    assert (tmp_path / "runs/jx/report.html").is_file()
    info = json.loads((tmp_path / "runs/jx/run.json").read_text())
    assert info["versions"]["backend"] == "jax"
    assert "x.npy" in r.stdout and "saliency: 1 PNG file(s)" in r.stdout
    assert r.stdout.splitlines()[-1] == "explained on jax"
    # JAX's persistent compilation cache, in gridlab's user cache folder (the test's XDG_CACHE_HOME), one per machine
    kept = Path(r.stdout.splitlines()[-2].removeprefix("compilations kept in "))
    assert kept.parent == Path(os.environ["XDG_CACHE_HOME"]) / "gridlab" / "jax"
    assert list(kept.glob("jit_train_step-*-cache")) and list(kept.glob("jit_predict_step-*-cache"))
    assert "export returned 2" in r.stdout and steps["export"].strip() == (
        "gridlab export: error: export to onnx converts through TensorFlow (tf2onnx, the LiteRT converter), which is "
        "not installed here: pip install tensorflow-cpu 'gridlab[export]' (or --format keras, which needs no "
        "converter).")
    assert not (tmp_path / "runs/jx/export").exists()


def test_jax_compilations_are_kept_per_machine_unless_the_user_says_otherwise(tmp_path):
    jax = pytest.importorskip("jax")
    keys = ("jax_compilation_cache_dir", "jax_enable_compilation_cache", "jax_persistent_cache_min_compile_time_secs",
            "jax_compilation_cache_max_size")
    saved = {k: jax.config.values[k] for k in keys}
    try:
        for k, v in zip(keys, (None, True, 1.0, -1)):        # JAX's defaults, whatever this environment sets
            jax.config.update(k, v)
        cpu = backend.keep_compilations("cpu")
        assert cpu.parent == tmp_path / "cache" / "gridlab" / "jax"          # the isolated XDG_CACHE_HOME
        assert jax.config.values["jax_compilation_cache_dir"] == str(cpu)
        assert jax.config.values["jax_persistent_cache_min_compile_time_secs"] == backend.JAX_CACHE_SECONDS
        assert jax.config.values["jax_compilation_cache_max_size"] == backend.JAX_CACHE_BYTES
        jax.config.update("jax_compilation_cache_dir", None)
        assert backend.keep_compilations("cpu") == cpu                       # the same machine, the same folder
        jax.config.update("jax_compilation_cache_dir", None)
        assert backend.keep_compilations("gpu") != cpu                       # GPU programs kept apart
        jax.config.update("jax_compilation_cache_dir", str(tmp_path / "mine"))     # the user's folder wins
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 5.0)
        jax.config.update("jax_compilation_cache_max_size", -1)
        assert backend.keep_compilations("cpu") == tmp_path / "mine"
        assert jax.config.values["jax_persistent_cache_min_compile_time_secs"] == 5.0
        assert jax.config.values["jax_compilation_cache_max_size"] == -1
        jax.config.update("jax_enable_compilation_cache", False)            # JAX_ENABLE_COMPILATION_CACHE=false
        assert backend.keep_compilations("cpu") is None
    finally:
        for k, v in saved.items():
            jax.config.update(k, v)
