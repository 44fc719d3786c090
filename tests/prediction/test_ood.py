"""Out-of-distribution scores: each method on features with a known answer, and on a tiny trained run: noise and
blank inputs flagged, held-out in-distribution examples passing at about the chosen rate, Keras and ONNX Runtime
giving the same score, and a run trained before OOD scores still predicting with the flag unavailable."""
import csv
import shutil

import numpy as np
import pytest

import gridlab
from gridlab import runs
from gridlab.prediction import Predictor, ood
from tests.conftest import make_images, write_idx_set

# one worker runs this module (pytest-xdist): its trained runs are built once, not once per worker
pytestmark = pytest.mark.xdist_group("ood")


def _clusters(n, seed):
    """Three classes of 6-d features around distinct centres, and logits from a matching linear head."""
    rng = np.random.default_rng(seed)
    centres = np.eye(3, 6) * 6
    y = rng.integers(0, 3, n)
    return centres[y] + rng.normal(0, 1, (n, 6)), y


@pytest.mark.parametrize("method", ood.METHODS)
def test_every_method_passes_the_chosen_share_and_flags_far_points(method):
    h_train, y_train = _clusters(3000, 0)
    h_val, _ = _clusters(2000, 1)
    h_test, _ = _clusters(2000, 2)
    w, b = np.eye(6, 3) * 2, np.zeros(3)
    det = ood.fit(method, h_train, y_train, h_val, w, b, pass_rate=0.9)
    assert abs((1 - det.flag(det.score(h_test)).mean()) - 0.9) < 0.03        # held-out data passes at the rate
    far = np.full((50, 6), 3.0) + np.random.default_rng(3).normal(0, 0.1, (50, 6))  # between the classes
    if method in ("ensemble", "mahalanobis_layers", "mahalanobis", "knn"):
        assert det.flag(det.score(far)).all()
    again = ood.Detector.from_arrays(det.arrays())
    assert np.array_equal(again.score(h_test), det.score(h_test)) and again.threshold == det.threshold


@pytest.mark.parametrize("method", ood.METHODS)
def test_the_score_computed_in_the_model_s_graph_is_the_numpy_score(method):
    """``Detector.graph_score`` (what ``scoring_model`` and ``model-ood.onnx`` compute, in float32) against
    ``Detector.score`` (float64, what the threshold was chosen on), on held-out features and far points."""
    from keras import ops

    h_train, y_train = _clusters(3000, 0)
    h_val, _ = _clusters(1000, 1)
    det = ood.fit(method, h_train, y_train, h_val, np.eye(6, 3) * 2, np.zeros(3), pass_rate=0.9)
    h = np.r_[_clusters(500, 2)[0], np.random.default_rng(3).normal(3.0, 2.0, (100, 6))]
    got = ops.convert_to_numpy(det.graph_score(ops.convert_to_tensor(h.astype(np.float32))))
    want = det.score(h)
    assert got.shape == want.shape == (600,)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    assert np.mean(det.flag(got) == det.flag(want)) >= 0.995


def test_the_precision_inverts_the_covariance_and_the_whitener_is_its_square_root():
    h_train, y_train = _clusters(3000, 0)
    h_val, _ = _clusters(500, 1)
    det = ood.fit("mahalanobis", h_train, y_train, h_val, np.eye(6, 3) * 2, np.zeros(3))
    centred = h_train - det.means[y_train]
    cov = centred.T @ centred / (len(h_train) - 1)
    cov += 1e-6 * np.trace(cov) / 6 * np.eye(6)
    np.testing.assert_allclose(det.precision @ cov, np.eye(6), atol=1e-9)
    np.testing.assert_allclose(det.whitener @ det.whitener.T, det.precision, rtol=1e-12, atol=1e-12)
    # the float32 distances against (h - m) P (h - m) in float64, from the nearest class mean
    h = np.r_[h_val[:50], np.random.default_rng(3).normal(3.0, 2.0, (50, 6))]
    d = h[:, None, :] - det.means[None]
    exact = np.einsum("ncd,de,nce->nc", d, det.precision, d).min(axis=1)
    np.testing.assert_allclose(-det.score(h), exact, rtol=1e-4, atol=1e-4)
    # a precision that is not positive definite (a singular covariance's pseudo-inverse) still has a square root
    singular = np.diag([2.0, 0.0, 1.0])
    root = ood._square_root(singular)
    np.testing.assert_allclose(root @ root.T, singular, atol=1e-12)
    np.testing.assert_allclose(ood._inverse(singular), np.linalg.pinv(singular))


