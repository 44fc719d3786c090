"""What ``fit`` needs besides the model: optimizer and schedule, class weights, seeding (the arithmetic precision
is ``gridlab.hardware``'s)."""
from __future__ import annotations

import contextlib

import numpy as np

from .. import quiet
from ..scopes import keep_random_state


@contextlib.contextmanager
def seeded(seed: int, deterministic: bool):
    """Seed Python, NumPy and the backend for one training run; Python's and NumPy's global random states are put
    back afterwards, so a caller's own random streams continue as if gridlab had not run. The backend's global seed
    stays set (Keras offers no way to read it back), and ``deterministic=true`` turns on TensorFlow's op
    determinism for the rest of the process (TensorFlow offers no way to turn it off)."""
    import keras

    with keep_random_state():
        # Keras seeds TensorFlow too wherever it is installed, importing it on JAX to do so, except inside ``train``
        # (``backend.tensorflow_unasked``); where it does, its start-up lines stay off the caller's output (a
        # notebook on JAX), like gridlab's own import's
        with quiet.native_lines():
            keras.utils.set_random_seed(seed)
        if deterministic and keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            tf.config.experimental.enable_op_determinism()
        yield


def lr_schedule(config, total_steps: int):
    """The learning rate over ``total_steps``: the constant rate, or a Keras schedule (onecycle: a warm-up from a
    twentieth of ``lr`` to ``lr`` over the first quarter, then a cosine down to a hundredth; cosine: the cosine
    alone)."""
    import keras

    total = max(1, total_steps)
    if config.schedule == "onecycle":
        warm = max(1, int(0.25 * total))
        return keras.optimizers.schedules.CosineDecay(config.lr / 20.0, max(1, total - warm), alpha=0.01,
                                                      warmup_target=config.lr, warmup_steps=warm)
    if config.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(config.lr, total, alpha=0.01)
    return config.lr


def timed_schedule(config) -> bool:
    """True when the learning rate follows the time budget as well as the steps (``max_time`` with a schedule)."""
    return bool(config.max_time) and config.schedule != "constant"


def make_optimizer(config, total_steps: int):
    """The optimizer config names, its learning rate following ``lr_schedule`` over the run's ``total_steps``; under
    ``timed_schedule`` the rate is a plain value that ``callbacks.ScheduleByTime`` sets as training goes."""
    lr = lr_schedule(config, total_steps)
    if timed_schedule(config):
        lr = float(lr(0))
    from ..models.io import optimizer_class

    kwargs = {"learning_rate": lr}
    if config.optimizer == "adamw" or config.weight_decay:     # decoupled weight decay: every Keras optimizer has it
        kwargs["weight_decay"] = config.weight_decay
    elif config.optimizer == "sgd":
        kwargs["momentum"] = 0.9
    return optimizer_class(config.optimizer)(**kwargs)


def steps_per_epoch(n_train: int, batch: int) -> int:
    """Gradient steps in one epoch (the last batch may be partial)."""
    return -(-n_train // batch)


def class_weights(y: np.ndarray, k: int, mode: str) -> tuple[dict | None, str | None]:
    """Balanced class weights (n / (k * count)) when asked, or under ``auto`` when the largest class is over 3x
    the smallest that has examples. Returns (weights or None, a notice or None)."""
    counts = np.bincount(y, minlength=k)
    ratio = counts.max() / counts[counts > 0].min()      # classes with no examples (a named set's unused ones) aside
    if mode == "none" or (mode == "auto" and ratio <= 3):
        return None, None
    weights = {i: float(len(y) / (k * max(c, 1))) for i, c in enumerate(counts)}
    why = f"the largest class has {ratio:.1f}x the examples of the smallest" if mode == "auto" else "asked for"
    return weights, (f"class weights on ({why}): "
                     + ", ".join(f"{i}={w:.2f}" for i, w in weights.items()) + ". class_weight=none turns them off.")


def few_steps_notice(n_train: int, batch: int, epochs: int, least: int = 100) -> str | None:
    """A notice when the whole run takes fewer than ``least`` gradient steps (a large batch on a small data set,
    e.g. preset=fast's batch 256 on a few hundred sensor frames), saying which keys to change."""
    per_epoch = steps_per_epoch(n_train, batch)
    if per_epoch * epochs >= least:
        return None
    fix = f"raise epochs (epochs={-(-least // per_epoch)} makes {least} steps)"
    if batch > 32 and n_train > 32:
        fix = f"lower batch (batch=32 makes {steps_per_epoch(n_train, 32) * epochs} steps) or " + fix
    return (f"batch={batch} on {n_train:,} training examples is {per_epoch} steps per epoch, {per_epoch * epochs} "
            f"in all over epochs={epochs}: too few to train well; {fix}.")
