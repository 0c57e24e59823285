"""Reduced-precision recurrent layers: the ``compute_type`` option.

``compute_type`` picks the arithmetic of the recurrent layers' time loop (SimpleRNN, LSTM,
GRU, also inside Bidirectional and TimeDistributed); every other layer (Dense, Conv1D,
Embedding, normalisation, ...) computes in float32 whatever it is set to, because the
time loop is where an RNN model spends its time.

* ``"float32"`` (default): Keras-exact, the parity contract (<= 1e-5 relative).
* ``"bfloat16"`` / ``"float16"``: weight-only. The ``recurrent_kernel``, and the input
  ``kernel`` of a layer with more than 16 input features, are rounded once to the type,
  round-to-nearest-even; everything else (narrow input kernels, inputs, states, biases,
  activations, the LSTM cell state, accumulation) stays float32. float16 refuses weights
  it cannot hold (that round to infinity: |w| >= 65520).
* ``"int8"``: the same matrices are quantized per output column (symmetric, scale
  ``max|column| / 127``), and each matmul quantizes its input rows on the fly to 7 bits
  (scale ``max|row| / 63``); the integer dot products are exact, so results are the same
  for every batch size and thread count. Everything else stays float32.

This module holds the spellings and the mapping to the native enum; the kernels are C++
(``_core.ComputeType``).
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple, Type, Union

import numpy as np

__all__ = ["COMPUTE_TYPES", "ComputeTypeLike", "canonical_compute_type", "native_compute_type", "ComputeTypeError"]

#: The canonical names, default first.
COMPUTE_TYPES: Tuple[str, ...] = ("float32", "bfloat16", "float16", "int8")

#: What ``compute_type=`` accepts: a name (any case), a numpy dtype or scalar type
#: (``np.float32``, ``np.float16``, ``np.int8``; ml_dtypes' ``bfloat16``).
ComputeTypeLike = Union[str, Type[Any], "np.dtype[Any]"]

_SPELLINGS: Dict[str, str] = {
    "float32": "float32", "fp32": "float32",
    "bfloat16": "bfloat16", "bf16": "bfloat16",
    "float16": "float16", "fp16": "float16", "half": "float16",
    "int8": "int8",
}

_EXPECTED = "'float32' (or 'fp32'), 'bfloat16' ('bf16'), 'float16' ('fp16', 'half') or 'int8'"


class ComputeTypeError(ValueError):
    """A compute type a layer cannot use (float16 with weights beyond its range; a
    reduced type on a CUDA layer). A ValueError; kept apart so that model loading
    reports it as what it is, not as a corrupt file."""


def canonical_compute_type(value: Any, owner: Optional[str] = None) -> str:
    """The canonical name ("float32", "bfloat16", "float16" or "int8") of ``value``:
    a name in any case ("bf16", "FP16", "half", ...), a numpy dtype or scalar type
    (``np.float32``, ``np.float16``, ``np.int8``), or a ``_core.ComputeType`` member.

    Raises:
        ValueError: anything else, listing the accepted values (prefixed with ``owner``).
    """
    prefix = f"{owner}: " if owner else ""
    name: Optional[str] = None
    if isinstance(value, str):
        name = value.strip().lower()
    elif type(value).__name__ == "ComputeType" and hasattr(value, "name"):  # the native enum
        name = str(value.name)
    elif value is not None and not isinstance(value, (bool, int, float)):
        try:
            name = np.dtype(value).name
        except Exception:  # not a dtype-like object (numpy raises TypeError, ValueError, ...)
            name = None
    if name is not None and name in _SPELLINGS:
        return _SPELLINGS[name]
    raise ValueError(f"{prefix}unknown compute_type {value!r}; expected {_EXPECTED}")


def native_compute_type(name: str) -> Any:
    """The ``_core.ComputeType`` member of a canonical name."""
    from . import _core

    return getattr(_core.ComputeType, name)


def is_cuda_device(device: Any) -> bool:
    """True for "cuda" / "cuda:N" (the devices whose layers compute in float32 only)."""
    return isinstance(device, str) and (device == "cuda" or device.startswith("cuda:"))
