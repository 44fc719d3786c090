"""Run gridlab in a process where TensorFlow cannot be imported (as on a machine with only JAX): the command line,
``python tests/without_tensorflow.py train data=digits ...``, or a script, ``python tests/without_tensorflow.py -c
"import gridlab; ..."``."""
import sys


class HideTensorFlow:
    """A meta path finder that makes TensorFlow, and the converters that need it, look uninstalled."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "tf2onnx", "tensorboard"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, HideTensorFlow())

if sys.argv[1:2] == ["-c"]:
    exec(compile(sys.argv[2], "<script>", "exec"), {"__name__": "__main__"})
else:
    from gridlab.cli import run

    sys.argv = ["gridlab", *sys.argv[1:]]
    run()
