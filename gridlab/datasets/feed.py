"""Arrays -> what Keras' ``fit`` and ``predict`` iterate over.

On the TensorFlow backend Keras turns numpy arrays into a tf.data pipeline with tf.data's autotuning on, and makes
a new iterator for every epoch (and for every validation pass and ``predict`` call). Destroying the old iterator
waits for its autotuning thread, which can be asleep in a timed wait: on the 2-core development machine that wait
left both cores idle for about 5 s in 2 of every 5 epochs of preset=fast (a 5-second epoch became a 10-second one;
gdb showed ``RootDataset::Iterator::~Iterator`` waiting on ``model::Model::OptimizeLoop``). A pipeline with
autotuning off has no such thread. So on TensorFlow gridlab builds the same pipeline as Keras (shuffled indices,
batches gathered from the arrays, a small prefetch) with autotuning off. On JAX the arrays go to Keras unchanged,
or, when training runs on one GPU, are put on the GPU once (``device_feed``): each step then gathers its batch on
the device, with no host-to-device copy of the images. ``bench/speed.py`` measures the feeds side by side.
"""
from __future__ import annotations

import numpy as np

from .. import quiet

PREFETCH = 2   # batches prepared ahead of the model; fixed, since autotuning is what this module turns off
PREDICT_VALUES = 2 ** 21   # input values per prediction batch (``predict_batch``)


def _tensorflow() -> bool:
    import keras

    return keras.backend.backend() == "tensorflow"


def pipeline(x: np.ndarray, y: np.ndarray | None, batch: int, shuffle: bool):
    """A tf.data pipeline of ``(x, y)`` batches (or ``x`` batches when ``y`` is None) with autotuning off; with
    ``shuffle``, a new order every epoch, drawn from TensorFlow's global seed (set by ``training.setup.seeded``)."""
    import tensorflow as tf

    arrays = tuple(tf.convert_to_tensor(a) for a in ((x,) if y is None else (x, y)))
    order = tf.data.Dataset.range(len(x))
    if shuffle:
        order = order.shuffle(len(x), reshuffle_each_iteration=True)

    def gather(index):   # a named function, not a lambda: autograph reads its source to convert it
        picked = tuple(tf.gather(a, index) for a in arrays)
        return picked[0] if y is None else picked

    options = tf.data.Options()
    options.autotune.enabled = False
    return order.batch(batch).map(gather).prefetch(PREFETCH).with_options(options)


def fit_data(x: np.ndarray, y: np.ndarray, batch: int, shuffle: bool = True, on_device: bool | None = None) -> dict:
    """Keyword arguments for ``model.fit`` (``x``, and ``y``, ``batch_size``, ``shuffle`` where Keras needs them).
    On JAX, ``on_device`` (default: when training runs on one GPU and the arrays fit, ``device_feed``) puts the
    arrays on the device once, so each batch is gathered there instead of copied from the host every step; the
    order of the examples is the same (Keras draws it from NumPy's seeded generator either way).

    >>> model.fit(**fit_data(x_train, y_train, 128), epochs=3)   # doctest: +SKIP
    """
    if _tensorflow():   # the pipeline shuffles itself; Keras' own shuffle flag would only warn that it is ignored
        return {"x": pipeline(x, y, batch, shuffle), "shuffle": False}
    if device_feed(x, y) if on_device is None else on_device:
        x, y = to_device(x), to_device(y)
    return {"x": x, "y": y, "batch_size": batch, "shuffle": shuffle}


def validation_data(x: np.ndarray, y: np.ndarray, batch: int, on_device: bool | None = None):
    """``validation_data`` for ``model.fit``, batched like training (on the device like training's, on JAX)."""
    if _tensorflow():
        return pipeline(x, y, batch, shuffle=False)
    if device_feed(x, y) if on_device is None else on_device:
        return to_device(x), to_device(y)
    return x, y


DEVICE_SHARE = 0.25    # the training arrays may take at most this share of the GPU's memory to be held there


