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
