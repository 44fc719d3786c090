"""Temperature scaling inside the model: the output layer's weights divided by T, so the saved file (and every
export of it) gives calibrated probabilities with no extra layer, and the argmax never changes.

Every gridlab model ends in ``Dense(softmax)``; a test-time-view model (``tta=true``) averages several such outputs
(its ``body`` on the image, its mirror image and their moved copies), and ``views`` returns them so the temperature
is fitted on what the model really averages.
"""
from __future__ import annotations

import numpy as np

from ..errors import ModelSpecError

FLIP_LAYER = "test_time_flip"   # the averaging layer; its name predates the six views, so older models still match


def shared_body(model):
    """The network a test-time-view model applies to every view (its ``body``), or None for a plain model."""
    return model.get_layer("body") if FLIP_LAYER in {layer.name for layer in model.layers} else None


def output_layer(model):
    """The final ``Dense(softmax)`` layer whose weights carry the temperature."""
    import keras

    body = shared_body(model)
    last = body.layers[-1] if body is not None else model.layers[-1]
    activation = getattr(getattr(last, "activation", None), "__name__", "")
    if not isinstance(last, keras.layers.Dense) or activation != "softmax":
        raise ModelSpecError(f"model {model.name}: temperature scaling needs a final Dense(softmax) layer, found "
                             f"{type(last).__name__} ({activation or 'no activation'}). Use calibrate=false.")
    return last


def views(model, x: np.ndarray, batch: int = 1024) -> list[np.ndarray]:
    """The probabilities the model's output averages: ``[model(x)]``, or the views a test-time-view model averages
    (the unmoved two twice: their weight)."""
    import keras

    from ..datasets import feed

    if FLIP_LAYER not in {layer.name for layer in model.layers}:
        return [np.asarray(feed.predict(model, x, batch), dtype=np.float64)]
    probe = keras.Model(model.inputs, model.get_layer(FLIP_LAYER).input)
    return [np.asarray(v, dtype=np.float64) for v in probe.predict(x, batch_size=batch, verbose=0)]


def set_temperature(model, temperature: float) -> None:
    """Divide the output layer's kernel and bias by ``temperature`` (in place): ``softmax(z / T)``."""
    layer = output_layer(model)
    layer.set_weights([w / np.asarray(temperature, dtype=w.dtype) for w in layer.get_weights()])
