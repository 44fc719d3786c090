import csv
import json

import numpy as np
import pytest

import gridlab
from gridlab.errors import RunError, TrainingError


def _train(idx_dir, **kw):
    """A tiny run; without the OOD score (tests/prediction/test_ood.py trains with it) unless a test asks."""
    args = dict(data="mnist", data_dir=str(idx_dir), model="seed003_mlp", epochs=2, batch=8, verbose=False,
                report=False, ood="none")
    args.update(kw)
    return gridlab.train(**args)


def test_run_directory_contents(idx_dir):
    run = _train(idx_dir)
    names = {p.name for p in run.folder.iterdir()}
    assert {"config.yaml", "run.json", "model.keras", "history.csv", "metrics.json", "curves.png", "summary.txt",
            "data_report.csv"} <= names
    assert not {"last.keras", "state.json"} & names            # resume files are removed when a run finishes
    info = json.loads((run.folder / "run.json").read_text())
    assert info["class_names"] == list("0123456789") and info["input_shape"] == [8, 8, 1]
    metrics = json.loads((run.folder / "metrics.json").read_text())
    assert metrics["examples"] == 12 and metrics["loss"] == metrics["log_loss"]
    again = gridlab.evaluate(run, write=False)     # the saved model scores the same on the test split (the Run handle
    #                                                is taken wherever a run folder is)
    assert again["accuracy"] == metrics["accuracy"] and again["log_loss"] == pytest.approx(metrics["log_loss"])
    assert "dense" in (run.folder / "summary.txt").read_text()


def test_never_overwrites_a_run(idx_dir):
    first = _train(idx_dir, name="x", epochs=1)
    second = _train(idx_dir, name="x", epochs=1)
    assert first.folder.name == "x" and second.folder.name == "x-2"
    third = _train(idx_dir, name="x", epochs=1, exist_ok=True)
    assert third.folder.name == "x"


def test_nothing_to_resume(idx_dir):
    with pytest.raises(RunError, match="nothing to resume"):
        _train(idx_dir, name="fresh", resume=True)


def test_max_time_stops_cleanly(idx_dir):
    run = _train(idx_dir, epochs=50, max_time="0.001s")
    assert run.info.epochs_run == 1 and "time budget" in run.info.stop_reason
    assert (run.folder / "model.keras").is_file()


