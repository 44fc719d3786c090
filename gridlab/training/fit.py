"""``train``: config -> data -> model -> fit -> run folder: ``_prepare`` (config, data, the run folder), ``_fit``
(build or resume, then train), and ``finish.finish`` (everything after the fit)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from .. import backend, quiet, runs, tracking
from ..config import load_config, parse_duration, save_config
from ..datasets import feed
from ..errors import TrainingError
from ..files import remove_stale_temporaries, write_text
from ..hardware import resolve_precision
from .finish import augmented, finish, say
from .setup import class_weights, few_steps_notice, lr_schedule, make_optimizer, seeded, steps_per_epoch, timed_schedule


def train(config=None, callbacks=(), clock=None, **overrides) -> runs.Run | None:
    """Train a model as the config says and write its run directory. ``callbacks`` are extra Keras callbacks
    (they run after gridlab's own checkpointing callback); ``clock`` replaces ``time.perf_counter`` for the time
    budget and the timings (tests drive it by hand).

    Three steps: ``_prepare`` (config, data, run folder), ``_fit`` (model and training, under the chosen
    precision), ``_finish`` (the best checkpoint as the saved model, test metrics, run.json, report). With
    ``distribute=data_parallel`` only process 0 finishes and returns the Run; the other processes return None.

    >>> run = train(data="digits", model="seed001_cnn", epochs=1, verbose=False)   # doctest: +SKIP
    >>> run.folder
    PosixPath('runs/digits-seed001_cnn')
    """
    config = config if config is not None else load_config(overrides)
    processes = _processes(config)
    config, folder, dataset, state = _prepare(config, processes)
    chosen = backend.chosen()
    precision = resolve_precision(config.precision, gpu_bf16=backend.gpu_bf16() if chosen and chosen.device == "gpu"
                                  else None)
    with backend.tensorflow_unasked():        # on JAX, Keras' seeding and saving leave TensorFlow unimported
        if processes is None:
            model, monitor = _fit(config, folder, dataset, state, precision, callbacks, clock or time.perf_counter)
            return finish(config, folder, model, dataset, monitor, precision)
        return _fit_data_parallel(config, folder, dataset, precision, callbacks, clock or time.perf_counter,
                                  processes)


def _processes(config):
    """This process's place in a data-parallel group (training.distributed), or None for a run of its own."""
    if config.distribute != "data_parallel":
        return None
    from ..models import SKLEARN as LINEAR_MODELS
    from . import distributed

    if config.model in LINEAR_MODELS:
        raise TrainingError(f"model={config.model} is fitted by scikit-learn in one process; distribute=data_parallel "
                            "trains Keras models (pick one from `gridlab models`, or drop distribute).")
    processes = distributed.coordinates(config)
    distributed.check(config, processes)
    return processes


def _fit_data_parallel(config, folder: Path, dataset, precision, callbacks, clock, processes):
    """Train in step with the other processes; then process 0 evaluates and writes the run folder alone, and the
    others remove their temporary folder. Returns the Run in process 0, None in the others."""
    import shutil

    from . import distributed

    devices = distributed.start(processes, config.batch)
    say(config, f"data parallel: {processes}, {len(devices)} device(s) in all ({devices[0]}"
                 f"{', ...' if len(devices) > 1 else ''}); global batch {config.batch}, "
                 f"{config.batch // len(devices)} per device")
    try:
        model, monitor = _fit(config, folder, dataset, None, precision, callbacks, clock, processes)
        digest = distributed.weights_digest(model)
        agree = distributed.replicas_agree(model)
    finally:
        distributed.leave()
        if not processes.leader:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"{processes}: trained, weights sha256 {digest}"
          + (f", identical on this process's {len(devices)} devices" if agree and processes.count == 1 else "")
          + ("" if agree else ", DIFFERENT across this process's devices"), file=sys.stderr, flush=True)
    if not processes.leader:
        return None
    from ..models.io import load_model

    model = load_model(folder / runs.MODEL)     # the best weights in a model of this process alone
    info = {"processes": processes.count, "coordinator": processes.coordinator,
            "batch_per_process": config.batch // processes.count, "devices": len(devices),
            "weights_sha256": digest}
    return finish(config, folder, model, dataset, monitor, precision, distributed=info)


