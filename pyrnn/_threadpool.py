"""pyrnn's thread pool as a threadpoolctl library, so ``threadpool_info()`` lists it and
``threadpool_limits(n)`` caps it (and restores it on exit) like BLAS and OpenMP pools.

threadpoolctl (3.2+) finds pools by scanning the shared libraries loaded in the process
and matching file name prefixes; pyrnn's pool lives in its ``_core`` extension module. The
controller reads and sets the thread count through ``pyrnn.get_num_threads`` /
``set_num_threads``. Registered by ``import pyrnn`` when threadpoolctl is installed.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

from . import _core

_CORE_FILE = os.path.realpath(_core.__file__)
_registered = False


def _controller_class() -> Any:
    from threadpoolctl import LibController

    class PyrnnController(LibController):
        """threadpoolctl's view of pyrnn's thread pool (user_api and internal_api "pyrnn")."""

        user_api = "pyrnn"
        internal_api = "pyrnn"
        # The extension's file name (_core.cpython-...so). Other packages name extensions
        # _core too: get_version refuses those (below), so they are not taken for pyrnn.
        filename_prefixes = (os.path.basename(_CORE_FILE).split(".", 1)[0] + ".",)

        def get_version(self) -> str:
            # Called while threadpoolctl builds a controller for a matching file; an OSError
            # there makes it skip the file, which is what another package's _core must get.
            if os.path.realpath(self.filepath) != _CORE_FILE:
                raise OSError(f"{self.filepath} is not pyrnn's core")
            return str(_core.__version__)

        def get_num_threads(self) -> int:
            return int(_core.num_threads())

        def set_num_threads(self, num_threads: int) -> None:
            _core.set_num_threads(int(num_threads))

    return PyrnnController


def register() -> bool:
    """Registers pyrnn's controller with threadpoolctl (once); False if threadpoolctl is
    not installed or too old to take custom controllers (before 3.2)."""
    global _registered
    if _registered:
        return True
    if "threadpoolctl" not in sys.modules and importlib.util.find_spec("threadpoolctl") is None:
        return False
    try:
        import threadpoolctl
    except ImportError:
        return False
    if not hasattr(threadpoolctl, "register") or not hasattr(threadpoolctl, "LibController"):
        return False
    threadpoolctl.register(_controller_class())
    _registered = True
    return True
