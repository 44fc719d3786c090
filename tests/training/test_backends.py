"""Model and training code use only keras / keras.ops, so other Keras backends work too."""
import importlib.util
import os
import subprocess
import sys

import pytest

SCRIPT = """
import gridlab, keras
run = gridlab.train(data="digits", model="seed001_cnn", epochs=1, limit=200, verbose=False, report=False)
assert keras.backend.backend() == "jax", keras.backend.backend()
print("ok", run.metrics["accuracy"])
"""


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed (pip install jax)")
def test_tiny_train_on_jax(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("ok")
