import keras
import numpy as np
import pytest

from gridlab.datasets import feed

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the tf.data feed is TensorFlow's")


def _arrays(n=37):
    x = np.arange(n * 4, dtype=np.uint8).reshape(n, 2, 2, 1)   # example i holds 4i .. 4i+3
    return x, np.arange(n) % 3


def _epoch(data):
    xs, ys = zip(*[(bx.numpy(), by.numpy()) for bx, by in data])
    return np.concatenate(xs), np.concatenate(ys), [len(b) for b in ys]


def test_fit_data_is_a_pipeline_without_autotuning():
    x, y = _arrays()
    data = feed.fit_data(x, y, batch=8)
    assert set(data) == {"x", "shuffle"}
    assert data["x"].options().autotune.enabled is False


def test_every_epoch_is_a_new_permutation_with_pairs_kept():
    keras.utils.set_random_seed(3)
    x, y = _arrays()
    data = feed.fit_data(x, y, batch=8)["x"]
    first, second = _epoch(data), _epoch(data)
    for xs, ys, sizes in (first, second):
        index = xs[:, 0, 0, 0] // 4
        assert sorted(index.tolist()) == list(range(37))   # each example exactly once
        assert np.array_equal(ys, index % 3)                # labels travel with their examples
        assert sizes == [8, 8, 8, 8, 5]
    assert not np.array_equal(first[0], second[0])
    assert not np.array_equal(first[0], x)


def test_validation_data_keeps_order():
    x, y = _arrays()
    xs, ys, sizes = _epoch(feed.validation_data(x, y, batch=10))
    assert np.array_equal(xs, x) and np.array_equal(ys, y) and sizes == [10, 10, 10, 7]


def test_predict_matches_keras_predict_on_arrays():
    x, _ = _arrays(21)
    model = keras.Sequential([keras.Input((2, 2, 1), dtype="uint8"), keras.layers.Rescaling(1 / 255),
                              keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
    expected = model.predict(x, batch_size=4, verbose=0)
    assert np.allclose(feed.predict(model, x, batch=4), expected, atol=1e-6)        # 6 batches, the last partial
    assert np.allclose(feed.predict(model, x, batch=32), expected, atol=1e-6)       # one batch: predict_on_batch
    assert np.allclose(feed.predict(model, x[:1], batch=32), expected[:1], atol=1e-6)


def test_predict_batch_grows_with_smaller_examples_within_its_bounds():
    assert feed.predict_batch((28, 28, 1)) == 1024           # 2**21 values hold 2,674 images: capped at 1,024
    assert feed.predict_batch((110, 120, 1)) == 128          # 158 sensor frames: the power of two below
    assert feed.predict_batch((8, 8)) == 1024
    assert feed.predict_batch((1000, 1000, 3)) == 16         # under one example per batch: at least 16
    sizes = [feed.predict_batch((s, s, 1)) for s in (8, 28, 64, 128, 256, 512)]
    assert sizes == sorted(sizes, reverse=True) and all(b & (b - 1) == 0 for b in sizes)


def test_predict_without_a_batch_gives_the_same_probabilities():
    x = np.random.default_rng(0).integers(0, 255, (1100, 28, 28, 1), dtype=np.uint8)     # one full batch of 1,024
    model = keras.Sequential([keras.Input((28, 28, 1), dtype="uint8"), keras.layers.Rescaling(1 / 255),
                              keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
    expected = model.predict(x, batch_size=128, verbose=0)
    assert np.allclose(feed.predict(model, x), expected, atol=1e-6)


class Recording(keras.Sequential):
    """A real model that notes the batch sizes ``predict_on_batch`` is given."""
    seen: list

    def predict_on_batch(self, x):
        self.seen.append(len(x))
        return super().predict_on_batch(x)


def test_short_inputs_are_padded_to_a_power_of_two_and_give_the_same_rows():
    assert [feed.bucket(n, 32) for n in (0, 1, 2, 3, 5, 16, 17, 32)] == [1, 1, 2, 4, 8, 16, 32, 32]
    assert feed.bucket(100, 64) == 64
    x, _ = _arrays(37)
    model = Recording([keras.Input((2, 2, 1), dtype="uint8"), keras.layers.Rescaling(1 / 255),
                       keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")])
    model.seen = []
    expected = model.predict(x, batch_size=64, verbose=0)
    for n in range(0, 38):      # 38 request sizes, 7 shapes: each new shape is a trace (an XLA compilation on JAX)
        got = feed.predict(model, x[:n], batch=64)
        assert got.shape == (n, 3) and np.allclose(got, expected[:n], atol=1e-6)
    assert sorted(set(model.seen)) == [1, 2, 4, 8, 16, 32, 64]
    model.seen = []
    assert np.allclose(feed.predict(model, x, batch=8), expected, atol=1e-6)     # the last batch padded to 8
    assert model.seen == [8]