def test_the_report_s_table_reuses_the_run_s_own_fit_and_gets_what_fitting_afresh_gets():
    h_train, y_train = _clusters(1500, 0)
    h_val, _ = _clusters(500, 1)
    h_in, _ = _clusters(500, 2)
    probes = {"between the classes": np.random.default_rng(3).normal(3.0, 2.0, (200, 6))}
    w, b = np.eye(6, 3) * 2, np.zeros(3)
    det = ood.fit("ensemble", h_train, y_train, h_val, w, b)
    reused = ood.evaluate(h_train, y_train, h_val, h_in, probes, w, b, fitted=det)
    afresh = ood.evaluate(h_train, y_train, h_val, h_in, probes, w, b)
    assert reused["table"] == afresh["table"] and set(reused["table"]["between the classes"]) == set(ood.METHODS)
    for method in ood.METHODS:
        for key, value in afresh["scores"][method].items():
            np.testing.assert_array_equal(reused["scores"][method][key], value)
    assert reused["scores"]["ensemble"]["threshold"] == det.threshold

def test_probe_sets_have_the_data_shape():
    x, _ = make_images(20, 28, 3)
    sets = ood.probes(x[..., None], "image", n=40)
    assert set(sets) == {"uniform noise", "Gaussian noise", "constant", "inverted", "digits (upscaled)"}
    assert all(v.shape[1:] == (28, 28, 1) and v.dtype == np.uint8 for v in sets.values())
    grids = ood.probes(np.random.default_rng(0).normal(22, 1, (30, 6, 5, 1)).astype(np.float32), "grid", n=30)
    assert {"dead sensor rows", "saturated block", "ambient only"} <= set(grids)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ood")
    write_idx_set(root / "idx", per_class=120, size=8, test_per_class=40)
    r = gridlab.train(data="mnist", data_dir=str(root / "idx"), model="seed002_mlp", epochs=4, batch=16,
                      project=str(root / "runs"), verbose=False, report=True, audit=False)
    return r


def test_a_trained_run_flags_noise_and_blanks_and_passes_its_test_split(run):
    p = Predictor(run.folder)
    assert p.ood_available and p.ood.method == ood.DEFAULT and run.metrics["ood"]["method"] == ood.DEFAULT
    rng = np.random.default_rng(0)
    _, noise = p.predict_scored(rng.integers(0, 256, (100, 8, 8, 1)).astype(np.uint8))
    _, blank = p.predict_scored(np.zeros((20, 8, 8, 1), np.uint8))
    from gridlab.evaluation import run_dataset

    _, inside = p.predict_scored(run_dataset(p).x_test)
    assert p.ood.flag(noise).mean() >= 0.9 and p.ood.flag(blank).all()
    assert 0.8 <= 1 - p.ood.flag(inside).mean() <= 1.0                        # about 95% pass (120 test examples)
    html = (run.folder / runs.REPORT).read_text()
    assert "Out-of-distribution inputs" in html and "uniform noise" in html


def test_keras_and_onnx_give_the_same_score(run):
    from gridlab.export import export

    report = export(run.folder, "onnx")
    assert report["ood"]["passed"] and report["ood"]["flag_agreement"] == 1.0
    x = np.random.default_rng(1).integers(0, 256, (64, 8, 8, 1)).astype(np.uint8)
    _, keras_scores = Predictor(run.folder).predict_scored(x)
    _, onnx_scores = Predictor(run.folder, "onnx").predict_scored(x)
    assert np.allclose(keras_scores, onnx_scores, rtol=1e-4, atol=1e-3 * np.abs(keras_scores).max())


def test_an_onnx_export_from_before_the_score_moved_into_the_graph_still_scores(run, tmp_path):
    """A ``model-ood.onnx`` written before 2026-12-06 outputs the probabilities and the features: ONNX Runtime
    computes those, and the score follows in NumPy, as it did then."""
    from gridlab.export import _write_model, export, metadata

    old = tmp_path / "old"
    shutil.copytree(run.folder, old)
    export(old, "onnx")
    p = Predictor(old)
    x = np.random.default_rng(2).integers(0, 256, (40, 8, 8, 1)).astype(np.uint8)
    _write_model(ood.feature_model(p.model, p.ood.stage_names)[0], "onnx", runs.ood_export_path(old),
                 metadata(p.info), x[:1])
    proba, scores = Predictor(old, "onnx").predict_scored(x)
    keras_proba, keras_scores = p.predict_scored(x)
    assert proba.shape == keras_proba.shape and scores.shape == (40,)
    np.testing.assert_allclose(scores, keras_scores, rtol=1e-4, atol=1e-3 * np.abs(keras_scores).max())


