"""Keras activation names and their native codes.

The names are Keras's own (``keras.activations``). Definitions follow Keras 3 by
default; ``keras_version=2`` selects the tf-keras 2 meaning where the two differ,
which is only ``hard_sigmoid`` (Keras 3: ``clip(x/6 + 1/2, 0, 1)``; Keras 2:
``clip(0.2*x + 0.5, 0, 1)``).
"""

from __future__ import annotations

from typing import Optional, Union

__all__ = ["SUPPORTED", "resolve", "canonical_name"]

# Native codes, in the order of pyrnn::Act (csrc/include/pyrnn/kernels.h).
_CODES = {
    "linear": 0, "tanh": 1, "sigmoid": 2, "hard_sigmoid": 3, "hard_sigmoid_keras2": 4,
    "relu": 5, "relu6": 6, "leaky_relu": 7, "elu": 8, "selu": 9, "softplus": 10,
    "softsign": 11, "silu": 12, "gelu": 13, "exponential": 14, "hard_silu": 15, "mish": 16,
    "hard_tanh": 17, "log_sigmoid": 18, "celu": 19, "tanh_shrink": 20, "soft_shrink": 21,
    "hard_shrink": 22, "sparse_plus": 23, "sparse_sigmoid": 24, "squareplus": 25,
    "softmax": 26, "log_softmax": 27, "sparsemax": 28,
}
_ALIASES = {"swish": "silu", "hard_swish": "hard_silu"}
_REFUSED = {
    "glu": "it halves the width of its input, so it cannot be a recurrent activation",
    "threshold": "it needs explicit threshold and default_value arguments",
}

#: Every activation name a layer accepts (Keras names plus their aliases).
SUPPORTED = tuple(sorted(set(_CODES) - {"hard_sigmoid_keras2"} | set(_ALIASES)))


def canonical_name(name: Optional[str], keras_version: int = 3) -> str:
    """The definition a Keras activation name means for a Keras major version."""
    if name is None:
        return "linear"
    if not isinstance(name, str):
        raise TypeError(
            f"activation must be a Keras activation name (str) or None, got {type(name).__name__} {name!r}; "
            f"supported: {', '.join(SUPPORTED)}"
        )
    key = _ALIASES.get(name, name)
    if key == "hard_sigmoid" and keras_version < 3:
        return "hard_sigmoid_keras2"
    if key in _REFUSED:
        raise ValueError(f"activation {name!r} cannot be used in a recurrent layer: {_REFUSED[key]}")
    if key not in _CODES or key == "hard_sigmoid_keras2":
        raise ValueError(f"unknown activation {name!r}; supported: {', '.join(SUPPORTED)}")
    return key


def resolve(name: Optional[Union[str, int]], keras_version: int = 3) -> int:
    """The native code of a Keras activation name (None means linear)."""
    return _CODES[canonical_name(name, keras_version)]
