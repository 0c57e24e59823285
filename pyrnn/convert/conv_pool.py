"""Conv1D and 1-D pooling (MaxPooling1D, AveragePooling1D and their global forms).

All read (batch, time, channels) in channels_last order. Each output step depends on a
window of input steps, so none of them can run in a stream.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from .._core import ConvPad, PoolKind, window_length
from ..keras_config import config_int, config_positive
from .converter import Converter
from .dense import activation_after, check_activation_option, fused_activation, kernel_bias_count
from .plan import Sym, shape_str
from .registry import KerasLayer, SupportQuery, converts


def _output_steps(steps: Optional[int], size: int, stride: int, dilation: int, pad: ConvPad) -> Optional[int]:
    """How many steps a window of ``size`` taps moved by ``stride`` produces (the native
    op's own rule; None when the input's length is only known at run time)."""
    return None if steps is None else window_length(steps, size, stride, dilation, pad)


def _check_channels_last(q: SupportQuery) -> List[str]:
    if q.cfg.get("data_format", "channels_last") != "channels_last":
        return [f"{q.who}: data_format={q.cfg.get('data_format')!r}; only channels_last is supported"]
    return []


def _check_conv(q: SupportQuery) -> List[str]:
    problems = check_activation_option(q) + _check_channels_last(q)
    if int(q.cfg.get("groups", 1) or 1) != 1:
        problems.append(f"{q.who}: groups={q.cfg.get('groups')} is not supported")
    if q.cfg.get("padding", "valid") not in ("valid", "same", "causal"):
        problems.append(f"{q.who}: padding={q.cfg.get('padding')!r} is not supported")
    return problems


def _check_pool(q: SupportQuery) -> List[str]:
    problems = _check_channels_last(q)
    if q.cfg.get("padding", "valid") not in ("valid", "same"):
        problems.append(f"{q.who}: padding={q.cfg.get('padding')!r} is not supported")
    return problems


def _sequence_input(cv: Converter, layer: KerasLayer, ins: List[Sym]) -> Sym:
    x = cv.single_input(layer, ins)
    if len(x.shape) != 3:
        raise cv.error(layer, f"expects (batch, time, channels), got {shape_str(x.shape)}")
    return x


@converts("Conv1D", weights=kernel_bias_count, check=_check_conv)
def _conv1d(cv: Converter, layer: KerasLayer, ins: List[Sym], kw: Dict[str, Any]) -> List[Sym]:
    x = _sequence_input(cv, layer, ins)
    cfg = layer.cfg
    filters = config_int(cfg.get("filters"), layer.owner, "filters")
    k = config_positive(cfg.get("kernel_size"), layer.owner, "kernel_size")
    s = config_positive(cfg.get("strides", 1), layer.owner, "strides")
    d = config_positive(cfg.get("dilation_rate", 1), layer.owner, "dilation_rate")
    pad = ConvPad[cfg.get("padding", "valid")]  # checked by _check_conv
    use_bias = cfg.get("use_bias", True)
    n = 1 + bool(use_bias)
    w = cv.weights(layer, ["kernel", "bias"][:n], [(k, x.shape[2], filters), (filters,)][:n])
    native, act_layer = fused_activation(cv, layer)
    steps = _output_steps(x.shape[1], k, s, d, pad)
    if steps is not None and steps < 1:
        raise cv.error(layer, f"the input's {x.shape[1]} timesteps are fewer than the kernel's span")
    y = cv.plan.new((x.shape[0], steps, filters))
    cv.plan.emit("conv1d", layer.name, [x.slot], [y.slot], w[0], w[1] if use_bias else None, s, d, pad, native)
    return [activation_after(cv, layer, act_layer, y) if act_layer else y]


_POOL_KINDS = {"MaxPooling1D": PoolKind.max, "AveragePooling1D": PoolKind.average,
               "GlobalMaxPooling1D": PoolKind.max, "GlobalAveragePooling1D": PoolKind.average}


@converts("MaxPooling1D", "AveragePooling1D", check=_check_pool)
def _pool1d(cv: Converter, layer: KerasLayer, ins: List[Sym], kw: Dict[str, Any]) -> List[Sym]:
    x = _sequence_input(cv, layer, ins)
    p = config_positive(layer.cfg.get("pool_size", 2), layer.owner, "pool_size")
    st = layer.cfg.get("strides")
    s = p if st is None else config_positive(st, layer.owner, "strides")
    pad = ConvPad[layer.cfg.get("padding", "valid")]  # checked by _check_pool
    steps = _output_steps(x.shape[1], p, s, 1, pad)
    if steps is not None and steps < 1:
        raise cv.error(layer, f"the input's {x.shape[1]} timesteps are fewer than pool_size={p}")
    y = cv.plan.new((x.shape[0], steps, x.shape[2]))
    cv.plan.emit("pool1d", layer.name, [x.slot], [y.slot], _POOL_KINDS[layer.cls], p, s, pad)
    return [y]


@converts("GlobalMaxPooling1D", "GlobalAveragePooling1D", check=_check_pool)
def _global_pool1d(cv: Converter, layer: KerasLayer, ins: List[Sym], kw: Dict[str, Any]) -> List[Sym]:
    x = _sequence_input(cv, layer, ins)
    kind = _POOL_KINDS[layer.cls]
    keep = bool(layer.cfg.get("keepdims", False))
    y = cv.plan.new((x.shape[0], 1, x.shape[2]) if keep else (x.shape[0], x.shape[2]))
    m = x.mask.slot if (x.mask is not None and kind == PoolKind.average) else -1  # the average skips masked steps
    cv.plan.emit_named("global_pool1d", layer.name, dict(x=x.slot, mask=m), dict(y=y.slot), kind=kind, keepdims=keep)
    return [y]
