"""The command line's output is gridlab's: library start-up chatter is kept off the terminal.

TensorFlow's C++ code logs through absl straight to file descriptor 2, whatever Python does: on CPUs where it turns
oneDNN on it prints ``WARNING: All log messages before absl::InitializeLog() is called are written to STDERR`` and
``I0000 ... port.cc:153] oneDNN custom operations are on ...`` (twice per process, both while Keras imports it),
and ``TF_CPP_MIN_LOG_LEVEL`` does not stop those two lines. So the command line (``gridlab`` and
``python -m gridlab``, not ``import gridlab``) runs with a filter on descriptor 2: Python's own ``sys.stderr``
writes to the terminal directly (progress bars keep their terminal), and what native code writes goes through a
pipe whose lines are passed on unless they are absl information or warning lines (``I...``/``W...``) or the absl
preamble. Errors (``E...``, ``F...``) and everything else pass. Python-side, the loggers of TensorFlow, absl, JAX's
backend and distributed service, and MLflow are set to errors only, and library warnings are ignored (gridlab's own
are kept). Ray's level is set where gridlab starts Ray (``ray_cluster.start``, ``filtering``).

In library use (a notebook, a script) gridlab leaves the process's streams and loggers alone, but for scoped filters
on its own work: its import of Keras runs with descriptor 2 filtered the same way (``native_lines``), an export's
conversion and parity check too, with the converters' own Python warnings dropped (``conversion``), MLflow's
store set-up lines are kept off while gridlab logs a run (``info_off``), and TensorFlow's "frequent retracing"
warning is dropped while gridlab trains and predicts (``own_retracing``).

``GRIDLAB_DEBUG=1`` (or ``gridlab --debug``) turns all of this off, for bug reports.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import sys
import threading
import warnings

DEBUG_VAR = "GRIDLAB_DEBUG"
_active = 0       # how many quiet_libraries() bodies are running now
_shown = 0        # how many everything() bodies (the command line's --debug) are running now
CHATTER = re.compile(rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
                     rb"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler"
                     rb" flags\."
                     rb"|\[Gloo\] Rank \d+ is connected to \d+ peer ranks\. .*"
                     rb"|INFO: (Created TensorFlow Lite XNNPACK delegate for CPU|Initialized TensorFlow Lite runtime)\."
                     rb"|[IW]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w./-]+:\d+\] .*)\r?$")


def debugging(environ=None) -> bool:
    """True when the user asked for the libraries' own output (``GRIDLAB_DEBUG`` set to anything but 0/empty)."""
    value = (os.environ if environ is None else environ).get(DEBUG_VAR, "")
    return value.strip().lower() not in ("", "0", "false", "no")


def filtering() -> bool:
    """True inside ``quiet_libraries()``: processes started now for the same job (Ray's workers) should filter too."""
    return _active > 0


def relay(source: int, target: int) -> None:
    """Copy lines from descriptor ``source`` to ``target`` until end of file, dropping ``CHATTER`` lines."""
    pending = b""
    while True:
        try:
            chunk = os.read(source, 65536)
        except OSError:
            break
        if not chunk:
            break
        *lines, pending = (pending + chunk).split(b"\n")
        kept = b"".join(line + b"\n" for line in lines if not CHATTER.match(line))
        if kept:
            os.write(target, kept)
    if pending and not CHATTER.match(pending):
        os.write(target, pending)
    os.close(source)


class _ErrorsOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


_ERRORS_ONLY = _ErrorsOnly()


@contextlib.contextmanager
def quiet_libraries(descriptors: tuple[int, ...] = (2,)):
    """Run the body with library chatter filtered (see the module docstring) on ``descriptors`` (stderr; a Ray
    worker, whose output the driver relays, also filters stdout); everything is put back after, but for the two
    environment defaults below, which the processes it starts inherit on purpose."""
    global _active
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")      # TensorFlow's C++ info lines, before it is imported
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # MLflow sets its logger's level when imported
    with warnings.catch_warnings(), contextlib.ExitStack() as filters:
        warnings.filterwarnings("ignore")
        warnings.filterwarnings("default", module=r"gridlab(\.|$)")
        levels = {name: logging.getLogger(name).level for name in ("tensorflow", "absl", "jax._src.xla_bridge",
                                                                   "jax._src.distributed", "mlflow")}
        for name in levels:
            logging.getLogger(name).setLevel(logging.ERROR)
            # and a filter, which holds where a library sets its logger's level again during the body (absl does
            # when its flags are read: "WARNING:absl:Importing a function ... with unsaved custom gradients" came
            # through while a SavedModel written from JAX was loaded for its parity check)
            logging.getLogger(name).addFilter(_ERRORS_ONLY)
        for fd in descriptors:
            filters.enter_context(_filtered(fd))
        _active += 1
        try:
            yield
        finally:
            _active -= 1
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)
                if not _active:           # an outer body (they nest: _active counts them) keeps its filter
                    logging.getLogger(name).removeFilter(_ERRORS_ONLY)


@contextlib.contextmanager
def everything():
    """The body shows the libraries' own output, ``native_lines`` included: the command line's ``--debug``."""
    global _shown
    _shown += 1
    try:
        yield
    finally:
        _shown -= 1


