"""scikit-learn's logistic regression as a gridlab model: an ordinary run whose Keras model is the regression."""
import numpy as np

import gridlab


def test_logistic_regression_run_predicts_like_scikit_learn_and_exports(idx_dir):
    from sklearn.linear_model import LogisticRegression

    from gridlab.export import export
    from gridlab.models.io import load_model

    run = gridlab.train(data="mnist", data_dir=str(idx_dir), model="sklearn_logistic", verbose=False, report=True,
                        calibrate=False)
    assert run.info.model == "sklearn_logistic" and run.info.parameters == 8 * 8 * 10 + 10
    assert (run.folder / "report.html").is_file() and run.info.epochs_run == 1
    dataset = gridlab.load_dataset(data="mnist", data_dir=str(idx_dir), verbose=False)
    flat = lambda x: x.reshape(len(x), -1) / 255.0                    # noqa: E731 - the same scaling
    reference = LogisticRegression(max_iter=200, random_state=42).fit(flat(dataset.x_train), dataset.y_train)
    ours = load_model(run.folder / "model.keras").predict(dataset.x_test, verbose=0)
    theirs = reference.predict_proba(flat(dataset.x_test))
    assert np.allclose(ours[:, reference.classes_], theirs, atol=1e-4)
    assert export(run.folder, "onnx")["passed"]


def test_binary_logistic_regression_on_sensor_grids(tmp_path):
    from tests.conftest import write_grid_set

    folder = write_grid_set(tmp_path / "g", n_per_class=(15, 6))
    run = gridlab.train(data=str(folder), grid_skip_rows=2, model="sklearn_logistic", verbose=False, report=False,
                        val_split=0.3)
    assert run.metrics["accuracy"] > 0.7 and run.info.threshold is not None


def test_adagrad_trains(idx_dir):
    run = gridlab.train(data="mnist", data_dir=str(idx_dir), model="seed003_linear", optimizer="adagrad",
                        epochs=1, verbose=False, report=False)
    assert run.info.parameters == 650 and np.isfinite(run.metrics["log_loss"])
