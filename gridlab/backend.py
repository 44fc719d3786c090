"""Where gridlab computes: the one place that picks Keras' backend and the device (the ``device`` key).

- ``device=auto``: the GPU through JAX when an NVIDIA GPU is visible, JAX's CUDA plugin is installed
  (``pip install 'gridlab[cuda]'``) and the user has not chosen a backend; otherwise TensorFlow on the CPU (about 4x
  faster than JAX on the CPUs measured), or JAX on the CPU where TensorFlow is not installed.
- ``device=cpu``: the CPU, on TensorFlow where it is installed (else JAX, kept off the GPU).
- ``device=gpu``: the GPU through JAX; refused in one line, before anything is written, where no GPU is visible, the
  CUDA plugin is missing, or the user chose a backend that cannot reach the GPU.

The user's choice always wins: ``KERAS_BACKEND``, a ``backend`` other than the default in ``~/.keras/keras.json``
(Keras writes ``tensorflow`` there by itself on first use), or a Keras already imported with its backend. gridlab
never sets ``KERAS_BACKEND`` for good: when it must pick JAX, it sets the variable only while it imports Keras and
removes it right after (``use``), so a child process never mistakes gridlab's choice for the user's. Nothing here
imports Keras, TensorFlow or JAX until ``use`` runs.
"""
from __future__ import annotations

import contextlib
import dataclasses
import gc
import glob
import hashlib
import importlib.util
import json
import os
import sys
from pathlib import Path

from . import quiet
from .errors import ConfigError
from .scopes import environment

CUDA_PLUGINS = ("jax_cuda13_plugin", "jax_cuda12_plugin")


@dataclasses.dataclass(frozen=True)
class Machine:
    """What this process could compute on, found without importing any framework."""

    gpus: int                       # NVIDIA GPUs the driver lists
    jax_cuda: bool                  # JAX with a CUDA plugin is installed
    tensorflow: bool                # TensorFlow is installed
    jax: bool                       # JAX is installed
    user_backend: str | None        # the backend the user chose (KERAS_BACKEND, keras.json) or Keras runs already
    why_user: str = ""


@dataclasses.dataclass(frozen=True)
class Choice:
    backend: str                    # tensorflow | jax
    device: str                     # cpu | gpu
    why: str


def installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def visible_gpus() -> int:
    """NVIDIA GPUs the kernel driver lists (``/proc/driver/nvidia/gpus``), honouring ``CUDA_VISIBLE_DEVICES``."""
    found = len(glob.glob("/proc/driver/nvidia/gpus/*"))
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and found:
        found = min(found, len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"]))
    return found


def _keras_json_backend() -> str | None:
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        return json.loads(Path(home, "keras.json").read_text()).get("backend")
    except (OSError, ValueError, AttributeError):
        return None


def look(environ=None) -> Machine:
    """The facts ``choose`` decides from."""
    environ = os.environ if environ is None else environ
    user, why = None, ""
    if "keras" in sys.modules:
        user, why = sys.modules["keras"].backend.backend(), "Keras was imported before gridlab chose"
    elif environ.get("KERAS_BACKEND"):
        user, why = environ["KERAS_BACKEND"], "KERAS_BACKEND is set"
    elif _keras_json_backend() not in (None, "tensorflow"):    # Keras writes "tensorflow" there by itself
        user, why = _keras_json_backend(), "~/.keras/keras.json names it"
    return Machine(visible_gpus(), any(installed(p) for p in CUDA_PLUGINS), installed("tensorflow"),
                   installed("jax"), user, why)


def choose(device: str, machine: Machine, need_jax: bool = False) -> Choice:
    """The backend and device for ``device`` (auto | cpu | gpu) on ``machine``; a ConfigError when it cannot be
    had. ``need_jax``: the caller needs the JAX backend (``distribute=data_parallel``).

    >>> choose("auto", Machine(gpus=1, jax_cuda=True, tensorflow=True, jax=True, user_backend=None)).backend
    'jax'
    >>> choose("auto", Machine(gpus=0, jax_cuda=False, tensorflow=True, jax=True, user_backend=None)).backend
    'tensorflow'
    """
    gpu_ready = machine.gpus > 0 and machine.jax_cuda
    if machine.user_backend:
        backend = machine.user_backend
        if device == "gpu" and not gpu_ready:
            raise ConfigError(_no_gpu(machine))
        if device == "gpu" and backend != "jax":
            raise ConfigError(f"device=gpu runs on Keras' JAX backend, but the backend is {backend!r} "
                              f"({machine.why_user}); set KERAS_BACKEND=jax, or use device=cpu.")
        on_gpu = backend == "jax" and gpu_ready and device != "cpu"
        return Choice(backend, "gpu" if on_gpu else "cpu", f"your choice: {machine.why_user}")
    if device == "gpu":
        if not gpu_ready:
            raise ConfigError(_no_gpu(machine))
        return Choice("jax", "gpu", "device=gpu")
    if device == "auto" and gpu_ready:
        return Choice("jax", "gpu", "device=auto: an NVIDIA GPU is visible and JAX has CUDA")
    if need_jax:
        if not machine.jax:
            raise ConfigError("distribute=data_parallel needs JAX: pip install 'gridlab[distributed]'.")
        return Choice("jax", "cpu", "distribute=data_parallel runs on JAX")
    if machine.tensorflow:
        why = "device=cpu" if device == "cpu" else ("device=auto: no NVIDIA GPU visible" if not machine.gpus else
                                                    "device=auto: a GPU is visible but JAX has no CUDA plugin "
                                                    "(pip install 'gridlab[cuda]')")
        return Choice("tensorflow", "cpu", why + "; TensorFlow is the faster CPU backend")
    if machine.jax:
        return Choice("jax", "cpu", f"device={device}: TensorFlow is not installed, JAX is")
    raise ConfigError("neither TensorFlow nor JAX is installed: pip install gridlab (TensorFlow for CPUs) or "
                      "pip install 'gridlab[cuda]' (JAX for NVIDIA GPUs).")


def _no_gpu(machine: Machine) -> str:
    if not machine.gpus:
        return ("device=gpu: no NVIDIA GPU is visible (the driver lists none in /proc/driver/nvidia/gpus, or "
                "CUDA_VISIBLE_DEVICES hides them). Use device=cpu or device=auto.")
    return ("device=gpu: a GPU is visible but JAX has no CUDA plugin. pip install 'gridlab[cuda]' (CUDA 13, driver >= "
            "580) or 'jax[cuda12]' for older drivers.")


_CHOSEN: Choice | None = None


def use(device: str | None = None, need_jax: bool = False) -> Choice:
    """Decide (``choose``) and make it so: import Keras on the chosen backend when it is not imported yet, with
    ``KERAS_BACKEND`` set only while it imports. Returns the choice; a ConfigError when Keras already runs on another
    backend than one the request needs. ``device=None`` (loading or building a model) keeps the choice already made
    in this process, else decides as ``auto``."""
    global _CHOSEN
    if device is None and _CHOSEN is not None and not need_jax:
        return _CHOSEN
    device = device or "auto"
    machine = look()
    if _CHOSEN is not None and "keras" in sys.modules and machine.user_backend == _CHOSEN.backend \
            and machine.why_user.startswith("Keras was imported"):
        # Keras runs on what gridlab chose earlier in this process: decide again as then, not as a user's choice
        earlier = _CHOSEN.why.removeprefix("your choice: ")
        machine = dataclasses.replace(machine, user_backend=None if not _CHOSEN.why.startswith("your choice")
                                      else _CHOSEN.backend, why_user=earlier)
    choice = choose(device, machine, need_jax)
    if need_jax and choice.backend != "jax":
        raise ConfigError(f"distribute=data_parallel runs on Keras' JAX backend (keras.distribution), but the backend "
                          f"is {choice.backend!r}: run with KERAS_BACKEND=jax (TensorFlow's multi-worker strategy "
                          "does not work with Keras 3's fit, keras-team/keras#20585).")
    if "keras" not in sys.modules:
        with environment({"KERAS_BACKEND": choice.backend,
                          **({"JAX_PLATFORMS": "cpu"} if choice.backend == "jax" and choice.device == "cpu"
                             and machine.gpus and "JAX_PLATFORMS" not in os.environ else {})}):
            # TensorFlow's start-up lines kept off, in a notebook or script; the import's objects frozen where gridlab
            # owns the process
            with quiet.native_lines(), collector_paused(keep_frozen=lean_imports()):
                _import_keras()
        if choice.backend == "jax":
            keep_compilations(choice.device)
    _CHOSEN = choice
    return choice


# Packages Keras and TensorFlow import as they start only for integrations gridlab never calls, with the modules that
# import each: every one of those imports is optional there (``try: import x`` / ``except ImportError``). gridlab
# imports scikit-learn and matplotlib itself, later, where it needs them.
EXTRAS = {
    "sklearn": ("keras.src.wrappers.fixes", "keras.src.wrappers.utils",         # keras.wrappers' estimators
                "keras.src.wrappers.sklearn_wrapper"),
    "pandas": ("keras.src.trainers.data_adapters.array_slicing",),              # DataFrame inputs
    "matplotlib": ("keras.src.visualization.plot_image_gallery",                # keras.visualization
                   "keras.src.visualization.plot_bounding_box_gallery"),
    "IPython": ("keras.src.saving.file_editor",),                               # spotting a notebook
    "jax": ("tensorflow.lite.python.util",                                      # on TensorFlow: tf.lite's JAX
            "keras.src.callbacks.orbax_checkpoint"),                            # converter, Orbax checkpoints
    "scipy": ("tensorflow.python.keras.engine.training_arrays_v1",              # TensorFlow's Keras 2: sparse
              "tensorflow.python.keras.engine.training_v1"),                    # inputs
}
LEAN_VAR = "GRIDLAB_LEAN_IMPORT"      # "1": this process is gridlab's own (``lean_imports``)


def lean_imports(environ=None) -> bool:
    """Whether Keras is imported here without ``EXTRAS``: in the processes gridlab owns, its command line (which sets
    ``LEAN_VAR``, unless the user did) and the processes and Ray workers it starts. A library caller's process keeps
    every integration: its ``keras.wrappers`` and DataFrame inputs work after gridlab imported Keras there."""
    return (os.environ if environ is None else environ).get(LEAN_VAR) == "1"


class _DeclineExtras:
    """An import finder that declines the imports ``EXTRAS`` lists, made by the modules it names, as if the package
    were not installed; every other import passes (``find_spec`` returns None: the next finder looks)."""

    def find_spec(self, name, path=None, target=None):
        importers = EXTRAS.get(name)
        if importers and _importer() in importers:
            raise ModuleNotFoundError(f"No module named {name!r} (gridlab's command line imports Keras without it)",
                                      name=name)
        return None


def _importer() -> str:
    """The module whose code runs the import being looked up (the first frame outside the import machinery)."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_globals.get("__name__", "").startswith(("importlib", "_frozen_importlib")):
        frame = frame.f_back
    return frame.f_globals.get("__name__", "") if frame is not None else ""


def _import_keras() -> None:
    """``import keras``; where ``lean_imports``, with the imports in ``EXTRAS`` declined while it runs: about half the
    import's CPU time (``bench/lean_import.py``). Nothing stays declined: the packages are importable right after, and
    an import this list does not name passes, so a Keras that imports one of them elsewhere only gains less."""
    finder = _DeclineExtras() if lean_imports() else None
    if finder is not None:
        sys.meta_path.insert(0, finder)
    try:
        import keras  # noqa: F401  (reads KERAS_BACKEND now, once; on JAX, jax's config reads JAX_PLATFORMS)
    finally:
        if finder is not None:
            sys.meta_path.remove(finder)


# Keras modules that import TensorFlow through Keras' lazy handle only to ask whether it is installed: seeding (to
# seed it too) and serializing (a model's or a layer's config, to check whether a value is one of its types)
TENSORFLOW_ASKERS = ("keras.src.utils.rng_utils", "keras.src.saving.serialization_lib")


class _ImportedOrNot:
    """TensorFlow as ``TENSORFLOW_ASKERS`` see it while ``tensorflow_unasked`` runs: available once something has
    imported it, and then TensorFlow itself; any other use imports it, as Keras' lazy handle does."""

    @property
    def available(self) -> bool:
        return "tensorflow" in sys.modules

    def __getattr__(self, name):
        return getattr(importlib.import_module("tensorflow"), name)


@contextlib.contextmanager
def tensorflow_unasked():
    """Keras on JAX without importing TensorFlow (installed too) just to ask about it. Keras' seeding and its
    serializing of configs (``get_config``, cloning, saving) ask its lazy handle whether TensorFlow is available, and
    asking imports it: about 2.5 s of CPU and 400 MiB more for every JAX process that trains
    (``bench/jax_unasked.py``). Serializing asks to check whether a value is one of TensorFlow's types, and none can
    be before TensorFlow is imported; seeding asks to seed it too, for tf.data, which gridlab uses on TensorFlow
    alone (on JAX it feeds numpy arrays). While the body runs, those modules (``TENSORFLOW_ASKERS``) see TensorFlow
    as available once something has imported it, and not before; the Python, NumPy and Keras seeds are set as ever.
    Outside the body Keras is as it was (a caller's own seeding still seeds TensorFlow); where TensorFlow is
    imported already, or Keras has moved these names, nothing changes."""
    if "tensorflow" in sys.modules:
        yield
        return
    try:
        from keras.src.utils.module_utils import LazyModule
    except ImportError:
        yield
        return
    swapped = [(module, module.tf) for module in map(sys.modules.get, TENSORFLOW_ASKERS)
               if module is not None and isinstance(getattr(module, "tf", None), LazyModule)]
    for module, _ in swapped:
        module.tf = _ImportedOrNot()
    try:
        yield
    finally:
        for module, handle in swapped:
            module.tf = handle


JAX_CACHE_BYTES = 2 * 2**30    # the compilation cache's size; the least recently used programs go first
JAX_CACHE_SECONDS = 0.1        # compilations shorter than this are not kept (reading one back takes milliseconds)


def keep_compilations(device: str) -> Path | None:
    """Turn on JAX's persistent compilation cache where gridlab imports Keras on JAX: what XLA compiles (the train
    step, the predict step at each shape, the initializers) is kept on disk, and the next process that needs it (a
    second run, a sweep's next trial, a restarted server, each data-parallel process) loads it instead of compiling
    again (``bench/jax_cache.py``). In the user cache folder, one folder per machine: the entries are native code for
    this CPU and the GPUs the driver lists (``device``: cpu or gpu), and a home folder shared by machines of several
    kinds must not mix them (nothing here starts JAX's backend: ``jax.distributed`` must come first). Compilations
    of ``JAX_CACHE_SECONDS`` or more are kept (JAX's default, 1 s, leaves out most of a small model's), at most
    ``JAX_CACHE_BYTES`` in all, the least recently used first out (with the ``filelock`` package JAX needs). The
    user's own setting wins (``JAX_COMPILATION_CACHE_DIR`` or ``jax.config``; ``JAX_ENABLE_COMPILATION_CACHE=false``
    turns it off). Returns the folder in use, None when off."""
    import jax

    values = getattr(jax.config, "values", {})     # each option looked up with .get: a newer JAX may lack one
    if not values.get("jax_enable_compilation_cache", True) or "jax_compilation_cache_dir" not in values:
        return None
    if values["jax_compilation_cache_dir"]:
        return Path(values["jax_compilation_cache_dir"])
    from .files import cache_dir
    from .hardware import read_cpu

    cpu = read_cpu()
    gpus = sorted(_gpu_models()) if device == "gpu" else []
    key = hashlib.sha256(repr((cpu.model, sorted(cpu.flags), cpu.machine, device, gpus)).encode()).hexdigest()[:16]
    folder = cache_dir() / "jax" / key
    jax.config.update("jax_compilation_cache_dir", str(folder))
    if values.get("jax_persistent_cache_min_compile_time_secs") == 1.0:    # JAX's default (not the user's)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", JAX_CACHE_SECONDS)
    if values.get("jax_compilation_cache_max_size") == -1 and importlib.util.find_spec("filelock") is not None:
        jax.config.update("jax_compilation_cache_max_size", JAX_CACHE_BYTES)
    return folder


def _gpu_models() -> list[str]:
    """The model of each GPU the NVIDIA driver lists (``Model: NVIDIA H200`` in /proc/driver/nvidia/gpus)."""
    models = []
    for info in glob.glob("/proc/driver/nvidia/gpus/*/information"):
        try:
            lines = Path(info).read_text(errors="replace").splitlines()
        except OSError:
            continue
        models += [line.split(":", 1)[1].strip() for line in lines if line.startswith("Model:")]
    return models


def chosen() -> Choice | None:
    """The last ``use`` decision in this process (None before any)."""
    return _CHOSEN


@contextlib.contextmanager
def collector_paused(keep_frozen: bool = False):
    """Python's cyclic garbage collector off for the body, then on again (as it was), with what the body made put
    where the collector does not keep going through it. Importing Keras on TensorFlow makes about 460,000 objects
    that live as long as the process: the collector, run about 1,100 times on the way, finds almost nothing in them,
    and right after the body it would still go through all of them in its young generations (about 0.3 s of CPU:
    ``bench/gc_pause.py``).

    - ``keep_frozen`` (gridlab's own processes, ``lean_imports``: its command line, servers, sweep trials, Ray
      workers): the objects stay frozen (``gc.freeze``), out of the collector's sight for the rest of the process.
      Its full passes then skip them, and so do the passes Python makes when the process ends, which otherwise go
      through every one of them again: with scikit-learn and matplotlib loaded too, about 1.1-1.5 s of CPU after the
      command's last line, more than a small ``gridlab evaluate`` spends on its work (``bench/frozen.py``). What the
      import left as garbage (about 2 MiB) is then kept for the life of the process.
    - otherwise (a library caller's process, a notebook): the objects are moved to the oldest generation
      (``gc.freeze`` and at once ``gc.unfreeze``: a move, not a pass over them), so nothing stays frozen and the
      import's garbage goes at the next full pass. A process that froze objects itself (a server that forks) keeps
      them frozen: the move is skipped there."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if keep_frozen:
            gc.freeze()
        elif was and not gc.get_freeze_count():
            gc.freeze()           # every tracked object to the permanent generation, and at once back to the
            gc.unfreeze()         # oldest: a move, not a pass over them (nothing stays frozen)
        if was:
            gc.enable()


def gpu_description() -> str:
    """``NVIDIA H200 (139.8 GiB)``: the first JAX GPU's kind and memory (JAX must be the backend in use)."""
    import jax

    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    if not gpus:
        return "no GPU"
    stats = {}
    with contextlib.suppress(Exception):
        stats = gpus[0].memory_stats() or {}
    memory = stats.get("bytes_limit")
    size = f" ({memory / 2**30:.1f} GiB)" if memory else ""
    more = f" x{len(gpus)}" if len(gpus) > 1 else ""
    return f"{gpus[0].device_kind}{size}{more}"


def gpu_bf16() -> bool:
    """The first JAX GPU computes bfloat16 natively (compute capability 8.0 or newer: A100, H100/H200, L4, ...)."""
    import jax

    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    try:
        return bool(gpus) and float(getattr(gpus[0], "compute_capability", "0")) >= 8.0
    except ValueError:
        return False


def device_line(choice: Choice, precision: str) -> str:
    """The one ``device:`` line training prints: where, on which backend, in which precision, and why."""
    if choice.device == "gpu":
        return f"device: GPU {gpu_description()}; backend jax, {precision} ({choice.why})"
    from .hardware import arithmetic_line

    arithmetic = arithmetic_line(precision).removeprefix("arithmetic: ")
    return f"device: CPU, backend {choice.backend} ({choice.why}); {arithmetic}"
