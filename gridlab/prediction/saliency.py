"""Saliency: which parts of an input a prediction rests on, as one map per input in [0, 1] of the input's height
and width.

- ``gradcam`` (Selvaraju et al. 2017), for models with convolutions: the last feature map of the model (the last
  layer whose output still has height and width) weighted by the mean gradient of the class's logit, ReLU, resized
  to the input. One forward and one backward pass per batch.
- ``occlusion`` (Zeiler and Fergus 2014), for any model (MLPs, YAML layer lists): how much the class's probability
  drops when each patch of the input is replaced by the input's mean value. Forward passes only.
- ``integrated_gradients`` (Sundararajan et al. 2017), for any differentiable model: the gradient of the class's
  log-probability averaged along the straight path from a baseline to the input, times (input - baseline), summed
  over channels in absolute value. ``steps`` forward and backward passes per input. On small images its maps follow
  the input's brightness more than the model: they barely change when the model's weights are randomized (the
  sanity check of Adebayo et al. 2018, measured in docs/benchmarks.md), so ``auto`` does not pick it.
- ``auto``: Grad-CAM where the model has a feature map, occlusion otherwise.

The baseline of integrated gradients is a constant at the input's own minimum (black for images, the coldest value
of a sensor frame).

Gradients come from the Keras backend in use (TensorFlow's ``GradientTape``, ``jax.grad`` or torch's autograd); the
model itself runs as Keras layers, so the same code serves every backend. On JAX the layers and their gradients run
as compiled programs, made once per model (``_program``): eagerly, JAX compiled each operation on its own. A
test-time-flip model is explained on the unflipped view (its ``body``). Maps are normalized per input (its largest
value is 1).
"""
from __future__ import annotations

import dataclasses
import weakref

import numpy as np

from ..config import SPECS
from ..errors import ConfigError

METHODS = tuple(c for c in SPECS["explain_method"].choices if c != "none")    # default.yaml's, but "none"


@dataclasses.dataclass
class Saliency:
    """Maps (N, H, W) in [0, 1] for the ``classes`` (N,) they explain, made by ``method``."""
    maps: np.ndarray
    classes: np.ndarray
    method: str

    def __len__(self) -> int:
        return len(self.maps)


def _chain(model) -> list:
    """The model as a list of layers applied one after another: scaling, the body, the softmax output."""
    from ..models.temperature import shared_body

    body = shared_body(model)
    if body is not None:
        front = [layer for layer in model.layers if layer.name in ("scaling", "as_float")]
        return front + list(body.layers)
    return [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]


def _logits(layer, h):
    """The output layer's pre-softmax values: ``h @ kernel + bias`` of the final ``Dense(softmax)``."""
    from keras import ops

    z = ops.matmul(h, ops.cast(layer.kernel, h.dtype))
    return z + ops.cast(layer.bias, h.dtype) if layer.use_bias else z


def _forward(layers, h):
    for layer in layers:
        h = layer(h, training=False)
    return h


# model -> {name: its function}: what ``_program`` made for a model, kept while the model lives (the functions hold
# its layers, not the model itself)
_PROGRAMS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _program(model, name: str, fn, layers):
    """``fn`` (arrays -> array), which runs ``layers`` of ``model``, as the Keras backend in use runs it best. On JAX,
    one compiled program with the layers' weights passed in (read at each call, so a model trained further is
    explained as it is now), made once per model and ``name``: run eagerly, JAX compiles every operation of the
    forward and backward pass on its own, at every new batch size, which took seconds (``bench/explain_jax.py``).
    A later call with the same model and ``name`` gets the program made from the first call's ``fn``: the name must
    say everything ``fn`` depends on beyond its arguments (the feature layer's index, for Grad-CAM).
    TensorFlow and torch run it eagerly as it is."""
    import keras

    if keras.backend.backend() != "jax":
        return fn
    kept = _PROGRAMS.setdefault(model, {})
    if name not in kept:
        import jax

        variables = list({id(v): v for layer in layers for v in layer.variables}.values())

        def stateless(values, *args):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return fn(*args)

        compiled = jax.jit(stateless)
        kept[name] = lambda *args: compiled([v.value for v in variables], *args)
    return kept[name]


