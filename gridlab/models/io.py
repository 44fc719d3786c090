"""Saving models (atomically), and loading them safely. A ``.keras`` file is a zip holding ``config.json`` and
weights; before Keras sees it, gridlab checks member sizes (zip bombs) and that every layer class in the config is one
gridlab builds. Keras' safe mode stays on, so a Lambda layer's bytecode is never run; ``.h5`` files are refused
outright."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

from ..errors import RunError, UnsafeModelError, first_line
from ..files import atomic_path, zip_bomb

MAX_CONFIG_BYTES = 16 << 20
ALLOWED_CLASSES = {
    "Sequential", "Functional", "InputLayer", "Rescaling", "Conv1D", "Conv2D", "SeparableConv2D",
    "DepthwiseConv2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Flatten",
    "Dense", "Dropout", "SpatialDropout2D", "BatchNormalization", "LayerNormalization", "Activation", "ReLU",
    "Reshape", "ZeroPadding2D", "UpSampling2D", "GaussianNoise", "RandomFlip", "RandomTranslation",
    "RandomRotation", "RandomZoom", "Permute", "Average", "Cropping2D",
    "__keras_tensor__",   # a reference to a layer's output inside a functional model's config (data, not code)
    # compile objects stored with a training checkpoint (the optimizers: ``optimizer_classes``)
    "CosineDecay", "SparseCategoricalCrossentropy", "CategoricalCrossentropy",
    "SparseCategoricalAccuracy", "CategoricalAccuracy", "Mean", "DTypePolicy", "FloatDTypePolicy",
    "GlorotUniform", "Zeros", "Ones", "HeNormal", "HeUniform", "Constant", "RandomNormal", "RandomUniform",
    "L2", "L1", "L1L2", "LossScaleOptimizer",
}
ALLOWED_MODULES = ("keras", "keras.layers", "keras.src", "keras.optimizers", "keras.losses", "keras.metrics",
                   "keras.initializers", "keras.regularizers", "keras.models", "keras.optimizers.schedules")


def optimizer_class(name: str):
    """Keras' optimizer class for an ``optimizer`` choice of ``default.yaml`` (``adagrad`` -> ``Adagrad``), through
    Keras' own name table. Training builds its optimizer with it, and ``check_archive`` allows exactly these
    classes, so the two lists cannot drift apart."""
    import keras

    return type(keras.optimizers.get(name))


def optimizer_classes() -> set[str]:
    """The class names of every optimizer ``default.yaml`` offers, which a training checkpoint may hold."""
    from ..config import SPECS

    return {optimizer_class(name).__name__ for name in SPECS["optimizer"].choices}


def check_archive(path: str | Path) -> None:
    """Refuse a model file gridlab would not build itself. Raises ``UnsafeModelError`` naming the reason."""
    path = Path(path)
    if not path.is_file():
        raise RunError(f"{path}: no such model file. Check the path; in a run folder, restore it or train the run "
                       "again.")
    if path.suffix.lower() in (".h5", ".hdf5"):
        raise UnsafeModelError(f"{path}: .h5 model files are refused: their loader has run code from crafted "
                               "files. Re-save the model as .keras from a trusted copy.")
    try:
        with zipfile.ZipFile(path) as zf:
            bomb = zip_bomb(zf)
            if bomb:
                raise UnsafeModelError(f"{path}: {bomb}; refused as a possible zip bomb.")
            info = zf.getinfo("config.json")
            if info.file_size > MAX_CONFIG_BYTES:
                raise UnsafeModelError(f"{path}: config.json is {info.file_size:,} bytes; at most "
                                       f"{MAX_CONFIG_BYTES:,} are allowed.")
            config = json.loads(zf.read("config.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise UnsafeModelError(f"{path}: expected a .keras archive with config.json, received something else "
                               f"({exc}). Train or export the model with gridlab.") from None
    _walk(path, config, ALLOWED_CLASSES | optimizer_classes())


def _walk(path: Path, node, allowed) -> None:
    if isinstance(node, dict):
        if "class_name" in node and "config" in node:
            name, module = node["class_name"], node.get("module") or "keras"
            registered = node.get("registered_name")
            if name == "Lambda" or name not in allowed:
                raise UnsafeModelError(f"{path}: layer or object class {name!r} is not one gridlab builds; "
                                       "refused so that no code from the file can run. Lambda and custom "
                                       "classes are never loaded.")
            if not str(module).startswith(ALLOWED_MODULES) or (registered and "." in str(registered)
                                                                and not str(registered).startswith("keras")):
                raise UnsafeModelError(f"{path}: {name} names module {module!r}; only Keras' own modules are "
                                       "allowed.")
        for key, value in node.items():
            if key in ("function", "fn") and value:
                raise UnsafeModelError(f"{path}: the config holds a function ({key}); refused.")
            _walk(path, value, allowed)
    elif isinstance(node, list):
        for value in node:
            _walk(path, value, allowed)


def save_model(model, path: Path) -> None:
    """``model.save`` to a temporary ``.keras`` beside ``path``, then rename; on JAX without importing TensorFlow
    (``backend.tensorflow_unasked``)."""
    from ..backend import tensorflow_unasked

    with atomic_path(path, suffix=".keras") as tmp, tensorflow_unasked():
        model.save(tmp)


def load_model(path: str | Path, compile: bool = False):
    """Load a ``.keras`` model after ``check_archive``, with Keras safe mode on (on the backend ``backend.use``
    picks when Keras is not loaded yet)."""
    from ..backend import use

    use()
    import keras

    check_archive(path)
    try:
        return keras.saving.load_model(path, compile=compile, safe_mode=True)
    except Exception as exc:  # Keras raises many types for bad archives; report them in one line
        raise UnsafeModelError(f"{path}: cannot be loaded ({first_line(exc, with_type=True)}).") \
            from None
