"""BatchNormalization, LayerNormalization and Rescaling.

At inference BatchNormalization is a fixed per-channel affine map, folded here (in
float64) into one scale and one shift. LayerNormalization normalises trailing axes of
each sample at run time (``layer_norm`` op), with Keras 3's ``rms_scaling`` variant.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np

from ..errors import UnsupportedLayerError
from ..keras_config import as_list, config_float, config_int, layer_config
from .converter import Converter
from .plan import Sym, shape_str
from .registry import KerasLayer, SupportQuery, converts


def normalized_axes(cv: Converter, layer: KerasLayer, x: Sym, default: Any = -1) -> List[int]:
    """The layer's ``axis`` option as sorted positive axes of ``x`` (never the batch axis)."""
    rank = len(x.shape)
    out = []
    for a in as_list(layer.cfg.get("axis", default)):
        a = config_int(a, layer.owner, "axis")
        a = a + rank if a < 0 else a
        if not 1 <= a < rank:
            raise cv.error(layer, f"axis {a} is out of range for input {shape_str(x.shape)}")
        out.append(a)
    return sorted(set(out))


def _batch_norm_weight_count(entry: Dict[str, Any]) -> int:
    cfg = layer_config(entry)
    return 2 + bool(cfg.get("scale", True)) + bool(cfg.get("center", True))


def _check_batch_norm(q: SupportQuery) -> List[str]:
    return [f"{q.who}: renorm=True is not supported"] if q.cfg.get("renorm") else []


@converts("BatchNormalization", weights=_batch_norm_weight_count, stepwise=True, check=_check_batch_norm)
def _batch_normalization(cv: Converter, layer: KerasLayer, ins: List[Sym], kw: Dict[str, Any]) -> List[Sym]:
    x = cv.single_input(layer, ins)
    axes = normalized_axes(cv, layer, x)
    if len(axes) != 1 or x.shape[axes[0]] is None:
        raise cv.error(layer, f"needs one axis of known size, got axis={layer.cfg.get('axis')} on {shape_str(x.shape)}")
    a = axes[0]
    C = x.shape[a]
    assert C is not None  # checked above
    scale, center = layer.cfg.get("scale", True), layer.cfg.get("center", True)
    names = (["gamma"] if scale else []) + (["beta"] if center else []) + ["moving_mean", "moving_variance"]
    w = cv.weights(layer, names, [(C,)] * len(names))
    vals = dict(zip(names, [v.astype(np.float64) for v in w]))
    eps = float(layer.cfg.get("epsilon", 1e-3))
    inv = 1.0 / np.sqrt(vals["moving_variance"] + eps)
    if scale:
        inv = inv * vals["gamma"]
    shift = -vals["moving_mean"] * inv + (vals["beta"] if center else 0.0)
    pshape = [1] * (len(x.shape) - 1)
    pshape[a - 1] = C
    y = cv.plan.new(x.shape, x.mask)
    cv.plan.emit("affine", layer.name, [x.slot], [y.slot], inv.astype(np.float32).reshape(pshape),
                 shift.astype(np.float32).reshape(pshape))
    return [y]


def _layer_norm_weight_count(entry: Dict[str, Any]) -> int:
    cfg = layer_config(entry)
    rms = bool(cfg.get("rms_scaling", False))
    return bool(cfg.get("scale", True) or rms) + bool(cfg.get("center", True) and not rms)


def _layer_norm_time_check(cv: Converter, layer: KerasLayer, ins: List[Sym]) -> Optional[str]:
    return "normalises over the time axis" if 1 in normalized_axes(cv, layer, ins[0]) else None


@converts("LayerNormalization", weights=_layer_norm_weight_count, stepwise=True, time_check=_layer_norm_time_check)
def _layer_normalization(cv: Converter, layer: KerasLayer, ins: List[Sym], kw: Dict[str, Any]) -> List[Sym]:
    x = cv.single_input(layer, ins)
    axes = normalized_axes(cv, layer, x)
    rank = len(x.shape)
    if axes != list(range(rank - len(axes), rank)) or any(x.shape[a] is None for a in axes):
        raise UnsupportedLayerError(
            f"{cv.source.name}: {layer.owner}: normalising axes {axes} of {shape_str(x.shape)} is not supported "
            "(only trailing axes of known size)"
        )
    dims = tuple(int(d) for d in (x.shape[a] for a in axes) if d is not None)  # all known: checked above
    n = int(np.prod(dims))
    rms = bool(layer.cfg.get("rms_scaling", False))
    scale = layer.cfg.get("scale", True) or rms
    center = layer.cfg.get("center", True) and not rms
    names = (["gamma"] if scale else []) + (["beta"] if center else [])
    w = cv.weights(layer, names, [dims] * len(names))
    vals = dict(zip(names, w))
    y = cv.plan.new(x.shape, x.mask)
    cv.plan.emit("layer_norm", layer.name, [x.slot], [y.slot], n, vals.get("gamma"), vals.get("beta"),
                 float(layer.cfg.get("epsilon", 1e-3)), rms)
    return [y]


def _check_rescaling(q: SupportQuery) -> List[str]:
    bad = [k for k in ("scale", "offset") if isinstance(q.cfg.get(k), (list, tuple, dict))]
    return [f"{q.who}: a per-channel {k} is not supported (only a number)" for k in bad]


@converts("Rescaling", stepwise=True, check=_check_rescaling)
def _rescaling(cv: Converter, layer: KerasLayer, ins: List[Sym], kw: Dict[str, Any]) -> List[Sym]:
    """``x * scale + offset`` (Keras 3 and tf-keras 2 alike); the mask passes through."""
    x = cv.single_input(layer, ins)
    scale = config_float(layer.cfg.get("scale", 1.0), layer.owner, "scale")
    offset = config_float(layer.cfg.get("offset", 0.0), layer.owner, "offset")
    y = cv.plan.new(x.shape, x.mask)
    cv.plan.emit("rescaling", layer.name, [x.slot], [y.slot], scale, offset)
    return [y]