def _gradient(f, t, *args, model, name: str, layers):
    """d sum(f(t, *args)) / d t on the active Keras backend; ``f`` returns one value per example. On JAX the
    gradient is one compiled program for ``model`` (``_program``: ``name`` and the ``layers`` ``f`` runs)."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        t = tf.convert_to_tensor(t)
        with tf.GradientTape() as tape:
            tape.watch(t)
            value = tf.reduce_sum(f(t, *args))
        return np.asarray(tape.gradient(value, t))
    if backend == "jax":
        import jax

        grad = jax.grad(lambda u, *rest: keras.ops.sum(f(u, *rest)))
        return np.asarray(_program(model, name, grad, layers)(keras.ops.convert_to_tensor(t), *args))
    if backend == "torch":
        import torch

        t = torch.as_tensor(np.asarray(t)).requires_grad_(True)
        f(t, *args).sum().backward()
        return t.grad.detach().cpu().numpy()
    raise ConfigError(f"saliency needs gradients; the Keras backend {backend!r} is not one of tensorflow, jax, "
                      "torch. Set KERAS_BACKEND to one of them.")


def _pick(values, classes):
    from keras import ops

    return ops.take_along_axis(values, ops.reshape(ops.cast(classes, "int32"), (-1, 1)), axis=1)[:, 0]


def feature_layer(model) -> int | None:
    """Index in ``_chain(model)`` of the last layer, after a convolution, whose output keeps height and width (at
    least 2x2): Grad-CAM's feature map. None for models without convolutions."""
    import keras

    # shapes alone, worked out without computing anything (on JAX, running the layers compiled each operation)
    h = keras.KerasTensor((1, *model.inputs[0].shape[1:]), dtype="float32")
    found, convolved = None, False
    for i, layer in enumerate(_chain(model)[:-1]):
        h = layer.compute_output_spec(h)
        convolved = convolved or "Conv" in type(layer).__name__
        if convolved and len(h.shape) == 4 and h.shape[1] >= 2 and h.shape[2] >= 2:
            found = i
    return found


def choose_method(model, method: str = "auto") -> str:
    """``auto`` -> gradcam where the model has a feature map, else occlusion; others checked."""
    if method not in METHODS:
        raise ConfigError(f"explain method {method!r} is not one of {', '.join(METHODS)}.")
    if method == "auto":
        return "gradcam" if feature_layer(model) is not None else "occlusion"
    if method == "gradcam" and feature_layer(model) is None:
        raise ConfigError(f"model {model.name} has no convolutional feature map for Grad-CAM; use "
                          "explain_method=occlusion (works for any model).")
    return method


