"""pyrnn: fast, Keras-exact inference for recurrent networks, without TensorFlow.

>>> import pyrnn
>>> model = pyrnn.load("model.keras")                    # doctest: +SKIP
>>> y = model.predict(x)                                  # doctest: +SKIP
>>> lstm = pyrnn.LSTM.from_keras(keras_layer_or_model)   # doctest: +SKIP
"""

from . import _core
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
from .errors import ModelFormatError, StreamError, UnsupportedLayerError
from .layers import GRU, LSTM, Bidirectional, SimpleRNN
from .model import Model, from_keras, load
from .stream import Stream

__version__ = _core.__version__

set_num_threads(physical_cores())

__all__ = [
    "load",
    "from_keras",
    "Model",
    "Stream",
    "ModelFormatError",
    "UnsupportedLayerError",
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
    "__version__",
]
