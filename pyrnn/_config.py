"""Build and runtime configuration (`pyrnn.show_config`)."""

from __future__ import annotations

import os
import platform
import sys
from typing import Any, Dict, Optional

from . import _core


def _macos_physical_cores() -> Optional[int]:
    """hw.physicalcpu (Apple silicon has no SMT: every core counts; Intel Macs have 2 threads a core)."""
    try:
        import ctypes

        libc = ctypes.CDLL("/usr/lib/libSystem.B.dylib")
        value, size = ctypes.c_int(0), ctypes.c_size_t(ctypes.sizeof(ctypes.c_int))
        if libc.sysctlbyname(b"hw.physicalcpu", ctypes.byref(value), ctypes.byref(size), None, ctypes.c_size_t(0)) == 0:
            return value.value if value.value > 0 else None
    except (OSError, AttributeError):
        pass
    return None


def physical_cores() -> int:
    """Cores this process may run on, counting SMT siblings once (the default thread count)."""
    if sys.platform == "darwin":
        return _macos_physical_cores() or max(1, os.cpu_count() or 1)
    if sys.platform == "win32":
        return max(1, (os.cpu_count() or 2) // 2)  # x86 CPUs with 2 threads a core
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return max(1, (os.cpu_count() or 2) // 2)
    cores = set()
    for cpu in cpus:
        try:
            with open(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list") as f:
                cores.add(f.read().strip())
        except OSError:
            cores.add(str(cpu))
    return max(1, len(cores))


def set_num_threads(n: int) -> None:
    """Threads one call may use (batch rows and Bidirectional directions are split).

    Results are identical for any thread count. Default: the physical cores available.
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"set_num_threads expects an int, got {type(n).__name__}")
    _core.set_num_threads(n)


def set_memory_limit(nbytes: int | None) -> None:
    """Largest intermediate tensor one model call may allocate, in bytes (None: the
    machine's physical memory, the default). A call that would need more fails with a
    ValueError naming the layer before allocating it; predict's batch_size splits it."""
    if nbytes is None:
        _core.set_memory_limit(0)
        return
    if isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes < 1:
        raise ValueError(f"set_memory_limit expects a positive number of bytes or None, got {nbytes!r}")
    _core.set_memory_limit(nbytes)


def release_memory() -> int:
    """Frees the memory pyrnn keeps for reuse and returns how many bytes that was.

    Blocks of 1 MiB and more (large intermediates, such as a sequence layer's output at
    a big batch) are kept after a call, at most 8 of them and 256 MiB in all, so the next
    call reuses memory that is already mapped instead of page-faulting it in again.
    """
    return _core.release_memory()


def get_num_threads() -> int:
    """The number of threads a call may use."""
    return _core.num_threads()


def compute_types() -> Dict[str, str]:
    """The compute types (``compute_type=``) and how the ISA tier in use now runs each,
    e.g. ``{"int8": "avx512: VNNI vpdpbusd", ...}``."""
    return {str(name): str(description) for name, description in _core.compute_types()}


def config() -> Dict[str, Any]:
    """The configuration as a dict: version, platform and compiler, ISA tiers, the compute
    types and how the tier in use runs them, threads and CUDA status."""
    return {
        "version": _core.__version__,
        "platform": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "built_for": _core.build_target,
        "compiler": _core.build_compiler,
        "isa_compiled": list(_core.compiled_isas()),
        "isa_supported": list(_core.supported_isas()),
        "isa": _core.current_isa(),
        "isa_forced_by_env": os.environ.get("PYRNN_ISA") or None,
        "cpu_features": _core.cpu_features(),
        "compute_types": compute_types(),
        "threads": _core.num_threads(),
        "thread_placement": _core.thread_placement(),
        "memory_limit_bytes": _core.memory_limit(),
        "cuda": cuda_status(),
    }


def cuda_status() -> str:
    """The CUDA build and runtime status in words."""
    if not _core.cuda_compiled:
        return "not compiled (CPU-only build; PYRNN_CUDA=1 pip install . builds the CUDA kernels)"
    return "compiled; " + _core.cuda_runtime_info()


def cuda_device_index(device: Any, owner: str) -> Optional[int]:
    """None for ``device="cpu"``; the device index for "cuda" / "cuda:N", after checking
    that this build has the CUDA kernels and that the device exists."""
    if device is None or device == "cpu":
        return None
    index = None
    if isinstance(device, str) and device == "cuda":
        index = 0
    elif isinstance(device, str) and device.startswith("cuda:") and device[5:].isdigit():
        index = int(device[5:])
    if index is None:
        raise ValueError(f"{owner}: device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if not _core.cuda_compiled:
        raise RuntimeError(
            f"{owner}: device={device!r} needs pyrnn built with CUDA, and this build is CPU-only; "
            "rebuild with `PYRNN_CUDA=1 pip install .` (needs the CUDA toolkit)"
        )
    count = _core.cuda_device_count()
    if index >= count:
        raise RuntimeError(f"{owner}: device={device!r} is not available ({_core.cuda_runtime_info()})")
    return index


def show_config() -> Dict[str, Any]:
    """Print the build and runtime configuration and return it as a dict."""
    cfg = config()
    forced = f" (forced by PYRNN_ISA={cfg['isa_forced_by_env']})" if cfg["isa_forced_by_env"] else ""
    print(f"pyrnn {cfg['version']}")
    print(f"  platform           : {cfg['platform']}, {cfg['python']}")
    print(f"  built for          : {cfg['built_for']} with {cfg['compiler']}")
    print(f"  ISA tiers compiled : {', '.join(cfg['isa_compiled'])}")
    print(f"  ISA tiers on CPU   : {', '.join(cfg['isa_supported'])}  [{cfg['cpu_features']}]")
    print(f"  ISA tier in use    : {cfg['isa']}{forced}")
    print("  compute types      : (compute_type=; recurrent layers only, the rest is float32; CUDA: float32)")
    for name, description in cfg["compute_types"].items():
        print(f"    {name:<16} : {description}")
    print(f"  threads            : {cfg['threads']}; {cfg['thread_placement']}")
    print(f"  CUDA               : {cfg['cuda']}")
    return cfg