def _resize(maps: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from keras import ops

    if maps.shape[1:3] == tuple(size):
        return maps
    return np.asarray(ops.image.resize(maps[..., None].astype("float32"), size, interpolation="bilinear"))[..., 0]


def _normalize(maps: np.ndarray) -> np.ndarray:
    top = maps.reshape(len(maps), -1).max(axis=1) if len(maps) else np.zeros(0)
    return (maps / np.where(top > 0, top, 1.0)[:, None, None]).astype(np.float32)


def gradcam(model, x: np.ndarray, classes: np.ndarray, layer: int | None = None) -> np.ndarray:
    """Grad-CAM maps (N, H, W) in [0, 1] for ``classes``; ``layer``: ``feature_layer(model)``, when known."""
    from keras import ops

    layers, k = _chain(model), feature_layer(model) if layer is None else layer
    front = layers[:k + 1]
    features = _program(model, f"features {k}", lambda h: _forward(front, h), front)(
        ops.convert_to_tensor(np.asarray(x, dtype=np.float32)))
    head, out = layers[k + 1:-1], layers[-1]
    grads = _gradient(lambda a, c: _pick(_logits(out, _forward(head, a)), c), features, classes.astype(np.int32),
                      model=model, name=f"gradcam {k}", layers=layers[k + 1:])
    a = np.asarray(features, dtype=np.float32)
    signed = (a * grads.mean(axis=(1, 2), keepdims=True)).sum(axis=-1)
    cam = np.maximum(signed, 0.0)
    # a class the model recognises by what is absent (no feature speaks for it, some speak against the others)
    # has no positive evidence at all: show where the evidence is, for or against, rather than a blank map
    blank = cam.reshape(len(cam), -1).max(axis=1) <= 0
    cam[blank] = np.abs(signed[blank])
    return _normalize(_resize(cam, tuple(x.shape[1:3])))


def integrated_gradients(model, x: np.ndarray, classes: np.ndarray, steps: int = 32) -> np.ndarray:
    """Integrated-gradients maps (N, H, W) in [0, 1] for ``classes`` (see the module docstring)."""
    layers = _chain(model)
    x = np.asarray(x, dtype=np.float32)
    baseline = np.broadcast_to(x.reshape(len(x), -1).min(axis=1).reshape(-1, *([1] * (x.ndim - 1))), x.shape)
    alphas = ((np.arange(steps) + 0.5) / steps).astype(np.float32).reshape(-1, *([1] * (x.ndim - 1)))
    out = []
    for i in range(len(x)):
        path = baseline[i] + alphas * (x[i] - baseline[i])             # (steps, H, W, C)
        grads = _gradient(lambda t, c: _pick(_log_softmax(_logits(layers[-1], _forward(layers[:-1], t))), c),
                          path, np.full(steps, classes[i], np.int32), model=model, name="integrated gradients",
                          layers=layers)
        out.append(np.abs((x[i] - baseline[i]) * grads.mean(axis=0)).sum(axis=-1))
    return _normalize(np.stack(out) if out else np.zeros((0, *x.shape[1:3]), np.float32))


def occlusion_patch(shape) -> tuple[int, int]:
    """(patch side, stride) for inputs of ``shape`` (H, W, ...): about a seventh of the shorter side, half-overlapping
    (28x28 -> 4 and 2, 8x8 -> 2 and 1, 110x120 -> 16 and 8)."""
    patch = max(2, round(min(shape[0], shape[1]) / 7))
    return patch, max(1, patch // 2)


def _log_odds(proba: np.ndarray, c: int) -> np.ndarray:
    """log P(c) - log P(not c), with P(not c) summed from the other classes' probabilities: unlike 1 - P(c) it
    keeps its precision when P(c) rounds to 1, so a confident prediction still shows what lowers it."""
    p = np.asarray(proba, dtype=np.float64)
    rest = np.delete(p, c, axis=1).sum(axis=1)
    return np.log(np.maximum(p[:, c], 1e-300)) - np.log(np.maximum(rest, 1e-300))


def occlusion(model, x: np.ndarray, classes: np.ndarray, batch: int = 512) -> np.ndarray:
    """Occlusion maps (N, H, W) in [0, 1] (Zeiler and Fergus 2014): each square patch of the input in turn is set
    to the input's mean (a patch of average brightness or temperature, so covering a dark or absent part changes
    the input too), and every pixel gets the mean drop in the class's log-odds (``_log_odds``, which does not
    saturate on confident predictions) over the patches that covered it; rises count as 0. Forward passes only:
    about (H/stride) x (W/stride) per input."""
    from ..datasets import feed

    x = np.asarray(x, dtype=np.float32)
    h, w = x.shape[1:3]
    patch, stride = occlusion_patch(x.shape[1:])
    corners = [(r, c) for r in range(0, max(h - patch, 0) + 1, stride)
               for c in range(0, max(w - patch, 0) + 1, stride)]
    out = np.zeros((len(x), h, w), np.float32)
    for i in range(len(x)):
        fill = x[i].mean()
        views = np.repeat(x[i][None], len(corners), axis=0)
        for k, (r, c) in enumerate(corners):
            views[k, r:r + patch, c:c + patch] = fill
        scores = _log_odds(np.asarray(feed.predict(model, np.concatenate([x[i][None], views]), batch)), classes[i])
        drops = scores[0] - scores[1:]
        total, covered = np.zeros((h, w)), np.zeros((h, w))
        for (r, c), d in zip(corners, drops):
            total[r:r + patch, c:c + patch] += max(float(d), 0.0)
            covered[r:r + patch, c:c + patch] += 1
        out[i] = total / np.maximum(covered, 1)
    return _normalize(out)


def _log_softmax(z):
    from keras import ops

    return z - ops.logsumexp(z, axis=1, keepdims=True)


def explain(model, x: np.ndarray, classes=None, method: str = "auto", steps: int = 32,
            batch: int = 256) -> Saliency:
    """Saliency maps of ``model`` for raw inputs ``x`` (N, H, W, C), for ``classes`` (default: the predicted ones).

    >>> s = explain(model, x_test[:8])                   # doctest: +SKIP
    >>> s.maps.shape, s.method
    ((8, 28, 28), 'gradcam')
    """
    from ..datasets import feed

    x = np.asarray(x)
    method = choose_method(model, method)
    if classes is None:
        classes = np.asarray(feed.predict(model, x)).argmax(axis=1) if len(x) else np.zeros(0, np.int64)
    classes = np.asarray(classes, dtype=np.int64).reshape(-1)
    if len(classes) != len(x):
        raise ConfigError(f"explain: {len(x)} inputs but {len(classes)} classes; give one class per input.")
    parts = []
    layer = feature_layer(model) if method == "gradcam" else None      # once, not per batch
    for lo in range(0, len(x), batch):
        xs, cs = x[lo:lo + batch], classes[lo:lo + batch]
        if method == "gradcam":
            parts.append(gradcam(model, xs, cs, layer))
        elif method == "occlusion":
            parts.append(occlusion(model, xs, cs))
        else:
            parts.append(integrated_gradients(model, xs, cs, steps))
    maps = np.concatenate(parts) if parts else np.zeros((0, *x.shape[1:3]), np.float32)
    return Saliency(maps, classes, method)
