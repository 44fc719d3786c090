"""CPU detection and the arithmetic gridlab picks: decided from /proc/cpuinfo text, applied before TensorFlow is
imported, and never over a value the user set."""
import dataclasses
import os
import subprocess
import sys

import pytest

from gridlab.hardware import choose_onednn, read_cpu, resolve_precision

ZEN3 = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t\t: fpu sse2 avx fma avx2\n\nprocessor\t: 1\n" \
       "model name\t: AMD EPYC 7B13\nflags\t\t: fpu sse2 avx fma avx2\n"
ZEN4 = "model name\t: AMD EPYC 9B14\nflags\t\t: avx2 fma avx512f avx512_vnni avx512_bf16\n"
ALDER = "model name\t: 12th Gen Intel(R) Core(TM) i7\nflags\t\t: avx2 fma avx_vnni\n"
SAPPHIRE = "model name\t: Intel(R) Xeon(R) Platinum 8480\nflags\t\t: avx2 avx512f avx512_vnni amx_tile amx_bf16\n"


def test_reads_model_and_flags():
    cpu = read_cpu(ZEN3)
    assert cpu.model == "AMD EPYC 7B13" and {"avx2", "fma"} <= cpu.flags and not cpu.bf16
    assert cpu.kind == "AMD EPYC 7B13 (avx2 fma)"
    assert read_cpu(ZEN4).bf16 and read_cpu(SAPPHIRE).bf16 and not read_cpu(ALDER).bf16
    assert read_cpu(ZEN4).kind == "AMD EPYC 9B14 (avx2 fma avx512f avx512_vnni avx512_bf16)"
    assert read_cpu("").flags == frozenset()


@pytest.mark.parametrize("text, why", [
    (ZEN3, "turned on by gridlab: TensorFlow leaves it off without AVX512_VNNI/BF16, AVX_VNNI or AMX"),
    (ZEN4, "TensorFlow's default with avx512_vnni"),
    (ALDER, "TensorFlow's default with avx_vnni"),
    (SAPPHIRE, "TensorFlow's default with avx512_vnni"),
])
def test_onednn_is_on_for_every_x86_cpu(text, why):
    choice = choose_onednn(read_cpu(text), {})
    assert choice.value == "1" and choice.on is True and choice.why.startswith(why)


@pytest.mark.parametrize("value, on", [("0", False), ("1", True), ("false", False)])
def test_an_explicit_user_setting_is_never_overridden(value, on):
    for text in (ZEN3, ZEN4):
        choice = choose_onednn(read_cpu(text), {"TF_ENABLE_ONEDNN_OPTS": value})
        assert choice.value is None and choice.on is on and choice.why == f"TF_ENABLE_ONEDNN_OPTS={value} set by you"


def test_other_machines_keep_tensorflows_default():
    arm = dataclasses.replace(read_cpu("flags : asimd"), machine="aarch64")
    assert choose_onednn(arm, {}).value is None and choose_onednn(arm, {}).on is None


def test_precision_auto_follows_bf16():
    assert resolve_precision("auto", read_cpu(ZEN3)) == "float32"
    assert resolve_precision("auto", read_cpu(ZEN4)) == "mixed_bfloat16"
    assert resolve_precision("float32", read_cpu(ZEN4)) == "float32"


# TensorFlow's C++ library answers whether oneDNN is on (it reads the variable when asked). Its extension module is
# loaded from its file: importing the tensorflow package for it would cost 4 s of CPU per process.
PROBE = """
import importlib.machinery, importlib.util, os
import gridlab
folder = os.path.join(importlib.util.find_spec("tensorflow").submodule_search_locations[0], "python", "util")
path = next(p for suffix in importlib.machinery.EXTENSION_SUFFIXES
            if os.path.exists(p := os.path.join(folder, "_pywrap_util_port" + suffix)))
spec = importlib.util.spec_from_file_location("_pywrap_util_port", path)
port = importlib.util.module_from_spec(spec)
spec.loader.exec_module(port)
print(os.environ.get("TF_ENABLE_ONEDNN_OPTS"), port.IsMklEnabled())
"""


@pytest.mark.parametrize("user", [None, "0"])
def test_import_gridlab_sets_onednn_before_tensorflow_unless_the_user_did(user):
    """In a real process: the variable reaches TensorFlow, and a user's 0 stays 0 (oneDNN off)."""
    if read_cpu().x86 is False:
        pytest.skip("oneDNN is an x86 choice")
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if user is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = user
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == (["1", "True"] if user is None else ["0", "False"])
