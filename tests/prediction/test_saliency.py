"""Saliency: maps point at what the model can learn from (the bright squares whose place decides the class), every
zoo model can be explained, and the maps pass the model-randomization sanity check (Adebayo et al. 2018) that an
edge detector fails."""
import keras
import numpy as np
import pytest

import gridlab
from gridlab.errors import ConfigError
from gridlab.models import build_model, with_test_time_views
from gridlab.models.zoo import ZOO
from gridlab.prediction import Predictor
from gridlab.prediction.saliency import choose_method, explain

# one worker runs this module (pytest-xdist): its trained runs are built once, not once per worker
pytestmark = pytest.mark.xdist_group("saliency")

SIZE = 28
SQUARES = ((3, 3), (11, 11), (18, 18))      # top-left corner of each class's 7x7 square


def square_images(per_class: int, seed: int = 0):
    """Dark noisy 28x28 images; class c has a bright 7x7 square at SQUARES[c] and nothing anywhere else."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 40, (per_class * len(SQUARES), SIZE, SIZE)).astype(np.uint8)
    y = np.repeat(np.arange(len(SQUARES)), per_class).astype(np.uint8)
    for img, c in zip(x, y):
        r, col = SQUARES[c]
        img[r:r + 7, col:col + 7] = rng.integers(200, 256, (7, 7))
    return x, y


def square(c: int) -> np.ndarray:
    """The pixels of class c's square."""
    mask = np.zeros((SIZE, SIZE), bool)
    r, col = SQUARES[c]
    mask[r:r + 7, col:col + 7] = True
    return mask


@pytest.fixture(scope="module")
def band_runs(tmp_path_factory):
    """A CNN and an MLP trained on the squares."""
    root = tmp_path_factory.mktemp("saliency")
    x, y = square_images(40)
    xt, yt = square_images(8, seed=1)
    data = root / "squares.npz"
    np.savez(data, x=x, y=y, x_test=xt, y_test=yt, class_names=np.array(["top", "middle", "bottom"]))
    out = {}
    for model in ("seed001_cnn", "seed003_mlp"):
        run = gridlab.train(data=str(data), model=model, epochs=6, batch=16, project=str(root), name=model,
                            verbose=False, report=False, audit=False, ood="none")
        assert run.metrics["accuracy"] == 1.0
        out[model] = run.folder
    return out, xt, yt


def _focus(maps, y):
    """The smallest over classes of the median over examples of (mean map value on the example's own square) /
    (mean elsewhere): about 1 for a map that does not care where it looks, and below 1 for one that looks away."""
    return min(float(np.median([m[square(c)].mean() / max(m[~square(c)].mean(), 1e-6)
                                for m in maps[y == c]])) for c in range(len(SQUARES)))


@pytest.mark.parametrize("model, method", [("seed001_cnn", "gradcam"), ("seed001_cnn", "occlusion"),
                                           ("seed003_mlp", "occlusion"), ("seed003_mlp", "integrated_gradients")])
def test_maps_point_at_the_places_that_decide_the_class(band_runs, model, method):
    runs, xt, yt = band_runs
    s = Predictor(runs[model]).explain(xt, method=method)
    assert s.method == method and s.maps.shape == (len(xt), SIZE, SIZE)
    assert s.maps.min() >= 0 and np.allclose(s.maps.reshape(len(xt), -1).max(axis=1), 1.0)
    assert list(s.classes) == list(yt)              # the decided classes: all right on this easy data
    assert _focus(s.maps, yt) > 2.0


def test_auto_picks_gradcam_for_cnns_and_occlusion_otherwise(band_runs):
    runs, xt, _ = band_runs
    assert Predictor(runs["seed001_cnn"]).explain(xt[:2]).method == "gradcam"
    assert Predictor(runs["seed003_mlp"]).explain(xt[:2]).method == "occlusion"
    with pytest.raises(ConfigError, match="no convolutional feature map for Grad-CAM; use explain_method=occlusion"):
        Predictor(runs["seed003_mlp"]).explain(xt[:2], method="gradcam")
    with pytest.raises(ConfigError, match="'sharp' is not one of auto, gradcam, occlusion"):
        Predictor(runs["seed003_mlp"]).explain(xt[:2], method="sharp")


@pytest.mark.parametrize("name", list(ZOO))
def test_every_zoo_model_and_the_test_time_flip_model_can_be_explained(name):
    shape = (28, 28, 1)
    model = build_model(name, shape, 4, {"kind": "divide255", "scale": 1 / 255, "offset": 0.0}, "uint8")
    if name == "gridlab_fast":
        model = with_test_time_views(model)
    x = np.random.default_rng(0).integers(0, 256, (3, *shape)).astype(np.uint8)
    s = explain(model, x, [0, 1, 3])
    assert s.maps.shape == (3, 28, 28) and np.isfinite(s.maps).all() and s.maps.max() <= 1.0
    convolutional = any("Conv" in type(layer).__name__ for layer in model.layers) or name == "gridlab_fast"
    assert s.method == ("gradcam" if convolutional else "occlusion") == choose_method(model)


def _rank_correlation(a, b) -> float:
    """Mean Spearman rank correlation of paired maps; a constant map shares nothing with another (0)."""
    from scipy.stats import spearmanr

    values = []
    for m, n in zip(a, b):
        r = spearmanr(m.ravel(), n.ravel())[0] if m.std() > 0 and n.std() > 0 else 0.0
        values.append(r)
    return float(np.mean(values))


def _edges(x):
    """A 'method' that only draws edges: the input's gradient magnitude, whatever the model's weights."""
    g = np.hypot(*np.gradient(x[..., 0].astype(np.float64), axis=(1, 2)))
    return g / np.maximum(g.reshape(len(g), -1).max(axis=1), 1e-9)[:, None, None]


@pytest.fixture(scope="module")
def digits_runs(tmp_path_factory):
    """A CNN and an MLP trained 6 epochs on the digits (their maps' rank correlation with fresh weights' maps: -0.24 to
    0.23 after 4, 6 or 12 epochs, three fresh draws each, 2-core AMD EPYC)."""
    root = tmp_path_factory.mktemp("randomization")
    return {model: gridlab.train(data="digits", model=model, epochs=6, project=str(root), name=model,
                                 verbose=False, report=False, audit=False, ood="none").folder
            for model in ("seed001_cnn", "seed003_mlp")}


@pytest.mark.parametrize("model, method", [("seed001_cnn", "gradcam"), ("seed001_cnn", "occlusion"),
                                           ("seed003_mlp", "occlusion")])
def test_maps_change_when_the_weights_are_randomized(digits_runs, model, method):
    """Adebayo et al. 2018: a map that explains the model must change when the model's weights are replaced by
    fresh random ones. The same statistic shows an edge detector (no model at all) as identical (1.0)."""
    predictor = Predictor(digits_runs[model])
    x = gridlab.load_dataset(data="digits").x_test[:48]
    classes = predictor.decide(predictor.predict_arrays(x))
    trained = explain(predictor.model, x, classes, method).maps
    randomized = explain(keras.models.clone_model(predictor.model), x, classes, method).maps   # fresh weights
    assert _rank_correlation(_edges(x), _edges(x)) == pytest.approx(1.0)   # the check fails an edge drawer
    assert _rank_correlation(trained, randomized) < 0.5
    assert _rank_correlation(trained, trained) == pytest.approx(1.0)
