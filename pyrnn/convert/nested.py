"""Layers that hold other layers: nested models (a Sequential or Functional model
used as a layer), TimeDistributed, and InputLayer (a model's entry point).

A nested model is converted in place, its ops going into the same plan, so the whole
model still runs as one native call. Its weights arrive as one flat list for the
top-level layer and are handed back to its own layers here (:func:`split_weights`).
"""

from __future__ import annotations

from typing import Any, Dict, List

from ..errors import ModelFormatError
from ..keras_config import MODEL_CLASSES, is_op_node, layer_config, layer_list, layer_name
from ..keras_files import WeightList
from . import graph
from .bidirectional import check_wrapped
from .converter import Converter
from .plan import Sym, shape_str
from .registry import KerasLayer, SupportQuery, accepts, converts, support_problems, weight_count

accepts("InputLayer")  # graph.py turns it into a model input; it is never applied


def _model_weight_count(entry: Dict[str, Any]) -> int:
    return sum(weight_count(sub) for sub in layer_list(entry))


def _check_model(q: SupportQuery) -> List[str]:
    problems: List[str] = []
    try:
        for sub in layer_list(q.entry):
            problems += support_problems(sub, q.keras_major, q.depth + 1, in_model=True)
    except ModelFormatError as exc:
        problems.append(f"{q.who}: {exc}")
    return problems


@converts(*MODEL_CLASSES, weights=_model_weight_count, check=_check_model, tracks_time=True)
def _nested_model(cv: Converter, layer: KerasLayer, ins: List[Sym], kw: Dict[str, Any]) -> List[Sym]:
    model_cfg = layer.cfg if "class_name" in layer.cfg else {"class_name": layer.cls, "config": layer.cfg}
    per_layer = split_weights(layer, model_cfg)
    _, outs, _, _ = graph.convert_graph(cv, model_cfg, per_layer, list(ins), top=False)
    return outs


def split_weights(layer: KerasLayer, model_cfg: Dict[str, Any]) -> Dict[str, WeightList]:
    """Assigns a nested model's flat weight list to its layers: by the layer names
    in the weight paths where they identify every weight, else in order."""
    entries = layer_list(model_cfg)
    names = [layer_name(e) for e in entries if not is_op_node(e) and e.get("class_name") != "InputLayer"]
    by_name: Dict[str, WeightList] = {n: [] for n in names}
    unmatched = []
    for path, w in layer.weights:
        parts = path.replace(":0", "").split("/")
        hit = next((n for n in names if n in parts), None)
        if hit is None:
            unmatched.append((path, w))
        else:
            by_name[hit].append((path, w))
    if not unmatched:
        return by_name
    counts = {layer_name(e): weight_count(e) for e in entries if layer_name(e) in by_name}
    flat = list(layer.weights)
    out = {}
    for n in names:
        k = counts.get(n, 0)
        out[n], flat = flat[:k], flat[k:]
    return out


def _time_distributed_weight_count(entry: Dict[str, Any]) -> int:
    return weight_count(layer_config(entry).get("layer") or {})


@converts("TimeDistributed", weights=_time_distributed_weight_count, stepwise=True, check=check_wrapped)
def _time_distributed(cv: Converter, layer: KerasLayer, ins: List[Sym], kw: Dict[str, Any]) -> List[Sym]:
    x = cv.single_input(layer, ins)
    inner_cfg = layer.cfg.get("layer") or {}
    inner = KerasLayer(str(inner_cfg.get("class_name")), layer_name(inner_cfg), inner_cfg.get("config") or {},
                       layer.weights, str(inner_cfg.get("module", "")))
    if inner.cls in MODEL_CLASSES:
        inner.cfg = inner_cfg  # a nested model's converter wants the whole entry
    if len(x.shape) < 3:
        raise cv.error(layer, f"expects (batch, time, ...), got {shape_str(x.shape)}")
    if inner.cls == "Dense":  # Dense already maps the last axis of any rank
        y = cv.apply(inner, [Sym(x.slot, x.shape, None)], {}, False)[0]
        return [Sym(y.slot, y.shape, x.mask)]
    folded = cv.plan.new((None,) + x.shape[2:])
    cv.plan.emit("fold_time", layer.name, [x.slot], [folded.slot])
    outs = cv.apply(inner, [folded], {}, False)
    if len(outs) != 1:
        raise cv.error(layer, "the wrapped layer must return one tensor")
    y = cv.plan.new(x.shape[:2] + outs[0].shape[1:], x.mask)
    cv.plan.emit_named("unfold_time", layer.name, dict(x=outs[0].slot, reference=x.slot), dict(y=y.slot))
    return [y]
