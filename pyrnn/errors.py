"""The exceptions pyrnn raises for model files, configurations and streams.

All subclass :class:`ValueError`, so ``except ValueError`` keeps working.
"""

from __future__ import annotations


class ModelFormatError(ValueError):
    """A model file or config that pyrnn cannot read: corrupt or truncated files,
    files that are not Keras models, missing weights, weight shapes that disagree
    with the config. The message names the file and, where it applies, the layer."""


class UnsupportedLayerError(ModelFormatError):
    """The model uses layers or options pyrnn does not implement. The message lists
    every offending layer (name and class), not only the first; ``problems`` holds
    them one per entry."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])


class LoadTimeoutError(ModelFormatError, TimeoutError):
    """Reading a model file used more CPU time than the load limit allows. A corrupt
    HDF5 structure can make libhdf5 loop forever, but a very large valid model can
    also need longer: the message says which limit fired and how to raise it
    (``pyrnn.load(path, timeout=SECONDS)`` or ``PYRNN_LOAD_TIMEOUT``)."""


class StreamError(ValueError):
    """The model cannot run step by step (``Model.stream``): a layer needs the whole
    sequence at once (Bidirectional, Conv1D, a backwards layer, ...). The message names
    the layer and says why; ``predict`` still runs the model."""
