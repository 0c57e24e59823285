"""Layers that only pass data on or rearrange it: the inference-time identities
(Dropout and friends), Flatten, Reshape, RepeatVector and Permute.

The identities emit nothing (their output is their input's slot). The others change
the sample's shape, which for a (batch, time, ...) input mixes the time axis, so a
stream cannot run them step by step.
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional

from .._core import reshape_target
from ..keras_config import as_list, config_int
from .converter import Converter
from .plan import Shape, Sym, shape_str
from .registry import KerasLayer, converts

# Layers that are the identity at inference (noise and dropout act in training only).
IDENTITY_LAYERS = ("Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
                   "ActivityRegularization", "Identity")


def _known(dims: Shape) -> Optional[List[int]]:
    """The dims as ints, or None when one is only known at run time."""
    return None if any(d is None for d in dims) else [int(d) for d in dims if d is not None]


@converts(*IDENTITY_LAYERS, stepwise=True)
def _identity(cv: Converter, layer: KerasLayer, ins: List[Sym], kw: Dict[str, Any]) -> List[Sym]:
    cv.weights(layer, [], [])
    return [cv.single_input(layer, ins)]


@converts("Flatten")
def _flatten(cv: Converter, layer: KerasLayer, ins: List[Sym], kw: Dict[str, Any]) -> List[Sym]:
    x = cv.single_input(layer, ins)
    rest = _known(x.shape[1:])
    n = None if rest is None else math.prod(rest)
    y = cv.plan.new((x.shape[0], n))
    cv.plan.emit("reshape", layer.name, [x.slot], [y.slot], [-1])
    return [y]


@converts("Reshape")
def _reshape(cv: Converter, layer: KerasLayer, ins: List[Sym], kw: Dict[str, Any]) -> List[Sym]:
    x = cv.single_input(layer, ins)
    target = [config_int(d, layer.owner, "target_shape") for d in as_list(layer.cfg.get("target_shape"))]
    if sum(d == -1 for d in target) > 1 or any(d < -1 or d == 0 for d in target):
        raise cv.error(layer, f"invalid target_shape {target}")
    rest = _known(x.shape[1:])
    shape: List[Optional[int]] = [None if d == -1 else d for d in target]
    if rest is not None:  # the native op's own rule fills in the -1
        filled = reshape_target(math.prod(rest), target)
        if filled is None:
            raise cv.error(layer, f"cannot reshape {shape_str(x.shape)} to {tuple(target)}")
        shape = list(filled)
    y = cv.plan.new((x.shape[0],) + tuple(shape))
    cv.plan.emit("reshape", layer.name, [x.slot], [y.slot], target)
    return [y]


@converts("RepeatVector")
def _repeat_vector(cv: Converter, layer: KerasLayer, ins: List[Sym], kw: Dict[str, Any]) -> List[Sym]:
    x = cv.single_input(layer, ins)
    n = config_int(layer.cfg.get("n"), layer.owner, "n")
    if len(x.shape) != 2 or n < 1:
        raise cv.error(layer, f"expects (batch, features) and n >= 1, got {shape_str(x.shape)}, n={n}")
    y = cv.plan.new((x.shape[0], n, x.shape[1]))
    cv.plan.emit("repeat", layer.name, [x.slot], [y.slot], n)
    return [y]


@converts("Permute")
def _permute(cv: Converter, layer: KerasLayer, ins: List[Sym], kw: Dict[str, Any]) -> List[Sym]:
    x = cv.single_input(layer, ins)
    dims = [config_int(d, layer.owner, "dims") for d in as_list(layer.cfg.get("dims"))]
    if sorted(dims) != list(range(1, len(x.shape))):
        raise cv.error(layer, f"dims {dims} is not a permutation of the input axes 1..{len(x.shape) - 1}")
    y = cv.plan.new((x.shape[0],) + tuple(x.shape[d] for d in dims))
    cv.plan.emit("permute", layer.name, [x.slot], [y.slot], [d - 1 for d in dims])
    return [y]
