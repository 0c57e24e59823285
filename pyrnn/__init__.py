"""pyrnn: fast, Keras-exact inference for recurrent networks, without TensorFlow.

>>> import pyrnn
>>> model = pyrnn.load("model.keras")                    # doctest: +SKIP
>>> y = model.predict(x)                                  # doctest: +SKIP
>>> lstm = pyrnn.LSTM.from_keras(keras_layer_or_model)   # doctest: +SKIP
"""

try:
    from . import _core
except ImportError as _exc:  # the source tree's pyrnn/ shadows the installed package
    import importlib.machinery as _machinery
    import os as _os

    _here = _os.path.dirname(_os.path.abspath(__file__))
    if any(_os.path.exists(_os.path.join(_here, "_core" + s)) for s in _machinery.EXTENSION_SUFFIXES):
        raise
    raise ImportError(
        f"pyrnn's compiled core (_core) is not in {_here}. This is probably the pyrnn source checkout, which "
        "Python found before the installed package because the current directory comes first on sys.path: "
        "run Python from another directory (after `pip install .`)."
    ) from _exc
from ._batch import BatchPredictor
from ._compute import COMPUTE_TYPES
from ._config import (
    config,
    get_num_threads,
    physical_cores,
    release_memory,
    set_memory_limit,
    set_num_threads,
    show_config,
)
from .activations import SUPPORTED as SUPPORTED_ACTIVATIONS
from .errors import LoadTimeoutError, ModelFormatError, StreamError, UnsupportedLayerError
from .layers import GRU, LSTM, Bidirectional, SimpleRNN
from .model import Model, from_keras, load
from .profile import Profile, ProfileRow
from .stream import Stream
from .torch_models import TorchModel, from_torch

__version__ = _core.__version__

set_num_threads(physical_cores())

try:  # threadpoolctl, when installed, sees and caps pyrnn's pool (pyrnn/_threadpool.py)
    from ._threadpool import install as _install_threadpoolctl_controller

    _install_threadpoolctl_controller()
except Exception:  # pragma: no cover - an incompatible threadpoolctl must not stop `import pyrnn`
    pass

__all__ = [
    "load",
    "from_keras",
    "from_torch",
    "TorchModel",
    "Model",
    "Stream",
    "BatchPredictor",
    "Profile",
    "ProfileRow",
    "ModelFormatError",
    "UnsupportedLayerError",
    "LoadTimeoutError",
    "StreamError",
    "SimpleRNN",
    "LSTM",
    "GRU",
    "Bidirectional",
    "show_config",
    "set_num_threads",
    "set_memory_limit",
    "release_memory",
    "get_num_threads",
    "config",
    "SUPPORTED_ACTIVATIONS",
    "COMPUTE_TYPES",
    "__version__",
]
