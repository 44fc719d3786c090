"""The on-device feed (JAX): the training arrays held on the device give the same batches as the host feed, shown by
training from the same seed both ways and getting bit-identical weights (JAX on the CPU here; on a GPU the device is
the GPU)."""
import importlib.util
import os
import subprocess
import sys

import pytest

from tests.conftest import HIDE_TENSORFLOW

PROBE = r"""
import numpy as np, keras
from gridlab.datasets import feed

rng = np.random.default_rng(0)
x = rng.integers(0, 255, (203, 6, 6, 1), dtype=np.uint8)
y = rng.integers(0, 3, 203)

def weights(on_device):
    keras.utils.set_random_seed(7)
    model = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Rescaling(1 / 255), keras.layers.Flatten(),
                              keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", steps_per_execution=4)
    data = feed.fit_data(x, y, 16, on_device=on_device)
    kind = type(data["x"]).__module__.split(".")[0]
    model.fit(**data, epochs=2, verbose=0, validation_data=feed.validation_data(x[:50], y[:50], 16, on_device))
    return kind, [w.copy() for w in model.get_weights()]

host_kind, host = weights(False)
device_kind, device = weights(True)
print(host_kind, device_kind, all(np.array_equal(a, b) for a, b in zip(host, device)))
"""


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="needs JAX")
def test_device_feed_gives_the_same_batches_as_the_host_feed():
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    # TensorFlow hidden: on JAX it has no part here, and Keras would import it (3 s) only to seed it
    out = subprocess.run([sys.executable, str(HIDE_TENSORFLOW), "-c", PROBE], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == ["numpy", "jaxlib", "True"]      # host arrays, device arrays, identical weights
