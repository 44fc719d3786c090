"""Custom architectures from a YAML layer list, validated before anything is built.

```yaml
layers:                       # input and scaling are added in front, the softmax output layer at the end
  - Conv2D: {filters: 16, kernel_size: 3, activation: relu}
  - MaxPooling2D: {pool_size: 2}
  - Flatten: {}
  - Dense: {units: 64, activation: relu}
```
Only the layer classes in ``ALLOWED`` may appear, and only arguments their constructor accepts.
"""
from __future__ import annotations

import inspect
from pathlib import Path

import yaml

from ..errors import ModelSpecError, did_you_mean, first_line

ALLOWED = ("Conv1D", "Conv2D", "SeparableConv2D", "DepthwiseConv2D", "MaxPooling2D", "AveragePooling2D",
           "GlobalAveragePooling2D", "GlobalMaxPooling2D", "Flatten", "Dense", "Dropout", "SpatialDropout2D",
           "BatchNormalization", "LayerNormalization", "Activation", "ReLU", "Reshape", "ZeroPadding2D",
           "UpSampling2D", "GaussianNoise", "RandomFlip", "RandomTranslation", "RandomRotation", "RandomZoom")


def read_spec(path: str | Path) -> list[tuple[str, dict]]:
    """Parse and check a YAML layer list; returns ``[(class_name, kwargs), …]``."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelSpecError(f"{path}: cannot be read ({exc.strerror}). Check the model= path.") from None
    except yaml.YAMLError as exc:
        raise ModelSpecError(f"{path}: not valid YAML ({first_line(exc)}). Fix its syntax.") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("layers"), list) or not doc["layers"]:
        raise ModelSpecError(f"{path}: expected a mapping with a non-empty 'layers:' list, received "
                             f"{type(doc).__name__}. See `gridlab models --help` for an example.")
    out = []
    for i, item in enumerate(doc["layers"], start=1):
        if isinstance(item, str):
            item = {item: {}}
        if not isinstance(item, dict) or len(item) != 1:
            raise ModelSpecError(f"{path}: layer {i}: expected one 'Name: {{args}}' entry, received {item!r}.")
        (name, kwargs), = item.items()
        kwargs = kwargs or {}
        if name not in ALLOWED:
            raise ModelSpecError(f"{path}: layer {i}: unknown layer {name!r}.{did_you_mean(name, ALLOWED)} "
                                 f"Allowed: {', '.join(ALLOWED)}.")
        if not isinstance(kwargs, dict):
            raise ModelSpecError(f"{path}: layer {i} ({name}): expected a mapping of arguments, received {kwargs!r}.")
        accepted = _arguments(name)
        for key in kwargs:
            if key not in accepted:
                raise ModelSpecError(f"{path}: layer {i} ({name}): unknown argument {key!r}."
                                     f"{did_you_mean(key, accepted)}")
        out.append((name, kwargs))
    return out


def _arguments(name: str) -> list[str]:
    import keras

    cls = getattr(keras.layers, name)
    params = inspect.signature(cls.__init__).parameters
    base = ("name", "dtype", "trainable")
    return [p for p in params if p not in ("self", "args", "kwargs")] + list(base)


def build_from_spec(spec: list[tuple[str, dict]], path: str, n_classes: int) -> list:
    import keras

    built = []
    for i, (name, kwargs) in enumerate(spec, start=1):
        try:
            built.append(getattr(keras.layers, name)(**kwargs))
        except (TypeError, ValueError) as exc:
            raise ModelSpecError(f"{path}: layer {i} ({name}): {exc}") from None
    # float32 even under mixed precision, as the zoo's output layers: probabilities keep full precision
    return built + [keras.layers.Dense(n_classes, activation="softmax", dtype="float32", name="output")]
