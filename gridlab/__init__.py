"""gridlab: folders of small grid-shaped data -> a trained, evaluated, explained classifier.

The package follows the data: sources -> datasets -> models -> training -> evaluation -> prediction -> serving
(docs/architecture.md). Heavy libraries (Keras, TensorFlow, JAX) are imported only when a function needs them, so
``import gridlab`` is fast.

>>> import gridlab
>>> run = gridlab.train(data="digits", epochs=1, verbose=False)       # doctest: +SKIP
>>> gridlab.predict(run.folder, ["digit.png"])                         # doctest: +SKIP
"""
from __future__ import annotations

from . import hardware

# The one change ``import gridlab`` makes to the process: TF_ENABLE_ONEDNN_OPTS=1 on x86 CPUs when the user has not
# set it (it must be decided before TensorFlow is imported; see gridlab.hardware). The Keras backend and the device
# are chosen when a model is built, trained or loaded (gridlab.backend), and never left in the environment.
hardware.configure()

from .config import load_config  # noqa: E402
from .datasets import load_dataset  # noqa: E402
from .errors import (  # noqa: E402
    ConfigError,
    DataFormatError,
    DataNotFoundError,
    GridlabError,
    ModelSpecError,
    RunError,
    TrainingError,
    UnsafeModelError,
)
from .evaluation import evaluate, rebuild_report  # noqa: E402
from .evaluation.explain import explain  # noqa: E402
from .models import build_model  # noqa: E402
from .prediction import Predictor, predict  # noqa: E402
from .runs import load_run  # noqa: E402
from .training.crossval import audit  # noqa: E402
from .training.fit import train  # noqa: E402
from .version import __version__  # noqa: E402,F401  (gridlab.__version__)

__all__ = ["load_config", "load_dataset", "build_model", "train", "load_run", "evaluate", "rebuild_report", "predict",
           "explain", "audit",
           "Predictor", "GridlabError", "ConfigError", "DataFormatError", "DataNotFoundError", "ModelSpecError",
           "RunError", "TrainingError", "UnsafeModelError", "__version__"]
