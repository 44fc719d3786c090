"""A frozen whitening first layer (``whiten=true``): the model's first convolution is replaced by one whose filters
are fixed from the training images' patch statistics, not learned.

For a k x k convolution on C channels the filters are the leading eigenvectors of the covariance of the (scaled)
training images' k x k x C patches, each divided by the square root of its eigenvalue, once with each sign. The
layer keeps the replaced convolution's filter count where the patches have enough directions (gridlab_fast's 16 =
the 8 largest of 9 directions, so it costs the same), else takes all 2 k^2 C (18 for 3x3 on greyscale). With both
signs the ReLU that follows keeps every direction. The layer is a plain ``Conv2D`` with ``trainable=False``, so
saved models, the safe loader and every export take it unchanged. The idea is airbench's (Keller Jordan's CIFAR-10
speed runs); on Fashion-MNIST it measured better than a learned first layer (docs/benchmarks.md, "Design probes").
"""
from __future__ import annotations

import numpy as np

LAYER = "whiten"
EPSILON = 5e-4          # added to each eigenvalue: the flattest directions are not blown up into noise
SAMPLE = 10_000         # training images the statistics are taken from (the first ones of the split)
CHUNK = 500             # images whose patches are held at once


def replace_first_convolution(layers: list, channels: int) -> list:
    """``layers`` with the first ``Conv2D`` replaced by an (unfilled) frozen whitening convolution of the same kernel
    size and padding; unchanged when the first one is not square and stride 1, or there is none (an MLP): training
    then says so in a notice."""
    import keras

    for i, layer in enumerate(layers):
        if isinstance(layer, keras.layers.Conv2D) and not isinstance(layer, keras.layers.DepthwiseConv2D):
            size = layer.kernel_size
            if size[0] != size[1] or layer.strides != (1, 1) or layer.dilation_rate != (1, 1):
                return layers
            pairs = max(1, min(layer.filters // 2, size[0] * size[1] * channels))
            white = keras.layers.Conv2D(2 * pairs, size, padding=layer.padding, use_bias=False, trainable=False,
                                        name=LAYER)
            return [*layers[:i], white, *layers[i + 1:]]
    return layers


def whitening_kernel(x: np.ndarray, size: int, pairs: int | None = None) -> np.ndarray:
    """The ``(size, size, C, 2 pairs)`` kernel for scaled images ``x`` of shape (N, H, W, C): the ``pairs`` largest
    directions (all ``size^2 C`` when None), largest first, then the same with the opposite sign."""
    x = x[:SAMPLE]
    channels, dim = x.shape[-1], size * size * x.shape[-1]
    total, outer, count = np.zeros(dim), np.zeros((dim, dim)), 0
    for start in range(0, len(x), CHUNK):     # a chunk at a time: all patches at once would take ~1.5 GB
        chunk = np.asarray(x[start:start + CHUNK], dtype=np.float64)
        patches = np.lib.stride_tricks.sliding_window_view(chunk, (size, size), axis=(1, 2))   # N, H', W', C, k, k
        patches = patches.transpose(0, 1, 2, 4, 5, 3).reshape(-1, dim)       # Conv2D's (k, k, C) order
        total += patches.sum(axis=0)
        outer += patches.T @ patches
        count += len(patches)
    mean = total / count
    cov = (outer - count * np.outer(mean, mean)) / (count - 1)
    values, vectors = np.linalg.eigh(cov)      # ascending
    values, vectors = values[::-1][:pairs], vectors[:, ::-1][:, :pairs]
    # each eigenvector's sign is fixed by its largest entry, so every machine builds the same kernel
    vectors *= np.sign(vectors[np.abs(vectors).argmax(axis=0), np.arange(vectors.shape[1])])
    w = vectors / np.sqrt(np.maximum(values, 0.0) + EPSILON)
    return np.concatenate([w, -w], axis=1).reshape(size, size, channels, -1).astype(np.float32)


def fill(model, x: np.ndarray) -> bool:
    """Set the whitening layer's filters of a model ``build_model`` made with ``whiten=True`` from the raw training
    images ``x``, as the layer sees them (after the model's scaling and any layers before it). Returns whether the
    model has such a layer (False: nothing to do)."""
    import keras

    from ..datasets import feed

    if LAYER not in {layer.name for layer in model.layers}:
        return False
    layer = model.get_layer(LAYER)
    seen = feed.predict(keras.Model(model.inputs, layer.input), x[:SAMPLE], 1000)
    layer.set_weights([whitening_kernel(seen, layer.kernel_size[0], layer.filters // 2)])
    return True
