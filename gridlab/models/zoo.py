"""The model zoo: each entry is a short builder returning the layers between the input (already scaled) and the
softmax output. Seed models reproduce their seed's layer list exactly; on the seed's own input the parameter count
matches the seed's (see ``SEED_PARAMS``). Every builder adapts to any input shape and class count."""
from __future__ import annotations

import dataclasses


class _KerasLayers:
    """``keras.layers``, imported when a builder first runs (``build_model``, after ``backend.use`` has chosen the
    backend): the zoo's names are read without importing Keras, so a mistyped ``model=`` is refused at once, not
    after TensorFlow's 4-second import."""

    def __getattr__(self, name):
        import keras

        return getattr(keras.layers, name)


layers = _KerasLayers()


def output(n: int):
    """The softmax output layer; float32 even under mixed precision so probabilities keep full precision."""
    return layers.Dense(n, activation="softmax", dtype="float32")


@dataclasses.dataclass(frozen=True)
class ZooEntry:
    name: str
    build: callable
    source: str
    seed_input: tuple
    seed_params: int | None
    about: str


def seed000_cnn(input_shape, n, dropout=None):
    return [layers.Conv2D(32, (3, 3), activation="relu"), layers.Conv2D(64, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)), layers.Dropout(0.25), layers.Flatten(),
            layers.Dense(128, activation="relu"), layers.Dropout(0.5), output(n)]


