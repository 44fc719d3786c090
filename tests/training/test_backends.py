"""Model, training and saliency code use only keras / keras.ops (and the backend's own gradient), so other Keras
backends work too."""
import importlib.util
import os
import subprocess
import sys

import pytest

SCRIPT = """
import gridlab, keras
run = gridlab.train(data="digits", model="seed001_cnn", epochs=1, limit=200, verbose=False, report=False)
assert keras.backend.backend() == "jax", keras.backend.backend()
x = gridlab.load_dataset(data="digits").x_test[:3]
for method in ("gradcam", "occlusion", "integrated_gradients"):
    s = gridlab.explain(run.folder, x, method=method, steps=4)
    assert s.maps.shape == (3, 8, 8) and abs(float(s.maps.max()) - 1.0) < 1e-6, (method, s.maps.max())
print("ok", run.metrics["accuracy"])
"""


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed (pip install jax)")
def test_tiny_train_and_explain_on_jax(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("ok")