def _prepare(config, processes=None):
    """Resolve a resumed run's config, read and split the data (bad data fails here, before anything is written),
    then create the run folder with its config and data report. Returns (config, folder, dataset, resume state).
    A data-parallel process other than 0 gets a temporary folder instead and writes nothing else."""
    from ..datasets import build_dataset
    from ..models import check_model_name
    from ..sources import read_source

    tracking.check_installed(config)     # a missing package fails now, not after the training
    # at once: a zoo or scikit-learn name needs no Keras (a layer list's check imports it, as backend.use would)
    check_model_name(config.model, config.device if processes is None else None)
    if processes is None:
        backend.use(config.device)       # device=gpu without a GPU is refused here, before anything is written
    if processes is not None and not processes.leader:
        import tempfile

        config = config.replace(verbose=False)     # process 0 tells the story; this one prints its final line
        dataset = build_dataset(read_source(config, progress=False), config)
        return config, Path(tempfile.mkdtemp(prefix=f"gridlab-process-{processes.index}-")), dataset, None
    folder, resuming = runs.choose_run_dir(config)
    if resuming and processes is not None:
        raise TrainingError(f"{folder}: an unfinished run of this name exists, and distribute=data_parallel cannot "
                            "resume it; give a new name=, or resume it in one process without distribute.")
    if resuming:
        config = load_config({**runs.saved_overrides(folder), "resume": True, "exist_ok": True,
                              "verbose": config.verbose})
    dataset = build_dataset(read_source(config, progress=config.verbose), config)
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(folder)
    save_config(config, folder / runs.CONFIG)
    say(config, f"run directory: {folder}" + (" (resuming)" if resuming else ""))
    for notice in dataset.notices:
        say(config, f"notice: {notice}")
    runs.write_data_report(folder, dataset)
    say(config, f"data: {dataset.name} from {dataset.origin}: train {len(dataset.y_train):,}, "
                 f"val {len(dataset.y_val):,}, test {len(dataset.y_test):,} ({dataset.test_origin}); "
                 f"input {dataset.input_shape}, {dataset.num_classes} classes, scaling {dataset.scaling['kind']}")
    return config, folder, dataset, (runs.read_state(folder) if resuming else None)


def _fit(config, folder: Path, dataset, state, precision: str, callbacks, clock, processes=None):
    """Build (or resume) the model and train it under ``precision``; returns the model holding the best
    checkpoint's weights, and the Monitor that watched training. With ``processes`` (data parallel), this process
    trains on its share of the splits with its share of each batch."""
    import keras  # only now: data readers may fork worker processes, which is unsafe once TensorFlow runs

    from ..models import SKLEARN as LINEAR_MODELS
    from ..models import precision as precision_scope
    from .callbacks import Monitor

    if config.model in LINEAR_MODELS:
        return _fit_linear(config, folder, dataset)
    # a resumed run continues with a random stream derived from (seed, epochs done), not the first epoch's
    seed = config.seed + 1000 * (state["epochs_done"] if state else 0)
    with precision_scope(precision), seeded(seed, config.deterministic):
        total_steps = steps_per_epoch(len(dataset.y_train), config.batch) * config.epochs
        weights, weights_notice = class_weights(dataset.y_train, dataset.num_classes, config.class_weight)
        for notice in (weights_notice, few_steps_notice(len(dataset.y_train), config.batch, config.epochs)):
            if notice:
                say(config, f"notice: {notice}")
        if state:
            from ..models.io import load_model

            model = load_model(folder / runs.LAST, compile=True)
            say(config, f"resuming after epoch {state['epochs_done']} (best {state['monitor']} "
                         f"{state['best']} at epoch {state['best_epoch']})")
        else:
            model = _new_model(config, dataset, total_steps)
        write_text(folder / runs.SUMMARY, _summary(model))
        say(config, f"model: {config.model}, {model.count_params():,} parameters, {precision}")
        say(config, backend.device_line(backend.use(), precision))

        budget = parse_duration(config.max_time) if config.max_time else None
        monitor = Monitor(folder, config.monitor, config.patience, budget, state, clock)
        own = [monitor]
        if timed_schedule(config):
            from .callbacks import ScheduleByTime

            own.append(ScheduleByTime(lr_schedule(config, total_steps), total_steps, budget, monitor.elapsed))
            say(config, f"learning rate: the {config.schedule} schedule fits whichever ends first, "
                         f"max_time={config.max_time} or epochs={config.epochs}")
        if tracking.wants(config, "tensorboard"):
            own.append(tracking.tensorboard_callback(folder))
        x_fit, y_fit, x_val, y_val, batch = _shares(config, dataset, processes)
        if config.label_smoothing > 0:
            y_fit, y_val = (keras.utils.to_categorical(y, dataset.num_classes) for y in (y_fit, y_val))
        initial = state["epochs_done"] if state else 0
        if initial < config.epochs and not (state and _stopped(state, config)):
            # each run's model traces Keras' train and test steps anew: TensorFlow's "frequent retracing" warning
            # from the third run in one process on is gridlab's own, not the caller's (``quiet.own_retracing``)
            with quiet.own_retracing():
                model.fit(**feed.fit_data(x_fit, y_fit, batch), epochs=config.epochs,
                          initial_epoch=initial, validation_data=feed.validation_data(x_val, y_val, batch),
                          class_weight=weights, callbacks=[*own, *callbacks],
                          verbose=_progress(config))
        if monitor.nan_at is not None:
            kept = (f"the best checkpoint (epoch {monitor.best_epoch}) is kept in model.keras"
                    if monitor.best_epoch else "no epoch finished, so there is no checkpoint yet")
            raise TrainingError(f"{folder}: {monitor.stop_reason}; training stopped and {kept}. "
                                f"Lower the learning rate (lr={config.lr}).")
        if monitor.stop_reason:
            say(config, f"stopped: {monitor.stop_reason}")
        if (folder / runs.MODEL).is_file():     # the best epoch's weights, also after a resume
            model.load_weights(folder / runs.MODEL)
    return model, monitor


