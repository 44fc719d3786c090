"""Run the gridlab command line in a process where TensorFlow cannot be imported (as on a machine with only JAX):
``python tests/without_tensorflow.py train data=digits ...``."""
import sys


class HideTensorFlow:
    """A meta path finder that makes TensorFlow, and the converters that need it, look uninstalled."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "tf2onnx", "tensorboard"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, HideTensorFlow())

from gridlab.cli import run  # noqa: E402

sys.argv = ["gridlab", *sys.argv[1:]]
run()
