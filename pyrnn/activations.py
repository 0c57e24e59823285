"""Keras activation names and their native activations.

The names are Keras's own (``keras.activations``). Definitions follow Keras 3 by
default; ``keras_version=2`` selects the tf-keras 2 meaning where the two differ,
which is only ``hard_sigmoid`` (Keras 3: ``clip(x/6 + 1/2, 0, 1)``; Keras 2:
``clip(0.2*x + 0.5, 0, 1)``).

The native activations are the members of ``pyrnn._core.Act``, named as Keras names
them; this module only adds the aliases, the dialect and the refusals.
"""

from __future__ import annotations

from typing import Optional, Union

from ._core import Act

__all__ = ["SUPPORTED", "resolve", "canonical_name"]

_KERAS2_ONLY = "hard_sigmoid_keras2"  # tf-keras 2's hard_sigmoid; not a name users write
_ALIASES = {"swish": "silu", "hard_swish": "hard_silu"}
_REFUSED = {
    "glu": "it halves the width of its input, so it cannot be a recurrent activation",
    "threshold": "it needs explicit threshold and default_value arguments",
}

#: Every activation name a layer accepts (Keras names plus their aliases).
SUPPORTED = tuple(sorted(set(Act.__members__) - {_KERAS2_ONLY} | set(_ALIASES)))


def canonical_name(name: Optional[Union[str, int]], keras_version: int = 3) -> str:
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
        return _KERAS2_ONLY
    if key in _REFUSED:
        raise ValueError(f"activation {name!r} cannot be used in a recurrent layer: {_REFUSED[key]}")
    if key not in Act.__members__ or key == _KERAS2_ONLY:
        raise ValueError(f"unknown activation {name!r}; supported: {', '.join(SUPPORTED)}")
    return key


def resolve(name: Optional[Union[str, int]], keras_version: int = 3) -> Act:
    """The native activation (a ``pyrnn._core.Act`` member) of a Keras activation name
    (None means linear)."""
    return Act[canonical_name(name, keras_version)]
