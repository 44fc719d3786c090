import keras
import pytest

from gridlab.config import load_config
from gridlab.training.callbacks import ScheduleByTime
from gridlab.training.setup import lr_schedule, make_optimizer


def test_schedule_follows_whichever_runs_out_first():
    now = [0.0]
    cb = ScheduleByTime(lambda step: step, total_steps=100, budget=10.0, clock=lambda: now[0])
    assert cb.progress(0) == 0.0
    now[0] = 5.0
    assert cb.progress(10) == pytest.approx(0.5)     # time runs out first
    assert cb.progress(80) == pytest.approx(0.8)     # steps run out first
    now[0] = 30.0
    assert cb.progress(10) == 1.0                    # never past the end of the schedule


@pytest.mark.parametrize("schedule", ["onecycle", "cosine"])
def test_timed_optimizer_has_a_settable_rate(schedule):
    config = load_config({"schedule": schedule, "lr": 0.01, "max_time": "1m", "epochs": 2})
    opt = make_optimizer(config, total_steps=20)
    shape = lr_schedule(config, 20)
    assert float(opt.learning_rate) == pytest.approx(float(shape(0)))
    opt.learning_rate = 0.003                        # what ScheduleByTime does; a Keras schedule would refuse it
    assert float(opt.learning_rate) == pytest.approx(0.003)
    untimed = make_optimizer(load_config({"schedule": schedule, "lr": 0.01, "epochs": 2}), total_steps=20)
    assert isinstance(untimed._learning_rate, keras.optimizers.schedules.LearningRateSchedule)


def test_an_improved_epoch_serializes_the_model_once_and_its_resume_point_is_that_file(tmp_path, monkeypatch):
    """model.keras (the best checkpoint) and last.keras (the resume point) after an epoch that improved: the same
    file, and it reloads with its optimizer state; after an epoch that did not, last.keras is that epoch's model."""
    import numpy as np

    from gridlab import runs
    from gridlab.models.io import load_model
    from gridlab.training import callbacks
    from gridlab.training.callbacks import Monitor

    saved = []
    plain = callbacks.save_model
    monkeypatch.setattr(callbacks, "save_model", lambda model, path: (saved.append(path.name), plain(model, path)))

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    x, y = np.ones((8, 3), np.float32), np.zeros((8, 2), np.float32)
    model.fit(x, y, epochs=1, verbose=0)                       # the optimizer has state to save
    monitor = Monitor(tmp_path, patience=0)
    monitor.set_model(model)
    monitor.on_train_begin()
    monitor.on_epoch_begin(0)
    monitor.on_epoch_end(0, {"loss": 1.0, "val_loss": 0.5})    # improved: the first score
    best, last = tmp_path / runs.MODEL, tmp_path / runs.LAST
    assert saved == [runs.MODEL] and best.read_bytes() == last.read_bytes()
    assert load_model(last, compile=True).optimizer.iterations.numpy() == 1
    model.layers[0].kernel.assign(model.layers[0].kernel + 1.0)
    monitor.on_epoch_begin(1)
    monitor.on_epoch_end(1, {"loss": 1.0, "val_loss": 0.9})    # worse: the best checkpoint stays
    assert saved == [runs.MODEL, runs.LAST] and best.read_bytes() != last.read_bytes()
    assert np.allclose(load_model(last).get_weights()[0], model.get_weights()[0])
    assert not np.allclose(load_model(best).get_weights()[0], model.get_weights()[0])
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")] == []
