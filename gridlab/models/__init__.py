"""Models: the zoo (name -> builder), YAML layer lists, and ``build_model`` that puts the data's scaling in front.

Every model gridlab builds is ``Input -> Rescaling (the data's scaling) -> layers -> Dense(softmax)``, so a saved
model takes raw values (uint8 pixels, degrees C) and applies its own preprocessing.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import ModelSpecError, did_you_mean, first_line


def model_names() -> list[str]:
    from .zoo import ZOO

    return list(ZOO)


def build_model(name: str, input_shape, num_classes: int, scaling: dict | None = None,
                input_dtype: str = "float32", dropout: float | None = None):
    """Build a zoo model (or a YAML layer list) for ``input_shape`` (H, W, C) and ``num_classes``.

    >>> build_model("seed001_cnn", (28, 28, 1), 10).count_params()     # doctest: +SKIP
    333526
    """
    import keras

    from .zoo import ZOO

    if name in ZOO:
        inner = ZOO[name].build(tuple(input_shape), num_classes, dropout)
    elif str(name).endswith((".yaml", ".yml")):
        from .spec import build_from_spec, read_spec

        inner = build_from_spec(read_spec(name), name, num_classes)
    else:
        raise ModelSpecError(f"model={name!r}: not a zoo model or a .yaml layer list.{did_you_mean(name, ZOO)} "
                             f"Zoo models: {', '.join(ZOO)}.")
    front = []
    kind = (scaling or {}).get("kind", "none")
    if kind == "per_frame":   # each example to mean 0, std 1 over all its values; no trainable parameters
        front.append(keras.layers.LayerNormalization(axis=[1, 2, 3], center=False, scale=False, epsilon=1e-3,
                                                     name="scaling"))
    elif kind != "none":
        front.append(keras.layers.Rescaling(scaling["scale"], scaling["offset"], name="scaling"))
    label = Path(str(name)).stem
    try:
        return keras.Sequential([keras.Input(tuple(input_shape), dtype=input_dtype, name="input"), *front, *inner],
                                name=label)
    except (ValueError, TypeError) as exc:
        raise ModelSpecError(f"model {name} does not fit inputs of shape {tuple(input_shape)}: "
                             f"{first_line(exc)}") from None


def as_float32(model):
    """A copy of ``model`` whose every layer computes in float32, with the same weights.

    Mixed bfloat16 speeds up training on CPUs with bf16 instructions; predictions, metrics and exports use float32
    so that every runtime (ONNX Runtime, LiteRT, TensorFlow) runs the same arithmetic.
    """
    import keras

    if all(getattr(layer.dtype_policy, "name", "float32") == "float32" for layer in model.layers):
        return model

    def clone(layer):
        return layer.__class__.from_config({**layer.get_config(), "dtype": "float32"})

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def count_params(model) -> int:
    """Trainable + non-trainable weights, as ``model.summary()`` counts them."""
    return int(model.count_params())
