"""The command line's output is gridlab's alone: in a fresh process, a refused command is one line, and a training run
prints no TensorFlow, absl or retracing line; ``--debug`` brings the libraries' lines back."""
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from gridlab import quiet
from tests.conftest import FRESH_TRAIN, as_a_user

# every line a training run prints: gridlab's own, and Keras' per-epoch progress lines
GRIDLAB_LINE = re.compile(r"^(run directory|data|notice|model|device|out-of-distribution|learning rate|"
                          r"Epoch \d+/\d+|\d+/\d+ - |"
                          r"calibration|label audit|test|results|report|stopped|runs/|test-time views)")


def _gridlab(*args, **env):
    return subprocess.run([sys.executable, "-m", "gridlab", *args], capture_output=True, text=True, timeout=600,
                          env={**as_a_user(), **env})


def test_relay_drops_absl_info_and_warnings_and_keeps_errors():
    read_in, write_in = os.pipe()
    read_out, write_out = os.pipe()
    os.write(write_in, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
                       b"I0000 00:00:1796161617.378551    3005 port.cc:153] oneDNN custom operations are on.\n"
                       b"W0000 00:00:1796161617.378551    3005 cpu_feature_guard.cc:12] something\n"
                       b"To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with "
                       b"the appropriate compiler flags.\n"
                       b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n"
                       b"E0000 00:00:1796161617.378551    3005 kernel.cc:9] a real error\n"
                       b"plain text from a library\nno newline")
    os.close(write_in)
    quiet.relay(read_in, write_out)
    os.close(write_out)
    assert os.read(read_out, 4096) == (b"E0000 00:00:1796161617.378551    3005 kernel.cc:9] a real error\n"
                                       b"plain text from a library\nno newline")


@pytest.mark.parametrize("args, line", [
    (["train", "data=digits", "epochs=abc"],
     "gridlab train: error: command line: epochs expects int, received 'abc' (str). Example: epochs=20"),
    (["train", "data=digits", "model=seed001_cn", "epochs=1"],
     "gridlab train: error: model='seed001_cn': not a zoo model or a .yaml layer list. Did you mean "
     "\"seed001_cnn\"?"),
])
def test_a_refused_command_is_one_line_in_a_fresh_process(args, line, tmp_path):
    r = _gridlab(*args)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines() == [r.stderr.strip()] and r.stderr.startswith(line)
    assert not (tmp_path / "runs").exists()          # refused before anything was written


@pytest.mark.slow
@FRESH_TRAIN
def test_a_training_run_prints_only_gridlab_lines_and_debug_brings_the_rest_back(fresh_train):
    r, folder = fresh_train.result, fresh_train.folder
    assert r.returncode == 0, r.stderr[-2000:]
    lines = (r.stdout + r.stderr).splitlines()
    strangers = [line for line in lines if not GRIDLAB_LINE.match(line)]
    assert strangers == [] and "runs/q  accuracy=" in r.stdout
    assert not any("retracing" in line or "absl" in line or "port.cc" in line for line in lines)
    # --debug, on a command that runs the run's model (training again would only cost time)
    np.save("x.npy", np.zeros((8, 8), np.uint8))
    debug = _gridlab("predict", str(folder / "runs" / "q"), "x.npy", "--debug")
    assert debug.returncode == 0, debug.stderr[-2000:]
    # TensorFlow's own start-up lines come back where this CPU makes it print them (the run's device line: oneDNN on)
    if "oneDNN on" in r.stderr:
        assert "oneDNN custom operations are on" in debug.stderr


@pytest.fixture
def retracing_warnings(monkeypatch):
    """A function listing TensorFlow's "triggered tf.function retracing" warnings logged since the test began,
    counted afresh, as in a new notebook (TensorFlow warns at most twice per function and process)."""
    import logging

    from tensorflow.python.eager.polymorphic_function import polymorphic_function

    monkeypatch.setattr(polymorphic_function, "_frequent_tracing_detector_manager",
                        polymorphic_function._FrequentTracingDetectorManager())
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("tensorflow")
    logger.addHandler(handler)
    yield lambda: [r.getMessage() for r in records if "retracing" in r.getMessage()]
    logger.removeHandler(handler)


