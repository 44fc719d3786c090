"""The CPU gridlab runs on, and the arithmetic it picks for it.

TensorFlow turns its oneDNN kernels on by default on Linux only for CPUs with AVX512_VNNI, AVX512_BF16, AVX_VNNI or
AMX (``DefaultOneDnnPolicy`` in TensorFlow's ``core/util/port.cc``). On other x86 CPUs, such as AVX2-only AMD EPYC
Zen 3, gridlab turns it on itself (training measured faster there: docs/benchmarks.md). The choice is made through
the environment variable ``TF_ENABLE_ONEDNN_OPTS`` before TensorFlow is imported, and never overrides a value the
user set. bfloat16 arithmetic (``precision=auto``) is used only where the CPU has bf16 instructions.

Nothing here imports TensorFlow: ``import gridlab`` calls ``configure`` first thing, and that is all ``import gridlab``
changes in the process (``TF_ENABLE_ONEDNN_OPTS``, when the user has not set it). The backend and the device are
``gridlab.backend``'s.
"""
from __future__ import annotations

import dataclasses
import os
import platform
import sys

ONEDNN_VAR = "TF_ENABLE_ONEDNN_OPTS"
# flags (as /proc/cpuinfo spells them) for which TensorFlow turns oneDNN on by itself on Linux
TF_ONEDNN_FLAGS = ("avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16")
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
SHOWN_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_bf16")


@dataclasses.dataclass(frozen=True)
class Cpu:
    model: str
    flags: frozenset
    cores: int
    machine: str = "x86_64"

    @property
    def x86(self) -> bool:
        return self.machine in ("x86_64", "AMD64", "i686", "i386")

    @property
    def bf16(self) -> bool:
        """Native bfloat16 instructions (AVX512_BF16 or AMX), where mixed_bfloat16 pays off."""
        return any(f in self.flags for f in BF16_FLAGS)

    @property
    def kind(self) -> str:
        """The model name and the flags that decide the arithmetic, e.g. ``AMD EPYC (avx2 fma)``."""
        shown = " ".join(f for f in SHOWN_FLAGS if f in self.flags) or "no AVX2"
        return f"{self.model} ({shown})"


def read_cpu(cpuinfo: str | None = None) -> Cpu:
    """The CPU described by ``/proc/cpuinfo`` (or the text given); an unknown CPU where there is none.

    >>> read_cpu("model name\\t: AMD EPYC\\nflags\\t\\t: fpu avx2 fma\\n").kind
    'AMD EPYC (avx2 fma)'
    """
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
                cpuinfo = fh.read()
        except OSError:
            cpuinfo = ""
    fields = {}
    for line in cpuinfo.splitlines():               # the first processor's lines; the others repeat them
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    model = fields.get("model name") or platform.processor() or "unknown CPU"
    return Cpu(model, frozenset(fields.get("flags", "").split()), os.cpu_count() or 1, platform.machine())


@dataclasses.dataclass(frozen=True)
class OneDnnChoice:
    value: str | None     # what TF_ENABLE_ONEDNN_OPTS should be set to; None = leave the environment alone
    on: bool | None       # whether oneDNN ends up on (None: TensorFlow's own default, not known here)
    why: str


def choose_onednn(cpu: Cpu, environ) -> OneDnnChoice:
    """oneDNN on for every x86 CPU unless the user said otherwise in ``TF_ENABLE_ONEDNN_OPTS``.

    >>> choose_onednn(read_cpu("flags : avx2 fma"), {}).value
    '1'
    >>> choose_onednn(read_cpu("flags : avx2 fma"), {"TF_ENABLE_ONEDNN_OPTS": "0"}).on
    False
    """
    if ONEDNN_VAR in environ:
        user = environ[ONEDNN_VAR].strip().lower()
        return OneDnnChoice(None, user in ("1", "true", "yes", "on"), f"{ONEDNN_VAR}={environ[ONEDNN_VAR]} set by you")
    if not cpu.x86:
        return OneDnnChoice(None, None, f"TensorFlow's default on {cpu.machine}")
    native = [f for f in TF_ONEDNN_FLAGS if f in cpu.flags]
    if native:
        return OneDnnChoice("1", True, f"TensorFlow's default with {native[0]}")
    return OneDnnChoice("1", True, "turned on by gridlab: TensorFlow leaves it off without AVX512_VNNI/BF16, "
                                   "AVX_VNNI or AMX, and it trains faster here")


_ONEDNN: OneDnnChoice | None = None
_TF_BEFORE_GRIDLAB = False


def configure(environ=None) -> OneDnnChoice:
    """Apply ``choose_onednn`` to the environment once, before TensorFlow is imported (``import gridlab`` calls it).
    When TensorFlow was imported earlier, the setting cannot take effect and ``arithmetic_line`` says so."""
    global _ONEDNN, _TF_BEFORE_GRIDLAB
    if _ONEDNN is None:
        environ = os.environ if environ is None else environ
        _TF_BEFORE_GRIDLAB = "tensorflow" in sys.modules
        _ONEDNN = choose_onednn(read_cpu(), environ)
        if _ONEDNN.value is not None and not _TF_BEFORE_GRIDLAB:
            environ[ONEDNN_VAR] = _ONEDNN.value
    return _ONEDNN


def resolve_precision(name: str, cpu: Cpu | None = None, gpu_bf16: bool | None = None) -> str:
    """``auto`` -> mixed_bfloat16 where the hardware has bf16 arithmetic (on a GPU: ``gpu_bf16``, Ampere or newer;
    on a CPU: bf16 instructions), else float32; other names unchanged."""
    if name == "auto":
        native = gpu_bf16 if gpu_bf16 is not None else (cpu or read_cpu()).bf16
        return "mixed_bfloat16" if native else "float32"
    return name


def arithmetic_line(precision: str, cpu: Cpu | None = None) -> str:
    """One line saying what arithmetic gridlab chose and why, for the training output and the benchmarks."""
    import keras

    cpu = cpu or read_cpu()
    onednn = configure()
    if keras.backend.backend() != "tensorflow":
        dnn = f"oneDNN n/a on the {keras.backend.backend()} backend"
    elif _TF_BEFORE_GRIDLAB and onednn.value is not None:
        dnn = ("oneDNN as TensorFlow decided (it was imported before gridlab; import gridlab first to let gridlab "
               "choose)")
    else:
        state = {True: "on", False: "off", None: "default"}[onednn.on]
        dnn = f"oneDNN {state} ({onednn.why})"
    why = "bf16 instructions" if cpu.bf16 else "no bf16 instructions"
    return f"arithmetic: {precision} ({why}), {dnn}, {cpu.cores} cores; CPU {cpu.kind}"
