"""Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum and Concatenate.

Masks are where the two dialects differ most: Keras 3 ORs the inputs' masks (none if
any input is unmasked) and lets masked positions of one input take the other inputs'
values in Maximum/Minimum/Multiply; tf-keras ANDs the masks that are present.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from .._core import MergeKind
from ..errors import UnsupportedLayerError
from ..keras_config import config_int
from .converter import Converter
from .plan import Sym, shape_str
from .registry import KerasLayer, converts

#: The Keras merge layer classes; each is the ``_core.MergeKind`` of its name in lower case.
MERGE_LAYERS = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate")


def _concat_time_check(cv: Converter, layer: KerasLayer, ins: List[Sym]) -> Optional[str]:
    if layer.cls != "Concatenate":
        return None
    axis = config_int(layer.cfg.get("axis", -1), layer.owner, "axis")
    if (axis + len(ins[0].shape) if axis < 0 else axis) == 1:
        return "concatenates along the time axis"
    return None


@converts(*MERGE_LAYERS, stepwise=True, time_check=_concat_time_check)
def _merge(cv: Converter, layer: KerasLayer, ins: List[Sym], kw: Dict[str, Any]) -> List[Sym]:
    cv.weights(layer, [], [])
    if len(ins) < (2 if layer.cls == "Subtract" else 1):
        raise cv.error(layer, f"needs at least two inputs, got {len(ins)}")
    if layer.cls == "Subtract" and len(ins) != 2:
        raise cv.error(layer, f"takes exactly two inputs, got {len(ins)}")
    rank = len(ins[0].shape)
    axis = 0
    if layer.cls == "Concatenate":
        axis = config_int(layer.cfg.get("axis", -1), layer.owner, "axis")
        axis = axis + rank if axis < 0 else axis
        if not 1 <= axis < rank:
            raise cv.error(layer, f"cannot concatenate on axis {layer.cfg.get('axis')} of rank-{rank} inputs")
        for s in ins:
            if len(s.shape) != rank or any(i != axis and a is not None and b is not None and a != b
                                           for i, (a, b) in enumerate(zip(s.shape, ins[0].shape))):
                raise cv.error(layer, "inputs of shapes " + ", ".join(shape_str(s.shape) for s in ins)
                               + f" cannot be concatenated on axis {axis}")
        sizes = [s.shape[axis] for s in ins]
        total = sum(d for d in sizes if d is not None) if None not in sizes else None
        shape = ins[0].shape[:axis] + (total,) + ins[0].shape[axis + 1:]
    else:
        for s in ins[1:]:
            if len(s.shape) != rank or any(a is not None and b is not None and a != b
                                           for a, b in zip(s.shape[1:], ins[0].shape[1:])):
                raise cv.error(layer, "inputs have different shapes: " + ", ".join(shape_str(s.shape) for s in ins))
        shape = tuple(next((s.shape[i] for s in ins if s.shape[i] is not None), None) for i in range(rank))
    mask = _merged_mask(cv, layer, ins, axis, rank)
    y = cv.plan.new(shape, mask)
    kind = MergeKind[layer.cls.lower()]
    if cv.keras_major >= 3 and layer.cls in ("Maximum", "Minimum", "Multiply") and any(s.mask is not None for s in ins):
        # Keras 3 lets masked positions of one input take the other inputs' values.
        masks = [s.mask.slot if s.mask is not None else -1 for s in ins]
        cv.plan.emit_named("masked_merge", layer.name, dict(inputs=[s.slot for s in ins], masks=masks), dict(y=y.slot),
                           kind=kind)
    else:
        cv.plan.emit("merge", layer.name, [s.slot for s in ins], [y.slot], kind, axis)
    return [y]


def _merged_mask(cv: Converter, layer: KerasLayer, ins: List[Sym], axis: int, rank: int) -> Optional[Sym]:
    masks = [s.mask for s in ins]
    if all(m is None for m in masks):
        return None
    if layer.cls == "Concatenate" and axis != rank - 1:
        if any(m is None for m in masks) or rank != 3 or axis != 1:
            raise UnsupportedLayerError(
                f"{cv.source.name}: {layer.owner}: concatenating masked and unmasked inputs on axis {axis} "
                "is not supported"
            )
        y = cv.plan.new((ins[0].shape[0], None))
        slots = [m.slot for m in masks if m is not None]  # all present: checked above
        cv.plan.emit("merge", layer.name + ".mask", slots, [y.slot], MergeKind.concatenate, 1)
        return y
    present = [m for m in masks if m is not None]
    if cv.keras_major >= 3:
        # Keras 3: merges OR the masks (none if any input is unmasked); Concatenate
        # ORs them with all-true masks for unmasked inputs: then every step is valid.
        if len(present) != len(masks):
            return None
        any_ = True
    else:  # tf-keras: AND over the masks present
        any_ = False
    if len(present) == 1:
        return present[0]
    y = cv.plan.new(present[0].shape)
    cv.plan.emit("mask_combine", layer.name + ".mask", [m.slot for m in present], [y.slot], any_)
    return y