class TickClock:
    """A clock that moves only when told: every training batch costs ``step`` seconds, whatever the machine."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def _ticking(clock, step):
    import keras

    class Tick(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            clock.now += step
    return Tick()


def test_max_time_fits_the_schedule_into_the_budget(idx_dir):
    # 24 training examples at batch 8: 3 steps per epoch, each 0.125 s on the injected clock. The 3 s budget runs
    # out after 24 steps (epoch 8), long before 1000 epochs: the one-cycle rate still rises to its peak and ends
    # annealed. patience=0: early stopping is not the subject here.
    clock = TickClock()
    run = _train(idx_dir, epochs=1000, max_time="3s", schedule="onecycle", lr=0.01, patience=0,
                 clock=clock, callbacks=[_ticking(clock, 0.125)])
    assert run.info.stop_reason == "the time budget of 3 s ran out in epoch 9"
    assert run.info.epochs_run == 9
    with open(run.folder / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    rates = [float(row["lr"]) for row in rows]
    assert max(rates) > 0.005 and rates[-1] < 0.002
    assert max(rates) == max(rates[: len(rates) // 2 + 1])     # the peak comes early, not at the cut
    assert [float(row["seconds"]) for row in rows[:8]] == [0.375] * 8     # epoch timings come from the same clock


def test_nan_loss_stops_with_epoch_and_batch(idx_dir):
    with pytest.raises(TrainingError, match=r"the loss became (nan|inf) in epoch 1, batch \d+; training stopped"):
        _train(idx_dir, model="seed004_mlp", optimizer="sgd", lr=1e12, epochs=3)


def test_early_stopping_restores_best(idx_dir):
    """Epochs 1-2 train normally; from epoch 3 on the weights are scrambled after every batch, so the
    validation loss gets worse twice and patience=2 stops the run after epoch 4. The saved model must be epoch 2's.
    Scrambling negates the output layer: the model then backs its least likely class with high confidence."""
    import keras

    from gridlab.models.io import load_model

    class Scramble(keras.callbacks.Callback):
        bad = None

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
            if epoch == 2:
                *body, kernel, bias = self.model.get_weights()
                self.bad = [*body, kernel * -50.0, bias * -50.0]

        def on_train_batch_end(self, batch, logs=None):   # training cannot undo it before validation
            if self.bad is not None:
                self.model.set_weights(self.bad)

    run = _train(idx_dir, epochs=30, patience=2, lr=0.05, optimizer="sgd", callbacks=[Scramble()], calibrate=False)
    assert run.info.stop_reason.startswith("early stopping: val_loss did not improve for 2 epochs (best ")
    assert run.info.stop_reason.endswith(" at epoch 2)")
    assert run.info.epochs_run == 4 and run.info.best_epoch == 2
    with open(run.folder / "history.csv", newline="") as f:
        val_losses = [float(row["val_loss"]) for row in csv.DictReader(f)]
    assert len(val_losses) == 4 and min(val_losses) == val_losses[1] < min(val_losses[2:])
    dataset = gridlab.load_dataset(data="mnist", data_dir=str(idx_dir), verbose=False)
    model = load_model(run.folder / "model.keras")
    model.compile(loss="sparse_categorical_crossentropy")
    assert model.evaluate(dataset.x_val, dataset.y_val, verbose=0) == pytest.approx(val_losses[1], rel=1e-4)


def test_binary_threshold_and_class_weights(tmp_path, capsys):
    from tests.conftest import write_grid_set

    folder = write_grid_set(tmp_path / "g", n_per_class=(15, 4))
    run = gridlab.train(data=str(folder), grid_skip_rows=2, model="gridlab_cnn", epochs=2, batch=4,
                        verbose=True, report=False, val_split=0.3)
    err = capsys.readouterr().err
    assert "class weights on (the largest class has 4.0x the examples of the smallest)" in err
    assert ("notice: batch=4 on 10 training examples is 3 steps per epoch, 6 in all over epochs=2: too few to train "
            "well; raise epochs (epochs=34 makes 100 steps).") in err
    assert run.info.threshold is not None and run.info.positive_class == 1   # 'other' is the minority
    assert run.metrics["threshold"] == run.info.threshold
    assert run.info.scaling["kind"] == "standardize" and run.info.input_dtype == "float32"


def test_few_steps_notice():
    from gridlab.training.setup import few_steps_notice

    assert few_steps_notice(54_000, 256, 2) is None                      # preset=fast on Fashion-MNIST: 422 steps
    notice = few_steps_notice(600, 256, 3)
    assert notice.startswith("batch=256 on 600 training examples is 3 steps per epoch, 9 in all over epochs=3")
    assert notice.endswith("lower batch (batch=32 makes 57 steps) or raise epochs (epochs=34 makes 100 steps).")


def test_class_weights_ignore_classes_without_examples():
    """mnist names 10 classes; a set that uses 3 of them equally is balanced, not 8x imbalanced."""
    from gridlab.training.setup import class_weights

    assert class_weights(np.repeat([0, 1, 2], 8), 10, "auto") == (None, None)
    weights, notice = class_weights(np.r_[np.zeros(40, int), np.ones(10, int)], 10, "auto")
    assert notice.startswith("class weights on (the largest class has 4.0x the examples of the smallest)")
    assert weights[0] == 50 / (10 * 40) and weights[1] == 50 / (10 * 10)


def test_augmentation_and_presets_train(idx_dir):
    from gridlab.hardware import resolve_precision
    from gridlab.models.io import load_model

    run = _train(idx_dir, preset="fast", epochs=1, batch=16, augment=True)
    assert run.info.precision == resolve_precision("auto")          # what the CPU's bf16 instructions decide
    assert run.info.epochs_run == 1 and run.info.parameters > 0 and 0 < run.metrics["log_loss"] < 10
    # the saved model carries no random layers: they do nothing at inference and exporters cannot convert them
    names = [type(layer).__name__ for layer in load_model(run.folder / "model.keras").layers]
    assert "Dense" in names and not [n for n in names if n.startswith("Random")]


def test_bf16_training_saves_a_float32_model_that_exports_to_litert(idx_dir):
    """Mixed precision is for training speed; the saved model computes in float32, so LiteRT runs it natively."""
    from gridlab.export import export
    from gridlab.models.io import load_model

    run = _train(idx_dir, model="seed001_cnn", precision="mixed_bfloat16", epochs=1)
    assert run.info.precision == "mixed_bfloat16"
    model = load_model(run.folder / "model.keras")
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    report = export(run.folder, "litert")
    assert report["passed"] and report["max_abs_diff"] < 1e-4


def test_tta_needs_augmentation(idx_dir):
    from gridlab.errors import ConfigError

    with pytest.raises(ConfigError, match="augment=true"):
        _train(idx_dir, tta=True)


def test_nan_after_a_good_epoch_keeps_the_best_checkpoint(idx_dir):
    """Epoch 1 trains normally; then the learning rate is raised so far that epoch 2 diverges."""
    import keras

    from gridlab.models.io import load_model

    class Explode(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                self.model.optimizer.learning_rate.assign(1e12)

    with pytest.raises(TrainingError, match=r"in epoch 2, batch \d+; training stopped and the best checkpoint "
                                            r"\(epoch 1\) is kept in model.keras"):
        gridlab.train(data="mnist", data_dir=str(idx_dir), model="seed004_mlp", optimizer="sgd", epochs=4, batch=8,
                      name="nan", verbose=False, report=False, callbacks=[Explode()])
    model = load_model("runs/nan/model.keras")
    assert np.isfinite(np.concatenate([w.ravel() for w in model.get_weights()])).all()


@pytest.mark.slow
def test_train_leaves_no_global_state_behind(idx_dir):
    """The caller's dtype policy, Python and NumPy random streams, matplotlib backend and warning filters are the
    same after a run (with its report and an export) as before it. A first run and export load every library, so
    what they register when imported is not counted."""
    import random
    import warnings

    import keras
    import matplotlib

    from gridlab.export import export

    export(_train(idx_dir, epochs=1, name="warm-up", ood="auto").folder, "litert")
    backend, filters = matplotlib.get_backend(), list(warnings.filters)
    random.seed(7)
    np.random.seed(7)
    expected = (random.random(), np.random.random())
    random.seed(7)
    np.random.seed(7)
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        run = _train(idx_dir, epochs=1, report=True, ood="auto", precision="float32", seed=123)   # everything
        export(run.folder, "litert")
        assert keras.mixed_precision.global_policy().name == "mixed_float16"
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert (random.random(), np.random.random()) == expected
    assert matplotlib.get_backend() == backend and list(warnings.filters) == filters


@pytest.mark.slow
def test_calibration_fixes_a_miscalibrated_model_and_travels_with_exports():
    """Label smoothing 0.4 makes the model say about 60% where it is right far more often. The temperature fitted
    on the validation split sharpens it (T < 1): the test ECE falls, the argmax does not change, and the ONNX
    export gives the calibrated probabilities."""
    from gridlab.export import export
    from gridlab.models.io import load_model
    from gridlab.models.temperature import set_temperature

    run = gridlab.train(data="digits", model="seed003_mlp", epochs=6, batch=32, label_smoothing=0.4, verbose=False,
                        report=True, name="smooth")
    cal = run.metrics["calibration"]
    assert run.info.temperature == cal["temperature"] < 1
    assert cal["ece_after"] < cal["ece_before"] / 2 and cal["log_loss_after"] < cal["log_loss_before"]
    assert cal["ece_after"] == run.metrics["ece"]
    dataset = gridlab.load_dataset(data="digits", verbose=False)
    model = load_model(run.folder / "model.keras")
    calibrated = model.predict(dataset.x_test, verbose=0)
    set_temperature(model, 1 / run.info.temperature)                    # undo it: the raw model
    assert (model.predict(dataset.x_test, verbose=0).argmax(1) == calibrated.argmax(1)).all()
    report = export(run.folder, "onnx")
    assert report["passed"] and report["max_abs_diff"] < 1e-4
    assert "temperature" in (run.folder / "report.html").read_text()


def test_calibration_can_be_turned_off_and_needs_enough_validation_examples(idx_dir, capsys):
    run = gridlab.train(data="digits", model="seed003_mlp", epochs=1, calibrate=False, verbose=False, report=False)
    assert run.info.temperature is None and "calibration" not in run.metrics
    run = _train(idx_dir, verbose=True)                    # 6 validation examples
    assert run.info.temperature is None and "calibration" not in run.metrics
    assert ("notice: calibration skipped: the validation split has 6 examples, too few to fit a temperature (at "
            "least 100); raise val_split or add data.") in capsys.readouterr().err


@pytest.mark.slow
def test_test_time_flip_model_is_mirror_symmetric_calibrated_on_its_views_and_exports():
    """tta=true saves a model whose prediction for an image and for its mirror image are the same (it averages
    both views); its temperature is fitted on those views; it loads safely and its ONNX export agrees with it."""
    from gridlab.export import export
    from gridlab.models.io import load_model
    from gridlab.models.temperature import views

    run = gridlab.train(data="digits", model="gridlab_fast", precision="mixed_bfloat16", epochs=2, batch=64,
                        limit=600, augment=True, tta=True, verbose=False, report=False, name="flip")
    assert run.info.temperature is not None
    model = load_model(run.folder / "model.keras")
    x = gridlab.load_dataset(data="digits", verbose=False).x_test
    plain, mirrored = model.predict(x, verbose=0), model.predict(x[:, :, ::-1], verbose=0)
    body = model.get_layer("body")                      # the trained network alone, without the averaging
    alone = np.abs(body.predict(x / 255.0, verbose=0) - body.predict(x[:, :, ::-1] / 255.0, verbose=0)).max()
    assert np.abs(plain - mirrored).max() < 1e-5 < alone / 100
    both = views(model, x)
    assert len(both) == 8 and np.allclose(plain, np.mean(both, axis=0), atol=1e-5)
    report = export(run.folder, "onnx")
    assert report["passed"] and report["argmax_agreement"] == 1.0


def test_the_optimizer_is_built_before_the_first_traced_step(idx_dir):
    """Keras would build it inside the first traced train step, and TensorFlow traces a step that makes variables a
    second time (bench/trace.py: 0.67-0.77x the CPU of a small run's fit)."""
    from gridlab.config import load_config
    from gridlab.datasets import build_dataset
    from gridlab.sources import read_source
    from gridlab.training.fit import _new_model

    config = load_config({"data": "mnist", "data_dir": str(idx_dir), "model": "seed003_mlp", "optimizer": "adam"})
    model = _new_model(config, build_dataset(read_source(config, progress=False), config), total_steps=10)
    assert model.optimizer.built
    slots = [v for v in model.optimizer.variables if v.path.endswith(("_momentum", "_velocity"))]
    assert len(slots) == 2 * len(model.trainable_variables)       # Adam's two slots per trainable variable
