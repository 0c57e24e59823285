"""Walking a model's graph: Sequential layer lists and Functional node graphs.

This is where Keras's node and tensor references are resolved, in both dialects, and
where the order of emission is decided: a Sequential model runs its layers in order;
a Functional model is evaluated depth first from its outputs, iteratively (deep
graphs must not hit Python's recursion limit, and a cycle is an error, not a hang).
Each layer call goes through :meth:`Converter.apply`. Nested models come back here
through ``nested.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from ..errors import ModelFormatError, UnsupportedLayerError
from ..keras_config import (
    MODEL_CLASSES,
    InboundNode,
    TensorRef,
    config_int,
    config_positive,
    is_op_node,
    layer_config,
    layer_list,
    layer_name,
    parse_inbound,
)
from ..keras_files import WeightList
from .plan import Shape, Sym
from .registry import KerasLayer

if TYPE_CHECKING:
    from .converter import Converter

GraphIO = Tuple[List[Sym], List[Sym], List[str], List[str]]  # inputs, outputs, input names, output names
NodeKey = Tuple[str, int]  # (layer name, call index)


def convert_graph(cv: Converter, model_cfg: Dict[str, Any], weights: Dict[str, WeightList],
                  given: Optional[List[Sym]], top: bool = False) -> GraphIO:
    """Emits a (sub)model. ``given``: the tensors a nested model is called on (None for
    the top model, whose inputs become new plan inputs). ``top``: record summary rows."""
    if model_cfg.get("class_name") == "Sequential":
        return _sequential(cv, model_cfg, weights, given, top)
    return _functional(cv, model_cfg, weights, given, top)


def _layers(cv: Converter, model_cfg: Dict[str, Any], weights: Dict[str, WeightList]) -> Dict[str, KerasLayer]:
    layers: Dict[str, KerasLayer] = {}
    for entry in layer_list(model_cfg):
        name = layer_name(entry)
        if name in layers:
            raise ModelFormatError(f"{cv.source.name}: two layers are named {name!r}")
        layers[name] = KerasLayer(str(entry.get("class_name")), name, layer_config(entry),
                                  list(weights.get(name, [])), str(entry.get("module", "")), entry)
    return layers


def _input_shape(cv: Converter, layer: KerasLayer) -> Shape:
    cfg = layer.cfg
    shape = cfg.get("batch_shape", cfg.get("batch_input_shape"))
    if shape is None and cfg.get("input_shape") is not None:
        shape = [None] + list(cfg["input_shape"])
    if not isinstance(shape, (list, tuple)) or not shape:
        raise ModelFormatError(f"{cv.source.name}: {layer.owner}: no input shape in the config")
    return tuple(None if (d is None or i == 0) else config_positive(d, layer.owner, "an input dimension")
                 for i, d in enumerate(shape))


# ---- Sequential -------------------------------------------------------------------------------

def _sequential(cv: Converter, model_cfg: Dict[str, Any], weights: Dict[str, WeightList],
                given: Optional[List[Sym]], top: bool) -> GraphIO:
    layers = list(_layers(cv, model_cfg, weights).values())
    first = layers[0] if layers else None
    if given is not None:
        x = given[0]
        in_name = "input"
    else:
        if first is not None and first.cls == "InputLayer":
            shape = _input_shape(cv, first)
            in_name = first.name
        else:
            mc = model_cfg.get("config", {})
            recorded = mc.get("build_input_shape")
            if recorded is None and first is not None:
                recorded = first.cfg.get("batch_input_shape") or first.cfg.get("batch_shape")
            if not isinstance(recorded, (list, tuple)):
                raise ModelFormatError(
                    f"{cv.source.name}: the Sequential model records no input shape (it was never built)"
                )
            shape = tuple(None if d is None else int(d) for d in recorded)
            in_name = "input"
        x = cv.new_input(shape)
    inputs = [x]
    for layer in layers:
        if layer.cls == "InputLayer":
            continue
        outs = cv.apply(layer, [x], {}, top)
        if len(outs) != 1:
            raise cv.error(layer, f"returns {len(outs)} tensors; a Sequential layer must return one")
        x = outs[0]
    return inputs, [x], [in_name], [layers[-1].name if layers else "output"]


# ---- Functional -------------------------------------------------------------------------------

def _triples(cv: Converter, v: Any, what: str) -> List[TensorRef]:
    """A functional config's input_layers / output_layers as (name, node, tensor) refs."""
    if isinstance(v, list) and len(v) == 3 and isinstance(v[0], str):
        v = [v]
    if not isinstance(v, list) or not v:
        raise ModelFormatError(f"{cv.source.name}: the model config has no {what}")
    out = []
    for t in v:
        if not (isinstance(t, list) and len(t) >= 3 and isinstance(t[0], str)):
            raise ModelFormatError(f"{cv.source.name}: malformed {what} entry {t!r}")
        out.append((t[0], config_int(t[1], "model", what), config_int(t[2], "model", what)))
    return out


