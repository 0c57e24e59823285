"""What the benchmark scripts share about the machine they run on: the ``--isa TIER``
switch, applied before pyrnn and the peers load (they read the environment once), and
the CPU's name for the tables."""

from __future__ import annotations

import os
import platform
from typing import Optional, Sequence, Set


def isa_from_argv(argv: Sequence[str]) -> Optional[str]:
    """The value of ``--isa TIER`` / ``--isa=TIER`` in argv, or None."""
    for i, a in enumerate(argv):
        if a == "--isa" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--isa="):
            return a.split("=", 1)[1]
    return None


def apply_isa(argv: Sequence[str]) -> None:
    """Sets PYRNN_ISA from ``--isa``; on the AVX2 tier also restricts the peers to AVX2
    (PyTorch's oneDNN, MKL and FBGEMM (its int8 kernels), numpy's OpenBLAS; OpenVINO's CPU
    plugin follows ONEDNN_MAX_CPU_ISA too, and then cannot build bf16/f16 RNNs; ONNX Runtime's
    MLAS and TensorFlow have no such switch and keep their AVX-512 kernels). Call it before
    importing pyrnn or a peer."""
    isa = isa_from_argv(argv)
    if isa:
        os.environ["PYRNN_ISA"] = isa
    if os.environ.get("PYRNN_ISA") == "avx2":
        os.environ.setdefault("ONEDNN_MAX_CPU_ISA", "AVX2")
        os.environ.setdefault("MKL_ENABLE_INSTRUCTIONS", "AVX2")
        os.environ.setdefault("FBGEMM_ENABLE_INSTRUCTIONS", "AVX2")
        os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux), else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_flags() -> Set[str]:
    """The CPU's feature flags as Linux names them (avx512_bf16, amx_int8, ...); empty
    where /proc/cpuinfo is missing."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()