def test_gridlab_predictions_keep_tensorflows_retracing_warning_to_themselves(retracing_warnings):
    """Predicting with several fresh models (as a run's end does) is TensorFlow's "frequent retracing"; that
    warning is not shown for gridlab's own predictions, and still is for the caller's own tf.function."""
    import keras
    import numpy as np
    import tensorflow as tf

    from gridlab.datasets import feed

    for n in range(1, 9):            # eight models, each predicting once: every call is a first trace
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        assert feed.predict(model, np.ones((n, 3), np.float32)).shape == (n, 2)
    assert not retracing_warnings()

    @tf.function
    def own(x):
        return x * 2

    for n in range(1, 9):            # the caller's function, a new shape every call
        own(tf.ones((n,)))
    assert retracing_warnings()


def test_runs_trained_one_after_another_keep_tensorflows_retracing_warning_to_themselves(idx_dir, retracing_warnings):
    """A notebook that trains several runs in one process: every fit traces Keras' train and test steps for a new
    model, which TensorFlow counts as frequent retracing of one function and warns about (advice for the caller's
    own code, which the caller cannot act on here). Not shown while gridlab trains."""
    import gridlab

    for i in range(3):              # two traces each: six, past TensorFlow's threshold of five
        gridlab.train(data="mnist", data_dir=str(idx_dir), model="seed003_mlp", epochs=1, name=f"r{i}", report=False,
                      ood="none", calibrate=False, audit=False, verbose=False)
    assert not retracing_warnings()


def test_native_lines_keeps_chatter_off_descriptor_2_unless_debugging(capfd):
    native = (b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
              b"I0000 00:00:1796161617.378551    3005 port.cc:153] oneDNN custom operations are on.\n"
              b"a line of the library's own\n")
    python_stream = sys.stderr
    with quiet.native_lines():
        os.write(2, native)
        assert sys.stderr is python_stream                    # Python's own streams are left as they are
        sys.stderr.write("Python's own line\n")               # one write: the relay thread writes beside it
    # (in what order the two arrive here is the capture's: pytest's sys.stderr does not write to descriptor 2)
    assert sorted(capfd.readouterr().err.splitlines()) == ["Python's own line", "a line of the library's own"]
    with quiet.everything(), quiet.native_lines():          # the command line's --debug
        os.write(2, native)
    assert capfd.readouterr().err == native.decode()


def test_inside_the_filter_python_writes_each_line_in_one_piece():
    """Descriptors 1 and 2 of a Ray worker go to files that Ray's log monitor reads line by line while they grow:
    a line written in two pieces (print writes the text, then the newline) reached the driver as the text and an
    empty line. A socket that keeps each write apart stands in for descriptor 2 here."""
    import socket

    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    saved = os.dup(2)
    os.dup2(ours.fileno(), 2)
    try:
        with quiet.quiet_libraries((2,)):
            print("process 0 of 2: trained", file=sys.stderr)
            sys.stderr.write("epoch 1/2\r")                   # a carriage return is written at once too
            written_at_once = theirs.recv(4096, socket.MSG_DONTWAIT)
            print("done", file=sys.stderr)
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        ours.close()
    rest = []
    theirs.settimeout(10)
    while packet := theirs.recv(4096):
        rest.append(packet)
    theirs.close()
    assert written_at_once == b"process 0 of 2: trained\n"
    assert rest == [b"epoch 1/2\r", b"done\n"]


def test_native_lines_without_a_descriptor_2_does_nothing():
    saved = os.dup(2)
    os.close(2)
    try:
        with quiet.native_lines():
            ran = True
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    assert ran


def test_info_off_holds_a_loggers_information_lines_for_the_body_only(monkeypatch):
    import logging

    logger = logging.getLogger("gridlab-test.store")
    logger.setLevel(logging.INFO)
    with quiet.info_off("gridlab-test.store"):
        assert not logger.isEnabledFor(logging.INFO) and logger.isEnabledFor(logging.WARNING)
    assert logger.level == logging.INFO
    monkeypatch.setenv(quiet.DEBUG_VAR, "1")                 # GRIDLAB_DEBUG: everything, for bug reports
    with quiet.info_off("gridlab-test.store"):
        assert logger.isEnabledFor(logging.INFO)


def test_library_loggers_stay_at_errors_when_the_library_sets_their_level_again():
    import logging

    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("absl")
    saved = logger.level
    logger.addHandler(handler)
    try:
        with quiet.quiet_libraries(descriptors=()):
            with quiet.quiet_libraries(descriptors=()):
                pass                                  # a body inside the body leaves the outer one's filter on
            logger.setLevel(logging.WARNING)          # as absl does when its flags are read
            logger.warning("Importing a function with ops with unsaved custom gradients.")
            logger.error("a real error")
        logger.warning("after the command")           # the logger is the caller's again
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved)
    assert [r.getMessage() for r in records] == ["a real error", "after the command"]