@contextlib.contextmanager
def _filtered(fd: int):
    """Descriptor ``fd`` (1 or 2) through a pipe whose ``relay`` drops chatter; Python's own ``sys.stdout`` or
    ``sys.stderr`` writes past the filter, straight to where ``fd`` went before, a whole line in one write (flushed
    at each newline or carriage return, as Python's own streams are). Written piece by piece (``print`` writes the
    text, then the newline), a line could be read in two: Ray's log monitor, which forwards a worker's lines to the
    driver, then sent the text and an empty line."""
    name = "stdout" if fd == 1 else "stderr"
    python_stream = getattr(sys, name)
    python_stream.flush()
    with _piped(fd) as saved:
        own = io.TextIOWrapper(open(os.dup(saved), "wb", buffering=0), encoding=python_stream.encoding,
                               errors="backslashreplace", line_buffering=True)
        setattr(sys, name, own)
        try:
            yield
        finally:
            own.flush()
            setattr(sys, name, python_stream)
            own.close()


@contextlib.contextmanager
def _piped(fd: int):
    """Descriptor ``fd`` through a pipe whose ``relay`` thread passes all but chatter on to where ``fd`` went before
    (yielded: a duplicate of that descriptor); put back after."""
    saved = os.dup(fd)
    read_end, write_end = os.pipe()
    os.dup2(write_end, fd)
    os.close(write_end)
    thread = threading.Thread(target=relay, args=(read_end, saved), name=f"gridlab-fd{fd}", daemon=True)
    thread.start()
    try:
        yield saved
    finally:
        os.dup2(saved, fd)                # closes this process's end of the pipe: the relay sees end of file
        thread.join(timeout=5)            # (a child still holding the pipe keeps it open: do not wait forever)
        if not thread.is_alive():
            os.close(saved)


@contextlib.contextmanager
def native_lines():
    """TensorFlow's native log lines (``CHATTER``) kept off descriptor 2 while the body runs, where no command-line
    filter runs (a notebook, a script): gridlab's own import of Keras (``backend.use``; the oneDNN and CPU-feature
    lines come while TensorFlow imports, both bursts of them) and its exports (``conversion``). Python's own streams
    are left as they are, and nothing is filtered inside the command line's filter, with ``--debug`` or with
    ``GRIDLAB_DEBUG``; nor in a process without a descriptor 2 (a service started with it closed)."""
    if _active or _shown or debugging() or not _is_open(2):
        yield
        return
    _flush(sys.stderr)
    with _piped(2):
        try:
            yield
        finally:
            _flush(sys.stderr)


@contextlib.contextmanager
def conversion():
    """An export's conversion and parity check (``export.export``): the converters' native lines kept off
    descriptor 2 (``native_lines``: grappler's "Starting new session", the LiteRT converter's MLIR and SavedModel
    lines, TF Lite's "Created TensorFlow Lite XNNPACK delegate"), and the FutureWarning that Keras' ONNX converter
    sets off by probing ``np.object`` not shown. None of it is anything a user could act on."""
    with native_lines(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"keras\.src\.export")
        yield


@contextlib.contextmanager
def info_off(name: str):
    """The body runs with logger ``name`` at warnings and above (unless debugging): the information lines a library
    that gridlab drives for the user logs when it starts, such as MLflow's "Creating initial MLflow database
    tables..." and "Updating database tables" when ``tracking=mlflow`` first opens its store (``tracking``). The
    logger's own level is put back after; a level the user set above warnings is kept."""
    logger = logging.getLogger(name)
    saved = logger.level
    if not (_shown or debugging()) and logger.getEffectiveLevel() < logging.WARNING:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(saved)


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def _flush(stream) -> None:
    if stream is not None:          # None under pythonw
        stream.flush()


class _OwnRetracing(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warning while gridlab trains or predicts on this thread
    (``own_retracing``). Every model traces its predict function once per input shape, and a run predicts with
    several models (the saved model, its OOD features, the calibration views); every run's model traces Keras'
    train and test steps (runs trained one after another in a notebook). TensorFlow counts each as frequent
    retracing of one function. The advice it prints is for the caller's own code; gridlab's traces are bounded
    (``datasets.feed.bucket``, one model per run). A user's own tf.function still warns."""
    local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        return not (getattr(self.local, "depth", 0) and "triggered tf.function retracing" in record.getMessage())


_RETRACING = _OwnRetracing()
_install = threading.Lock()
_installed = False


@contextlib.contextmanager
def own_retracing():
    """The body's tf.function retracing warnings are gridlab's own: not shown (``_OwnRetracing``). The filter is put
    on the ``tensorflow`` logger the first time and stays; it drops nothing outside these bodies. (Every prediction
    runs in here, a served request's too: after the first, entering costs a thread-local counter, no lock.)"""
    global _installed
    if not _installed:
        with _install:
            logger = logging.getLogger("tensorflow")
            if _RETRACING not in logger.filters:
                logger.addFilter(_RETRACING)
            _installed = True
    local = _OwnRetracing.local
    local.depth = getattr(local, "depth", 0) + 1
    try:
        yield
    finally:
        local.depth -= 1
