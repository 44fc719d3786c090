"""Running an exported model in its own runtime: ONNX Runtime, the LiteRT interpreter, TensorFlow for SavedModel,
Keras for ``.keras``. Each runner takes raw inputs (N, H, W, C) of the run's dtype and returns probabilities."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .datasets import feed
from .errors import GridlabError
from .runs import EXPORT_SUFFIX

FORMATS = tuple(EXPORT_SUFFIX)
ONNX_CHUNK = 1024       # rows per ONNX Runtime call: 10,000 Fashion-MNIST arrays took 0.30 s in one call and 0.22 s
                        # in calls of 1,024 (its intermediate maps stay in the cache), on the 2-core Intel Xeon


def load_runner(fmt: str, path: str | Path, all_outputs: bool = False):
    """A function from raw inputs to the model's output (``all_outputs``: the list of every output; ONNX only)."""
    path = str(path)
    if fmt == "onnx":
        try:
            import onnxruntime as ort
        except ImportError:
            raise GridlabError("ONNX Runtime is not installed. Install it with: "
                               "pip install 'gridlab[export]'") from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = 0
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name

        def run(x):
            if len(x) <= ONNX_CHUNK:
                return session.run(None, {name: x})
            parts = [session.run(None, {name: x[lo:lo + ONNX_CHUNK]}) for lo in range(0, len(x), ONNX_CHUNK)]
            return [np.concatenate(outputs) for outputs in zip(*parts)]
        return run if all_outputs else (lambda x: run(x)[0])
    if fmt == "litert":
        import warnings

        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            import tensorflow as tf

            Interpreter = tf.lite.Interpreter
        with warnings.catch_warnings():     # TensorFlow's copy says it is deprecated in favour of ai_edge_litert
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
            interpreter = Interpreter(model_path=path)
        inp = interpreter.get_input_details()[0]
        out = interpreter.get_output_details()[0]

        def run(x):
            interpreter.resize_tensor_input(inp["index"], list(x.shape))
            interpreter.allocate_tensors()
            interpreter.set_tensor(inp["index"], x)
            interpreter.invoke()
            return interpreter.get_tensor(out["index"]).copy()

        return run
    if fmt == "saved_model":
        import tensorflow as tf

        fn = tf.saved_model.load(path).signatures["serving_default"]
        return lambda x: next(iter(fn(tf.constant(x)).values())).numpy()
    if fmt == "keras":
        from .models.io import load_model

        model = load_model(path)
        return lambda x: feed.predict(model, x)
    raise GridlabError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}.")


def run_batched(runner, x: np.ndarray, batch: int = 1024) -> np.ndarray:
    return np.concatenate([np.asarray(runner(x[i:i + batch]), dtype=np.float64) for i in range(0, len(x), batch)])
