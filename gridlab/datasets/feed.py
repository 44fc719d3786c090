"""Arrays -> what Keras' ``fit`` and ``predict`` iterate over.

On the TensorFlow backend Keras turns numpy arrays into a tf.data pipeline with tf.data's autotuning on, and makes
a new iterator for every epoch (and for every validation pass and ``predict`` call). Destroying the old iterator
waits for its autotuning thread, which can be asleep in a timed wait: on the 2-core development machine that wait
left both cores idle for about 5 s in 2 of every 5 epochs of preset=fast (a 5-second epoch became a 10-second one;
gdb showed ``RootDataset::Iterator::~Iterator`` waiting on ``model::Model::OptimizeLoop``). A pipeline with
autotuning off has no such thread. So on TensorFlow gridlab builds the same pipeline as Keras (shuffled indices,
batches gathered from the arrays, a small prefetch) with autotuning off; other backends get the arrays unchanged.
``bench/speed.py`` measures both feeds side by side.
"""
from __future__ import annotations

import numpy as np

PREFETCH = 2   # batches prepared ahead of the model; fixed, since autotuning is what this module turns off


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


def fit_data(x: np.ndarray, y: np.ndarray, batch: int, shuffle: bool = True) -> dict:
    """Keyword arguments for ``model.fit`` (``x``, and ``y``, ``batch_size``, ``shuffle`` where Keras needs them).

    >>> model.fit(**fit_data(x_train, y_train, 128), epochs=3)   # doctest: +SKIP
    """
    if _tensorflow():   # the pipeline shuffles itself; Keras' own shuffle flag would only warn that it is ignored
        return {"x": pipeline(x, y, batch, shuffle), "shuffle": False}
    return {"x": x, "y": y, "batch_size": batch, "shuffle": shuffle}


def validation_data(x: np.ndarray, y: np.ndarray, batch: int):
    """``validation_data`` for ``model.fit``, batched like training."""
    return pipeline(x, y, batch, shuffle=False) if _tensorflow() else (x, y)


def predict(model, x: np.ndarray, batch: int = 512) -> np.ndarray:
    """``model.predict`` over ``x`` in batches, without the end-of-pass stall. Up to ``batch`` examples (a served
    request) go through ``predict_on_batch``, which builds no pipeline at all. A longer ``x`` is predicted in batches
    of exactly ``batch`` examples, the last one padded, so that each model's predict function is traced once: a
    partial last batch is a new shape, which retraces it (TensorFlow then warns about retracing when a run predicts
    with several models in a row)."""
    if len(x) <= batch:
        return np.asarray(model.predict_on_batch(x))
    full = len(x) - len(x) % batch
    if _tensorflow():
        head = model.predict(pipeline(x[:full], None, batch, shuffle=False), verbose=0)
    else:
        head = model.predict(x[:full], batch_size=batch, verbose=0)
    if full == len(x):
        return np.asarray(head)
    tail = np.zeros((batch, *x.shape[1:]), x.dtype)
    tail[:len(x) - full] = x[full:]
    return np.concatenate([np.asarray(head), np.asarray(model.predict_on_batch(tail))[:len(x) - full]])
