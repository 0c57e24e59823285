"""Build and runtime configuration (`pyrnn.show_config`)."""

from __future__ import annotations

import os
from typing import Any, Dict

from . import _core


def config() -> Dict[str, Any]:
    """The configuration as a dict: version, ISA tiers, threads and CUDA status."""
    return {
        "version": _core.__version__,
        "isa_compiled": list(_core.compiled_isas()),
        "isa_supported": list(_core.supported_isas()),
        "isa": _core.current_isa(),
        "isa_forced_by_env": os.environ.get("PYRNN_ISA") or None,
        "cpu_features": _core.cpu_features(),
        "threads": 1,
        "cuda": "compiled" if _core.cuda_compiled else "not compiled (CPU-only build)",
    }


def show_config() -> Dict[str, Any]:
    """Print the build and runtime configuration and return it as a dict."""
    cfg = config()
    forced = f" (forced by PYRNN_ISA={cfg['isa_forced_by_env']})" if cfg["isa_forced_by_env"] else ""
    print(f"pyrnn {cfg['version']}")
    print(f"  ISA tiers compiled : {', '.join(cfg['isa_compiled'])}")
    print(f"  ISA tiers on CPU   : {', '.join(cfg['isa_supported'])}  [{cfg['cpu_features']}]")
    print(f"  ISA tier in use    : {cfg['isa']}{forced}")
    print(f"  threads            : {cfg['threads']}")
    print(f"  CUDA               : {cfg['cuda']}")
    return cfg
