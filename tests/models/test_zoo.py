import subprocess
import sys

import pytest

from gridlab.errors import ModelSpecError
from gridlab.models import build_model
from gridlab.models.zoo import ZOO


@pytest.mark.parametrize("name", [n for n, e in ZOO.items() if e.seed_params])
def test_seed_parameter_counts(name):
    entry = ZOO[name]
    classes = 2 if name == "seed004_mlp" else 10
    scaling = {"kind": "divide255", "scale": 1 / 255, "offset": 0.0}
    assert build_model(name, entry.seed_input, classes, scaling, "uint8").count_params() == entry.seed_params


def test_seed003_dropout_layer():
    kinds = [type(layer).__name__ for layer in build_model("seed003_mlp", (28, 28, 1), 10, dropout=0.3).layers]
    assert kinds == ["Flatten", "Dense", "Dropout", "Dense"]


@pytest.mark.parametrize("shape", [(8, 8, 1), (28, 28, 3), (110, 120, 1)])
@pytest.mark.parametrize("name", list(ZOO))
def test_every_model_adapts(name, shape):
    model = build_model(name, shape, 3)
    assert tuple(model.outputs[0].shape) == (None, 3)


def test_model_names_are_checked_without_importing_keras():
    """A mistyped model= is refused at once: the zoo's names need no Keras (whose import takes TensorFlow's 4 s)."""
    probe = ("import sys\nfrom gridlab.errors import ModelSpecError\nfrom gridlab.models import check_model_name\n"
             "check_model_name('gridlab_fast')\ncheck_model_name('sklearn_logistic')\n"
             "try:\n    check_model_name('seed001_cn')\nexcept ModelSpecError as e:\n    print(e)\n"
             "print(sorted(m for m in ('keras', 'tensorflow', 'jax') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines()[-1] == "[]" and 'Did you mean "seed001_cnn"?' in out.stdout


def test_unknown_model_suggests():
    with pytest.raises(ModelSpecError, match=r"Did you mean \"seed001_cnn\"\?"):
        build_model("seed01_cnn", (8, 8, 1), 2)


@pytest.mark.parametrize("name", ["gridlab_fast", "gridlab_deep", "gridlab_cnn"])
def test_batch_norm_stays_float32_under_mixed_bfloat16(name):
    """bf16 batch norm is the slow path on CPUs; gridlab's models keep its statistics in float32."""
    import keras

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build_model(name, (28, 28, 1), 10)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert norms and all(layer.compute_dtype == "float32" for layer in norms)
    assert all(layer.compute_dtype == "bfloat16" for layer in convs)
