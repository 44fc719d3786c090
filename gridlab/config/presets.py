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
    # layer, a one-cycle schedule, batches of 256, label smoothing, bf16 where the CPU has it, 16 steps per compiled
    # call, 90% of the data to train on and a fixed two-epoch schedule: each choice measured against its
    # alternatives in docs/benchmarks.md ("Design probes", "speed")
    "fast": {"model": "gridlab_fast", "whiten": True, "optimizer": "adamw", "lr": 0.016, "batch": 256, "epochs": 2,
             "patience": 0, "schedule": "onecycle", "label_smoothing": 0.1, "weight_decay": 0.0001, "precision": "auto",
             "steps_per_execution": 16, "augment": False, "monitor": "val_accuracy", "val_split": 0.1},
    # the fast recipe at a lower peak rate over 40 epochs, with random shifts and mirror images while training and
    # the six test-time views (measured in docs/benchmarks.md, "Design probes" and "speed")
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