def test_a_run_trained_before_ood_scores_predicts_with_the_flag_unavailable(run, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(run.folder, old)
    (old / runs.OOD).unlink()
    np.save(tmp_path / "a.npy", np.zeros((8, 8), np.uint8))
    rows = gridlab.predict(old, [tmp_path / "a.npy", tmp_path / "a.npy"], out=str(tmp_path / "p.csv"))
    assert [(r["ood"], r["ood_score"]) for r in rows] == [(None, None)] * 2 and rows[0]["class"] is not None
    table = list(csv.DictReader(open(tmp_path / "p.csv")))
    assert [(t["ood"], t["ood_score"]) for t in table] == [("", "")] * 2


def test_feature_model_adds_the_input_s_summary():
    """seed001_cnn: the features are the penultimate ones, then the input's 7x7 block means and the log of their
    deviation, each matching numpy's; the probabilities are the model's."""
    from gridlab.models import build_model

    model = build_model("seed001_cnn", (28, 28, 1), 3)
    scoring, last = ood.feature_model(model)
    assert ood.model_stages(model) == [ood.SUMMARY]
    x = np.random.default_rng(0).uniform(0, 255, (4, 28, 28, 1)).astype("float32")
    proba, h = scoring.predict(x, verbose=0)
    start = last.input.shape[-1]
    blocks = x.reshape(4, 7, 4, 7, 4).mean(axis=(2, 4)).reshape(4, 49)
    assert h.shape == (4, start + 49 + 1)
    np.testing.assert_allclose(h[:, start:start + 49], blocks, rtol=1e-4)
    np.testing.assert_allclose(h[:, -1], np.log(blocks.std(axis=1) + ood.SPREAD_FLOOR), rtol=1e-4)
    np.testing.assert_allclose(proba, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_the_summary_of_frames_far_from_zero_per_channel_and_flat():
    """A sensor grid in kelvin with three channels (the deviation is taken about the mean: no cancellation), and a
    frame smaller than the grid (one block per value); a flat frame's deviation is the floor's, in any runtime."""
    import keras

    inputs = keras.Input((5, 6, 3))
    x = np.random.default_rng(1).normal(300.0, 0.5, (3, 5, 6, 3)).astype("float32")
    x[2] = 301.25
    got = keras.Model(inputs, keras.layers.Concatenate()(ood._summary(inputs))).predict(x, verbose=0)
    assert got.shape == (3, 5 * 6 * 3 + 3)
    np.testing.assert_allclose(got[:, :90], x.reshape(3, -1), rtol=1e-6)
    np.testing.assert_allclose(got[:2, 90:], np.log(x[:2].reshape(2, -1, 3).std(axis=1) + ood.SPREAD_FLOOR),
                               atol=1e-3)
    np.testing.assert_allclose(got[2, 90:], np.log(ood.SPREAD_FLOOR), atol=1e-3)


def test_a_run_fitted_on_stage_statistics_keeps_its_features():
    """Runs fitted before the input summary stored the input and each convolutional stage: their features are still
    the channel means and deviations of those maps."""
    import keras

    from gridlab.models import build_model

    model = build_model("seed001_cnn", (28, 28, 1), 3)
    stage = next(layer for layer in model.layers if len(layer.output.shape) == 4 and layer.output.shape[1] < 28)
    scoring, last = ood.feature_model(model, [ood.INPUT, stage.name])
    x = np.random.default_rng(0).uniform(0, 255, (4, 28, 28, 1)).astype("float32")
    _, h = scoring.predict(x, verbose=0)
    width, start = int(stage.output.shape[-1]), last.input.shape[-1]
    assert h.shape == (4, start + 2 + 2 * width)
    np.testing.assert_allclose(h[:, start], x.mean(axis=(1, 2, 3)), rtol=1e-4)          # the input's mean
    np.testing.assert_allclose(h[:, start + 1], x.std(axis=(1, 2, 3)), rtol=1e-3)       # and deviation
    maps = keras.Model(model.inputs, stage.output).predict(x, verbose=0)
    np.testing.assert_allclose(h[:, start + 2:start + 2 + width], maps.mean(axis=(1, 2)), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(h[:, start + 2 + width:], maps.std(axis=(1, 2)), rtol=1e-3, atol=1e-4)


def test_statistics_of_other_features_are_refused_in_one_line():
    h_train, y_train = _clusters(300, 0)
    det = ood.fit("mahalanobis_layers", h_train, y_train, h_train, np.eye(6, 3), np.zeros(3), stages=["x"])
    with pytest.raises(gridlab.errors.RunError, match="fitted on 6 features and the model gives 4"):
        det.score(h_train[:, :4])


def test_a_saved_sequential_model_is_computed_once_per_prediction(tmp_path):
    """A loaded Sequential's layers keep a node from each partial graph built as its layers were added; maps taken
    from the first of them would run the network a second time beside the model's own graph (twice the time per
    image)."""
    import keras

    @keras.saving.register_keras_serializable("gridlab_test")
    class Count(keras.layers.Layer):
        calls = 0

        def call(self, x):
            Count.calls += 1
            return x

    model = keras.Sequential([keras.Input((8, 8, 1)), Count(), keras.layers.Conv2D(4, 3, padding="same"),
                              keras.layers.MaxPooling2D(name="pool"), keras.layers.Flatten(),
                              keras.layers.Dense(3, activation="softmax")])
    model.save(tmp_path / "model.keras")
    model = keras.saving.load_model(tmp_path / "model.keras")     # as gridlab loads a run's model, counting calls
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 1)).astype("float32")
    for stages in (None, [ood.INPUT, "pool"]):       # a new fit's features, and those of a run fitted before
        scoring, _ = ood.feature_model(model, stages)
        Count.calls = 0
        proba, h = scoring(x)
        assert Count.calls == 1
        np.testing.assert_allclose(np.asarray(proba), np.asarray(model(x)), rtol=1e-6)


def test_an_ensemble_fitted_before_the_log_distance_scores_as_it_was_fitted():
    """``ood.npz`` files written before the Mahalanobis part moved to the log scale have no ``distance``: their
    ``scale`` was measured on squared distances, and they keep being scored that way."""
    h_train, y_train = _clusters(600, 0)
    h_val, _ = _clusters(300, 1)
    det = ood.fit("ensemble", h_train, y_train, h_val, np.eye(6, 3), np.zeros(3))
    assert det.distance == "log"
    old = {k: v for k, v in det.arrays().items() if k not in ("distance", "density")}
    m, k = det._mahalanobis(h_val), det._knn(h_val)
    old["scale"] = np.array([[m.mean(), m.std()], [k.mean(), k.std()]])
    before = ood.Detector.from_arrays(old)
    assert before.distance == "linear"
    z = (m - m.mean()) / m.std() + (k - k.mean()) / k.std()
    np.testing.assert_allclose(before.score(h_val), z, rtol=1e-9, atol=1e-9)
    assert not np.allclose(det.score(h_val), z)


def test_an_ensemble_fitted_before_the_kernel_density_scores_by_its_k_th_neighbour():
    """``ood.npz`` files written before the kernel density have no ``density``: their neighbour part is the k-th
    neighbour's distance, in NumPy and in the model's graph alike."""
    from keras import ops

    h_train, y_train = _clusters(600, 0)
    h_val, _ = _clusters(300, 1)
    det = ood.fit("ensemble", h_train, y_train, h_val, np.eye(6, 3), np.zeros(3))
    assert det.density == "kde"
    old = {k: v for k, v in det.arrays().items() if k != "density"}
    m, k = det._mahalanobis(h_val), det._knn(h_val)
    m = -np.log(-m)
    old["scale"] = np.array([[m.mean(), m.std()], [k.mean(), k.std()]])
    before = ood.Detector.from_arrays(old)
    assert before.density == "knn"
    z = (m - m.mean()) / m.std() + (k - k.mean()) / k.std()
    np.testing.assert_allclose(before.score(h_val), z, rtol=1e-9, atol=1e-9)
    got = ops.convert_to_numpy(before.graph_score(ops.convert_to_tensor(h_val.astype(np.float32))))
    np.testing.assert_allclose(got, z, rtol=1e-4, atol=1e-4 * np.abs(z).max())
    assert not np.allclose(det.score(h_val), z)


def test_the_kernel_density_s_temperature_travels_with_the_run():
    h_train, y_train = _clusters(600, 0)
    h_val, _ = _clusters(300, 1)
    det = ood.fit("ensemble", h_train, y_train, h_val, np.eye(6, 3), np.zeros(3), tau=0.1)
    again = ood.Detector.from_arrays(det.arrays())
    assert again.tau == 0.1 and np.array_equal(again.score(h_val), det.score(h_val))
    assert not np.allclose(ood.fit("ensemble", h_train, y_train, h_val, np.eye(6, 3), np.zeros(3)).score(h_val),
                           det.score(h_val))
