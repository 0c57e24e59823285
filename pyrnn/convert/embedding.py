"""Embedding and Masking: the two layers that create a Keras mask.

Embedding reads token ids from a float32 input; the model remembers its input_dim so
that ``predict`` can refuse ids that are out of range. With ``mask_zero`` (Embedding)
or a ``mask_value`` (Masking) a (batch, time) mask travels with the output and the
layers downstream use or propagate it (see plan.Sym.mask).
"""

from __future__ import annotations

from typing import Any, Dict, List

from ..keras_config import config_int
from .converter import Converter
from .plan import Sym, shape_str
from .registry import KerasLayer, SupportQuery, converts


def _check_embedding(q: SupportQuery) -> List[str]:
    problems = []
    if q.cfg.get("lora_rank") or q.cfg.get("quantization_config"):
        problems.append(f"{q.who}: LoRA or quantized embeddings are not supported")
    if q.cfg.get("sparse"):
        problems.append(f"{q.who}: sparse embeddings are not supported")
    return problems


@converts("Embedding", weights=1, stepwise=True, check=_check_embedding)
def _embedding(cv: Converter, layer: KerasLayer, ins: List[Sym], kw: Dict[str, Any]) -> List[Sym]:
    x = cv.single_input(layer, ins)
    V = config_int(layer.cfg.get("input_dim"), layer.owner, "input_dim")
    E = config_int(layer.cfg.get("output_dim"), layer.owner, "output_dim")
    if V > (1 << 24):
        raise cv.error(layer, f"input_dim={V} exceeds 2**24 ids, which float32 inputs cannot address exactly")
    (table,) = cv.weights(layer, ["embeddings"], [(V, E)])
    cv.id_inputs[x.slot] = V
    mask_zero = bool(layer.cfg.get("mask_zero", False))
    m = cv.plan.new(x.shape) if mask_zero else None
    y = cv.plan.new(x.shape + (E,), m)
    if cv.mode == "stream" and len(x.shape) == 2:  # (batch, time) ids
        x.timed = y.timed = True
    cv.plan.emit_named("embedding", layer.name, dict(x=x.slot), dict(y=y.slot, mask=m.slot if m else -1),
                       table=table, mask_zero=mask_zero)
    return [y]


@converts("Masking", stepwise=True)
def _masking(cv: Converter, layer: KerasLayer, ins: List[Sym], kw: Dict[str, Any]) -> List[Sym]:
    x = cv.single_input(layer, ins)
    if len(x.shape) != 3:
        raise cv.error(layer, f"expects (batch, time, features), got {shape_str(x.shape)}")
    m = cv.plan.new(x.shape[:2])
    y = cv.plan.new(x.shape, m)
    cv.plan.emit_named("masking", layer.name, dict(x=x.slot), dict(y=y.slot, mask=m.slot),
                       mask_value=float(layer.cfg.get("mask_value", 0.0)))
    return [y]