def device_feed(*arrays) -> bool:
    """Whether to hold ``arrays`` on the accelerator: training runs on one GPU (``backend.chosen``) and they take
    at most ``DEVICE_SHARE`` of its memory. Several devices (data parallel) keep the host feed, since Keras shards
    each batch across them."""
    from ..backend import chosen

    choice = chosen()
    if choice is None or choice.device != "gpu":
        return False
    import jax

    devices = jax.local_devices()
    if len(devices) != 1:
        return False
    limit = (devices[0].memory_stats() or {}).get("bytes_limit", 0)
    return sum(a.nbytes for a in arrays) <= DEVICE_SHARE * limit


def to_device(x: np.ndarray):
    """``x`` on JAX's default device (once; Keras then gathers each batch there)."""
    import jax

    return jax.device_put(x)


def predict_batch(example_shape) -> int:
    """How many examples ``predict`` takes at a time: the largest power of two whose batch holds at most
    ``PREDICT_VALUES`` input values, from 16 to 1,024. A small model predicts faster in large batches: on the 2-core
    Intel Xeon, 28x28 images went 1.1x to 1.2x faster in batches of 1,024 than of 256. 110x120 sensor frames (128
    here) ran about as fast from 64 to 256, and a smaller batch holds less memory (``bench/predict_batch.py``)."""
    values = max(int(np.prod(example_shape)), 1)
    return int(min(max(2 ** int(np.log2(max(PREDICT_VALUES // values, 1))), 16), 1024))


def bucket(n: int, batch: int) -> int:
    """The batch size ``n`` examples are padded to when they fit in one batch: the next power of two, at most
    ``batch``. Every new input shape costs a trace of the predict function on TensorFlow and an XLA compilation on
    JAX; with these sizes a model sees at most ``log2(batch) + 1`` shapes, however many different request sizes
    come (1 stays 1: a single example is not padded)."""
    return min(batch, 1 << max(n - 1, 0).bit_length())


def predict(model, x: np.ndarray, batch: int | None = None):
    """``model.predict`` over ``x`` in batches (of ``predict_batch`` examples unless ``batch`` is given), without
    the end-of-pass stall. Up to ``batch`` examples (a served request) go through ``predict_on_batch``, which builds
    no pipeline at all, padded to a power of two (``bucket``). A longer ``x`` is predicted in batches of exactly
    ``batch`` examples, the last one padded, so that each model's predict function is traced once: a partial last
    batch is a new shape, which retraces it (JAX compiles it again). TensorFlow's warning about frequent retracing,
    which a run predicting with several models in a row sets off, is not shown (``quiet.own_retracing``). A model
    with several outputs gives a list of arrays, one per output."""
    with quiet.own_retracing():
        return _predict(model, x, batch or predict_batch(x.shape[1:]))


def _predict(model, x: np.ndarray, batch: int):
    if len(x) <= batch:
        return _padded(model, x, bucket(len(x), batch))
    full = len(x) - len(x) % batch
    if _tensorflow():
        head = model.predict(pipeline(x[:full], None, batch, shuffle=False), verbose=0)
    else:
        head = model.predict(x[:full], batch_size=batch, verbose=0)
    if full == len(x):
        return _arrays(head)
    rest = _padded(model, x[full:], batch)
    if isinstance(head, (list, tuple)):
        return [np.concatenate([np.asarray(h), r]) for h, r in zip(head, rest)]
    return np.concatenate([np.asarray(head), rest])


def _padded(model, x: np.ndarray, size: int):
    """``predict_on_batch`` of ``x`` padded with zeros to ``size`` examples, the padding's rows dropped again."""
    n = len(x)
    if size > n:
        x = np.concatenate([x, np.zeros((size - n, *x.shape[1:]), x.dtype)])
    out = _arrays(model.predict_on_batch(x))
    return [o[:n] for o in out] if isinstance(out, list) else out[:n]


def _arrays(out):
    return [np.asarray(o) for o in out] if isinstance(out, (list, tuple)) else np.asarray(out)
