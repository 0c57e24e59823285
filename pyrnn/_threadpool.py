"""pyrnn's thread pool as a threadpoolctl library, so ``threadpool_info()`` lists it and
``threadpool_limits(n)`` caps it (and restores it on exit) like BLAS and OpenMP pools.

threadpoolctl (3.2+) finds pools by scanning the shared libraries loaded in the process
and matching file name prefixes; pyrnn's pool lives in its ``_core`` extension module. The
controller reads and sets the thread count through ``pyrnn.get_num_threads`` /
``set_num_threads``. ``import pyrnn`` registers it when threadpoolctl is installed: at once if
threadpoolctl is already imported, else when it is (an import hook, so that importing pyrnn
does not import threadpoolctl).
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
    not importable or too old to take custom controllers (before 3.2)."""
    global _registered
    if _registered:
        return True
    try:
        import threadpoolctl
    except ImportError:
        return False
    return _register_with(threadpoolctl)


def _register_with(threadpoolctl: Any) -> bool:
    global _registered
    if _registered or not hasattr(threadpoolctl, "register") or not hasattr(threadpoolctl, "LibController"):
        return _registered
    threadpoolctl.register(_controller_class())
    _registered = True
    return True


class _RegisterOnImport:
    """Registers the controller right after threadpoolctl is first imported, so that
    ``import pyrnn`` does not pay for importing threadpoolctl (about 1.5-2.5 ms) when
    nothing uses it. It finds nothing itself: it takes threadpoolctl's own spec and
    makes its loader register pyrnn once the module has run. (A meta path finder needs
    only ``find_spec``; subclassing importlib.abc.MetaPathFinder would import importlib.abc,
    which costs about as much as threadpoolctl.)"""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "threadpoolctl":
            return None
        _remove_hook()
        spec = importlib.util.find_spec(fullname)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run_module = loader.exec_module

        def exec_module(module: Any) -> None:
            run_module(module)
            try:
                _register_with(module)
            except Exception:  # pragma: no cover - never break the user's import of threadpoolctl
                pass

        loader.exec_module = exec_module  # this loader object serves this one import only
        return spec

    def __repr__(self) -> str:
        return "<pyrnn: registers its thread pool with threadpoolctl when that is imported>"


_hook = _RegisterOnImport()


def _remove_hook() -> None:
    try:
        sys.meta_path.remove(_hook)
    except ValueError:
        pass


def install() -> None:
    """Called by ``import pyrnn``: registers now if threadpoolctl is already imported,
    else when it is (the hook does nothing for any other import)."""
    if "threadpoolctl" in sys.modules:
        register()
    elif _hook not in sys.meta_path:
        sys.meta_path.insert(0, _hook)  # before the path finder that would load threadpoolctl