def _check_op_nodes(cv: Converter, layers: Dict[str, KerasLayer], nodes: Dict[str, List[InboundNode]],
                    out_refs: List[TensorRef]) -> None:
    """Keras 3 records the mask computations as operation nodes; pyrnn propagates masks
    itself and ignores them. An operation whose result feeds a layer's data (x + 1 in a
    functional model, say) is not supported."""
    ops_used = []
    data_refs: List[Tuple[Optional[str], TensorRef]] = [(None, r) for r in out_refs]
    for name, calls in nodes.items():
        if is_op_node(layers[name].raw):
            continue
        for args, kwargs in calls:
            data_refs += [(name, r) for r in list(args) + list(kwargs.get("initial_state", []))]
    for user, r in data_refs:
        target = layers.get(r[0])
        if target is not None and is_op_node(target.raw):
            where = f"layer {user!r}" if user else "a model output"
            ops_used.append(f"{r[0]!r} ({target.cls}): a Keras operation feeding {where} is not supported")
    if ops_used:
        raise cv.unsupported_error(ops_used)


def _node_shift(cv: Converter, layers: Dict[str, KerasLayer], nodes: Dict[str, List[InboundNode]],
                out_refs: List[TensorRef]) -> Dict[str, int]:
    """tf-keras numbers the calls of a nested model that has its own Input from 1:
    call 0 is the model's construction, which the config leaves out."""
    shift: Dict[str, int] = {}
    if cv.keras_major >= 3:
        return shift
    refs_all = list(out_refs)
    for calls in nodes.values():
        for args, kwargs in calls:
            refs_all += list(args) + list(kwargs.get("initial_state", []))
    for name, ni, _ in refs_all:
        layer = layers.get(name)
        if layer is not None and layer.cls in MODEL_CLASSES and ni >= len(nodes[name]) > 0:
            shift[name] = 1
    return shift