def _shares(config, dataset, processes):
    """(x_train, y_train, x_val, y_val, batch) this process trains on: all of it, or its share when data parallel."""
    if processes is None:
        return dataset.x_train, dataset.y_train, dataset.x_val, dataset.y_val, config.batch
    from .distributed import share

    return (*share(dataset.x_train, dataset.y_train, processes), *share(dataset.x_val, dataset.y_val, processes),
            config.batch // processes.count)


def _fit_linear(config, folder: Path, dataset):
    """scikit-learn's logistic regression, fitted in one go and saved as the equivalent Keras model."""
    from ..models.io import save_model
    from .linear import fit_logistic

    weights, notice = class_weights(dataset.y_train, dataset.num_classes, config.class_weight)
    if notice:
        say(config, f"notice: {notice}")
    model, record = fit_logistic(config, dataset, weights)
    write_text(folder / runs.SUMMARY, _summary(model))
    say(config, f"model: {config.model} (scikit-learn), {model.count_params():,} parameters; {record.stop_reason}; "
                 f"validation accuracy {record.rows[0]['val_accuracy']:.4f}")
    runs.write_history(folder, record.rows)
    save_model(model, folder / runs.MODEL)
    return model, record


def _progress(config) -> int:
    """Keras' progress display: the in-place bar in a terminal and in a notebook (ipykernel), one line per epoch
    when the output goes to a file or a pipe, nothing with verbose=false."""
    if not config.verbose:
        return 0
    return 1 if sys.stderr.isatty() or "ipykernel" in sys.modules else 2


def _stopped(state: dict, config) -> bool:
    return bool(config.patience) and state.get("wait", 0) >= config.patience


def _new_model(config, dataset, total_steps: int):
    import keras

    from ..models import build_model
    from ..models.whitening import fill as fill_whitening

    dtype = "uint8" if dataset.x_train.dtype == np.uint8 else "float32"
    model = build_model(config.model, dataset.input_shape, dataset.num_classes, dataset.scaling, dtype,
                        config.dropout, config.whiten)
    # from all of the training split, so every data-parallel process builds the same layer
    if not fill_whitening(model, dataset.x_train) and config.whiten:
        say(config, f"notice: whiten=true skipped: model {config.model} has no square, stride-1 Conv2D to replace "
                     "(set whiten=false to silence this)")
    if augmented(config, dataset):
        from ..models import with_augmentation

        model = with_augmentation(model, config.augment_shift)
    if config.label_smoothing > 0:
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)
        acc = keras.metrics.CategoricalAccuracy(name="accuracy")
    else:
        loss = keras.losses.SparseCategoricalCrossentropy()
        acc = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
    model.compile(optimizer=make_optimizer(config, total_steps), loss=loss, metrics=[acc],
                  steps_per_execution=config.steps_per_execution)
    # the optimizer's slots made now, not inside the first traced train step: a tf.function that makes variables
    # is traced twice, so this saves one trace of the step per run (a small run's fit in 0.67-0.77x the CPU;
    # bench/trace.py)
    model.optimizer.build(model.trainable_variables)
    return model


def _summary(model) -> str:
    lines = []
    model.summary(print_fn=lambda line, *a, **k: lines.append(line), line_length=100)
    return "\n".join(lines) + "\n"
