import numpy as np
import pytest

from gridlab.config import load_config
from gridlab.datasets import build_dataset, choose_scaling, load_dataset, stratified_split
from gridlab.sources import SourceData


def test_stratified_split_keeps_class_shares():
    y = np.array([0] * 80 + [1] * 20)
    keep, held = stratified_split(y, 0.2, seed=1)
    assert np.bincount(y[held]).tolist() == [16, 4]
    assert sorted(np.r_[keep, held].tolist()) == list(range(100))


def test_split_is_seeded():
    y = np.arange(50) % 5
    assert np.array_equal(stratified_split(y, 0.2, 3)[1], stratified_split(y, 0.2, 3)[1])


def test_scaling_rules():
    assert choose_scaling("auto", np.zeros(3, np.uint8))["kind"] == "divide255"
    s = choose_scaling("auto", np.array([20.0, 30.0], np.float32))
    assert s["kind"] == "standardize" and s["mean"] == 25.0 and s["std"] == 5.0
    assert 30.0 * s["scale"] + s["offset"] == pytest.approx(1.0)


def test_digits_dataset():
    ds = load_dataset(data="digits", verbose=False)
    assert ds.input_shape == (8, 8, 1) and ds.num_classes == 10 and ds.x_train.dtype == np.uint8
    total = len(ds.y_train) + len(ds.y_val) + len(ds.y_test)
    assert total == 1797 and ds.test_origin.startswith("held out")


def test_given_test_split_and_limit():
    x = np.zeros((100, 4, 4, 1), np.uint8)
    y = np.arange(100) % 2
    src = SourceData("t", "image", x, y, x[:10], y[:10], ["a", "b"], "mem")
    ds = build_dataset(src, load_config({"limit": 40}))
    assert len(ds.y_test) == 10 and ds.test_origin == "given"
    assert len(ds.y_train) + len(ds.y_val) == 40


def test_per_frame_scaling_removes_drift_inside_the_model():
    from gridlab.models import build_model

    model = build_model("seed003_mlp", (4, 5, 1), 2, choose_scaling("per_frame", np.zeros(3, np.float32)))
    assert model.layers[0].name == "scaling" and model.layers[0].count_params() == 0
    frame = np.random.default_rng(0).normal(30, 2, (1, 4, 5, 1)).astype(np.float32)
    first = model.layers[0]
    shifted = np.asarray(first(frame + 5.0))      # the same frame, 5 degrees warmer (sensor drift)
    assert np.allclose(np.asarray(first(frame)), shifted, atol=1e-4)
    assert abs(float(shifted.mean())) < 1e-4 and abs(float(shifted.std()) - 1) < 0.01
