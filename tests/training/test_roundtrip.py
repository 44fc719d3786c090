"""Every documented choice that changes what is saved makes a run that reloads: trained (interrupted after one epoch,
then resumed from its checkpoint), then predicted and evaluated from the saved model.

The cases are read from ``default.yaml`` and the model registries, so a choice added there fails here until its
runs load."""
import keras
import numpy as np
import pytest
from PIL import Image

import gridlab
from gridlab.config import SPECS
from gridlab.models import SKLEARN as LINEAR_MODELS
from gridlab.models.zoo import ZOO
from tests.conftest import write_idx_set

LAYERS_YAML = """\
layers:
  - Conv2D: {filters: 4, kernel_size: 3, activation: relu, padding: same}
  - MaxPooling2D: {}
  - Flatten: {}
  - Dense: {units: 8, activation: relu}
"""


def cases():
    """(id, overrides): every value of every key that changes the saved model or its checkpoint, at least once.

    Each model is one run. The other choices are spread over the neural models' runs: the i-th takes the i-th
    optimizer and precision (cycling) and at most one other choice, so 12 runs cover what 25 runs of one choice
    each covered. An id names every choice of its run."""
    neural = [*ZOO, "layers.yaml"]
    optimizers, precisions = SPECS["optimizer"].choices, SPECS["precision"].choices
    # booleans: the value that is not the default (each other run keeps the defaults); whiten first, on a model
    # whose first convolution it replaces (the test checks it did)
    flags = [{key: not SPECS[key].default, **({"augment": True} if key == "tta" else {})}
             for key in ("whiten", "tta", "augment", "calibrate")]
    flags += [{"label_smoothing": 0.1}, {"schedule": "onecycle"}]
    assert len(neural) >= max(len(optimizers), len(precisions), len(flags))
    out = []
    for i, model in enumerate(neural):
        overrides = {"model": model, "optimizer": optimizers[i % len(optimizers)],
                     "precision": precisions[i % len(precisions)], **(flags[i] if i < len(flags) else {})}
        out.append((",".join(f"{k}={v}".lower() for k, v in overrides.items()), overrides))
    return out + [(f"model={m}", {"model": m}) for m in LINEAR_MODELS]


class StopAfterFirstEpoch(keras.callbacks.Callback):
    """Interrupt training once the first epoch's checkpoint is written, as a killed process would."""

    def on_epoch_end(self, epoch, logs=None):
        raise KeyboardInterrupt


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A 3-class 8x8 set big enough that calibration runs (at least 100 validation examples), and one PNG."""
    root = tmp_path_factory.mktemp("roundtrip")
    write_idx_set(root / "idx", per_class=60, size=8, test_per_class=6)
    (root / "layers.yaml").write_text(LAYERS_YAML)
    image = np.zeros((8, 8), np.uint8)
    image[:3] = 250
    Image.fromarray(image).save(root / "top.png")
    return root


@pytest.mark.slow
@pytest.mark.parametrize("overrides", [c[1] for c in cases()], ids=[c[0] for c in cases()])
def test_every_saved_choice_reloads_predicts_evaluates_and_resumes(data, overrides, tmp_path):
    if overrides.get("model") == "layers.yaml":
        overrides = {**overrides, "model": str(data / "layers.yaml")}
    config = dict(data="mnist", data_dir=str(data / "idx"), epochs=2, batch=16, val_split=0.6, verbose=False,
                  report=False, audit=False, name="rt", project=str(tmp_path / "runs"), **overrides)
    linear = overrides.get("model") in LINEAR_MODELS
    if not linear:        # sklearn models are fitted in one go: nothing to interrupt
        with pytest.raises(KeyboardInterrupt):
            gridlab.train(callbacks=[StopAfterFirstEpoch()], **config)
        assert (tmp_path / "runs/rt/last.keras").is_file() and not (tmp_path / "runs/rt/run.json").exists()
        config["resume"] = True
    run = gridlab.train(**config)
    assert run.folder == tmp_path / "runs/rt" and run.info.epochs_run == (1 if linear else 2)
    if overrides.get("whiten"):        # the run proves a whitened model reloads only if it has the layer
        from gridlab.models.io import load_model
        from gridlab.models.whitening import LAYER

        assert LAYER in {layer.name for layer in load_model(run.folder / "model.keras").layers}
    if overrides.get("calibrate") is not False:
        assert run.info.temperature is not None            # the calibrated model is the one reloaded below

    rows = gridlab.predict(run.folder, [data / "top.png"])
    assert rows[0]["class"] in run.info.class_names and rows[0]["error"] is None
    metrics = gridlab.evaluate(run.folder, write=False)
    assert metrics["accuracy"] == pytest.approx(run.metrics["accuracy"], abs=1e-9)
