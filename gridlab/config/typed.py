"""Every configuration key with its type, generated from default.yaml by
`python -m gridlab.config` (a test checks it is current). For editors and type checkers: the
resolved config (``load_config``) has this shape."""
from __future__ import annotations

from typing import Literal, Protocol


class ConfigView(Protocol):
    data: str
    data_dir: str | None
    download: bool
    source: Literal['auto', 'idx', 'digits', 'image_folder', 'sensor_grid', 'npz']
    val_split: float
    test_split: float
    limit: int | None
    image_size: list | None
    color: Literal['grayscale', 'rgb']
    scaling: Literal['auto', 'divide255', 'standardize', 'per_frame', 'none']
    on_bad_file: Literal['error', 'skip']
    grid_glob: str
    grid_delimiter: Literal['whitespace', 'comma']
    grid_skip_rows: int
    grid_min_values: int
    grid_rows: list | None
    grid_cols: list | None
    grid_shape: list | None
    grid_cache: bool
    model: str
    whiten: bool
    dropout: float | None
    preset: Literal['none', 'seed', 'fast', 'best']
    epochs: int
    batch: int
    optimizer: Literal['adam', 'adamw', 'rmsprop', 'sgd', 'adagrad']
    lr: float
    schedule: Literal['constant', 'onecycle', 'cosine']
    weight_decay: float
    label_smoothing: float
    patience: int
    monitor: Literal['val_loss', 'val_accuracy']
    class_weight: Literal['auto', 'balanced', 'none']
    threshold: str
    precision: Literal['float32', 'mixed_bfloat16', 'auto']
    steps_per_execution: int
    augment: bool
    augment_shift: float
    calibrate: bool
    ood: Literal['auto', 'ensemble', 'mahalanobis_layers', 'mahalanobis', 'knn', 'energy', 'msp', 'none']
    ood_pass_rate: float
    tta: bool
    max_time: str | None
    device: Literal['auto', 'cpu', 'gpu']
    seed: int
    deterministic: bool
    resume: bool
    distribute: Literal['none', 'data_parallel']
    distribute_coordinator: str | None
    distribute_processes: int | None
    distribute_process_id: int | None
    serve_runtime: Literal['onnx', 'keras']
    serve_max_upload_bytes: int
    serve_max_pixels: int
    serve_formats: list
    serve_max_fields: int
    serve_timeout: float
    serve_max_concurrent: int
    serve_batch_window_ms: float
    serve_max_batch: int
    serve_metrics: bool
    serve_access_log: bool
    project: str
    name: str | None
    exist_ok: bool
    verbose: bool
    report: bool
    explain_method: Literal['auto', 'gradcam', 'occlusion', 'integrated_gradients', 'none']
    audit: bool
    tracking: Literal['none', 'tensorboard', 'mlflow', 'all']
    tracking_uri: str | None
    sweep_space: str | None
    sweep_trials: int
    sweep_metric: str
    sweep_mode: Literal['auto', 'min', 'max']
    sweep_search: Literal['optuna', 'random', 'grid']
    sweep_scheduler: Literal['asha', 'none']
    sweep_cpus_per_trial: int
    sweep_gpus_per_trial: float
    sweep_concurrent: int | None
    sweep_max_time: str | None
    sweep_address: str | None