def seed001_cnn(input_shape, n, dropout=None):
    return [layers.Conv2D(32, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
            layers.Flatten(), layers.Dense(100, activation="relu"),
            layers.Dropout(0.4 if dropout is None else dropout), output(n)]


def seed002_mlp(input_shape, n, dropout=None):
    return [layers.Flatten(), layers.Dense(512, activation="relu"), output(n)]


def seed003_mlp(input_shape, n, dropout=None):
    middle = [layers.Dropout(dropout)] if dropout else []
    return [layers.Flatten(), layers.Dense(100, activation="relu"), *middle, output(n)]


def seed003_linear(input_shape, n, dropout=None):
    """Seed 003's first network: one Dense(softmax) layer on the flattened pixels (logistic regression)."""
    return [layers.Flatten(), output(n)]


def seed003_sigmoid(input_shape, n, dropout=None):
    """Seed 003's first hidden layer: Dense(100, sigmoid) before the output."""
    return [layers.Flatten(), layers.Dense(100, activation="sigmoid"), output(n)]


def seed004_mlp(input_shape, n, dropout=None):
    return [layers.Flatten(), layers.Dense(512, activation="relu"), layers.Dense(128, activation="relu"),
            layers.Dense(32, activation="relu"), layers.Dense(8, activation="relu"),
            output(n)]


def batch_norm():
    """Batch normalization whose statistics are computed in float32 even under mixed bfloat16: on CPUs TensorFlow's
    bf16 batch norm is slower than the convolutions around it (docs/benchmarks.md, "Design probes")."""
    return layers.BatchNormalization(momentum=0.9, dtype="float32")


def gridlab_fast(input_shape, n, dropout=None):
    """gridlab's time-to-accuracy CNN: seed 001's layout at half its convolution width (16 and 48 filters instead of
    32 and 64), batch norm after each pooling (a quarter of the values to normalize), no dropout by default (short
    schedules do not overfit). The second convolution is most of the arithmetic and its cost scales with the first's
    width, so half width trains much faster for a small loss of accuracy (docs/benchmarks.md, "Design probes")."""
    out = []
    for filters in (16, 48):
        out += [layers.Conv2D(filters, 3, padding="same", use_bias=False), layers.MaxPooling2D(2), batch_norm(),
                layers.Activation("relu")]
    out += [layers.Flatten(), layers.Dense(100, activation="relu")]
    return out + ([layers.Dropout(dropout)] if dropout else []) + [output(n)]


def gridlab_deep(input_shape, n, dropout=None):
    """gridlab's deeper CNN (preset=best until whitening made gridlab_fast better in less time): four convolutions
    (32, 64, 64, 128), batch norm after each (after the pooling where there is one), flatten, dropout 0.3. Pools
    while the grid is at least 4 wide."""
    out, size = [], min(input_shape[0], input_shape[1])
    while size >= 56:
        out.append(layers.AveragePooling2D(2))
        size //= 2
    for filters, pool in ((32, True), (64, False), (64, True), (128, True)):
        out.append(layers.Conv2D(filters, 3, padding="same", use_bias=False))
        if pool and size >= 4:
            out.append(layers.MaxPooling2D(2))
            size //= 2
        out += [batch_norm(), layers.Activation("relu")]
    return out + [layers.Flatten(), layers.Dropout(0.3 if dropout is None else dropout), output(n)]


def gridlab_cnn(input_shape, n, dropout=None):
    """gridlab's small CNN: conv-BN-ReLU blocks, pooling while the grid is large enough, global average pooling.
    Works on 8x8 digits, 28x28 images and 110x120 sensor frames alike."""
    out, size = [], min(input_shape[0], input_shape[1])
    while size >= 56:  # large frames (110x120 sensor grids): average down first, convolutions are the cost
        out.append(layers.AveragePooling2D(2))
        size //= 2
    for filters in (32, 64, 128):
        out += [layers.Conv2D(filters, 3, padding="same", use_bias=False), batch_norm(), layers.Activation("relu")]
        if size >= 4:
            out.append(layers.MaxPooling2D(2))
            size //= 2
    return out + [layers.GlobalAveragePooling2D(), layers.Dropout(0.2 if dropout is None else dropout),
                  output(n)]


ZOO = {e.name: e for e in [
    ZooEntry("seed000_cnn", seed000_cnn, "seed 000 (MNIST CNN)", (28, 28, 1), 1_199_882,
             "Conv32-Conv64-MaxPool-Dropout.25-Dense128-Dropout.5"),
    ZooEntry("seed001_cnn", seed001_cnn, "seed 001 (Fashion-MNIST CNN)", (28, 28, 1), 333_526,
             "Conv32-Pool-Conv64-Pool-Dense100-Dropout.4"),
    ZooEntry("seed002_mlp", seed002_mlp, "seed 002 (MNIST MLP)", (28, 28, 1), 407_050, "Dense512"),
    ZooEntry("seed003_mlp", seed003_mlp, "seed 003 (Fashion-MNIST MLP)", (28, 28, 1), 79_510,
             "Dense100 (+ Dropout with dropout=0.3)"),
    ZooEntry("seed003_linear", seed003_linear, "seed 003 (Fashion-MNIST, one layer)", (28, 28, 1), 7_850,
             "Dense10 softmax on the pixels"),
    ZooEntry("seed003_sigmoid", seed003_sigmoid, "seed 003 (Fashion-MNIST, sigmoid)", (28, 28, 1), 79_510,
             "Dense100 sigmoid"),
    ZooEntry("seed004_mlp", seed004_mlp, "seed 004 (thermal face MLP)", (110, 120, 1), 6_828_986,
             "Dense512-128-32-8"),
    ZooEntry("gridlab_fast", gridlab_fast, "gridlab", (28, 28, 1), None,
             "Conv16-Pool, Conv48-Pool (each with BN), Dense100; preset=fast and preset=best: the shortest time to "
             "accuracy on CPUs"),
    ZooEntry("gridlab_deep", gridlab_deep, "gridlab", (28, 28, 1), None,
             "Conv32-Pool, Conv64, Conv64-Pool, Conv128-Pool (each with BN), Dropout.3"),
    ZooEntry("gridlab_cnn", gridlab_cnn, "gridlab", (28, 28, 1), None,
             "3x (Conv-BN-ReLU-Pool), global average pool; for images and sensor grids"),
]}

