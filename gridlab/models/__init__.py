"""Models: the zoo (name -> builder), YAML layer lists, and ``build_model`` that puts the data's scaling in front.

Every model gridlab builds is ``Input -> Rescaling (the data's scaling) -> layers -> Dense(softmax)``, so a saved
model takes raw values (uint8 pixels, degrees C) and applies its own preprocessing.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

from ..errors import ModelSpecError, did_you_mean, first_line


@contextlib.contextmanager
def precision(policy: str):
    """Build and train under Keras' dtype ``policy`` (``float32`` or ``mixed_bfloat16``); the policy the caller had
    is restored afterwards, whatever happens inside.

    >>> with precision("mixed_bfloat16"):                              # doctest: +SKIP
    ...     model = build_model("gridlab_fast", (28, 28, 1), 10)
    """
    import keras

    before = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(before)


# Models that scikit-learn fits (training.linear), saved as the equivalent zoo model: name -> what it is. Here, not in
# zoo.py, so that the names are known without importing Keras (the backend is chosen before Keras is imported).
SKLEARN = {"sklearn_logistic": "scikit-learn LogisticRegression (multinomial, L2, lbfgs) on the scaled pixels; "
                               "max_iter = 10 x epochs (at least 100)"}


def model_names() -> list[str]:
    from .zoo import ZOO

    return list(ZOO)


def check_model_name(name, device: str | None = None) -> None:
    """A ModelSpecError unless ``name`` is a zoo model, a scikit-learn model or a ``.yaml`` layer list that exists
    and parses. ``train``, ``sweep`` and the server's config check call it before anything is written. A zoo or
    scikit-learn name is checked without importing Keras; a layer list's check imports it, on the backend that
    ``device`` (the run's ``device=``, None: the choice already made) decides."""
    from .zoo import ZOO  # its names; Keras is imported when a builder runs

    if name in SKLEARN or name in ZOO:
        return
    if str(name).endswith((".yaml", ".yml")):
        if not Path(str(name)).is_file():
            raise ModelSpecError(f"model={name}: no such layer-list file. Check the path.")
        from ..backend import use
        from .spec import read_spec

        use(device)
        read_spec(name)       # the layers' arguments are checked against Keras' own signatures
        return
    known = [*ZOO, *SKLEARN]
    raise ModelSpecError(f"model={name!r}: not a zoo model or a .yaml layer list.{did_you_mean(name, known)} "
                         f"Models: {', '.join(known)}.")


def build_model(name: str, input_shape, num_classes: int, scaling: dict | None = None,
                input_dtype: str = "float32", dropout: float | None = None, whiten: bool = False):
    """Build a zoo model (or a YAML layer list) for ``input_shape`` (H, W, C) and ``num_classes``. With ``whiten``
    the first convolution is a frozen whitening layer, which ``whitening.fill`` sets from training data (a model
    with no square, stride-1 convolution is built without one).

    >>> build_model("seed001_cnn", (28, 28, 1), 10).count_params()     # doctest: +SKIP
    333526
    """
    from ..backend import use

    use()
    import keras

    from .zoo import ZOO

    if name in ZOO:
        inner = ZOO[name].build(tuple(input_shape), num_classes, dropout)
    elif str(name).endswith((".yaml", ".yml")):
        from .spec import build_from_spec, read_spec

        inner = build_from_spec(read_spec(name), name, num_classes)
    else:
        check_model_name(name)
    if whiten:
        from .whitening import replace_first_convolution

        inner = replace_first_convolution(inner, input_shape[-1])
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


def for_inference(model):
    """The model as it predicts: without augmentation layers, in float32 (``as_float32``), and with no compile
    state, so the saved file holds the network alone (no optimizer, loss or steps-per-execution: predictions run
    one batch per call, and loading never meets a training-only class). Always a new model; the weights are
    copied, so later changes to it (the temperature) leave the training model alone."""
    from ..scopes import keep_random_state

    with keep_random_state():     # building layers draws their initial weights' seeds from Python's random stream
        inference = as_float32(without_augmentation(model))
        copy = type(inference).from_config(inference.get_config())     # clone_model would keep the compile state
    copy.set_weights(inference.get_weights())
    return copy


def _split_at_scaling(model) -> tuple[list, list]:
    """(the scaling layer, if any, as a list; every layer after it) of a model ``build_model`` made."""
    layers = list(model.layers)
    cut = 1 if layers and layers[0].name == "scaling" else 0
    return layers[:cut], layers[cut:]


def _sequential_like(model, layers):
    """A Sequential with ``model``'s input and name over ``layers`` (shared, so the weights are the same)."""
    import keras

    inp = model.inputs[0]
    return keras.Sequential([keras.Input(tuple(inp.shape[1:]), dtype=inp.dtype, name="input"), *layers],
                            name=model.name)


def with_augmentation(model, shift: float):
    """``model`` with random shifts (up to ``shift`` of height and width; none when 0) and horizontal flips right
    after its scaling layer. Keras applies them only while training."""
    import keras

    front, rest = _split_at_scaling(model)
    augment = ([keras.layers.RandomTranslation(shift, shift, fill_mode="constant")] if shift else []) + [
        keras.layers.RandomFlip("horizontal")]
    return _sequential_like(model, [*front, *augment, *rest])


def without_augmentation(model):
    """``model`` without its random augmentation layers (they do nothing at inference, but exporters would have
    to carry their random ops), sharing the same weights."""
    keep = [layer for layer in model.layers if not type(layer).__name__.startswith("Random")]
    return model if len(keep) == len(model.layers) else _sequential_like(model, keep)


def with_test_time_views(model):
    """``model`` wrapped so that it averages its softmax over six views of each input (one shared network): the
    image and its mirror image (left-right), and both of these moved one pixel down-right and one pixel up-left
    (zero fill, as the training shifts fill). The unmoved pair weighs 1/2 and each moved pair 1/4, as airbench
    weighs its views; on Fashion-MNIST this measured better than the mirror pair alone (docs/benchmarks.md, "Design
    probes"). Used after training with flip-and-shift augmentation (``tta=true``).

    Built from standard Keras layers only, so the safe loader and every export runtime take it: the mirror image is
    ``Permute -> Dense(width) with an exchange matrix -> Permute``, exact in float32 (each output is one input
    times 1.0), and a move is ``ZeroPadding2D -> Cropping2D``. It is applied after the scaling layer, on float
    values. The averaging layer's inputs are the views' softmax outputs, the unmoved two listed twice (their
    weight), which ``temperature.views`` reads.
    """
    import keras
    import numpy as np

    front, rest = _split_at_scaling(model)
    shape = tuple(model.inputs[0].shape[1:])
    width = shape[1]
    x = keras.Input(shape, dtype=model.inputs[0].dtype, name="input")
    scaled = x
    for layer in front:
        scaled = layer(scaled)
    scaled = keras.layers.Activation("linear", dtype="float32", name="as_float")(scaled)  # uint8 input, no scaling
    body = keras.Sequential([keras.Input(shape, name="scaled"), *rest], name="body")
    swap = keras.layers.Dense(width, use_bias=False, trainable=False, name="exchange", dtype="float32")
    mirror = keras.Sequential([keras.Input(shape), keras.layers.Permute((1, 3, 2), dtype="float32"), swap,
                               keras.layers.Permute((1, 3, 2), dtype="float32")], name="mirror")
    swap.set_weights([np.eye(width, dtype="float32")[::-1]])
    head, tail = ((1, 0), (1, 0)), ((0, 1), (0, 1))
    moves = [keras.Sequential([keras.Input(shape), keras.layers.ZeroPadding2D(pad, dtype="float32"),
                               keras.layers.Cropping2D(crop, dtype="float32")], name=name)
             for name, pad, crop in (("down_right", head, tail), ("up_left", tail, head))]
    flipped = mirror(scaled)
    centre = [body(scaled), body(flipped)]
    moved = [body(move(view)) for move in moves for view in (scaled, flipped)]   # moved after the mirror:
    # the views of an image's mirror image are then the image's own views, so the prediction is mirror-symmetric
    out = keras.layers.Average(name="test_time_flip", dtype="float32")([*centre, *centre, *moved])
    return keras.Model(x, out, name=model.name)
