"""Named recipes. A preset only sets keys that exist in ``default.yaml``; explicit values still win over it.

- ``seed``: the seed 001 recipe exactly (Adam 1e-3, batch 32, 20 epochs, early stopping with patience 2).
- ``fast``: gridlab's time-to-accuracy recipe for CPUs: a frozen whitening first layer, large batches, one-cycle
  learning rate, label smoothing, bf16 arithmetic where the CPU has it, a fixed short schedule.
- ``best``: trades time for accuracy: the fast recipe's model and optimizer (peak rate 0.012) over 40 epochs,
  with shifts and mirror images while training and six test-time views. With ``max_time`` the schedule fits the
  budget instead.
"""
from __future__ import annotations

from ..errors import ConfigError, did_you_mean

PRESETS: dict[str, dict] = {
    "none": {},
    "seed": {"optimizer": "adam", "lr": 0.001, "batch": 32, "epochs": 20, "patience": 2, "schedule": "constant",
             "label_smoothing": 0.0, "precision": "float32", "steps_per_execution": 1, "augment": False,
             "monitor": "val_loss", "val_split": 0.2},
    # seed 001's two convolutions at half width with batch norm (gridlab_fast), the first one a frozen whitening
    # layer (+0.37 points in the same time over 3 seeds), a one-cycle schedule, batches of 256 (faster than 128 at
    # the same accuracy; 512 lost accuracy; both in docs/benchmarks.md, "Design probes"), label
    # smoothing, bf16 where the CPU has it, 16 steps per compiled call, 90% of the training data to train on, and a
    # fixed two-epoch schedule at a peak rate of 0.016: 91.89-92.00% over 5 seeds on AVX2, where 0.008 gave
    # 91.60-91.78% in two epochs and needed a third to be sure of 91.6%; no epochs spent waiting for early stopping
    "fast": {"model": "gridlab_fast", "whiten": True, "optimizer": "adamw", "lr": 0.016, "batch": 256, "epochs": 2,
             "patience": 0, "schedule": "onecycle", "label_smoothing": 0.1, "weight_decay": 0.0001, "precision": "auto",
             "steps_per_execution": 16, "augment": False, "monitor": "val_accuracy", "val_split": 0.1},
    # the fast recipe at a peak rate of 0.012, for 40 epochs, with random shifts of up to 2 pixels and mirror images
    # while training, and the six test-time views, on 2 AVX2 cores: 94.08% after 40 epochs (302 s) and 94.13% with
    # epochs=100 max_time=590s; 0.012 beat 0.008 by 0.3 points at 40 epochs and 0.2 at a 2-minute budget, and
    # trailed it by 0.16 at 10 minutes (one seed each: docs/benchmarks.md, "Design probes")
    "best": {"model": "gridlab_fast", "whiten": True, "optimizer": "adamw", "lr": 0.012, "batch": 256, "epochs": 40,
             "patience": 0, "schedule": "onecycle", "label_smoothing": 0.1, "weight_decay": 0.0001,
             "precision": "auto", "steps_per_execution": 16, "augment": True, "augment_shift": 0.07, "tta": True,
             "monitor": "val_accuracy", "val_split": 0.1},
}


ABOUT = {
    "none": "no preset: default.yaml's values",
    "seed": "seed 001's recipe exactly",
    "fast": "gridlab's time-to-accuracy recipe for CPUs (the main job)",
    "best": "trades time for accuracy: fast's model over 40 epochs, augmentation, six test-time views",
}


def preset_values(name: str) -> dict:
    """The keys a preset sets."""
    if name not in PRESETS:
        raise ConfigError(f"preset={name!r} is not one of {', '.join(PRESETS)}.{did_you_mean(name, PRESETS)}")
    return dict(PRESETS[name])