def _functional(cv: Converter, model_cfg: Dict[str, Any], weights: Dict[str, WeightList],
                given: Optional[List[Sym]], top: bool) -> GraphIO:
    fname = cv.source.name
    layers = _layers(cv, model_cfg, weights)
    mc = model_cfg.get("config", {})
    in_refs = _triples(cv, mc.get("input_layers"), "input_layers")
    out_refs = _triples(cv, mc.get("output_layers"), "output_layers")
    computed: Dict[NodeKey, List[Sym]] = {}
    if given is not None and len(given) != len(in_refs):
        raise ModelFormatError(
            f"{fname}: nested model {mc.get('name')!r} takes {len(in_refs)} inputs, got {len(given)}"
        )
    inputs = []
    for i, (name, _, _) in enumerate(in_refs):
        layer = layers.get(name)
        if layer is None or layer.cls != "InputLayer":
            raise ModelFormatError(f"{fname}: model input {name!r} is not an InputLayer of the model")
        sym = given[i] if given is not None else cv.new_input(_input_shape(cv, layer))
        computed[(name, 0)] = [sym]
        inputs.append(sym)

    nodes = {name: parse_inbound(layer.raw, f"{fname}: {layer.owner}") for name, layer in layers.items()}
    _check_op_nodes(cv, layers, nodes, out_refs)
    shift = _node_shift(cv, layers, nodes, out_refs)

    def node_of(ref: TensorRef) -> NodeKey:
        name, ni, _ = ref
        ni -= shift.get(name, 0)
        if name not in layers:
            raise ModelFormatError(f"{fname}: a node refers to an unknown layer {name!r}")
        if (name, ni) not in computed and (layers[name].cls == "InputLayer" or ni >= len(nodes[name])):
            raise ModelFormatError(f"{fname}: a node refers to call {ni} of layer {name!r}, which does not exist")
        return (name, ni)

    def deps(key: NodeKey) -> List[NodeKey]:
        args, kwargs = nodes[key[0]][key[1]]
        refs = list(args) + list(kwargs.get("initial_state", []))
        m = kwargs.get("mask")
        if m is not None and layers.get(m[0]) is not None and not is_op_node(layers[m[0]].raw):
            refs.append(m)
        return [node_of(r) for r in refs]

    for ref in out_refs:
        stack = [(node_of(ref), False)]
        on_path = set()
        while stack:
            key, expanded = stack.pop()
            if key in computed:
                continue
            if expanded:
                on_path.discard(key)
                ins, kw = _call_inputs(cv, layers, layers[key[0]], nodes[key[0]][key[1]], computed, shift)
                computed[key] = cv.apply(layers[key[0]], ins, kw, top)
                continue
            if key in on_path:
                raise ModelFormatError(f"{fname}: the graph has a cycle through layer {key[0]!r}")
            on_path.add(key)
            stack.append((key, True))
            for d in deps(key):
                if d not in computed:
                    if d in on_path:
                        raise ModelFormatError(f"{fname}: the graph has a cycle through layer {d[0]!r}")
                    stack.append((d, False))
    outputs = []
    for name, ni, ti in out_refs:
        outs = computed[(name, ni - shift.get(name, 0))]
        if ti >= len(outs):
            raise ModelFormatError(f"{fname}: output refers to tensor {ti} of layer {name!r}, which has {len(outs)}")
        outputs.append(outs[ti])
    return inputs, outputs, [r[0] for r in in_refs], [r[0] for r in out_refs]


def _call_inputs(cv: Converter, layers: Dict[str, KerasLayer], layer: KerasLayer, node: InboundNode,
                 computed: Dict[NodeKey, List[Sym]], shift: Dict[str, int]) -> Tuple[List[Sym], Dict[str, Any]]:
    """The tensors one call of ``layer`` reads (its dependencies are computed)."""
    fname = cv.source.name
    args, kwargs = node
    ins = []
    for r in args:
        outs = computed[(r[0], r[1] - shift.get(r[0], 0))]
        if r[2] >= len(outs):
            raise ModelFormatError(
                f"{fname}: {layer.owner} reads tensor {r[2]} of layer {r[0]!r}, which has {len(outs)}"
            )
        if is_op_node(layers[r[0]].raw):
            raise UnsupportedLayerError(f"{fname}: {layer.owner} takes the output of a Keras operation node")
        ins.append(outs[r[2]])
    kw: Dict[str, Any] = {}
    states = []
    for r in kwargs.get("initial_state", []):
        outs = computed[(r[0], r[1] - shift.get(r[0], 0))]
        if r[2] >= len(outs):
            raise ModelFormatError(
                f"{fname}: {layer.owner} reads state {r[2]} of layer {r[0]!r}, which has {len(outs)}"
            )
        states.append(outs[r[2]])
    if states:
        kw["initial_state"] = states
    m = kwargs.get("mask")
    if m is not None and layers.get(m[0]) is not None and not is_op_node(layers[m[0]].raw):
        outs = computed[(m[0], m[1] - shift.get(m[0], 0))]
        if m[2] >= len(outs):
            raise ModelFormatError(f"{fname}: {layer.owner} reads mask {m[2]} of layer {m[0]!r}, which has {len(outs)}")
        kw["mask"] = outs[m[2]]
    return ins, kw
